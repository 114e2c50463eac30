import { isDeepStrictEqual } from "node:util";
import { Backtest } from "/work/main/engine/backtest/backtest.ts";
import { ShardedBacktest } from "/work/main/engine/backtest/sharded.ts";
import { cohort, DAY, FROM, RULE_SETS, stream, } from "/work/main/bench/lib/cohort-year.ts";
import { emptyChunk } from "/work/main/engine/backtest/backtest.ts";
const days = Number(process.argv[2] ?? 10);
const cfg = { patients: 10000, cgm: 1000, seed: 20260105 };
const patients = cohort(cfg);
const opts = { patients, from: FROM, to: FROM + days * DAY, current: RULE_SETS[0].rules, proposed: [{ name: "proposed", programmes: RULE_SETS[1].rules }] };
let t0 = performance.now();
const bt = new Backtest(opts);
stream(cfg, days, (c) => bt.push(c));
const a = bt.finish();
console.log("single", (performance.now() - t0).toFixed(0), "ms");
t0 = performance.now();
const sb = new ShardedBacktest(opts, 2);
// collect chunks (copy) then push with await (the generator is synchronous)
const chunks: any[] = [];
stream(cfg, days, (c) => { const d = emptyChunk(c.n); d.patient.set(c.patient.subarray(0, c.n)); d.metric.set(c.metric.subarray(0, c.n)); d.time.set(c.time.subarray(0, c.n)); d.value.set(c.value.subarray(0, c.n)); chunks.push(d); });
const t1 = performance.now();
for (const c of chunks) await sb.push(c);
const b = await sb.finish();
console.log("sharded", (performance.now() - t1).toFixed(0), "ms (excl gen)", "equal:", isDeepStrictEqual(a, b));
if (!isDeepStrictEqual(a, b)) { for (const k of Object.keys(a)) if (!isDeepStrictEqual((a as any)[k], (b as any)[k])) console.log("differs:", k, JSON.stringify((a as any)[k]).slice(0, 300), JSON.stringify((b as any)[k]).slice(0, 300)); }
const u = process.cpuUsage(); console.log("process cpu s", ((u.user + u.system) / 1e6).toFixed(1));
