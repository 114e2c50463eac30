// Withdrawing a reading (issue 14.5; docs/http.md "Withdrawing a reading"): an alert only the
// withdrawn reading raised resolves with `reading_withdrawn` and its rule starts afresh; an alert
// other readings hold stays open, marked; the id is forgotten, so the corrected resend is
// evaluated. Table-driven on the oracle and the wasm kernel (the same table, the same outcome),
// then snapshot + restore, the journal command, and the HTTP route through a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import type { Evaluator } from "../engine/evaluator.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { Pipeline, type Withdrawal } from "../engine/pipeline.js";
import { auditOf } from "../engine/durable/audit.js";
import type { IngestAnswer } from "../engine/pipeline.js";
import { ANY_SENDER, fhirCommand, ingestRaw } from "./support/ingest.js";
import { registerPatient, startServer, type Harness } from "./support/server.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const MIN = 60_000;
const EVALUATORS: [string, () => Evaluator][] = [
  ["oracle", () => new Oracle()],
  ["kernel", () => WasmKernel.load()],
];

function pipeline(evaluator: Evaluator): Pipeline {
  const p = new Pipeline({ evaluator });
  p.upsertPatient("p", { programmes: ["telehjerte"], careTeams: [{ team: "t", role: "hospital" }], paused: false, references: {} }, T0 - 60 * MIN);
  p.setPatientThresholds("p", [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 110, redHigh: 130 } }], "dr", "test", T0 - 60 * MIN);
  return p;
}

/** A pulse reading with a measurement id, `min` minutes after T0. */
const pulse = (id: string, value: number, min: number) => ({ patient: "p", metric: "pulse", value, time: new Date(T0 + min * MIN).toISOString(), id });
const send = (p: Pipeline, items: object[], min: number) => ingestRaw(p, items, ANY_SENDER, T0 + min * MIN);
const pulseAlert = (p: Pipeline) => p.lifecycle.list({ patient: "p" }).filter((a) => a.rule === "pulse-band").at(-1);

interface Case {
  name: string;
  /** Readings sent before the withdrawal, one batch per reading, at its own minute. */
  before: [id: string, value: number, min: number][];
  withdraw: string;
  /** What the withdrawal answers (alert ids replaced by the alert's state before). */
  expect: { metrics: string[]; retracted: string[]; resolved: number; marked: number };
  /** The pulse alert afterwards. */
  alert: { state: string; resolution?: string; level?: string } | undefined;
  /** The corrected resend (same id, same time, new value): its triage, and whether it raised. */
  resend?: { value: number; triage: string; transitions: number };
}

const CASES: Case[] = [
  {
    name: "an alert only the withdrawn reading raised resolves, and the corrected resend is evaluated",
    before: [["m1", 140, 1]],
    withdraw: "m1",
    expect: { metrics: ["pulse"], retracted: ["pulse"], resolved: 1, marked: 0 },
    alert: { state: "resolved", resolution: "reading_withdrawn" },
    resend: { value: 80, triage: "N", transitions: 0 },
  },
  {
    name: "the rule starts afresh: a resend still past the limit raises a new alert",
    before: [["m1", 140, 1]],
    withdraw: "m1",
    expect: { metrics: ["pulse"], retracted: ["pulse"], resolved: 1, marked: 0 },
    alert: { state: "resolved", resolution: "reading_withdrawn" },
    resend: { value: 120, triage: "H", transitions: 1 },
  },
  {
    name: "a later reading past the limit holds the alert: marked, kept open",
    before: [["m1", 140, 1], ["m2", 135, 2]],
    withdraw: "m1",
    expect: { metrics: ["pulse"], retracted: [], resolved: 0, marked: 1 },
    alert: { state: "firing", level: "red" },
  },
  {
    name: "an alert another reading raised stays when the withdrawn one only upgraded it",
    before: [["m1", 120, 1], ["m2", 140, 2]],
    withdraw: "m2",
    expect: { metrics: ["pulse"], retracted: ["pulse"], resolved: 0, marked: 1 },
    alert: { state: "firing" },
  },
  {
    name: "a normal reading withdrawn: no alert, and its resend at the same time is evaluated, not a duplicate",
    before: [["m1", 80, 1]],
    withdraw: "m1",
    expect: { metrics: ["pulse"], retracted: ["pulse"], resolved: 0, marked: 0 },
    alert: undefined,
    resend: { value: 145, triage: "HH", transitions: 1 },
  },
  {
    name: "a latched alert a later normal reading cleared (awaiting its ack) resolves: nothing held it but the withdrawn reading",
    before: [["m1", 140, 1], ["m2", 80, 2]],
    withdraw: "m1",
    expect: { metrics: ["pulse"], retracted: [], resolved: 1, marked: 0 },
    alert: { state: "resolved", resolution: "reading_withdrawn" },
  },
];

describe.each(EVALUATORS)("withdrawing a reading on the %s", (_name, make) => {
  it.each(CASES)("$name", (c) => {
    const p = pipeline(make());
    for (const [id, value, min] of c.before) send(p, [pulse(id, value, min)], min);
    const w = p.withdraw("p", c.withdraw, T0 + 10 * MIN);
    expect({ metrics: w.metrics, retracted: w.retracted, resolved: w.resolved.length, marked: w.marked.length }).toEqual(c.expect);
    const alert = pulseAlert(p);
    if (c.alert === undefined) expect(alert).toBeUndefined();
    else expect(alert).toMatchObject(c.alert);
    if (alert !== undefined && w.resolved.length + w.marked.length > 0) {
      expect(alert.why.readings.find((r) => r.measurementId === c.withdraw)?.withdrawn).toBe(true);
    }
    const min = c.before.find(([id]) => id === c.withdraw)![2];
    const resent = send(p, [pulse(c.withdraw, c.resend?.value ?? 80, min)], 11);
    // The id is forgotten: the resend is never a duplicate.
    expect(resent).toMatchObject({ accepted: 1, duplicates: [] });
    if (c.resend !== undefined) expect(resent).toMatchObject({ readings: [{ triage: c.resend.triage }], transitions: c.resend.transitions });
    // A second withdrawal of a forgotten id that no open alert lists is refused.
    expect(() => p.checkWithdraw("p", "never-sent")).toThrow(/unknown measurement/);
  });
});

describe.each(EVALUATORS)("withdrawing two readings on the %s: the same end state in either order", (_name, make) => {
  // m1 raised the alert, m2 (past the limit too, no transition) sits on top of it.
  const ORDERS = [["m1", "m2"], ["m2", "m1"]];
  it.each(ORDERS)("withdraw %s then %s", (first, second) => {
    const p = pipeline(make());
    send(p, [pulse("m1", 140, 1)], 1);
    send(p, [pulse("m2", 135, 2)], 2);
    const raised = pulseAlert(p)!;
    expect(raised.why.readings.map((r) => r.measurementId)).toEqual(["m1"]);
    p.withdraw("p", first, T0 + 10 * MIN);
    const w = p.withdraw("p", second, T0 + 11 * MIN);
    // Both readings are out of the engine, so the alert only they held resolves.
    expect(w.retracted).toEqual(["pulse"]);
    expect(w.resolved).toEqual([raised.id]);
    expect(pulseAlert(p)).toMatchObject({ id: raised.id, state: "resolved", resolution: "reading_withdrawn" });
    // m1 is not the metric's latest value again: a new reading at m1's time is in order, not a duplicate.
    expect(send(p, [pulse("m3", 80, 1)], 12)).toMatchObject({ accepted: 1, readings: [{ triage: "N" }], transitions: 0 });
    // Nothing holds m1 any more (forgotten, taken out, its alert resolved): a repeat is unknown.
    expect(() => p.checkWithdraw("p", "m1")).toThrow(/unknown measurement/);
  });

  it("a withdrawn reading under a valid one stays out of the alert's decision until that one is withdrawn", () => {
    const p = pipeline(make());
    send(p, [pulse("m1", 140, 1)], 1);
    send(p, [pulse("m2", 135, 2)], 2);
    send(p, [pulse("m3", 138, 3)], 3);
    expect(p.withdraw("p", "m1", T0 + 10 * MIN)).toMatchObject({ retracted: [], marked: [pulseAlert(p)!.id] });
    // A repeat while an open alert lists m1 (withdrawn already) is answered with empty lists and changes nothing.
    p.lifecycle.takeEvents();
    expect(() => p.checkWithdraw("p", "m1")).not.toThrow();
    expect(p.withdraw("p", "m1", T0 + 10 * MIN)).toEqual({ patient: "p", id: "m1", metrics: [], retracted: [], resolved: [], marked: [] });
    expect(p.lifecycle.takeEvents()).toEqual([]);
    // m3 taken out; m2 (valid, past the limit) is the latest and holds the alert.
    expect(p.withdraw("p", "m3", T0 + 11 * MIN)).toMatchObject({ retracted: ["pulse"], resolved: [], marked: [] });
    expect(pulseAlert(p)).toMatchObject({ state: "firing", level: "red" });
    // m2 taken out, and m1 under it: the alert resolves.
    expect(p.withdraw("p", "m2", T0 + 12 * MIN)).toMatchObject({ retracted: ["pulse"], resolved: [pulseAlert(p)!.id] });
  });
});

describe("withdrawing a reading: the oracle and the kernel agree, snapshots carry it, the journal replays it", () => {
  it("the same lifecycle events on both evaluators for every case", () => {
    for (const c of CASES) {
      const events = EVALUATORS.map(([, make]) => {
        const p = pipeline(make());
        p.lifecycle.takeEvents();
        for (const [id, value, min] of c.before) send(p, [pulse(id, value, min)], min);
        p.withdraw("p", c.withdraw, T0 + 10 * MIN);
        send(p, [pulse(c.withdraw, 125, c.before[0][2] + 0.5)], 11);
        return p.lifecycle.takeEvents();
      });
      expect(events[1], c.name).toEqual(events[0]);
    }
  });

  it("a restored snapshot keeps the forgotten id forgotten and the taken-back slot taken back", () => {
    const live = pipeline(WasmKernel.load());
    send(live, [pulse("m0", 80, 0)], 0);
    send(live, [pulse("m1", 140, 1)], 1);
    live.withdraw("p", "m1", T0 + 10 * MIN);
    const { kernel, state } = live.exportState();
    const restored = Pipeline.fromState(WasmKernel.restore(kernel), structuredClone(state));
    for (const p of [live, restored]) {
      // m0 is still remembered; m1's resend at its own time is evaluated (not out of order, not a duplicate).
      expect(send(p, [pulse("m0", 80, 0)], 12)).toMatchObject({ accepted: 0, duplicates: [{ id: "m0" }] });
      expect(send(p, [pulse("m1", 82, 1)], 12)).toMatchObject({ accepted: 1, readings: [{ triage: "N" }] });
    }
  });

  it("a restored snapshot keeps a withdrawn reading that waits under a later one", () => {
    const live = pipeline(WasmKernel.load());
    send(live, [pulse("m1", 140, 1)], 1);
    send(live, [pulse("m2", 135, 2)], 2);
    live.withdraw("p", "m1", T0 + 10 * MIN);
    const { kernel, state } = live.exportState();
    const restored = Pipeline.fromState(WasmKernel.restore(kernel), structuredClone(state));
    for (const p of [live, restored]) {
      expect(p.withdraw("p", "m2", T0 + 11 * MIN)).toMatchObject({ retracted: ["pulse"], resolved: [pulseAlert(p)!.id] });
    }
  });

  it("the withdraw command: refused when unknown (nothing changes), its answer and events the same on replay", () => {
    const run = () => {
      const p = pipeline(WasmKernel.load());
      p.lifecycle.takeEvents();
      send(p, [pulse("m1", 140, 1)], 1);
      p.lifecycle.takeEvents();
      const unknown = { pos: 1, at: T0 + 5 * MIN, command: { kind: "withdraw" as const, patient: "p", id: "m9", actor: "dr" } };
      expect(() => checkCommand(p, unknown)).toThrow(/unknown measurement/);
      expect(() => checkCommand(p, { ...unknown, command: { ...unknown.command, patient: "nobody", id: "m1" } })).toThrow(/unknown patient/);
      const entry = { pos: 2, at: T0 + 6 * MIN, command: { kind: "withdraw" as const, patient: "p", id: "m1", actor: "dr", reason: "cuff loose" } };
      checkCommand(p, entry);
      const applied = applyCommand(p, entry);
      // Withdrawn and forgotten: a second one is refused.
      expect(() => checkCommand(p, { ...entry, pos: 3 })).toThrow(/unknown measurement/);
      return applied;
    };
    const live = run();
    expect(live.result as Withdrawal).toMatchObject({ patient: "p", id: "m1", metrics: ["pulse"], retracted: ["pulse"], marked: [] });
    expect(live.events.map((e) => (e.type === "resolved" ? [e.type, e.alert.resolution] : [e.type]))).toEqual([["resolved", "reading_withdrawn"]]);
    expect(run()).toEqual(live);
  });

  it("a FHIR entered-in-error Observation resolves the alert its reading alone raised", () => {
    for (const [, make] of EVALUATORS) {
      const p = pipeline(make());
      send(p, [pulse("m1", 140, 1)], 1);
      const answer = p.ingest(
        { readings: [], rejected: [], invalidations: [{ kind: "invalidate", entry: 0, index: 0, id: "m1", patient: "p", reason: "observation_cancelled", status: "entered-in-error", message: "" }] } as never,
        { teams: ["t"], channel: "test" },
        T0 + 5 * MIN,
      ).answer;
      expect(answer.invalidated).toEqual([{ index: 0, id: "m1" }]);
      expect(pulseAlert(p)).toMatchObject({ state: "resolved", resolution: "reading_withdrawn" });
    }
  });
});

/** A pulse Observation with identifier `id`: a value, or (no value) a withdrawal by status. */
function pulseObs(status: string, id: string, value?: number, min = 1) {
  const obs: Record<string, unknown> = {
    resourceType: "Observation",
    status,
    identifier: [{ value: id }],
    code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] },
    subject: { reference: "Patient/p" },
  };
  if (value !== undefined) Object.assign(obs, { effectiveDateTime: new Date(T0 + min * MIN).toISOString(), valueQuantity: { value, code: "/min", system: "http://unitsofmeasure.org" } });
  return obs;
}
const bundle = (...resources: object[]) => ({ resourceType: "Bundle", type: "collection", entry: resources.map((resource) => ({ resource })) });

describe.each(EVALUATORS)("FHIR withdrawals and corrections on the %s: entry order, the answer, the audit", (_name, make) => {
  const fhir = (p: Pipeline, resource: unknown, min: number) => {
    const entry = { pos: min, at: T0 + min * MIN, command: fhirCommand(resource, T0 + min * MIN, { teams: ["t"] }) };
    checkCommand(p, entry);
    const applied = applyCommand(p, entry);
    return { answer: applied.result as IngestAnswer, audit: auditOf(entry, applied.result, "dev-1") };
  };

  it("entered-in-error reports what it resolved, counts the resolution, and is audited as DELETE is", () => {
    const p = pipeline(make());
    send(p, [pulse("m1", 140, 1)], 1);
    const alert = pulseAlert(p)!;
    const { answer, audit } = fhir(p, pulseObs("entered-in-error", "m1"), 5);
    expect(answer.invalidated).toEqual([{ index: 0, id: "m1" }]);
    expect(answer.withdrawals).toEqual([{ index: 0, patient: "p", id: "m1", metrics: ["pulse"], retracted: ["pulse"], resolved: [alert.id], marked: [] }]);
    expect(answer.transitions).toBe(1);
    expect(audit).toMatchObject({ action: "withdraw", actor: "dev-1", target: "m1", patient: "p", details: { source: "fhir", withdrawals: [{ index: 0, id: "m1", resolved: [alert.id] }] } });
    // An unknown id withdraws nothing: no withdrawals, no audit entry.
    const none = fhir(p, pulseObs("cancelled", "m-unknown"), 6);
    expect(none.answer.withdrawals).toBeUndefined();
    expect(none.audit).toBeUndefined();
  });

  it("a Bundle [entered-in-error X, final X=97] withdraws X first, then evaluates the correction", () => {
    const p = pipeline(make());
    send(p, [pulse("X", 140, 1)], 1);
    const { answer } = fhir(p, bundle(pulseObs("entered-in-error", "X"), pulseObs("final", "X", 97, 1)), 5);
    expect(answer).toMatchObject({ accepted: 1, duplicates: [], readings: [{ index: 1, triage: "N" }], withdrawals: [{ index: 0, id: "X", retracted: ["pulse"] }] });
    expect(pulseAlert(p)).toMatchObject({ state: "resolved", resolution: "reading_withdrawn" });
  });

  it("a Bundle [final X=140, entered-in-error X] evaluates X, then withdraws it", () => {
    const p = pipeline(make());
    const { answer } = fhir(p, bundle(pulseObs("final", "X", 140, 1), pulseObs("entered-in-error", "X")), 5);
    expect(answer).toMatchObject({ accepted: 1, readings: [{ index: 0, triage: "HH" }], withdrawals: [{ index: 1, id: "X" }] });
    expect(pulseAlert(p)).toMatchObject({ state: "resolved", resolution: "reading_withdrawn" });
  });

  it.each(["corrected", "amended"])("status %s with the same identifier withdraws the earlier value and evaluates the new one", (status) => {
    const p = pipeline(make());
    send(p, [pulse("Y", 140, 1)], 1);
    const { answer, audit } = fhir(p, pulseObs(status, "Y", 80, 1), 5);
    expect(answer).toMatchObject({ accepted: 1, duplicates: [], invalidated: [], readings: [{ triage: "N" }], withdrawals: [{ index: 0, id: "Y", correction: true }] });
    expect(pulseAlert(p)).toMatchObject({ state: "resolved", resolution: "reading_withdrawn" });
    expect(audit).toMatchObject({ action: "withdraw", details: { withdrawals: [{ id: "Y", correction: true }] } });
    // A correction of an id never received is a plain new reading.
    expect(fhir(p, pulseObs(status, "Z", 81, 2), 6).answer).toMatchObject({ accepted: 1, readings: [{ triage: "N" }] });
    expect(fhir(p, pulseObs(status, "Z", 81, 2), 6).answer.withdrawals).toMatchObject([{ id: "Z", correction: true }]);
  });
});

describe("DELETE /v1/measurements/{id} through a real server", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServer("ws");
    await registerPatient(h, "pw", "team-a");
  });
  afterAll(() => h.close());

  it("withdraws for the patient's device or clinician; others, unknown patients and unknown ids get the same 404", async () => {
    const device = await h.token("device", ["team-a"]);
    const clinician = await h.token("clinician", ["team-a"]);
    const stranger = await h.token("clinician", ["team-b"]);
    const strangerDevice = await h.token("device", ["team-b"]);
    h.clock.advance(MIN);
    const time = h.clock.now();
    const reading = (value: number) => [{ patient: "pw", metric: "pulse", value, time, id: "m-http-1" }];
    const sent = await h.http("POST", "/v1/measurements", { token: device, body: reading(190) });
    expect(sent.body.transitions).toBe(1);
    const del = (token: string, path: string) => h.http("DELETE", path, { token });

    for (const [token, path] of [
      [stranger, "/v1/measurements/m-http-1?patient=pw"],
      [strangerDevice, "/v1/measurements/m-http-1?patient=pw"],
      [clinician, "/v1/measurements/m-http-1?patient=nobody"],
      [clinician, "/v1/measurements/m-other?patient=pw"],
    ] as const) {
      const res = await del(token, path);
      expect([res.status, res.body.code, res.body.message]).toEqual([404, "not_found", "unknown measurement"]);
    }
    expect((await del(clinician, "/v1/measurements/m-http-1")).body.code).toBe("invalid_field");

    const ok = await del(device, "/v1/measurements/m-http-1?patient=pw&reason=cuff%20loose");
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ patient: "pw", id: "m-http-1", metrics: ["pulse"], retracted: ["pulse"], marked: [] });
    expect(ok.body.resolved).toHaveLength(1);
    const alert = (await h.http("GET", `/v1/alerts?patient=pw&state=resolved`, { token: clinician })).body.alerts.find((a: { id: string }) => a.id === ok.body.resolved[0]);
    expect(alert).toMatchObject({ state: "resolved", resolution: "reading_withdrawn" });

    // The corrected resend with the same id is evaluated; withdrawing it again works for a clinician.
    const resent = await h.http("POST", "/v1/measurements", { token: device, body: reading(72) });
    expect(resent.body).toMatchObject({ accepted: 1, duplicates: [], readings: [{ triage: "N" }] });
    expect((await del(clinician, "/v1/measurements/m-http-1?patient=pw")).status).toBe(200);
  });
});
