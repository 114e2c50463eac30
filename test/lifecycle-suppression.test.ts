// Silences and inhibition: suppressed alerts stay open and visible (with the silence or the
// inhibitor shown) but are not escalated; they are live again when the silence ends or the
// inhibitor goes.
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { VarselError } from "../engine/errors.js";
import { AlertLifecycle, type AlertEvent, type LifecycleEvent, type RuleContext } from "../engine/lifecycle/index.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";
import { codeOf } from "./support/code-of.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

const KINDS: Record<string, RuleContext["kind"]> = { "pulse-band": "band", "bp-sys-band": "band", "pulse-delta": "delta", "pulse-missing": "missing" };

function tr(patient: string, rule: string, kind: AlertTransition["kind"], from: AlertTransition["from"], to: AlertTransition["to"], time = T0, metric = "pulse"): AlertTransition {
  const level = to === "none" ? from : to;
  return {
    patient, rule, metric, kind, from, to, direction: "high", time, value: 1,
    priority: level === "red" ? "high" : "medium",
    interpretation: to === "red" ? "HH" : to === "yellow" ? "H" : "N",
  };
}

function handWorld() {
  const lc = new AlertLifecycle({
    rules: (_p, rule) => (KINDS[rule] ? { kind: KINDS[rule] } : undefined),
    defaultCareTeams: [
      { team: "hospital-a", role: "hospital" },
      { team: "kommune-b", role: "municipality" },
    ],
    latching: {},
  });
  // every event the calls returned so far (takeEvents)
  const seen: LifecycleEvent[] = [];
  const events = () => {
    seen.push(...lc.takeEvents());
    return seen;
  };
  const byRule = (rule: string, patient = "p1") => lc.list({ patient }).find((a) => a.rule === rule && a.state !== "resolved")!;
  return { lc, events, byRule };
}


describe("lifecycle: silences", () => {
  it("silences by patient, by rule, and by both, and shows the silence on the alert", () => {
    const w = handWorld();
    w.lc.apply(
      [tr("p1", "pulse-band", "raise", "none", "yellow"), tr("p1", "bp-sys-band", "raise", "none", "yellow", T0, "bp_sys"), tr("p2", "pulse-band", "raise", "none", "yellow"), tr("p2", "bp-sys-band", "raise", "none", "yellow", T0, "bp_sys")],
      T0,
    );
    const silencedPairs = () => w.lc.list().filter((a) => a.silencedBy.length > 0).map((a) => `${a.patient}/${a.rule}`).sort();

    const both = w.lc.addSilence({ patient: "p1", rule: "pulse-band", until: T0 + HOUR, reason: "known arrhythmia", author: "dr.bo" }, T0);
    expect(silencedPairs()).toEqual(["p1/pulse-band"]);
    expect(w.byRule("pulse-band").silencedBy).toEqual([{ id: both.id, until: T0 + HOUR, reason: "known arrhythmia", author: "dr.bo" }]);

    w.lc.addSilence({ rule: "bp-sys-band", until: T0 + HOUR, reason: "cuff recall", author: "admin" }, T0);
    expect(silencedPairs()).toEqual(["p1/bp-sys-band", "p1/pulse-band", "p2/bp-sys-band"]);

    w.lc.addSilence({ patient: "p2", until: T0 + HOUR, reason: "admitted to hospital", author: "nurse" }, T0);
    expect(silencedPairs()).toEqual(["p1/bp-sys-band", "p1/pulse-band", "p2/bp-sys-band", "p2/pulse-band"]);
    expect(w.byRule("bp-sys-band", "p2").silencedBy.map((s) => s.reason)).toEqual(["cuff recall", "admitted to hospital"]);

    // silenced alerts are still there for everyone
    expect(w.lc.snapshot({ teams: ["kommune-b"] }).alerts).toHaveLength(4);
    expect(w.lc.listSilences().map((s) => s.reason)).toEqual(["known arrhythmia", "cuff recall", "admitted to hospital"]);
    expect(w.lc.listSilences({ patient: "p1" }).map((s) => s.reason)).toEqual(["known arrhythmia", "cuff recall"]);
    expect(w.events().filter((e) => e.type === "silence").map((e) => e.type === "silence" && e.action)).toEqual(["created", "created", "created"]);
  });

  it("an alert raised while a silence matches is born silenced", () => {
    const w = handWorld();
    w.lc.addSilence({ patient: "p1", until: T0 + HOUR, reason: "on holiday, no device", author: "nurse" }, T0);
    w.lc.apply([tr("p1", "pulse-band", "raise", "none", "red")], T0 + MIN);
    const raised = w.events().find((e): e is AlertEvent => e.type === "raised")!;
    expect(raised.alert.silencedBy.map((s) => s.reason)).toEqual(["on holiday, no device"]);
    expect(raised.alert.escalation.nextAt).toBeUndefined();
  });

  it("expires on tick at `until` and the alert is live again (unsilenced, escalation re-armed)", () => {
    const w = handWorld();
    w.lc.apply([tr("p1", "pulse-band", "raise", "none", "red")], T0);
    expect(w.byRule("pulse-band").escalation.nextAt).toBe(T0 + 15 * MIN);
    const s = w.lc.addSilence({ patient: "p1", until: T0 + HOUR, reason: "r", author: "a" }, T0 + MIN);
    expect(w.byRule("pulse-band").escalation.nextAt).toBeUndefined();
    w.lc.tick(T0 + 20 * MIN);
    expect(w.events().some((e) => e.type === "escalated")).toBe(false);
    w.lc.tick(T0 + HOUR - 1);
    expect(w.byRule("pulse-band").silencedBy).toHaveLength(1);
    w.lc.tick(T0 + HOUR);
    const a = w.byRule("pulse-band");
    expect(a.silencedBy).toEqual([]);
    expect(a.escalation.nextAt).toBe(T0 + HOUR + 15 * MIN);
    expect(w.events().slice(-2).map((e) => e.type)).toEqual(["silence", "unsilenced"]);
    expect(w.lc.listSilences()).toEqual([]);
    expect(w.lc.listSilences({ includeEnded: true })).toMatchObject([{ id: s.id, state: "expired", endedAt: T0 + HOUR }]);
  });

  it("deletion unsilences; with a second silence still matching the alert stays silenced (updated)", () => {
    const w = handWorld();
    w.lc.apply([tr("p1", "pulse-band", "raise", "none", "yellow")], T0);
    const s1 = w.lc.addSilence({ patient: "p1", until: T0 + HOUR, reason: "one", author: "a" }, T0);
    const s2 = w.lc.addSilence({ rule: "pulse-band", until: T0 + 2 * HOUR, reason: "two", author: "b" }, T0);
    w.lc.removeSilence(s1.id, "a", T0 + MIN);
    expect(w.byRule("pulse-band").silencedBy.map((s) => s.id)).toEqual([s2.id]);
    const last = w.events().at(-1) as AlertEvent;
    expect([last.type, last.change, last.silence?.id]).toEqual(["updated", "silences", s1.id]);
    const removed = w.lc.removeSilence(s2.id, "b", T0 + 2 * MIN);
    expect(removed).toMatchObject({ state: "removed", removedBy: "b", endedAt: T0 + 2 * MIN });
    expect(w.byRule("pulse-band").silencedBy).toEqual([]);
    expect(w.events().at(-1)?.type).toBe("unsilenced");
    expect(codeOf(() => w.lc.removeSilence(s2.id, "b", T0 + 3 * MIN))).toBe("silence_ended");
    expect(codeOf(() => w.lc.removeSilence("s-404", "b", T0 + 3 * MIN))).toBe("not_found");
  });

  it("refuses global, past, anonymous or reasonless silences", () => {
    const w = handWorld();
    expect(codeOf(() => w.lc.addSilence({ until: T0 + HOUR, reason: "all quiet", author: "a" }, T0))).toBe("invalid_silence");
    expect(codeOf(() => w.lc.addSilence({ patient: "p1", until: T0, reason: "r", author: "a" }, T0))).toBe("invalid_silence");
    expect(codeOf(() => w.lc.addSilence({ patient: "p1", until: T0 + HOUR, reason: "", author: "a" }, T0))).toBe("invalid_silence");
    expect(codeOf(() => w.lc.addSilence({ patient: "p1", until: T0 + HOUR, reason: "r", author: " " }, T0))).toBe("invalid_silence");
    expect(w.lc.lastSeq()).toBe(0);
  });
});

describe("lifecycle: inhibition", () => {
  it("a red alert inhibits yellow alerts of other rules on the same patient and metric (real CGM engine)", () => {
    const p = new Pipeline();
    const lc = p.lifecycle;
    p.upsertPatient("p", { programme: "cgm", careTeams: [], paused: false, references: {} }, T0 - HOUR);
    const events: LifecycleEvent[] = [];
    const send = (min: number, value: number) => {
      ingestRaw(p, [{ patient: "p", metric: "cgm", value, time: T0 + min * MIN }], ANY_SENDER, T0 + min * MIN);
      events.push(...lc.takeEvents());
    };
    const rule = (r: string) => lc.list({ patient: "p" }).find((a) => a.rule === r)!;

    send(0, 6);
    send(5, 5); // forecast in 20 min: 1 mmol/L → predicted-low red
    send(10, 4); // below 4.4: cgm-low yellow, born inhibited by the red
    const predicted = rule("cgm-predicted-low");
    expect(predicted).toMatchObject({ level: "red", ruleKind: "rate" });
    expect(predicted.inhibitedBy).toBeUndefined();
    expect(rule("cgm-low")).toMatchObject({ level: "yellow", inhibitedBy: { alert: predicted.id, rule: "cgm-predicted-low", reason: "higher_severity" } });

    // stale data: no reading for 30 minutes → the missing-data alert inhibits both value alerts
    p.tick(T0 + 31 * MIN);
    events.push(...lc.takeEvents());
    const stale = rule("cgm-stale");
    expect(stale).toMatchObject({ ruleKind: "missing", level: "yellow" });
    expect(stale.inhibitedBy).toBeUndefined();
    expect(rule("cgm-predicted-low").inhibitedBy).toEqual({ alert: stale.id, rule: "cgm-stale", reason: "stale_data" });
    expect(rule("cgm-predicted-low").escalation.nextAt).toBeUndefined();
    expect(rule("cgm-low").inhibitedBy).toEqual({ alert: stale.id, rule: "cgm-stale", reason: "stale_data" });

    // data again: stale resolves, the forecast clears (latched red, awaiting ack: no longer inhibits)
    send(32, 4.1);
    expect(rule("cgm-stale").state).toBe("resolved");
    expect(rule("cgm-predicted-low").state).toBe("cleared_awaiting_ack");
    expect(rule("cgm-low")).toMatchObject({ state: "firing", level: "yellow" });
    expect(rule("cgm-low").inhibitedBy).toBeUndefined();
    const low = rule("cgm-low").id;
    expect(events.filter((e): e is AlertEvent => e.type !== "review" && e.type !== "silence" && e.alert.id === low).map((e) => e.type)).toEqual(["raised", "inhibited", "uninhibited"]);
  });

  it("announces inhibition of an alert raised before its inhibitor and releases it when the inhibitor resolves", () => {
    const w = handWorld();
    w.lc.apply([tr("p1", "pulse-band", "raise", "none", "yellow"), tr("p1", "pulse-delta", "raise", "none", "red")], T0);
    const red = w.byRule("pulse-delta");
    expect(w.byRule("pulse-band").inhibitedBy).toEqual({ alert: red.id, rule: "pulse-delta", reason: "higher_severity" });
    expect(w.events().map((e) => e.type)).toEqual(["raised", "raised", "inhibited"]);
    w.lc.apply([tr("p1", "pulse-delta", "resolve", "red", "none", T0 + MIN)], T0 + MIN);
    expect(w.byRule("pulse-band").inhibitedBy).toBeUndefined();
    expect(w.events().slice(-2).map((e) => e.type)).toEqual(["resolved", "uninhibited"]);
  });

  it("a downgrade of the inhibitor releases; an upgrade of the inhibited alert frees it", () => {
    const w = handWorld();
    w.lc.apply([tr("p1", "pulse-delta", "raise", "none", "red"), tr("p1", "pulse-band", "raise", "none", "yellow")], T0);
    expect(w.byRule("pulse-band").inhibitedBy?.reason).toBe("higher_severity");
    w.lc.apply([tr("p1", "pulse-delta", "downgrade", "red", "yellow")], T0 + MIN);
    expect(w.byRule("pulse-band").inhibitedBy).toBeUndefined();
    w.lc.apply([tr("p1", "pulse-delta", "upgrade", "yellow", "red")], T0 + 2 * MIN);
    expect(w.byRule("pulse-band").inhibitedBy?.alert).toBe(w.byRule("pulse-delta").id);
    w.lc.apply([tr("p1", "pulse-band", "upgrade", "yellow", "red")], T0 + 3 * MIN);
    expect(w.byRule("pulse-band").inhibitedBy).toBeUndefined();
    expect(w.byRule("pulse-band").escalation.nextAt).toBe(T0 + 18 * MIN);
  });

  it("does not cross metrics or patients, and never inhibits a missing-data alert by a value alert", () => {
    const w = handWorld();
    w.lc.apply(
      [
        tr("p1", "pulse-delta", "raise", "none", "red"),
        tr("p1", "bp-sys-band", "raise", "none", "yellow", T0, "bp_sys"),
        tr("p2", "pulse-band", "raise", "none", "yellow"),
        tr("p1", "pulse-missing", "raise", "none", "yellow"),
      ],
      T0,
    );
    expect(w.byRule("bp-sys-band").inhibitedBy).toBeUndefined();
    expect(w.byRule("pulse-band", "p2").inhibitedBy).toBeUndefined();
    expect(w.byRule("pulse-missing").inhibitedBy).toBeUndefined();
    expect(w.byRule("pulse-delta").inhibitedBy?.reason).toBe("stale_data");
  });
});
