// The alert state machine driven by the real engine (wasm kernel) through the pipeline: one alert
// per (patient, rule), upgrade/downgrade update it, resolve is announced, latching keeps red alerts
// until a person acknowledges them, acks record who/when/why and are cleared by worse news.
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { VarselError } from "../engine/errors.js";
import { Pipeline } from "../engine/pipeline.js";
import type { ProgrammeId } from "../engine/rules/programmes.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import type { RuleOverride } from "../engine/thresholds.js";
import { AlertLifecycle, limitsInForce, step, type LifecycleEvent, type LifecycleOptions } from "../engine/lifecycle/index.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";
import { codeOf } from "./support/code-of.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0); // Wednesday 10:00 in Copenhagen (CET)
const MIN = 60_000;
const DAY = 86_400_000;

/** A pipeline (real engine, its lifecycle); `events()` collects what each call returned (takeEvents). */
function world(options: Omit<LifecycleOptions, "rules"> = {}) {
  const pipeline = new Pipeline({ lifecycle: options });
  const lc = pipeline.lifecycle;
  const seen: LifecycleEvent[] = [];
  const events = () => {
    seen.push(...lc.takeEvents());
    return seen;
  };
  const patient = (id: string, programme: ProgrammeId, overrides: RuleOverride[] = []) => {
    pipeline.upsertPatient(id, { programme, careTeams: [{ team: "hjerteafd", role: "hospital" }], paused: false, references: {} }, T0 - DAY);
    if (overrides.length > 0) pipeline.setPatientThresholds(id, overrides, "dr.a", "test", T0 - DAY);
    events();
  };
  const send = (id: string, metric: string, value: number, time: number, measurementId?: string) => {
    const answer = ingestRaw(pipeline, [{ patient: id, metric, value, time, ...(measurementId ? { id: measurementId } : {}) }], ANY_SENDER, time);
    events();
    return answer;
  };
  const log = () => events().map((e) => (e.type === "updated" ? `${e.type}:${e.change}` : e.type));
  return { pipeline, lc, events, patient, send, log };
}

describe("lifecycle: identity and dedup", () => {
  it("raises one alert per (patient, rule), updates it on upgrade and downgrade, and announces the resolve", () => {
    const w = world({ latching: {} });
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0, "m-1");
    const [alert] = w.lc.list();
    expect(alert).toMatchObject({ patient: "p1", rule: "pulse-band", state: "firing", level: "yellow", priority: "medium", interpretation: "H", direction: "high" });

    w.send("p1", "pulse", 125, T0 + MIN, "m-2");
    w.send("p1", "pulse", 108, T0 + 2 * MIN, "m-3");
    expect(w.lc.list().map((a) => a.id)).toEqual([alert.id]);
    expect(w.lc.get(alert.id)).toMatchObject({ level: "yellow", peakLevel: "red", priority: "medium", state: "firing" });

    w.send("p1", "pulse", 70, T0 + 3 * MIN, "m-4");
    const resolved = w.lc.get(alert.id);
    expect(resolved).toMatchObject({ state: "resolved", resolution: "condition_cleared", resolvedAt: T0 + 3 * MIN, interpretation: "N" });
    expect(w.log()).toEqual(["raised", "updated:upgraded", "updated:downgraded", "resolved"]);
    expect(w.events().every((e) => e.type !== "review")).toBe(true);
    expect(w.lc.snapshot().alerts).toEqual([]);
  });

  it("a new raise after a resolve is a new alert with a new id", () => {
    const w = world({ latching: {} });
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0);
    w.send("p1", "pulse", 70, T0 + MIN);
    w.send("p1", "pulse", 106, T0 + 2 * MIN);
    const alerts = w.lc.list();
    expect(alerts.map((a) => a.state)).toEqual(["resolved", "firing"]);
    expect(alerts[0].id).not.toBe(alerts[1].id);
  });

  it("keeps alerts of different rules and patients apart", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.patient("p2", "telehjerte");
    w.send("p1", "pulse", 105, T0);
    w.send("p1", "bp_sys", 170, T0);
    w.send("p2", "pulse", 105, T0);
    expect(w.lc.list().map((a) => `${a.patient}/${a.rule}`)).toEqual(["p1/pulse-band", "p1/bp-sys-band", "p2/pulse-band"]);
    expect(new Set(w.lc.list().map((a) => a.id)).size).toBe(3);
    expect(w.lc.list({ patient: "p2" }).map((a) => a.rule)).toEqual(["pulse-band"]);
  });

  it("carries the why: rule, kind, metric, threshold version, limits, readings with measurement ids", () => {
    const w = world();
    // a patient override makes the patient's threshold version 1 (the weight rule stays the programme's)
    w.patient("p1", "telehjerte", [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 105, redHigh: 125 } }]);
    w.send("p1", "weight", 80, T0 - DAY, "w-1");
    w.send("p1", "weight", 81.5, T0, "w-2");
    w.send("p1", "weight", 82.5, T0 + MIN, "w-3");
    const [a] = w.lc.list();
    expect(a).toMatchObject({ rule: "weight-change", ruleKind: "delta", metric: "weight", level: "red", priority: "high", interpretation: "HH", direction: "high" });
    expect(a.why.thresholdVersion).toBe("telehjerte:v0/patient:v1");
    expect(a.why.thresholdVersion).toBe(w.pipeline.thresholdVersion("p1"));
    expect(a.why.limits).toEqual({ redLow: -3, yellowLow: -2, yellowHigh: 1, redHigh: 2 });
    expect(a.why.readings.map((r) => [r.transition, r.measurementId, r.readingValue])).toEqual([
      ["raise", "w-2", 81.5],
      ["upgrade", "w-3", 82.5],
    ]);
    expect(a.why.readings[0].value).toBeCloseTo(1.5, 5);
    expect(a.why.readings[1].value).toBeCloseTo(2.5, 5);
    expect(a.why.readings[1].time).toBe(T0 + MIN);
  });

  it("keeps only the last few triggering readings", () => {
    const w = world({ keepReadings: 2, latching: {} });
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0, "a");
    w.send("p1", "pulse", 125, T0 + MIN, "b");
    w.send("p1", "pulse", 105, T0 + 2 * MIN, "c");
    expect(w.lc.list()[0].why.readings.map((r) => r.measurementId)).toEqual(["b", "c"]);
  });

  it("states NEWS2 missing parameters and the score's default limits", () => {
    // the lookup the pipeline gives its lifecycle: the rule's kind and the limits it puts in force
    const news2: RuleDef = { id: "news2", kind: "score", score: "news2", window: "6h" };
    const lc = new AlertLifecycle({ rules: (_p, rule) => (rule === "news2" ? { kind: "score", limits: limitsInForce(news2) } : undefined) });
    const t: AlertTransition = {
      patient: "p1", rule: "news2", metric: "news2", kind: "raise", from: "none", to: "yellow", direction: "high",
      priority: "medium", interpretation: "H", time: T0, value: 5, missingParameters: ["consciousness", "temp"],
    };
    lc.apply([t], T0);
    const [a] = lc.list();
    expect(a.ruleKind).toBe("score");
    expect(a.why.missingParameters).toEqual(["consciousness", "temp"]);
    expect(a.why.limits).toEqual({ yellowHigh: 4, redHigh: 6 });
  });

  it("a resolve without an open alert changes nothing", () => {
    const lc = new AlertLifecycle({ rules: () => undefined });
    lc.apply([{ patient: "p", rule: "r", metric: "pulse", kind: "resolve", from: "yellow", to: "none", direction: "none", priority: "medium", interpretation: "N", time: T0, value: 70 }], T0);
    expect(lc.lastSeq()).toBe(0);
    expect(lc.list()).toEqual([]);
  });
});

describe("lifecycle: latching", () => {
  it("a latched red alert whose condition clears stays until acknowledged, then resolves", () => {
    const w = world(); // default: every red alert latches
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 125, T0);
    w.send("p1", "pulse", 70, T0 + MIN);
    const [a] = w.lc.list();
    expect(a).toMatchObject({ state: "cleared_awaiting_ack", latching: true, level: "red", clearedAt: T0 + MIN, interpretation: "N" });
    expect(w.lc.snapshot().alerts.map((x) => x.id)).toEqual([a.id]);

    const acked = w.lc.ack(a.id, "nurse.anne", "called the patient, fine", T0 + 5 * MIN);
    expect(acked).toMatchObject({ state: "resolved", resolution: "acknowledged", ack: { by: "nurse.anne", at: T0 + 5 * MIN, note: "called the patient, fine" } });
    expect(w.log()).toEqual(["raised", "updated:cleared", "acknowledged", "resolved"]);
    expect(w.lc.snapshot().alerts).toEqual([]);
  });

  it("a condition that comes back before the ack reopens the same alert", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 125, T0);
    w.send("p1", "pulse", 70, T0 + MIN);
    w.send("p1", "pulse", 105, T0 + 2 * MIN);
    const alerts = w.lc.list();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ state: "firing", level: "yellow", peakLevel: "red" });
    expect(alerts[0].clearedAt).toBeUndefined();
    expect(w.log()).toEqual(["raised", "updated:cleared", "updated:reopened"]);
  });

  it("a red that went yellow before clearing still latches; a yellow-only alert does not", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 125, T0);
    w.send("p1", "pulse", 105, T0 + MIN);
    w.send("p1", "pulse", 70, T0 + 2 * MIN);
    w.send("p1", "bp_sys", 170, T0);
    w.send("p1", "bp_sys", 120, T0 + MIN);
    const byRule = Object.fromEntries(w.lc.list().map((a) => [a.rule, a.state]));
    expect(byRule).toEqual({ "pulse-band": "cleared_awaiting_ack", "bp-sys-band": "resolved" });
  });

  it("an alert acknowledged while firing resolves by itself when the condition clears", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 125, T0);
    const [a] = w.lc.list();
    w.lc.ack(a.id, "dr.bo", undefined, T0 + MIN);
    w.send("p1", "pulse", 70, T0 + 2 * MIN);
    expect(w.lc.get(a.id)).toMatchObject({ state: "resolved", resolution: "condition_cleared" });
  });

  it("latching is organisation configuration: by rule id, by kind, or nothing", () => {
    const byRule = world({ latching: { rules: ["bp-sys-band"] } });
    byRule.patient("p1", "telehjerte");
    byRule.send("p1", "bp_sys", 170, T0);
    byRule.send("p1", "pulse", 125, T0);
    byRule.send("p1", "bp_sys", 120, T0 + MIN);
    byRule.send("p1", "pulse", 70, T0 + MIN);
    expect(byRule.lc.list().map((a) => [a.rule, a.state])).toEqual([
      ["bp-sys-band", "cleared_awaiting_ack"],
      ["pulse-band", "resolved"],
    ]);

    const byKind = world({ latching: { kinds: ["delta"] } });
    byKind.patient("p1", "telehjerte");
    byKind.send("p1", "weight", 80, T0 - DAY);
    byKind.send("p1", "weight", 81.5, T0);
    byKind.send("p1", "weight", 80, T0 + MIN);
    expect(byKind.lc.list()[0]).toMatchObject({ rule: "weight-change", state: "cleared_awaiting_ack", latching: true });
  });
});

describe("lifecycle: acknowledge", () => {
  it("records who, when and the note, keeps the condition, and is idempotent", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0);
    const [a] = w.lc.list();
    const acked = w.lc.ack(a.id, "nurse.anne", "will call", T0 + MIN);
    expect(acked).toMatchObject({ state: "firing", ack: { by: "nurse.anne", at: T0 + MIN, note: "will call" } });
    const seq = w.lc.lastSeq();
    expect(w.lc.ack(a.id, "nurse.bo", "again", T0 + 2 * MIN).ack).toEqual({ by: "nurse.anne", at: T0 + MIN, note: "will call" });
    expect(w.lc.lastSeq()).toBe(seq);
    const noNote = world();
    noNote.patient("p1", "telehjerte");
    noNote.send("p1", "pulse", 105, T0);
    expect(noNote.lc.ack(noNote.lc.list()[0].id, "x", undefined, T0).ack).toEqual({ by: "x", at: T0 });
  });

  it("an upgrade clears the ack; a downgrade keeps it", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0);
    const [a] = w.lc.list();
    w.lc.ack(a.id, "nurse.anne", undefined, T0 + MIN);
    w.send("p1", "pulse", 125, T0 + 2 * MIN);
    expect(w.lc.get(a.id).ack).toBeUndefined();
    w.lc.ack(a.id, "dr.bo", "seen the red", T0 + 3 * MIN);
    w.send("p1", "pulse", 105, T0 + 4 * MIN);
    expect(w.lc.get(a.id)).toMatchObject({ level: "yellow", ack: { by: "dr.bo" } });
  });

  it("refuses a resolved alert with alert_not_open, an unknown one with not_found, and a missing author", () => {
    const w = world({ latching: {} });
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 105, T0);
    w.send("p1", "pulse", 70, T0 + MIN);
    const [a] = w.lc.list();
    expect(codeOf(() => w.lc.ack(a.id, "nurse", undefined, T0 + 2 * MIN))).toBe("alert_not_open");
    expect(codeOf(() => w.lc.ack("a-999", "nurse", undefined, T0 + 2 * MIN))).toBe("not_found");
    expect(codeOf(() => w.lc.get("a-999"))).toBe("not_found");
    w.send("p1", "pulse", 105, T0 + 3 * MIN);
    expect(codeOf(() => w.lc.ack(w.lc.list({ state: "firing" })[0].id, " ", undefined, T0 + 4 * MIN))).toBe("invalid_field");
  });
});

describe("lifecycle: state machine table", () => {
  it("has one decision per state and input", () => {
    expect(step("none", "raise", { latching: true, acked: false })).toEqual({ to: "firing", effect: "raise" });
    expect(step("firing", "resolve", { latching: true, acked: false })).toEqual({ to: "cleared_awaiting_ack", effect: "clear" });
    expect(step("firing", "resolve", { latching: true, acked: true })).toEqual({ to: "resolved", effect: "resolve" });
    expect(step("firing", "resolve", { latching: false, acked: false })).toEqual({ to: "resolved", effect: "resolve" });
    expect(step("cleared_awaiting_ack", "raise", { latching: true, acked: false })).toEqual({ to: "firing", effect: "reopen" });
    expect(step("cleared_awaiting_ack", "ack", { latching: true, acked: false })).toEqual({ to: "resolved", effect: "ack_resolve" });
    expect(step("resolved", "ack", { latching: true, acked: true })).toEqual({ to: "resolved", effect: "not_open" });
    expect(step("firing", "retire", { latching: true, acked: false })).toEqual({ to: "resolved", effect: "retire" });
  });

  it("retire resolves the alert of a removed rule, latched or not", () => {
    const w = world();
    w.patient("p1", "telehjerte");
    w.send("p1", "pulse", 125, T0);
    w.send("p1", "pulse", 70, T0 + MIN);
    const retired = w.lc.retire("p1", "pulse-band", T0 + 2 * MIN);
    expect(retired).toMatchObject({ state: "resolved", resolution: "rule_removed" });
    expect(w.lc.retire("p1", "pulse-band", T0 + 3 * MIN)).toBeUndefined();
  });
});
