// Ingest and configuration over real HTTP on both transports: every kind of bad input answers a
// catalogued code and keeps its valid neighbours; FHIR examples as integrators send them;
// idempotent resends; scopes; versioned thresholds.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { msgpack, registerPatient, startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const fixture = (name: string) => readFileSync(new URL(`../../shared/fixtures/fhir/${name}`, import.meta.url), "utf8");

describe.each(TRANSPORTS)("ingest and configuration on %s", (transport) => {
  let h: Harness;
  let device: string;
  let admin: string;
  const iso = () => new Date(h.clock.now()).toISOString();

  beforeAll(async () => {
    h = await startServer(transport, { maxBatchItems: 50, maxBodyBytes: 64 * 1024 });
    await registerPatient(h, "pa", "team-a");
    await registerPatient(h, "pb", "team-b");
    await registerPatient(h, "example", "team-a");
    device = await h.token("device", ["team-a"]);
    admin = await h.token("admin", []);
  });
  afterAll(() => h.close());

  const post = (options: Parameters<Harness["http"]>[2]) => h.http("POST", "/v1/measurements", { token: device, ...options });

  it("answers each bad item with its index and code and evaluates the valid ones (msgpack carries NaN)", async () => {
    const t = h.clock.now();
    const res = await post({
      raw: msgpack([
        { patient: "pa", metric: "pulse", value: 72, time: t },
        { patient: "pa", metric: "shoe_size", value: 42, time: t },
        { patient: "pa", metric: "weight", value: 80, unit: "stone", time: t },
        { patient: "pa", metric: "pulse", value: Number.NaN, time: t },
        { patient: "pa", metric: "spo2", value: 140, time: t },
        { patient: "nobody", metric: "pulse", value: 70, time: t },
        { patient: "pb", metric: "pulse", value: 70, time: t },
        { patient: "pa", metric: "bp_sys", value: 15, unit: "kPa", time: t },
      ]),
      type: "application/msgpack",
    });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected.map((r: any) => [r.index, r.code])).toEqual([
      [1, "unknown_metric"],
      [2, "unit_mismatch"],
      [3, "not_a_number"],
      [4, "implausible_value"],
      [5, "forbidden"],
      [6, "forbidden"],
    ]);
    expect(res.body.readings.map((r: any) => [r.index, r.metric, r.triage])).toEqual([
      [0, "pulse", "N"],
      [7, "bp_sys", "N"],
    ]);
    const metrics = (await h.http("GET", "/metrics")).body as string;
    for (const code of ["unknown_metric", "unit_mismatch", "not_a_number", "implausible_value", "forbidden"]) {
      expect(metrics).toMatch(new RegExp(`varsel_readings_rejected_total\\{code="${code}"\\} [1-9]`));
    }
  });

  it.each([
    ["malformed JSON", { raw: "[{", type: "application/json" }, 400, "malformed_json"],
    ["malformed MessagePack", { raw: Buffer.from([0xc1, 0xff, 0x00]), type: "application/msgpack" }, 400, "malformed_msgpack"],
    ["a wrong content type", { raw: "pulse=72", type: "application/x-www-form-urlencoded" }, 415, "unsupported_media_type"],
    ["an oversized body", { raw: "[" + " ".repeat(70 * 1024) + "]", type: "application/json" }, 413, "payload_too_large"],
    ["too many items", { body: Array.from({ length: 51 }, () => ({})) }, 413, "batch_too_large"],
    ["a body that is not a list of readings", { body: { pulse: 72 } }, 422, "invalid_body"],
  ])("answers %s with a code", async (_name, options, status, code) => {
    const res = await post(options as any);
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(typeof res.body.message).toBe("string");
  });

  it("tells an admin that a patient is unknown, and a device only that it may not send for it", async () => {
    const reading = { patient: "nobody", metric: "pulse", value: 70, time: iso() };
    expect((await h.http("POST", "/v1/measurements", { token: admin, body: [reading] })).body.rejected[0].code).toBe("unknown_patient");
    expect((await post({ body: [reading] })).body.rejected[0].code).toBe("forbidden");
  });

  it("judges each sender's scope per batch, and a patient's new care team at once", async () => {
    await registerPatient(h, "moving", "team-a");
    const deviceB = await h.token("device", ["team-b"]);
    const send = async (token: string) => {
      h.clock.advance(1000);
      const res = await h.http("POST", "/v1/measurements", { token, body: [{ patient: "moving", metric: "pulse", value: 70, time: iso() }] });
      return res.body.accepted === 1 ? "accepted" : res.body.rejected[0].code;
    };
    expect([await send(device), await send(deviceB), await send(device), await send(deviceB)]).toEqual(["accepted", "forbidden", "accepted", "forbidden"]);
    await registerPatient(h, "moving", "team-b");
    expect([await send(deviceB), await send(device)]).toEqual(["accepted", "forbidden"]);
  });

  it("counts a measurement id repeated within one batch once", async () => {
    h.clock.advance(60_000);
    const reading = { patient: "pa", metric: "pulse", value: 71, time: iso(), id: "twice" };
    const res = await post({ body: [reading, reading] });
    expect(res.body).toMatchObject({ accepted: 1, duplicates: [{ index: 1, id: "twice" }] });
  });

  it("answers 422 when every item is rejected, and 401/403 to the wrong callers", async () => {
    const all = await post({ body: [{ patient: "pa", metric: "pulse", value: "fast", time: iso() }] });
    expect(all.status).toBe(422);
    expect(all.body.rejected[0].code).toBe("not_a_number");
    // An Observation without a value yet is not a failure (catalogue status 200), even alone.
    const absent = { resourceType: "Observation", status: "registered", code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] }, subject: { reference: "Patient/pa" } };
    const noValue = await post({ raw: JSON.stringify(absent), type: "application/fhir+json" });
    expect(noValue.body.rejected.map((r: any) => r.code)).toEqual(["value_absent"]);
    expect(noValue.status).toBe(200);
    expect((await h.http("POST", "/v1/measurements", { body: [] })).status).toBe(401);
    const clinician = await h.token("clinician", ["team-a"]);
    expect((await h.http("POST", "/v1/measurements", { token: clinician, body: [] })).body.code).toBe("forbidden");
  });

  it("a resent measurement id is acknowledged again but evaluated once", async () => {
    h.clock.advance(60_000);
    const reading = { patient: "pa", metric: "pulse", value: 126, time: iso(), id: "gw-42" };
    const first = await post({ body: [reading] });
    expect(first.body).toMatchObject({ accepted: 1, duplicates: [], transitions: 1 });
    const again = await post({ body: [reading] });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: [{ index: 0, id: "gw-42" }], transitions: 0 });
  });

  it("answers socket ingest compactly by default (counts, rejections, readings that are not N) and in full on request", async () => {
    const s = await TestSocket.connect(h.wsUrl, device, "msgpack");
    try {
      h.clock.advance(60_000);
      const t = h.clock.now();
      const batch = [
        { patient: "pa", metric: "pulse", value: 72, time: t - 2 },
        { patient: "pa", metric: "bp_sys", value: 125, time: t - 1, id: "sock-1" },
        { patient: "pa", metric: "spo2", value: 140, time: t },
        { patient: "pb", metric: "pulse", value: 70, time: t },
        { patient: "pa", metric: "bp_dia", value: 140, time: t },
        { patient: "pa", metric: "bp_sys", value: 125, time: t, id: "sock-1" },
      ];
      s.send({ type: "ingest", id: "compact", readings: batch });
      const compact = await s.next((f) => f.type === "ingest_result" && f.id === "compact");
      expect(compact).toMatchObject({ accepted: 3, duplicates: [{ index: 5, id: "sock-1" }], invalidated: [] });
      expect(compact.rejected.map((r: any) => [r.index, r.code])).toEqual([[2, "implausible_value"], [3, "forbidden"]]);
      expect(compact.readings).toEqual([{ index: 4, metric: "bp_dia", triage: "HH" }]);
      expect(compact.transitions).toBeGreaterThan(0);

      h.clock.advance(60_000);
      const later = h.clock.now();
      s.send({
        type: "ingest",
        id: "full",
        answer: "full",
        readings: [
          { patient: "pa", metric: "pulse", value: 73, time: later },
          { patient: "pa", metric: "bp_sys", value: 126, time: later - 1 },
        ],
      });
      const full = await s.next((f) => f.type === "ingest_result" && f.id === "full");
      expect(full).toMatchObject({ accepted: 2, rejected: [], duplicates: [] });
      // Evaluation order (by time), every reading.
      expect(full.readings.map((r: any) => [r.index, r.metric, r.triage])).toEqual([
        [1, "bp_sys", "N"],
        [0, "pulse", "N"],
      ]);

      s.send({ type: "ingest", id: "odd", answer: "everything", readings: [] });
      const refused = await s.next((f) => f.type === "error");
      expect(refused.code).toBe("invalid_message");
    } finally {
      s.ws.terminate();
    }
  });

  it("ingests the official HL7 examples as their README says", async () => {
    const fhir = (name: string) => post({ raw: fixture(name), type: "application/fhir+json" });
    const bp = await fhir("observation-example-bloodpressure.json");
    expect(bp.body.readings.map((r: any) => [r.metric, r.triage])).toEqual([
      ["bp_sys", "N"],
      ["bp_dia", "N"],
    ]);
    const weight = await fhir("observation-example-body-weight-lb.json");
    expect(weight.body.accepted).toBe(1);
    const absent = await fhir("observation-example-bloodpressure-dar.json");
    expect(absent.body.rejected.map((r: any) => r.code)).toContain("value_absent");
    const cancelled = await fhir("observation-example-bloodpressure-cancel.json");
    expect(cancelled.body.invalidated).toHaveLength(1);
    const spo2 = await fhir("observation-example-satO2.json");
    expect(spo2.body.readings.map((r: any) => r.metric)).toEqual(["spo2"]);
    const pulse = await fhir("observation-example-heart-rate.json");
    expect(pulse.body.readings[0]).toMatchObject({ metric: "pulse", triage: "L" });
  });

  it("a withdrawn FHIR Observation resolves the alert it alone raised (reading_withdrawn), only its own teams may withdraw, and the id may be sent again", async () => {
    await registerPatient(h, "pw", "team-a");
    const clinician = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-a"]));
    try {
      clinician.send({ type: "subscribe", id: "s", teams: ["team-a"] });
      await clinician.next((f) => f.type === "snapshot");
      h.clock.advance(60_000);
      const at = iso();
      const observation = (status: string, value?: number) => ({
        resourceType: "Observation",
        status,
        identifier: [{ value: "m-withdraw-1" }],
        code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] },
        subject: { reference: "Patient/pw" },
        ...(value === undefined ? {} : { effectiveDateTime: at, valueQuantity: { value, unit: "/min", system: "http://unitsofmeasure.org", code: "/min" } }),
      });
      const fhir = (token: string, body: object) => h.http("POST", "/v1/measurements", { token, raw: JSON.stringify(body), type: "application/fhir+json" });
      expect((await fhir(device, observation("final", 135))).body.transitions).toBe(1);
      const raised = await clinician.next((f) => f.type === "event" && f.event.type === "raised" && f.event.patient === "pw");
      expect(raised.event.alert.why.readings.at(-1).measurementId).toBe("m-withdraw-1");

      // Another team's device: listed, no effect.
      const otherTeam = await h.token("device", ["team-b"]);
      expect((await fhir(otherTeam, observation("entered-in-error"))).body.invalidated).toEqual([{ index: 0, id: "m-withdraw-1" }]);
      expect((await h.http("GET", `/v1/alerts/${raised.event.alert.id}/history`, { token: admin })).body.alert.state).toBe("firing");
      expect((await fhir(device, observation("entered-in-error"))).body.invalidated).toEqual([{ index: 0, id: "m-withdraw-1" }]);
      const resolved = await clinician.next((f) => f.type === "event" && f.event.type === "resolved" && f.event.patient === "pw");
      expect(resolved.event.alert).toMatchObject({ id: raised.event.alert.id, state: "resolved", resolution: "reading_withdrawn" });
      expect(resolved.event.alert.why.readings.at(-1)).toMatchObject({ measurementId: "m-withdraw-1", withdrawn: true });
      // The corrected resend with the same id and time is evaluated; a repeated withdrawal of it marks nothing.
      const corrected = await fhir(device, observation("final", 72));
      expect(corrected.body).toMatchObject({ accepted: 1, duplicates: [], readings: [{ triage: "N" }] });
      expect(clinician.frames.filter((f) => f.type === "event" && f.event.change === "reading_withdrawn")).toHaveLength(0);
    } finally {
      clinician.ws.terminate();
    }
  });

  it("versions thresholds with author and reason, refuses invalid ones, and judges by the new version", async () => {
    const bad = await h.http("PUT", "/v1/patients/pa/thresholds", {
      token: admin,
      body: { reason: "typo", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 130, redHigh: 120 } }] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe("invalid_threshold");
    const ok = await h.http("PUT", "/v1/patients/pa/thresholds", {
      token: admin,
      body: { reason: "athlete, resting pulse low", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { redLow: 30, yellowLow: 38 } }] },
    });
    expect(ok.body).toMatchObject({ version: 1, thresholdVersion: "telehjerte:v0/patient:v1" });
    const read = await h.http("GET", "/v1/patients/pa/thresholds", { token: await h.token("clinician", ["team-a"]) });
    expect(read.body.history).toMatchObject([{ version: 1, author: "admin-1", reason: "athlete, resting pulse low" }]);
    h.clock.advance(60_000);
    const judged = await post({ body: [{ patient: "pa", metric: "pulse", value: 45, time: iso() }] });
    expect(judged.body.readings[0].triage).toBe("N");
    expect((await h.http("PUT", "/v1/patients/pa/thresholds", { token: device, body: { reason: "x", rules: [] } })).status).toBe(403);
  });

  it("a programme change re-judges every patient on it and is versioned", async () => {
    const res = await h.http("PUT", "/v1/programmes/telehjerte/thresholds", {
      token: admin,
      body: { reason: "local guideline 2026", rules: [{ id: "bp-sys-band", kind: "band", metric: "bp_sys", limits: { yellowHigh: 150, redHigh: 170 } }] },
    });
    expect(res.body.version).toBe(1);
    h.clock.advance(60_000);
    const judged = await post({ body: [{ patient: "example", metric: "bp_sys", value: 155, time: iso() }] });
    expect(judged.body.readings[0].triage).toBe("H");
    const prog = await h.http("GET", "/v1/programmes/telehjerte/thresholds", { token: admin });
    expect(prog.body).toMatchObject({ version: 1, history: [{ author: "admin-1", reason: "local guideline 2026" }] });
  });

  it("serves health, readiness and Prometheus metrics without patient identifiers", async () => {
    expect((await h.http("GET", "/healthz")).status).toBe(200);
    expect((await h.http("GET", "/readyz")).status).toBe(200);
    const metrics = (await h.http("GET", "/metrics")).body as string;
    for (const name of ["varsel_readings_ingested_total", "varsel_kernel_batch_duration_seconds", "varsel_alert_transitions_total", "varsel_open_alerts", "varsel_ws_clients", "nodejs_eventloop_lag_seconds"]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).not.toMatch(/"(pa|pb|example)"/);
  });
});
