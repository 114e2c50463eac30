// The whole cluster as separate processes on a real nats-server (test/support/nats.ts: skipped
// with a message when none answers, failed in CI): three engines, one ingest and one gateway
// (`varsel serve --role …`, the compiled dist/). Readings go in over HTTP to the ingest, a
// clinician's WebSocket on the gateway receives the alerts.
// - kill -9 of an engine mid-stream: every event the commands stream produces (applied per
//   partition by one Pipeline each) reaches the subscribed client exactly once; a gateway
//   restarted after it starts from the view's snapshot and serves the same open alerts;
// - kill -9 of the ingest with requests in flight: every reading answered 2xx is in the commands
//   stream, and the engines applied all of it.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeBody } from "../engine/store/codec.js";
import { Auth } from "../server/auth.js";
import { qualified } from "../server/cluster/alert-view.js";
import { ClusterIngest, type CommandMessage } from "../server/cluster/ingest.js";
import type { EventMessage } from "../server/cluster/partition.js";
import { parseQualifiedId } from "../server/cluster/partitions.js";
import type { Cluster } from "../server/cluster/streams.js";
import { CHILD_SECRET } from "./support/child-server.js";
import { eventsStreamComplete, killHard, messages, owners, RoleProcesses, until, type RoleProcess } from "./support/cluster.js";
import { NATS_SKIP, requireNats } from "./support/nats.js";
import { TestSocket, type Frame } from "./support/ws-client.js";

const N = 6;
const PATIENTS = Array.from({ length: 12 }, (_, i) => `patient-${i}`);
const auth = new Auth({ secret: CHILD_SECRET });

/** Registers the patients through the ingest library (over HTTP: test/cluster-writes.test.ts). */
async function register(cluster: Cluster): Promise<void> {
  const ingest = new ClusterIngest(cluster);
  const careTeams = [{ team: "team-a", role: "hospital" as const }];
  for (const id of PATIENTS) await ingest.publish({ kind: "patient", id, input: { programmes: ["telekol"], careTeams, paused: false, references: { spo2: 95 } } });
}

function post(port: number, token: string, readings: unknown[]): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/measurements`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(readings) });
}

/** One round of readings: every patient's SpO2, cycling through normal, yellow and red values. */
function round(i: number, tag: string): { patient: string; metric: string; value: number; time: number; id: string }[] {
  const now = Date.now();
  return PATIENTS.map((patient, k) => ({ patient, metric: "spo2", value: [96, 91, 87, 94][(i + k) % 4], time: now, id: `${patient}-${tag}-${i}` }));
}

describe.skipIf(NATS_SKIP)("cluster roles as processes", () => {
  const roles = new RoleProcesses(N);
  beforeAll(() => requireNats());
  afterEach(() => roles.end());

  it("kill -9 of an engine mid-stream: the gateway's client receives every expected event exactly once", async () => {
    const cluster = await roles.cluster();
    const engines = [await roles.start(cluster, "engine"), await roles.start(cluster, "engine"), await roles.start(cluster, "engine")];
    const ingest = await roles.start(cluster, "ingest");
    const gateway = await roles.start(cluster, "gateway");
    await until(async () => {
      const o = await owners(cluster, N);
      return o.size === N && new Set(o.values()).size === 3;
    }, "three engines own two partitions each");
    await register(cluster);

    const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });
    const watcher = await TestSocket.connect(`ws://127.0.0.1:${gateway.port}/v1/ws`, clinician);
    roles.keep(watcher);
    watcher.send({ type: "subscribe", id: "s" });
    const snapshot = await watcher.next((f) => f.type === "snapshot");
    expect(snapshot.alerts).toEqual([]);

    let victim: RoleProcess | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await post(ingest.port!, device, round(i, "r"));
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { accepted: number; readings: { triage: string }[] };
      expect(answer.accepted).toBe(PATIENTS.length);
      expect(answer.readings.every((r) => r.triage === "pending")).toBe(true);
      if (i === 15) {
        const pid = (await owners(cluster, N)).get(0);
        victim = engines.find((e) => e.child.pid === pid);
        await killHard(victim!);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(victim).toBeDefined();

    // The events stream holds exactly what the commands stream produces (nothing lost, nothing twice) ...
    let expected: string[] = [];
    await until(async () => (expected = (await eventsStreamComplete(cluster)) ?? []).length > 0, "the events stream equals what the commands stream produces");
    expect(expected.filter((e) => e.includes(":raised:")).length).toBeGreaterThan(5);
    // ... and the client received each of them once, numbered by the stream, ids qualified with their partition.
    const received = () => watcher.frames.filter((f) => f.type === "event").map((f) => f.event as Frame);
    await until(() => received().length >= expected.length, "the client received every event", 30_000);
    const events = received();
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: expected.length }, (_, i) => snapshot.seq + i + 1));
    const asExpected = events
      .map((e) => {
        if (e.alert === undefined) return `${e.type}`;
        const { partition, id } = parseQualifiedId(e.alert.id, N);
        return `${partition}:${e.type}:${id}`;
      })
      .sort();
    const wanted = expected.map((e) => {
      const [partition, , type, id] = e.split(":");
      return id === "" ? type : `${partition}:${type}:${id}`;
    });
    expect(asExpected).toEqual(wanted.sort());

    // A new subscriber's snapshot is the open alerts as the events left them; a resume replays from a stream sequence.
    const open = new Map<string, Frame>();
    for (const e of events) if (e.alert !== undefined) (e.alert.state === "resolved" ? open.delete(e.alert.id) : open.set(e.alert.id, e.alert));
    const late = await TestSocket.connect(`ws://127.0.0.1:${gateway.port}/v1/ws`, clinician);
    roles.keep(late);
    late.send({ type: "subscribe", id: "late" });
    const lateSnapshot = await late.next((f) => f.type === "snapshot");
    expect(lateSnapshot.seq).toBe(events.at(-1)!.seq);
    expect(new Map(lateSnapshot.alerts.map((a: Frame) => [a.id, a]))).toEqual(open);
    expect(open.size).toBeGreaterThan(0);
    late.send({ type: "subscribe", id: "resume", resumeFrom: events[9].seq });
    expect(await late.next((f) => f.type === "subscribed" && f.id === "resume")).toMatchObject({ replayed: events.length - 10 });

    // An acknowledgement through the gateway reaches the alert's partition; its event comes back.
    // (A firing alert is `acknowledged`; one cleared and awaiting its ack would be resolved by it.)
    const id = [...open.values()].find((a) => a.state === "firing")?.id as string;
    expect(id).toBeDefined();
    watcher.send({ type: "ack", id: "ack-1", alert: id, note: "seen" });
    expect(await watcher.next((f) => f.type === "ack_result")).toMatchObject({ id: "ack-1", alert: { id } });
    // Its event comes from the stream, before or after the answer (which waits for the PubAck).
    const ackEvent = () => watcher.frames.find((f) => f.type === "event" && f.event.alert?.id === id && f.event.seq > events.at(-1)!.seq);
    await until(() => ackEvent() !== undefined, "the acknowledgement's event", 15_000);
    const acked = ackEvent()!;
    expect(acked.event).toMatchObject({ type: "acknowledged", alert: { id, ack: { by: "nurse", note: "seen" } } });

    // A gateway that stops writes the view's snapshot; the next one starts from it (not from
    // nothing) and serves the same open alerts: the fold of the whole events stream.
    gateway.child.kill("SIGTERM");
    await gateway.exited;
    const next = await roles.start(cluster, "gateway");
    const restored = next
      .output()
      .split("\n")
      .filter((l) => l.includes("gateway view restored"))
      .map((l) => JSON.parse(l) as { snapshotSeq?: number; from: number; last: number });
    expect(restored).toHaveLength(1);
    expect(restored[0].snapshotSeq).toBeGreaterThanOrEqual(acked.event.seq);
    const again = await TestSocket.connect(`ws://127.0.0.1:${next.port}/v1/ws`, clinician);
    roles.keep(again);
    again.send({ type: "subscribe", id: "again" });
    const againSnapshot = await again.next((f) => f.type === "snapshot");
    const folded = new Map<string, unknown>();
    for (const m of await messages(cluster, cluster.names.eventStream)) {
      if (m.seq > againSnapshot.seq) break;
      const { partition, event } = decodeBody<EventMessage>(m.data);
      const q = qualified(event, partition, m.seq);
      if ("alert" in q) (q.alert.state === "resolved" ? folded.delete(q.alert.id) : folded.set(q.alert.id, JSON.parse(JSON.stringify(q.alert))));
    }
    expect(folded.size).toBeGreaterThan(0);
    expect(new Map(againSnapshot.alerts.map((a: Frame) => [a.id, a]))).toEqual(folded);
    again.send({ type: "subscribe", id: "again-resume", resumeFrom: events[9].seq });
    expect(await again.next((f) => f.type === "subscribed" && f.id === "again-resume")).toMatchObject({ replayed: againSnapshot.seq - events[9].seq });
  });

  it("kill -9 of the ingest with requests in flight: every reading answered 2xx is in the commands stream and applied", async () => {
    const cluster = await roles.cluster();
    await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");
    await register(cluster);
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });

    const acknowledged: string[] = [];
    let stop = false;
    const sender = async (lane: number) => {
      for (let i = 0; !stop; i++) {
        const readings = round(i, `l${lane}`);
        try {
          const res = await post(ingest.port!, device, readings);
          if (res.status === 200) acknowledged.push(...readings.map((r) => r.id));
        } catch {
          return; // the connection died with the process: not acknowledged
        }
      }
    };
    const lanes = [0, 1, 2, 3].map(sender);
    await until(() => acknowledged.length >= 20 * PATIENTS.length, "some readings acknowledged");
    await killHard(ingest);
    stop = true;
    await Promise.all(lanes);
    expect(acknowledged.length).toBeGreaterThan(0);

    const stored = new Set<string>();
    for (const m of await messages(cluster, cluster.names.commandStream)) {
      const { command } = decodeBody<CommandMessage>(m.data);
      if (command.kind === "ingest") for (const r of command.batch.readings) if (r.id !== undefined) stored.add(r.id);
    }
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    // Applied: every partition's consumer has taken everything, and the events are what the commands produce.
    await until(async () => {
      for (let p = 0; p < N; p++) {
        const info = await cluster.jsm.consumers.info(cluster.names.commandStream, cluster.names.consumer(p));
        if (info.num_pending + info.num_ack_pending > 0) return false;
      }
      return (await eventsStreamComplete(cluster)) !== undefined;
    }, "the engine applied every stored command");
  });
});
