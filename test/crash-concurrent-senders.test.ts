// Review probe: kill -9 while several senders are in the fair queue at once (one gateway
// sending 2 000-reading batches pipelined on its socket, two small gateways, an HTTP sender and
// an admin acknowledging alerts on a socket), then restart on the same SQLite file. Every
// acknowledged reading and ack is journaled, each sender's batches are journaled in the order
// it sent them, and the stored events equal a replay of the journal.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import { Pipeline } from "../engine/pipeline.js";
import { openStore } from "../engine/store/open-store.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, startChildServer } from "./support/child-server.js";
import { TestSocket, type Frame } from "./support/ws-client.js";

const tmp = mkdtempSync(join(tmpdir(), "varsel-review-crash-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const summary = (e: LifecycleEvent) => [e.seq, e.type, "alert" in e ? e.alert.id : e.patient];

describe("kill -9 with several senders queued", () => {
  it("loses nothing acknowledged, keeps each sender's order, and replays to the same events", async () => {
    const database = `sqlite:${join(tmp, "crash.db")}`;
    const auth = new Auth({ secret: CHILD_SECRET });
    const admin = await auth.sign({ sub: "admin", role: "admin", teams: [] });
    const subs = ["gw-big", "gw-a", "gw-b"];
    const devices = await Promise.all(subs.map((sub) => auth.sign({ sub, role: "device", teams: ["team-a"] })));
    const httpDevice = await auth.sign({ sub: "gw-http", role: "device", teams: ["team-a"] });
    const patients = Array.from({ length: 6 }, (_, i) => `p${i}`);

    const server = await startChildServer(database, { VARSEL_SNAPSHOT_EVERY_COMMANDS: "30", VARSEL_SNAPSHOT_EVERY_MS: "300" });
    const url = `http://127.0.0.1:${server.port}`;
    const call = (method: string, path: string, token: string, body: unknown) =>
      fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const acknowledged = new Set<string>();
    const acks = new Set<string>();
    let stopped = false;
    try {
      for (const p of patients) {
        expect((await call("PUT", `/v1/patients/${p}`, admin, { careTeams: [{ team: "team-a", role: "hospital" }] })).status).toBe(200);
        const rules = [{ id: "pulse", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 120 } }];
        expect((await call("PUT", `/v1/patients/${p}/thresholds`, admin, { reason: "test", rules })).status).toBe(200);
      }
      const base = Date.now() - 600_000;
      let clock = 0; // every reading its own time: none is a duplicate of another

      // The admin acknowledges every raised alert it sees, on its own socket.
      const acker = await TestSocket.connect(`ws://127.0.0.1:${server.port}/v1/ws`, admin);
      acker.ws.on("message", (data: Buffer) => {
        const f = JSON.parse(data.toString()) as Frame;
        if (f.type === "event" && f.event.type === "raised") acker.send({ type: "ack", id: `ack:${f.event.alert.id}`, alert: f.event.alert.id });
        if (f.type === "ack_result") acks.add(f.alert.id);
      });
      acker.send({ type: "subscribe" });

      const sockets = await Promise.all(devices.map((t) => TestSocket.connect(`ws://127.0.0.1:${server.port}/v1/ws`, t)));
      const sent: Record<string, Frame[]> = {};
      const gateway = async (k: number) => {
        const sub = subs[k];
        const socket = sockets[k];
        const size = sub === "gw-big" ? 2000 : 5;
        const inFlight = new Map<string, string[]>();
        socket.ws.on("message", (data: Buffer) => {
          const f = JSON.parse(data.toString()) as Frame;
          const ids = inFlight.get(f.id);
          if (ids === undefined) return;
          inFlight.delete(f.id);
          if (f.type === "ingest_result") ids.forEach((id) => acknowledged.add(id));
        });
        for (let n = 0; !stopped; n++) {
          while (inFlight.size >= 8 && !stopped) await new Promise((r) => setTimeout(r, 2));
          const readings = Array.from({ length: size }, (_, i) => ({
            patient: patients[(n + i) % patients.length],
            metric: "pulse",
            value: [70, 72, 74, 76, 78, 130][(n + 5 * i) % 6],
            time: base + clock++,
            id: `${sub}:${n}:${i}`,
          }));
          inFlight.set(`${sub}:${n}`, readings.map((r) => r.id));
          (sent[sub] ??= []).push({ n });
          socket.send({ type: "ingest", id: `${sub}:${n}`, readings });
          await new Promise((r) => setImmediate(r));
        }
      };
      const http = async () => {
        for (let n = 0; !stopped; n++) {
          const items = [{ patient: patients[n % patients.length], metric: "pulse", value: 125, time: base + clock++, id: `gw-http:${n}:0` }];
          const res = await call("POST", "/v1/measurements", httpDevice, items).catch(() => undefined);
          if (res?.status === 200) acknowledged.add(items[0].id);
        }
      };
      const runs = [...subs.map((_, k) => gateway(k)), http()];
      await new Promise((r) => setTimeout(r, 1200 + Math.random() * 1200));
      server.child.kill("SIGKILL");
      stopped = true;
      await server.exited;
      await Promise.all(runs);
      expect(acknowledged.size).toBeGreaterThan(1000);
    } finally {
      stopped = true;
      server.child.kill("SIGKILL");
    }

    const again = await startChildServer(database);
    const store = await openStore(database);
    try {
      const journal = await store.readJournal(0, 10_000_000);
      const readingIds = journal.flatMap((e) => (e.command.kind === "ingest" ? e.command.batch.readings.map((r) => r.id!) : []));
      const journaled = new Set(readingIds);
      expect([...acknowledged].filter((id) => !journaled.has(id))).toEqual([]);
      const ackedAlerts = new Set(journal.flatMap((e) => (e.command.kind === "ack" ? [e.command.alert] : [])));
      expect([...acks].filter((a) => !ackedAlerts.has(a))).toEqual([]);

      // Each sender's batches in the order it sent them.
      for (const sub of [...subs, "gw-http"]) {
        const order = journal.flatMap((e) => (e.command.kind === "ingest" && e.command.batch.readings[0].id!.startsWith(`${sub}:`) ? [Number(e.command.batch.readings[0].id!.split(":")[1])] : []));
        expect(order, sub).toEqual([...order].sort((a, b) => a - b));
      }

      // The stored events equal a replay of the journal.
      const reference = new Pipeline();
      const refEvents: LifecycleEvent[] = [];
      for (const entry of journal) {
        checkCommand(reference, entry); // only checked commands are journaled: a refusal here is a finding
        refEvents.push(...applyCommand(reference, entry).events);
      }
      const stored = await store.eventsAfter(0, 10_000_000);
      if (process.env.REVIEW_VERBOSE) console.log({ acknowledged: acknowledged.size, acks: acks.size, journal: journal.length, events: stored.length });
      expect(stored.map(summary)).toEqual(refEvents.map(summary));
      expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));

      // The restarted server answers from the same state.
      const res = await fetch(`http://127.0.0.1:${again.port}/v1/alerts`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(200);
    } finally {
      await store.close();
      again.child.kill("SIGKILL");
    }
  }, 90_000);
});
