// The read model over real sockets: GET /v1/patients/:id/readings and GET /v1/alerts/:id/history
// on a real SQLite store (what was stored, in order, scoped like every route), the same routes
// on an in-memory server (what it holds), and one answer for who may ingest and acknowledge on
// HTTP and the socket.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { registerPatient, startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket, type Frame } from "./support/ws-client.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

describe("read model on a store", () => {
  let dir: string;
  let h: Harness;
  let device: string;
  let nurse: string;
  let admin: string;
  const sockets: TestSocket[] = [];
  const start = async () => startServer(TRANSPORTS[0], {}, { store: await openStore(`sqlite:${join(dir, "varsel.db")}`) });
  const at = (ms: number) => h.clock.now() + ms;
  const post = (readings: object[]) => h.http("POST", "/v1/measurements", { token: device, body: readings });
  const get = (path: string, token = nurse) => h.http("GET", path, { token });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "varsel-read-model-"));
    h = await start();
    await registerPatient(h, "pa", "team-a");
    await registerPatient(h, "pb", "team-b");
    device = await h.token("device", ["team-a", "team-b"]);
    nurse = await h.token("clinician", ["team-a"], "1h", "nurse-1");
    admin = await h.token("admin", []);
  });
  afterEach(async () => {
    sockets.splice(0).forEach((s) => s.close());
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a patient's stored readings newest first, in the canonical unit with the unit named and their triage", async () => {
    const first = await post([
      { patient: "pa", metric: "bp_sys", value: 20, unit: "kPa", time: at(-10 * MIN), id: "m-1", device: "cuff-1" },
      { patient: "pa", metric: "pulse", value: 125, time: at(-5 * MIN), id: "m-2" },
      { patient: "pa", metric: "pulse", value: 400, time: at(-4 * MIN), id: "m-bad" }, // implausible: never stored
      { patient: "pb", metric: "pulse", value: 70, time: at(-4 * MIN), id: "m-other" },
    ]);
    expect(first.status).toBe(200);
    const receivedFirst = h.clock.now();
    h.clock.advance(MIN);
    const second = await post([
      { patient: "pa", metric: "http://loinc.org|29463-7", value: 180, unit: "[lb_av]", time: at(-3 * MIN), id: "m-3" },
      { patient: "pa", metric: "spo2", value: 0.97, unit: "1", time: at(-MIN), id: "m-4" },
      { patient: "pa", metric: "pulse", value: 125, time: at(-6 * MIN), id: "m-2" }, // a resend: acknowledged, stored once
    ]);
    expect(second.body.duplicates).toEqual([{ index: 2, id: "m-2" }]);
    const triage = (answer: Frame, index: number) => answer.body.readings.find((r: Frame) => r.index === index).triage;

    const res = await get("/v1/patients/pa/readings");
    expect(res.status).toBe(200);
    const receivedSecond = h.clock.now();
    expect(res.body.readings).toEqual([
      { patient: "pa", metric: "spo2", time: at(-MIN), value: expect.closeTo(97, 9), unit: "%", triage: triage(second, 1), receivedAt: receivedSecond, id: "m-4" },
      { patient: "pa", metric: "weight", time: at(-3 * MIN), value: expect.closeTo(180 * 0.45359237, 9), unit: "kg", triage: triage(second, 0), receivedAt: receivedSecond, id: "m-3" },
      { patient: "pa", metric: "pulse", time: receivedFirst - 5 * MIN, value: 125, unit: "/min", triage: "HH", receivedAt: receivedFirst, id: "m-2" },
      { patient: "pa", metric: "bp_sys", time: receivedFirst - 10 * MIN, value: expect.closeTo(150.0124, 4), unit: "mm[Hg]", triage: triage(first, 0), receivedAt: receivedFirst, id: "m-1", device: "cuff-1" },
    ]);
    expect(res.body.readings[2].triage).toBe(triage(first, 1));

    const ids = async (query: string) => (await get(`/v1/patients/pa/readings?${query}`)).body.readings.map((r: Frame) => r.id);
    expect(await ids("metric=bp_sys")).toEqual(["m-1"]);
    expect(await ids("metric=8480-6")).toEqual(["m-1"]); // a code, resolved as ingest resolves it
    expect(await ids(`metric=${encodeURIComponent("http://loinc.org|8867-4")}`)).toEqual(["m-2"]);
    expect(await ids(`from=${new Date(receivedFirst - 5 * MIN).toISOString()}&to=${at(-3 * MIN)}`)).toEqual(["m-3", "m-2"]); // inclusive
    expect(await ids("limit=1")).toEqual(["m-4"]);
    expect(await ids(`metric=pulse&to=${receivedFirst - 6 * MIN}`)).toEqual([]);
    expect((await get("/v1/patients/pb/readings", admin)).body.readings.map((r: Frame) => r.id)).toEqual(["m-other"]);

    // Survives a restart: it was stored with the commit, not held in memory.
    await h.close();
    h = await start();
    expect((await get("/v1/patients/pa/readings", await h.token("clinician", ["team-a"]))).body.readings).toEqual(res.body.readings);
  });

  it("refuses bad query parameters with invalid_field, and scopes readings like every patient route", async () => {
    for (const query of ["metric=nope", "limit=0", "limit=10001", "limit=1.5", "limit=ten", "from=yesterday", "to=", `from=${at(0)}&to=${at(-1)}`]) {
      const res = await get(`/v1/patients/pa/readings?${query}`);
      expect([query, res.status, res.body.code]).toEqual([query, 422, "invalid_field"]);
    }
    expect((await get("/v1/patients/pa/readings?limit=10000")).status).toBe(200);
    const status = async (path: string, token?: string) => (await h.http("GET", path, { token })).status;
    expect(await status("/v1/patients/pa/readings")).toBe(401);
    expect(await status("/v1/patients/pa/readings", device)).toBe(403);
    expect(await status("/v1/patients/pb/readings", nurse)).toBe(403);
    expect(await status("/v1/patients/nobody/readings", nurse)).toBe(403); // unknown and foreign look alike
    expect(await status("/v1/patients/nobody/readings", admin)).toBe(404);
    expect(await status("/v1/patients/pb/readings", admin)).toBe(200);
  });

  it("answers an alert's whole history from the store, in order, as the sockets saw it; then from the store alone once the engine forgot it", async () => {
    const watcher = await TestSocket.connect(h.wsUrl, nurse);
    sockets.push(watcher);
    watcher.send({ type: "subscribe" });
    await watcher.next((f) => f.type === "snapshot");

    await post([{ patient: "pa", metric: "bp_sys", value: 190, time: at(0), id: "m-1" }]);
    const id = (await watcher.next((f) => f.type === "event" && f.event.type === "raised")).event.alert.id as string;
    h.clock.advance(MIN);
    await post([{ patient: "pa", metric: "bp_sys", value: 130, time: at(0), id: "m-2" }]); // red latches: cleared, awaiting ack
    watcher.send({ type: "ack", id: "k1", alert: id, note: "called the patient" });
    expect((await watcher.next((f) => f.type === "ack_result")).alert.state).toBe("resolved");
    await watcher.sync();

    const res = await get(`/v1/alerts/${id}/history`);
    expect(res.status).toBe(200);
    const { alert, events } = res.body as { alert: Frame; events: Frame[] };
    expect(alert).toMatchObject({ id, patient: "pa", state: "resolved", resolution: "acknowledged", ack: { by: "nurse-1", note: "called the patient" } });
    expect(events.map((e) => e.seq)).toEqual(watcher.events().filter((e) => e.alert?.id === id).map((e) => e.seq));
    expect(events[0]).toMatchObject({ type: "raised", alert: { id, state: "firing", level: "red" } });
    expect(events.find((e) => e.type === "acknowledged")).toMatchObject({ alert: { ack: { by: "nurse-1", note: "called the patient" } } });
    expect(events.at(-1)).toMatchObject({ type: "resolved", alert });
    expect(events.every((e) => e.alert.id === id)).toBe(true);

    const status = async (path: string, token?: string) => (await h.http("GET", path, { token })).status;
    expect(await status(`/v1/alerts/${id}/history`)).toBe(401);
    expect(await status(`/v1/alerts/${id}/history`, device)).toBe(403);
    expect(await status(`/v1/alerts/${id}/history`, await h.token("clinician", ["team-b"]))).toBe(404); // as an unknown alert
    expect(await status(`/v1/alerts/${id}/history`, admin)).toBe(200);
    expect(await get("/v1/alerts/a-nope/history")).toMatchObject({ status: 404, body: { code: "not_found" } });

    // A day later the engine no longer holds the resolved alert; the store still answers for it.
    h.clock.advance(25 * HOUR);
    await h.server.tick();
    expect((await get("/v1/alerts?state=resolved")).body.alerts.map((a: Frame) => a.id)).not.toContain(id);
    expect((await get(`/v1/alerts/${id}/history`)).body).toEqual({ alert, events });
  });

  it("who may ingest and who may acknowledge: the same answers over HTTP and the socket", async () => {
    await post([{ patient: "pa", metric: "bp_sys", value: 190, time: at(0) }]);
    const [alert] = (await get("/v1/alerts")).body.alerts;

    const clinicianIngest = await h.http("POST", "/v1/measurements", { token: nurse, body: [] });
    expect([clinicianIngest.status, clinicianIngest.body.code]).toEqual([403, "forbidden"]);
    for (const target of [alert.id, "a-nope"]) {
      // a device learns nothing of alerts, not even whether one exists
      const deviceAck = await h.http("POST", `/v1/alerts/${target}/ack`, { token: device, body: {} });
      expect([deviceAck.status, deviceAck.body.code]).toEqual([403, "forbidden"]);
    }
    const otherTeam = await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: await h.token("clinician", ["team-b"]), body: {} });
    // another team's alert is answered as an unknown one: ids cannot be probed
    expect([otherTeam.status, otherTeam.body]).toEqual([404, (await h.http("POST", "/v1/alerts/a-nope/ack", { token: await h.token("clinician", ["team-b"]), body: {} })).body]);
    expect(otherTeam.body.code).toBe("not_found");

    const clinicianSocket = await TestSocket.connect(h.wsUrl, nurse);
    const deviceSocket = await TestSocket.connect(h.wsUrl, device);
    const otherSocket = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-b"]));
    sockets.push(clinicianSocket, deviceSocket, otherSocket);
    clinicianSocket.send({ type: "ingest", id: "i1", readings: [] });
    expect(await clinicianSocket.next((f) => f.type === "error")).toMatchObject({ code: "forbidden", id: "i1", message: clinicianIngest.body.message });
    for (const target of [alert.id, "a-nope"]) {
      deviceSocket.send({ type: "ack", id: `k-${target}`, alert: target });
      expect(await deviceSocket.next((f) => f.type === "error")).toMatchObject({ code: "forbidden", id: `k-${target}` });
    }
    otherSocket.send({ type: "ack", id: "k2", alert: alert.id });
    expect(await otherSocket.next((f) => f.type === "error")).toMatchObject({ code: "not_found", id: "k2", message: otherTeam.body.message });

    const acked = await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: nurse, body: { note: "seen" } });
    expect(acked.status).toBe(200);
    deviceSocket.send({ type: "ingest", id: "i2", readings: [{ patient: "pa", metric: "pulse", value: 70, time: at(0) }] });
    expect(await deviceSocket.next((f) => f.type === "ingest_result")).toMatchObject({ id: "i2", accepted: 1 });
  });
});

describe("read model without a store", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startServer(TRANSPORTS[0]);
    await registerPatient(h, "pa", "team-a");
  });
  afterEach(() => h.close());

  it("stores no readings, and answers an alert's history from the events it still holds", async () => {
    const device = await h.token("device", ["team-a"]);
    const nurse = await h.token("clinician", ["team-a"], "1h", "nurse-1");
    await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pa", metric: "bp_sys", value: 190, time: h.clock.now() }] });
    expect(await h.http("GET", "/v1/patients/pa/readings", { token: nurse })).toMatchObject({ status: 200, body: { readings: [] } });

    const [alert] = (await h.http("GET", "/v1/alerts", { token: nurse })).body.alerts;
    await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: nurse, body: { note: "seen" } });
    const res = await h.http("GET", `/v1/alerts/${alert.id}/history`, { token: nurse });
    expect(res.status).toBe(200);
    expect(res.body.alert).toMatchObject({ id: alert.id, ack: { by: "nurse-1", note: "seen" } });
    expect(res.body.events.map((e: Frame) => e.type)).toEqual(["raised", "acknowledged"]);
    expect((await h.http("GET", "/v1/alerts/a-nope/history", { token: nurse })).status).toBe(404);
  });

  it("answers the history of a resolved alert it no longer holds (past the patient's 100 most recently resolved) from the events it still holds", async () => {
    const device = await h.token("device", ["team-a"]);
    const nurse = await h.token("clinician", ["team-a"], "1h", "nurse-1");
    // A pulse flapping around its limit: an alert raised and resolved at every other reading.
    for (let i = 0; i < 2 * 105; i++) {
      h.clock.advance(1000);
      const reading = { patient: "pa", metric: "pulse", value: i % 2 === 0 ? 110 : 70, time: h.clock.now() };
      expect((await h.http("POST", "/v1/measurements", { token: device, body: [reading] })).status).toBe(200);
    }
    const held = (await h.http("GET", "/v1/alerts", { token: nurse })).body.alerts;
    expect(held.length).toBe(100);
    const first = "a-1";
    expect(held.some((a: Frame) => a.id === first)).toBe(false); // forgotten by the engine
    const res = await h.http("GET", `/v1/alerts/${first}/history`, { token: nurse });
    expect(res.status).toBe(200);
    expect(res.body.alert).toMatchObject({ id: first, state: "resolved", patient: "pa" });
    expect(res.body.events.map((e: Frame) => e.type)).toEqual(["raised", "resolved"]);
    expect(res.body.alert).toEqual(res.body.events.at(-1).alert);
    // Outside the clinician's teams: the same 404 as an unknown alert.
    expect((await h.http("GET", `/v1/alerts/${first}/history`, { token: await h.token("clinician", ["team-b"]) })).status).toBe(404);
  });
});
