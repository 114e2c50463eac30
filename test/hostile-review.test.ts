// What a hostile review of the canonical journal found, each as the client sent it, on SQLite and
// PostgreSQL: every one is refused with a 4xx code (or kept from another team's stream), nothing
// changes, /readyz stays 200, and no request is answered store_unavailable while the store is well.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { PG_URL, postgresAvailable } from "./support/durable-stores.js";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";
import { registerPatient, startServer, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const stores: [string, () => string][] = [["sqlite", () => ":memory:"]];
if (await postgresAvailable()) stores.push(["postgres", () => `${PG_URL}?schema=varsel_review_${process.pid}_${Date.now()}`]);

let h: Harness;

describe.each(stores)("hostile requests on %s", (_name, url) => {
  afterEach(async () => h?.close());

  const setUp = async () => {
    h = await startServer("ws", {}, { store: await openStore(url()) });
    await registerPatient(h, "pA", "team-a");
    await registerPatient(h, "pB", "team-b");
    return { admin: await h.token("admin", []), nurse: await h.token("clinician", ["team-a"]), device: await h.token("device", ["team-a"]) };
  };
  const ready = async () => (await h.http("GET", "/readyz")).status;

  it("text that cannot be kept exactly is refused before anything is applied", async () => {
    const { admin, nurse } = await setUp();
    const seq = h.server.pipeline.lifecycle.lastSeq();
    // A team name with a lone surrogate in a token: MessagePack would replay it as U+FFFD.
    expect((await h.http("GET", "/v1/alerts", { token: await h.token("clinician", ["\ud800"]) })).status).toBe(401);
    // U+0000 in a patient id, a rule id or a silence: PostgreSQL text cannot hold it.
    expect((await h.http("PUT", "/v1/patients/x%00y", { token: admin, body: { careTeams: [{ team: "team-a", role: "hospital" }] } })).body.code).toBe("invalid_field");
    const nulRule = await h.http("PUT", "/v1/patients/pA/thresholds", { token: admin, body: { reason: "x", rules: [{ id: "m\u0000", kind: "missing", metric: "weight", stale: { yellow: "1s" } }] } });
    expect(nulRule.body.code).toBe("invalid_field");
    const nulSilence = await h.http("POST", "/v1/silences", { token: nurse, body: { patient: "pA", rule: "r\u0000", until: h.clock.now() + 3_600_000, reason: "r" } });
    expect(nulSilence.body.code).toBe("invalid_field");
    // A reference of -0 is the number 0, journaled as 0.
    const minusZero = await h.http("PUT", "/v1/patients/pA", { token: admin, raw: '{"careTeams":[{"team":"team-a","role":"hospital"}],"references":{"weight":-0}}' });
    expect(minusZero.status).toBe(200);
    expect(Object.is(minusZero.body.references.weight, 0)).toBe(true);
    // Ids no alert can have are not found, never a store error.
    expect((await h.http("GET", "/v1/alerts/%00/history", { token: nurse })).status).toBe(404);
    h.clock.advance(5_000);
    await h.server.durable.execute({ kind: "tick" });
    expect(h.server.pipeline.lifecycle.lastSeq()).toBe(seq);
    expect(await ready()).toBe(200);
  });

  it("rules of unexpected shapes are refused as invalid, never 500 or an engine rebuild", async () => {
    const { admin, device } = await setUp();
    const bad = [
      { id: "r1", kind: "band", metric: "pulse", limits: { redHigh: 130 }, modifiers: { nOfM: 5 } },
      { id: "r1", kind: "band", metric: "pulse", limits: { redHigh: 130 }, modifiers: null },
      { id: "r1", kind: "missing", metric: "weight", daily: { deadline: "12:00", weekdays: 5 } },
      { id: "r1", kind: "band", metric: "pulse", limits: { redHigh: 130 }, unit: {} },
      { id: "r1", kind: "baseline", metric: "pulse", mode: "constructor", limits: { redHigh: 30 } },
      { id: "r1", kind: "baseline", metric: "pulse", mode: "toString", limits: { redHigh: 30 } },
    ];
    for (const rule of bad) {
      const res = await h.http("PUT", "/v1/patients/pA/thresholds", { token: admin, body: { reason: "x", rules: [rule] } });
      expect([res.status, res.body.code], JSON.stringify(rule)).toSatisfy(([status, code]: [number, string]) => status === 422 && ["invalid_threshold", "invalid_body"].includes(code));
      const programme = await h.http("PUT", "/v1/programmes/niv/thresholds", { token: admin, body: { reason: "x", rules: [rule] } });
      expect(programme.status, JSON.stringify(rule)).toBe(422);
    }
    expect(h.server.pipeline.thresholds.patientHistory("pA")).toEqual([]);
    expect(h.server.pipeline.thresholds.programmeHistory("niv")).toEqual([]);
    expect(await ready()).toBe(200);
    const ingest = await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pA", metric: "pulse", value: 70, time: h.clock.now() }] });
    expect(ingest.status).toBe(200);
  });

  it("a device's unit failure for another team's patient reaches no one of that team", async () => {
    const { device } = await setUp();
    const teamB = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-b"]));
    teamB.send({ type: "subscribe" });
    await teamB.next((f) => f.type === "snapshot");
    const res = await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pB", metric: "pulse", value: 80, unit: "kg", time: h.clock.now() }] });
    expect(res.body.rejected.map((r: { code: string }) => r.code)).toEqual(["unit_mismatch"]);
    await teamB.sync();
    expect(teamB.events()).toEqual([]);
    expect(h.server.pipeline.lifecycle.lastSeq()).toBe(0);
    // The same failure for its own team's patient is shown to that team (a review event).
    await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pA", metric: "pulse", value: 80, unit: "kg", time: h.clock.now() }] });
    expect(h.server.pipeline.lifecycle.lastSeq()).toBe(1);
    teamB.close();
  });

  it("components count against the batch limit; an Observation has at most 16", async () => {
    const { device } = await setUp();
    const obs = (n: number) => ({
      resourceType: "Observation",
      status: "final",
      code: { coding: [{ system: "http://loinc.org", code: "85354-9" }] },
      subject: { reference: "Patient/pA" },
      effectiveDateTime: new Date(h.clock.now() - 60_000).toISOString(),
      component: Array.from({ length: n }, () => ({ code: { coding: [{ system: "http://loinc.org", code: "8480-6" }] }, valueQuantity: { value: 120, unit: "mmHg", system: "http://unitsofmeasure.org", code: "mm[Hg]" } })),
    });
    const many = await h.http("POST", "/v1/measurements", { token: device, body: obs(1_000), type: "application/fhir+json" });
    expect(many.body.rejected).toEqual([{ index: 0, code: "invalid_fhir", message: "Observation has 1000 components; at most 16" }]);
    const bundle = { resourceType: "Bundle", type: "collection", entry: Array.from({ length: 1_000 }, () => ({ resource: obs(16) })) };
    const over = await h.http("POST", "/v1/measurements", { token: device, body: bundle, type: "application/fhir+json" });
    expect([over.status, over.body.code]).toEqual([413, "batch_too_large"]);
    // An input's own toString is never run to echo it.
    const echo = await h.http("POST", "/v1/measurements", { token: device, body: { resourceType: "Bundle", entry: [{ resource: { resourceType: { toString: 1 } } }] }, type: "application/fhir+json" });
    expect(echo.body.rejected.map((r: { code: string }) => r.code)).toEqual(["unsupported_fhir_resource"]);
    expect(await ready()).toBe(200);
  });
});

describe("what a reader is shown with an event number is durable", () => {
  afterAll(removeFlakyStores);

  it("GET /v1/alerts and a subscription's snapshot leave out an alert whose commit has not finished; it follows as an event", async () => {
    const { base, wsUrl, send, flaky, server } = await serverOnFlakyStore("as-of.db");
    try {
      expect((await send("/v1/patients/k0", { programme: "telehjerte", careTeams: [{ team: "team-a", role: "hospital" }] }, "PUT")).status).toBe(200);
      const nurse = await server.auth.sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
      let release!: () => void;
      flaky.hold = new Promise((r) => (release = r));
      const raising = send("/v1/measurements", [{ patient: "k0", metric: "pulse", value: 150, time: Date.now() - 1000 }]);
      await new Promise((r) => setTimeout(r, 100)); // applied in memory, its commit held
      expect(server.pipeline.lifecycle.lastSeq()).toBe(1);
      const listed = await (await fetch(`${base}/v1/alerts`, { headers: { authorization: `Bearer ${nurse}` } })).json();
      expect(listed).toEqual({ alerts: [], seq: 0 });
      const socket = await TestSocket.connect(wsUrl, nurse);
      socket.send({ type: "subscribe" });
      const snapshot = await socket.next((f) => f.type === "snapshot");
      expect([snapshot.seq, snapshot.alerts]).toEqual([0, []]);
      release();
      expect((await raising).status).toBe(200);
      const event = await socket.next((f) => f.type === "event");
      expect([event.event.seq, event.event.type]).toEqual([1, "raised"]);
      const after = await (await fetch(`${base}/v1/alerts`, { headers: { authorization: `Bearer ${nurse}` } })).json();
      expect([after.seq, after.alerts.map((a: { patient: string }) => a.patient)]).toEqual([1, ["k0"]]);
      socket.close();
    } finally {
      flaky.hold = undefined;
      await server.close();
    }
  });

  it("a patient id longer than readings accept is refused (PostgreSQL indexes cannot hold ~3 000 bytes)", async () => {
    h = await startServer("ws");
    const admin = await h.token("admin", []);
    const res = await h.http("PUT", `/v1/patients/${"x".repeat(257)}`, { token: admin, body: { careTeams: [{ team: "team-a", role: "hospital" }] } });
    expect([res.status, res.body.code]).toEqual([422, "invalid_field"]);
    await h.close();
  });
});

describe("durations and silences are bounded", () => {
  it("a duration past a year (9…9d is Infinity) is invalid_threshold; a silence past a year is invalid_silence", async () => {
    h = await startServer("ws");
    await registerPatient(h, "pA", "team-a");
    const admin = await h.token("admin", []);
    const nurse = await h.token("clinician", ["team-a"]);
    const forever = await h.http("PUT", "/v1/patients/pA/thresholds", { token: admin, body: { reason: "x", rules: [{ id: "r", kind: "band", metric: "pulse", limits: { redHigh: 130 }, modifiers: { for: `${"9".repeat(400)}d` } }] } });
    expect([forever.status, forever.body.code]).toEqual([422, "invalid_threshold"]);
    const year = await h.http("PUT", "/v1/patients/pA/thresholds", { token: admin, body: { reason: "x", rules: [{ id: "r", kind: "band", metric: "pulse", limits: { redHigh: 130 }, modifiers: { for: "366d" } }] } });
    expect(year.status).toBe(200);
    const silence = await h.http("POST", "/v1/silences", { token: nurse, body: { patient: "pA", until: 1e300, reason: "r" } });
    expect([silence.status, silence.body.code]).toEqual([422, "invalid_silence"]);
    await h.close();
  });
});

describe("the node:http + ws transport answers oversized headers with the error body", () => {
  it("a 20 KB Authorization header is 431 headers_too_large, catalogued", async () => {
    h = await startServer("ws");
    const res = await fetch(`${h.base}/v1/alerts`, { headers: { authorization: `Bearer ${"x".repeat(20_000)}` } });
    expect(res.status).toBe(431);
    expect(await res.json()).toEqual({ code: "headers_too_large", message: "request headers are too large" });
    await h.close();
  });
});
