// kill -9 in the middle of a steady stream of acknowledged readings, then restart: every
// acknowledged reading is in the journal, the alerts and their transitions equal an
// uninterrupted run of the same journal, event numbers have no gap or duplicate, and a
// WebSocket client resumes without a gap. A real child process on loopback, bounded in time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import { Pipeline } from "../engine/pipeline.js";
import { openStore } from "../engine/store/open-store.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { Auth } from "../server/auth.js";
import { PG_URL, postgresAvailable } from "./support/durable-stores.js";
import { CHILD_SECRET, startChildServer } from "./support/child-server.js";
import { TestSocket } from "./support/ws-client.js";

const tmp = mkdtempSync(join(tmpdir(), "varsel-crash-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const targets: [string, () => Promise<string>][] = [["sqlite", async () => `sqlite:${join(tmp, `crash-${Date.now()}.db`)}`]];
if (await postgresAvailable()) {
  targets.push(["postgres", async () => `${PG_URL}?schema=varsel_crash_${process.pid}_${Date.now()}`]);
}

/** The crash test snapshots often, so that a restart reads a snapshot and a journal tail. */
const startServer = (database: string) => startChildServer(database, { VARSEL_SNAPSHOT_EVERY_COMMANDS: "40", VARSEL_SNAPSHOT_EVERY_MS: "500" });

const summary = (e: LifecycleEvent) => [e.seq, e.type, "alert" in e ? e.alert.id : e.patient, "alert" in e ? e.alert.level : null];

describe.each(targets)("kill -9 on %s", (_name, databaseUrl) => {
  it("loses nothing acknowledged and resumes without a gap", async () => {
    const database = await databaseUrl();
    const auth = new Auth({ secret: CHILD_SECRET });
    const admin = await auth.sign({ sub: "admin", role: "admin", teams: [] });
    const device = await auth.sign({ sub: "gw", role: "device", teams: ["team-a"] });
    const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const patients = Array.from({ length: 10 }, (_, i) => `p${i}`);

    let { child, port, exited } = await startServer(database);
    const call = (method: string, path: string, token: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    try {
      for (const p of patients) {
        expect((await call("PUT", `/v1/patients/${p}`, admin, { careTeams: [{ team: "team-a", role: "hospital" }] })).status).toBe(200);
        const rules = [{ id: "pulse", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 120 } }];
        expect((await call("PUT", `/v1/patients/${p}/thresholds`, admin, { reason: "test", rules })).status).toBe(200);
      }
      const watcher = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, clinician);
      watcher.send({ type: "subscribe" });
      await watcher.next((f) => f.type === "snapshot");

      // A steady stream of acknowledged batches, cut by kill -9 at a random moment.
      const acknowledged: string[] = [];
      let batch = 0;
      let killed = false;
      const killAt = Date.now() + 400 + Math.random() * 1200;
      const start = Date.now();
      while (!killed && Date.now() - start < 20_000) {
        const t = Date.now() - 60_000 + batch;
        const items = patients.map((p, i) => ({ patient: p, metric: "pulse", value: [70, 110, 130, 95][(batch + i) % 4], time: t, id: `${p}-${batch}` }));
        batch++;
        const pending = call("POST", "/v1/measurements", device, items)
          .then((res) => (res.status === 200 ? items.forEach((i) => acknowledged.push(i.id)) : undefined))
          .catch(() => undefined);
        if (Date.now() >= killAt) {
          child.kill("SIGKILL");
          killed = true;
        }
        await pending;
      }
      expect(killed).toBe(true);
      expect(acknowledged.length).toBeGreaterThan(50);
      await exited;
      await watcher.closed;
      const seenBefore = watcher.events().map((e) => e.seq);

      ({ child, port, exited } = await startServer(database));
      const store = await openStore(database);
      try {
        // 1. Every acknowledged reading is in the journal.
        const journal = await store.readJournal(0, 1_000_000);
        const journaled = new Set(journal.flatMap((e) => (e.command.kind === "ingest" ? e.command.batch.readings.map((r) => r.id) : [])));
        expect(acknowledged.filter((id) => !journaled.has(id))).toEqual([]);

        // 2. Alerts and transitions equal an uninterrupted run of the same journal.
        const reference = new Pipeline();
        const refEvents: LifecycleEvent[] = [];
        for (const entry of journal) {
          try {
            checkCommand(reference, entry);
          } catch {
            continue; // refused then, refused now (only checked commands are journaled)
          }
          refEvents.push(...applyCommand(reference, entry).events);
        }
        const stored = await store.eventsAfter(0, 1_000_000);
        expect(stored.map(summary)).toEqual(refEvents.map(summary));

        // 3. Event numbers: 1..N, no gap, no duplicate.
        expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));

        // 4. A client resumes from the last event it saw and gets exactly the rest.
        const back = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, clinician);
        back.send({ type: "subscribe", resumeFrom: seenBefore.length > 0 ? Math.max(...seenBefore) : 0 });
        await back.next((f) => f.type === "subscribed");
        await back.sync();
        expect([...seenBefore, ...back.events().map((e) => e.seq)]).toEqual(stored.map((e) => e.seq));

        // 5. The restarted engine continues the numbering.
        const now = Date.now();
        const res = await call("POST", "/v1/measurements", device, [
          { patient: "p0", metric: "pulse", value: 70, time: now - 1, id: "after-1" },
          { patient: "p0", metric: "pulse", value: 135, time: now, id: "after-2" },
        ]);
        expect(res.status).toBe(200);
        const next = await back.next((f) => f.type === "event");
        expect(next.event.seq).toBe(stored.length + 1);
        back.close();
      } finally {
        await store.close();
      }
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
