// Admin changes over HTTP on an ingest node (server/cluster/write-routes.ts), through real
// processes on a real nats-server (skipped with a message when none answers, failed in CI): one
// engine, one ingest, one gateway. A patient registered over HTTP on the ingest, a reading sent
// to it, and the gateway's client receives the alert; an admin's HTTP ack comes back as its
// event. Refusals the ingest can judge are answered as the single process answers them.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { statusOf, type ErrorCode } from "../engine/errors.js";
import { decodeBody } from "../engine/store/codec.js";
import { Auth } from "../server/auth.js";
import type { CommandMessage } from "../server/cluster/ingest.js";
import { partitionOf } from "../server/cluster/partitions.js";
import { CHILD_SECRET } from "./support/child-server.js";
import { messages, owners, RoleProcesses, until } from "./support/cluster.js";
import { NATS_SKIP, requireNats } from "./support/nats.js";
import { TestSocket, type Frame } from "./support/ws-client.js";

const N = 4;
const auth = new Auth({ secret: CHILD_SECRET });

function send(port: number, method: string, path: string, token: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe.skipIf(NATS_SKIP)("admin changes over HTTP on an ingest node", () => {
  const roles = new RoleProcesses(N);
  beforeAll(() => requireNats());
  afterEach(() => roles.end());

  it("a patient registered over HTTP on the ingest raises an alert the gateway's client receives; an HTTP ack and a silence come back as their events", async () => {
    const cluster = await roles.cluster();
    await roles.start(cluster, "engine");
    const ingest = await roles.start(cluster, "ingest");
    const gateway = await roles.start(cluster, "gateway");
    await until(async () => (await owners(cluster, N)).size === N, "the engine owns every partition");

    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const device = await auth.sign({ sub: "hub", role: "device", teams: ["team-a"] });

    const registered = await send(ingest.port!, "PUT", "/v1/patients/p-http", admin, {
      programmes: ["telekol"],
      careTeams: [{ team: "team-a", role: "hospital" }],
      references: { spo2: 95 },
    });
    expect(registered.status).toBe(202);
    expect(await registered.json()).toEqual({ accepted: true, command: "patient", partitions: [partitionOf("p-http", N)] });
    // The journal form of the single process, on the patient's partition.
    const stored = (await messages(cluster, cluster.names.commandStream)).map((m) => ({ subject: m.subject, ...decodeBody<CommandMessage>(m.data) }));
    expect(stored.find((m) => m.command.kind === "patient")).toMatchObject({
      subject: cluster.names.commandSubject(partitionOf("p-http", N)),
      command: { kind: "patient", id: "p-http", input: { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: { spo2: 95 } } },
    });

    const watcher = await TestSocket.connect(`ws://127.0.0.1:${gateway.port}/v1/ws`, clinician);
    roles.keep(watcher);
    watcher.send({ type: "subscribe", id: "s" });
    await watcher.next((f) => f.type === "snapshot");

    const reading = await send(ingest.port!, "POST", "/v1/measurements", device, [{ patient: "p-http", metric: "spo2", value: 85, time: Date.now(), id: "r-1" }]);
    expect(reading.status).toBe(200);
    const raised = await watcher.next((f) => f.type === "event" && f.event.type === "raised" && f.event.alert?.patient === "p-http", 30_000);
    const alert = raised.event.alert as Frame;
    expect(alert.id).toMatch(new RegExp(`@${partitionOf("p-http", N)}$`));

    const acked = await send(ingest.port!, "POST", `/v1/alerts/${encodeURIComponent(alert.id)}/ack`, admin, { note: "phoned" });
    expect(acked.status).toBe(202);
    expect(await acked.json()).toEqual({ accepted: true, command: "ack", partitions: [partitionOf("p-http", N)] });
    const ackEvent = await watcher.next((f) => f.type === "event" && f.event.type === "acknowledged" && f.event.alert?.id === alert.id, 30_000);
    expect(ackEvent.event.alert).toMatchObject({ ack: { by: "admin-1", note: "phoned" } });

    // A silence of the patient: its id (qualified with the partition) comes with its event; ending it by that id.
    const silenced = await send(ingest.port!, "POST", "/v1/silences", admin, { patient: "p-http", rule: "spo2", until: new Date(Date.now() + 3_600_000).toISOString(), reason: "device swap" });
    expect(silenced.status).toBe(202);
    expect(await silenced.json()).toEqual({ accepted: true, command: "silence_add", partitions: [partitionOf("p-http", N)] });
    const created = await watcher.next((f) => f.type === "event" && f.event.type === "silence" && f.event.action === "created", 30_000);
    expect(created.event.silence).toMatchObject({ patient: "p-http", reason: "device swap", author: "admin-1" });
    const ended = await send(ingest.port!, "DELETE", `/v1/silences/${encodeURIComponent(created.event.silence.id)}`, admin);
    expect(ended.status).toBe(202);
    const removed = await watcher.next((f) => f.type === "event" && f.event.type === "silence" && f.event.action === "removed", 30_000);
    expect(removed.event.silence.id).toBe(created.event.silence.id);

    // An organisation-wide change goes to every partition.
    const programme = await send(ingest.port!, "PUT", "/v1/programmes/telekol/thresholds", admin, { rules: [], reason: "review" });
    expect(programme.status).toBe(202);
    expect(await programme.json()).toEqual({ accepted: true, command: "programme_thresholds", partitions: [0, 1, 2, 3] });
  });

  it("refuses what the ingest can judge as the single process does, and publishes nothing for it", async () => {
    const cluster = await roles.cluster();
    const ingest = await roles.start(cluster, "ingest");
    const gateway = await roles.start(cluster, "gateway");
    const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] });
    const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const patient = { programmes: ["telekol"], careTeams: [{ team: "team-a", role: "hospital" }] };
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: { what: string; port: number; method: string; path: string; token: string; body?: unknown; code: ErrorCode }[] = [
      { what: "no token", port: ingest.port!, method: "PUT", path: "/v1/patients/p-1", token: "", body: patient, code: "unauthorized" },
      { what: "a clinician registering", port: ingest.port!, method: "PUT", path: "/v1/patients/p-1", token: clinician, body: patient, code: "forbidden" },
      { what: "a clinician acknowledging over HTTP", port: ingest.port!, method: "POST", path: "/v1/alerts/a-1@0/ack", token: clinician, body: {}, code: "forbidden" },
      { what: "a clinician silencing", port: ingest.port!, method: "POST", path: "/v1/silences", token: clinician, body: { patient: "p-1", until: new Date(Date.now() + 3_600_000).toISOString(), reason: "x" }, code: "forbidden" },
      { what: "an unknown body field", port: ingest.port!, method: "PUT", path: "/v1/patients/p-1", token: admin, body: { ...patient, colour: "red" }, code: "invalid_body" },
      { what: "programme and programmes", port: ingest.port!, method: "PUT", path: "/v1/patients/p-1", token: admin, body: { ...patient, programme: "telekol" }, code: "invalid_body" },
      { what: "an unknown programme", port: ingest.port!, method: "PUT", path: "/v1/programmes/nope/thresholds", token: admin, body: { rules: [], reason: "x" }, code: "not_found" },
      { what: "a silence ending in the past", port: ingest.port!, method: "POST", path: "/v1/silences", token: admin, body: { patient: "p-1", until: past, reason: "x" }, code: "invalid_silence" },
      { what: "an alert id without its partition", port: ingest.port!, method: "POST", path: "/v1/alerts/a-1/ack", token: admin, body: {}, code: "not_found" },
      { what: "a silence id of a partition that does not exist", port: ingest.port!, method: "DELETE", path: "/v1/silences/s-1@9", token: admin, code: "not_found" },
      // (POST: a gateway-only node serves POST /v1/measurements, so the method is known and the path is not.)
      { what: "a change sent to a gateway-only node", port: gateway.port!, method: "POST", path: "/v1/silences", token: admin, body: { patient: "p-1", until: new Date(Date.now() + 3_600_000).toISOString(), reason: "x" }, code: "not_found" },
    ];
    for (const c of cases) {
      const res = await send(c.port, c.method, c.path, c.token, c.body);
      // The catalogue's status for the code, as the single process answers it.
      expect({ what: c.what, status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({ what: c.what, status: statusOf(c.code), code: c.code });
    }
    expect(await messages(cluster, cluster.names.commandStream)).toEqual([]);
  });
});
