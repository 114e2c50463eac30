import { SqliteStore } from "./engine/store/sqlite.js";
import { PostgresStore } from "./engine/store/postgres.js";
import { alert, alertEvent, batch, entries, patient, T0 } from "./test/support/stores.js";
import { mkdtempSync } from "node:fs";
const mk = (from: number) => {
  const events = [];
  for (let seq = from; seq < from + 1000; seq++) events.push(alertEvent(seq, "updated", alert(`a-${seq % 100}`, "firing", T0 + seq, { patient: `p-${seq % 100}` })));
  return batch({ entries: entries(from, from + 999), events, patients: Array.from({ length: 100 }, (_, i) => patient(`p-${i}`, T0 + i)) });
};
const dir = mkdtempSync("/tmp/cb-");
const stores = [new SqliteStore(dir + "/v.db"), new PostgresStore({ connectionString: "postgres://postgres@127.0.0.1:5432/test", schema: "varsel_bench_tmp" })];
for (const s of stores) {
  await s.open();
  const times = [];
  const base = await s.lastPosition();
  for (let i = 0; i < 10; i++) { const b = mk(base + 1 + i * 1000); const t0 = performance.now(); await s.commit(b); times.push((performance.now() - t0).toFixed(1)); }
  console.log(s.kind, times.join(" "));
  const t1 = performance.now(); for (let i = 0; i < 50; i++) { const p = base + 10001 + i; await s.commit(batch({ entries: entries(p, p) })); } console.log(s.kind, "single-entry commit avg", ((performance.now() - t1) / 50).toFixed(2));
  const t2 = performance.now(); const j = await s.readJournal(0, 5000); console.log(s.kind, "readJournal 5000", (performance.now() - t2).toFixed(1), j.length);
  await s.close();
}
import pg from "pg"; const c = new pg.Client("postgres://postgres@127.0.0.1:5432/test"); await c.connect(); await c.query("DROP SCHEMA varsel_bench_tmp CASCADE"); await c.end();
