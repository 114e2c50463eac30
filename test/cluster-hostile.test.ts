// Hostile input and a hostile environment against the cluster roles, as real processes on a real
// nats-server (skipped with a message when none answers, failed in CI):
// - a message on a partition's commands subject that is not a command (garbage published on
//   NATS, a message without a clock time or a command) is skipped as refused: the partition goes
//   on applying what follows, instead of stopping and stopping every next owner on it (its
//   patients unwatched);
// - a command that throws inside applyCommand (a batch not in canonical form, published on the
//   subject by something else; or a bug) is skipped as refused, its part-changes undone (the
//   partition rebuilt from its snapshot without it), by the owner and by the next one alike;
// - a readings batch whose command for one partition is larger than the server's max_payload is
//   refused `payload_too_large` before anything is published, not `store_unavailable` (a 503 the
//   device would retry for ever);
// - a device outside a patient's teams sending a guessed measurement id first does not make the
//   real reading a `duplicate` (dropped unapplied), and the same id on another metric is another
//   reading, as in the engine's idempotency window;
// - a message on the events stream that is not an event is skipped by the gateway (as a gap),
//   which starts and goes on serving, instead of the gateway process ending, at every start; and
//   as the last message of a partition, an engine still takes the partition over.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeBody, encodeBody } from "../engine/store/codec.js";
import { Auth } from "../server/auth.js";
import type { EventMessage } from "../server/cluster/partition.js";
import { partitionOf } from "../server/cluster/partitions.js";
import { CHILD_SECRET } from "./support/child-server.js";
import { killHard, messages, owners, RoleProcesses, until } from "./support/cluster.js";
import { NATS_SKIP, requireNats } from "./support/nats.js";
import { TestSocket } from "./support/ws-client.js";

const N = 2;
const auth = new Auth({ secret: CHILD_SECRET });

function send(port: number, method: string, path: string, token: string, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
}

describe.skipIf(NATS_SKIP)("cluster roles against hostile input", () => {
  const roles = new RoleProcesses(N);
  beforeAll(() => requireNats());
  afterEach(() => roles.end());

  it("messages on a commands subject that are not commands are skipped: the partition applies what follows", async () => {
    const cluster = await roles.cluster();
    await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");
    const patient = Array.from({ length: 50 }, (_, i) => `p-${i}`).find((p) => partitionOf(p, N) === 0)!;
    const subject = cluster.names.commandSubject(0);
    const poison: [string, Uint8Array][] = [
      ["not MessagePack", new Uint8Array([0xc1, 0xff, 0x00])],
      ["no command", encodeBody({ at: Date.now() })],
      ["no clock time", encodeBody({ command: { kind: "tick" } })],
      ["a clock time that is no number", encodeBody({ at: "soon", command: { kind: "tick" } })],
      ["not an object", encodeBody(42)],
    ];
    for (const [, bytes] of poison) await cluster.js.publish(subject, bytes);

    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });
    const registered = await send(ingest.port!, "PUT", `/v1/patients/${patient}`, admin, { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }], references: { spo2: 95 } });
    expect(registered.status).toBe(202);
    const reading = await send(ingest.port!, "POST", "/v1/measurements", device, [{ patient, metric: "spo2", value: 85, time: Date.now(), id: "m-after-poison" }]);
    expect(reading.status).toBe(200);

    const raised = async () =>
      (await messages(cluster, cluster.names.eventStream)).map((m) => decodeBody<EventMessage>(m.data)).filter((m) => m.partition === 0 && m.event.type === "raised" && m.event.patient === patient);
    await until(async () => (await raised()).length > 0, "the reading after the poison raised its alert on partition 0");
    // Raised once per rule the reading breaks (each alert once), as a partition without the poison raises them.
    const alerts = (await raised()).map((m) => ("alert" in m.event ? m.event.alert.rule : ""));
    expect(alerts.length).toBeGreaterThan(0);
    expect(new Set(alerts).size).toBe(alerts.length);
  });

  it("a command that throws inside the engine is skipped as refused with its part-changes undone: the partition applies what follows, and so does the next owner", async () => {
    const cluster = await roles.cluster();
    const engine = await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");
    const patient = Array.from({ length: 50 }, (_, i) => `p-${i}`).find((p) => partitionOf(p, N) === 0)!;
    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });
    expect((await send(ingest.port!, "PUT", `/v1/patients/${patient}`, admin, { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }], references: { spo2: 95 } })).status).toBe(202);
    // A batch not in canonical form, published on the subject by something else: its first run
    // evaluates an SpO2 of 85 (raising the patient's alerts), then a reading of no known metric
    // throws inside applyCommand. Kept, those alerts would be open with the poison's time.
    const poisonTime = Date.now() - 60_000;
    const batch = {
      items: 3,
      readings: [
        { index: 0, patient, metric: "spo2", value: 85, time: poisonTime },
        { index: 2, patient, metric: "constructor", value: 85, time: poisonTime },
      ],
      rejected: [],
      invalidations: [{ index: 1, id: "none", patient: "nobody" }],
    };
    await cluster.js.publish(cluster.names.commandSubject(0), encodeBody({ at: Date.now(), command: { kind: "ingest", source: "readings", batch, channel: "hostile" } }));
    const time = Date.now();
    expect((await send(ingest.port!, "POST", "/v1/measurements", device, [{ patient, metric: "spo2", value: 85, time, id: "m-after-throw" }])).status).toBe(200);

    const events = async () => (await messages(cluster, cluster.names.eventStream)).map((m) => decodeBody<EventMessage>(m.data)).filter((m) => m.partition === 0);
    await until(async () => (await events()).some((m) => m.event.type === "raised"), "the reading after the throwing command raised its alerts on partition 0", 30_000);
    const raised = (await events()).filter((m) => m.event.type === "raised").map((m) => ("alert" in m.event ? m.event.alert : undefined)!);
    expect(raised.length).toBeGreaterThan(0);
    expect(new Set(raised.map((a) => a.rule)).size).toBe(raised.length);
    // Raised by the reading after it: nothing of the throwing command's first run is left.
    for (const alert of raised) expect(alert.conditionSince).toBe(time);

    // The next owner meets the same throw in its replay and skips it the same way: it publishes
    // nothing again and numbers what follows on from the live run.
    await killHard(engine);
    await roles.start(cluster, "engine");
    expect((await send(ingest.port!, "POST", "/v1/measurements", device, [{ patient, metric: "pulse", value: 190, time: Date.now(), id: "m-after-takeover" }])).status).toBe(200);
    const before = raised.length;
    await until(async () => (await events()).filter((m) => m.event.type === "raised").length > before, "the next owner applied the reading after the takeover", 30_000);
    const seqs = (await events()).map((m) => m.event.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it("a readings batch larger than a cluster message holds is refused payload_too_large, nothing published", async () => {
    const cluster = await roles.cluster();
    const ingest = await roles.start(cluster, "ingest");
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });
    const now = Date.now();
    // Under the HTTP body limit (4 MiB) and the batch limit (10 000 items), over NATS's 1 MiB.
    const big = Array.from({ length: 9_000 }, (_, i) => ({ patient: "p-1", metric: "spo2", value: 95, time: now - i * 1000, id: `m-${i}-${"x".repeat(100)}` }));
    const res = await send(ingest.port!, "POST", "/v1/measurements", device, big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "payload_too_large", details: { maxBytes: expect.any(Number) } });
    expect(await messages(cluster, cluster.names.commandStream)).toEqual([]);
    // The same readings in smaller batches are taken.
    const half = await send(ingest.port!, "POST", "/v1/measurements", device, big.slice(0, 3_000));
    expect(half.status).toBe(200);
  });

  it("a measurement id is de-duplicated per sender scope and metric: a forged copy from another team does not drop the real reading", async () => {
    const cluster = await roles.cluster();
    await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");
    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const deviceA = await auth.sign({ sub: "hub-a", role: "device", teams: ["team-a"] });
    const deviceB = await auth.sign({ sub: "hub-b", role: "device", teams: ["team-b"] });
    expect((await send(ingest.port!, "PUT", "/v1/patients/pA", admin, { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }], references: { spo2: 95 } })).status).toBe(202);
    const time = Date.now();
    const reading = (device: string, metric: string, value: number) => send(ingest.port!, "POST", "/v1/measurements", device, [{ patient: "pA", metric, value, time, id: "m-42" }]);
    // Team B's device cannot see pA: its copy is answered as any reading (nothing learnt) and refused by the engine.
    expect(await (await reading(deviceB, "spo2", 97)).json()).toMatchObject({ accepted: 1, duplicates: [] });
    expect(await (await reading(deviceA, "spo2", 85)).json()).toMatchObject({ accepted: 1, duplicates: [] });
    // The same id on another metric is another reading; the real sender's repeat is its duplicate.
    expect(await (await reading(deviceA, "pulse", 70)).json()).toMatchObject({ accepted: 1, duplicates: [] });
    expect(await (await reading(deviceA, "spo2", 85)).json()).toMatchObject({ accepted: 0, duplicates: [{ index: 0, id: "m-42" }] });

    const raised = async () => (await messages(cluster, cluster.names.eventStream)).map((m) => decodeBody<EventMessage>(m.data).event).filter((e) => e.type === "raised" && e.patient === "pA");
    await until(async () => (await raised()).length > 0, "team A's reading of 85 raised its alert");
    const rules = (await raised()).map((e) => ("alert" in e ? e.alert.rule : ""));
    expect(new Set(rules).size).toBe(rules.length);
  });

  it("a message on the events stream that is not an event is skipped by the gateway and the engine: the gateway starts, the partition is taken, the events after it are served", async () => {
    const cluster = await roles.cluster();
    // The last message of pG's partition is not an event: an engine taking the partition still starts it.
    const p = partitionOf("pG", N);
    await cluster.js.publish(cluster.names.eventSubject(1 - p), new Uint8Array([0xc1]));
    await cluster.js.publish(cluster.names.eventSubject(p), encodeBody({ partition: p, event: { type: "raised" } }));
    await cluster.js.publish(cluster.names.eventSubject(p), new Uint8Array([0xc1]));
    const gateway = await roles.start(cluster, "gateway");
    await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");
    const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const watcher = roles.keep(await TestSocket.connect(`ws://127.0.0.1:${gateway.port}/v1/ws`, clinician));
    watcher.send({ type: "subscribe", id: "s" });
    expect(await watcher.next((f) => f.type === "snapshot")).toMatchObject({ alerts: [] });
    await cluster.js.publish(cluster.names.eventSubject(0), encodeBody("not an event"));

    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });
    expect((await send(ingest.port!, "PUT", "/v1/patients/pG", admin, { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }], references: { spo2: 95 } })).status).toBe(202);
    expect((await send(ingest.port!, "POST", "/v1/measurements", device, [{ patient: "pG", metric: "spo2", value: 85, time: Date.now(), id: "m-1" }])).status).toBe(200);
    const raised = await watcher.next((f) => f.type === "event" && f.event.type === "raised", 30_000);
    expect(raised.event).toMatchObject({ patient: "pG", alert: { id: `a-1@${p}` } });
    expect(gateway.child.exitCode).toBeNull();
  });
});
