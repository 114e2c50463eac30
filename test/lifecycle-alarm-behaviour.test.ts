// Alarm behaviour (issue 14, point 4): latching per rule and priority, re-alert after an
// acknowledgement, acknowledgement timeouts and bounded loops of escalation, silence floors
// (unsilenceable rules, maximum silence per priority) and episodes. Table-driven, on a
// controllable clock; the CGM cases run the real engine with the programme defaults.
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { AlertLifecycle, type Alert, type AlertEvent, type LifecycleEvent, type LifecycleOptions, type RoutingEntry, type RuleContext } from "../engine/lifecycle/index.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { Pipeline } from "../engine/pipeline.js";
import { alarmSettings, SettingError } from "../server/cli/settings.js";
import { codeOf } from "./support/code-of.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0); // a Wednesday, 10:00 in Copenhagen
const SEC = 1000;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const CHAIN: RoutingEntry[] = [
  { team: "hospital", role: "hospital", ackTimeout: "5m" },
  { team: "kommune", role: "municipality", ackTimeout: "10m" },
  { team: "gp", role: "gp" },
];

type Level = "yellow" | "red";

function tr(rule: string, kind: AlertTransition["kind"], from: AlertTransition["from"], to: AlertTransition["to"], patient = "p"): AlertTransition {
  const level = to === "none" ? from : to;
  return {
    patient, rule, metric: rule.split("-")[0], kind, from, to, direction: "high", time: T0, value: 1,
    priority: level === "red" ? "high" : "medium",
    interpretation: to === "red" ? "HH" : to === "yellow" ? "H" : "N",
  };
}
const raise = (rule: string, to: Level, patient = "p") => tr(rule, "raise", "none", to, patient);
const resolve = (rule: string, from: Level, patient = "p") => tr(rule, "resolve", from, "none", patient);

/** A lifecycle whose rules are bands, with `flags` per rule id; every event its calls returned so far. */
function world(options: Partial<LifecycleOptions> = {}, flags: Record<string, Partial<RuleContext>> = {}) {
  const lc = new AlertLifecycle({ rules: (_p, rule) => ({ kind: "band", ...flags[rule] }), ...options });
  lc.setPatient("p", { careTeams: CHAIN }, T0);
  lc.setPatient("q", { careTeams: CHAIN }, T0);
  const seen: LifecycleEvent[] = [];
  const events = () => {
    seen.push(...lc.takeEvents());
    return seen;
  };
  const alert = (rule: string, patient = "p"): Alert => lc.list({ patient }).find((a) => a.rule === rule)!;
  return { lc, events, alert };
}

describe("latching: per rule and priority, configurable, default every red", () => {
  const cases: { name: string; latching?: LifecycleOptions["latching"]; flags?: Partial<RuleContext>; level: Level; latches: boolean }[] = [
    { name: "default: a red alert latches", level: "red", latches: true },
    { name: "default: a yellow alert does not", level: "yellow", latches: false },
    { name: "none: nothing latches", latching: {}, level: "red", latches: false },
    { name: "yellow (medium) latches yellow", latching: { levels: ["yellow"] }, level: "yellow", latches: true },
    { name: "by rule id", latching: { rules: ["pulse-band"] }, level: "yellow", latches: true },
    { name: "by kind", latching: { kinds: ["band"] }, level: "yellow", latches: true },
    { name: "the rule's own latching: true, whatever the policy", latching: {}, flags: { latching: true }, level: "yellow", latches: true },
  ];
  it.each(cases)("$name", ({ latching, flags, level, latches }) => {
    const w = world(latching === undefined ? {} : { latching }, { "pulse-band": flags ?? {} });
    w.lc.apply([raise("pulse-band", level)], T0);
    expect(w.alert("pulse-band").latching).toBe(latches);
    w.lc.apply([resolve("pulse-band", level)], T0 + MIN);
    expect(w.alert("pulse-band").state).toBe(latches ? "cleared_awaiting_ack" : "resolved");
  });

  const settings: { env: string; policy: LifecycleOptions["latching"] | "error" }[] = [
    { env: "none", policy: {} },
    { env: "red", policy: { levels: ["red"], kinds: [], rules: [] } },
    { env: "high, medium", policy: { levels: ["red", "yellow"], kinds: [], rules: [] } },
    { env: "red,kind:missing,rule:cgm-low", policy: { levels: ["red"], kinds: ["missing"], rules: ["cgm-low"] } },
    { env: "urgent", policy: "error" },
    { env: "kind:sometimes", policy: "error" },
    { env: "rule:", policy: "error" },
  ];
  it.each(settings)("VARSEL_LATCHING=$env", ({ env, policy }) => {
    const read = () => alarmSettings({ VARSEL_LATCHING: env }).latching;
    if (policy === "error") expect(read).toThrow(SettingError);
    else expect(read()).toEqual(policy);
  });
});

describe("re-alert: an acknowledged alert still in condition is announced again", () => {
  const cases: { name: string; level: Level; options?: Partial<LifecycleOptions>; ackAt: number; tickAt: number; reAlerted: boolean; reAlertAt?: number }[] = [
    { name: "high: 30 min after the ack (Dexcom urgent low)", level: "red", ackAt: 2 * MIN, tickAt: 32 * MIN, reAlerted: true, reAlertAt: 32 * MIN },
    { name: "high: not a minute before", level: "red", ackAt: 2 * MIN, tickAt: 32 * MIN - 1, reAlerted: false, reAlertAt: 32 * MIN },
    { name: "medium: 4 h after the ack", level: "yellow", ackAt: 0, tickAt: 4 * HOUR, reAlerted: true, reAlertAt: 4 * HOUR },
    { name: "medium: not at 3 h 59", level: "yellow", ackAt: 0, tickAt: 4 * HOUR - MIN, reAlerted: false, reAlertAt: 4 * HOUR },
    { name: "configured: high after 10 min", level: "red", options: { reAlertAfterMs: { high: 10 * MIN } }, ackAt: 0, tickAt: 10 * MIN, reAlerted: true, reAlertAt: 10 * MIN },
    { name: "configured off (0): never", level: "red", options: { reAlertAfterMs: { high: 0 } }, ackAt: 0, tickAt: 10 * DAY, reAlerted: false },
  ];
  it.each(cases)("$name", ({ level, options, ackAt, tickAt, reAlerted, reAlertAt }) => {
    const w = world({ latching: {}, ...options });
    w.lc.apply([raise("pulse-band", level)], T0);
    const id = w.alert("pulse-band").id;
    w.lc.ack(id, "nurse", "called the patient", T0 + ackAt);
    expect(w.lc.get(id).reAlertAt).toBe(reAlertAt === undefined ? undefined : T0 + reAlertAt);
    w.lc.tick(T0 + tickAt);
    const again = w.events().filter((e): e is AlertEvent => e.type === "updated" && e.change === "re_alerted");
    expect(again.length).toBe(reAlerted ? 1 : 0);
    if (!reAlerted) return;
    // the ack lapsed: it must be acknowledged again, and the event says which ack lapsed
    expect(again[0].lapsedAck).toEqual({ by: "nurse", at: T0 + ackAt, note: "called the patient" });
    expect(w.lc.get(id)).toMatchObject({ reAlerts: 1, state: "firing" });
    expect(w.lc.get(id).ack).toBeUndefined();
    expect(w.lc.get(id).reAlertAt).toBeUndefined();
    w.lc.ack(id, "nurse-2", undefined, T0 + tickAt + MIN);
    expect(w.lc.get(id).ack?.by).toBe("nurse-2");
  });

  it("no re-alert once the condition cleared; a silence defers it to when it ends", () => {
    const w = world({ latching: {} });
    w.lc.apply([raise("pulse-band", "red"), raise("bp-band", "red")], T0);
    for (const rule of ["pulse-band", "bp-band"]) w.lc.ack(w.alert(rule).id, "nurse", undefined, T0);
    w.lc.apply([resolve("pulse-band", "red")], T0 + 10 * MIN);
    const silence = w.lc.addSilence({ patient: "p", rule: "bp-band", until: T0 + 45 * MIN, reason: "on the phone", author: "nurse" }, T0 + 20 * MIN);
    w.lc.tick(T0 + 30 * MIN);
    w.lc.tick(T0 + 40 * MIN);
    const reAlerted = () => w.events().filter((e): e is AlertEvent => e.type === "updated" && e.change === "re_alerted").map((e) => [e.alert.rule, e.at - T0]);
    expect(reAlerted()).toEqual([]);
    expect(w.alert("bp-band").silencedBy.map((s) => s.id)).toEqual([silence.id]);
    w.lc.tick(T0 + 45 * MIN);
    expect(reAlerted()).toEqual([["bp-band", 45 * MIN]]);
  });

  it("a re-alerted high alert escalates again from the step it had reached", () => {
    const w = world({ latching: {}, escalationLoops: 0 });
    w.lc.apply([raise("pulse-band", "red")], T0);
    const id = w.alert("pulse-band").id;
    w.lc.ack(id, "nurse", undefined, T0 + MIN);
    expect(w.lc.get(id).escalation.nextAt).toBeUndefined();
    w.lc.tick(T0 + 31 * MIN);
    expect(w.lc.get(id).escalation).toMatchObject({ step: 0, nextAt: T0 + 36 * MIN }); // the hospital's 5 min
  });
});

describe("escalation: acknowledgement timeout per step, bounded loops", () => {
  const escalations = (events: LifecycleEvent[]) =>
    events.filter((e): e is AlertEvent => e.type === "escalated").map((e) => [(e.at - T0) / MIN, e.escalation!.step, e.escalation!.team, e.escalation!.loop, e.escalation!.final]);

  // CHAIN: hospital 5 min, kommune 10 min, gp the default delay (15 min, or the patient's).
  const cases: { name: string; options?: Partial<LifecycleOptions>; patientDelay?: number; expected: [number, number, string | null, number, boolean][] }[] = [
    {
      name: "no loops: each team's own timeout, then every team once more",
      options: { escalationLoops: 0 },
      expected: [[5, 1, "kommune", 0, false], [15, 2, "gp", 0, false], [30, 3, null, 0, true]],
    },
    {
      name: "default: one more pass through the chain, then every team",
      expected: [[5, 1, "kommune", 0, false], [15, 2, "gp", 0, false], [30, 3, "hospital", 1, false], [35, 4, "kommune", 1, false], [45, 5, "gp", 1, false], [60, 6, null, 1, true]],
    },
    {
      name: "a patient's delay is the timeout of an entry without its own",
      options: { escalationLoops: 0 },
      patientDelay: 20 * MIN,
      expected: [[5, 1, "kommune", 0, false], [15, 2, "gp", 0, false], [35, 3, null, 0, true]],
    },
    {
      name: "three loops at most: the chain is walked four times",
      options: { escalationLoops: 3 },
      expected: [0, 1, 2, 3].flatMap((loop) => {
        const start = loop * 30;
        const steps: [number, number, string | null, number, boolean][] = [];
        if (loop > 0) steps.push([start, 3 * loop, "hospital", loop, false]);
        steps.push([start + 5, 3 * loop + 1, "kommune", loop, false], [start + 15, 3 * loop + 2, "gp", loop, false]);
        return steps;
      }).concat([[120, 12, null, 3, true]]),
    },
  ];
  it.each(cases)("$name", ({ options, patientDelay, expected }) => {
    const w = world({ latching: {}, reAlertAfterMs: { high: 0 }, ...options });
    if (patientDelay !== undefined) w.lc.setPatient("p", { careTeams: CHAIN, escalationDelayMs: patientDelay }, T0);
    w.lc.apply([raise("pulse-band", "red")], T0);
    for (let m = 1; m <= 4 * 60; m++) w.lc.tick(T0 + m * MIN);
    expect(escalations(w.events())).toEqual(expected);
    expect(w.alert("pulse-band").escalation).toMatchObject({ done: true });
  });

  it("refuses more than three loops, and an ackTimeout that is not a duration from 1m to 24h", () => {
    expect(() => world({ escalationLoops: 4 })).toThrow(RangeError);
    const w = world();
    for (const ackTimeout of ["soon", "30s", "2d"]) {
      expect(codeOf(() => w.lc.setPatient("p", { careTeams: [{ team: "t", role: "gp", ackTimeout }] }, T0))).toBe("invalid_routing");
    }
    expect(w.lc.patient("p")?.careTeams).toEqual(CHAIN); // a refused chain changes nothing
  });
});

describe("silence floor: maximum per priority, unsilenceable rules", () => {
  // A silence of the patient created at T0; is the alert (raised at `raiseAt`) hidden at `at`?
  const cases: { name: string; level: Level; length: number; raiseAt: number; at: number; hidden: boolean; flags?: Partial<RuleContext> }[] = [
    { name: "high: hidden within the first hour", level: "red", length: 8 * HOUR, raiseAt: 0, at: 59 * MIN, hidden: true },
    { name: "high: shown after an hour, though the silence runs 8 h", level: "red", length: 8 * HOUR, raiseAt: 0, at: HOUR, hidden: false },
    { name: "high: raised after the first hour, never hidden", level: "red", length: 8 * HOUR, raiseAt: 2 * HOUR, at: 2 * HOUR, hidden: false },
    { name: "medium: hidden for the whole 8 h", level: "yellow", length: 8 * HOUR, raiseAt: 0, at: 8 * HOUR - MIN, hidden: true },
    { name: "medium: shown after 24 h of a 3-day silence", level: "yellow", length: 3 * DAY, raiseAt: 0, at: DAY, hidden: false },
    { name: "unsilenceable from red: a red alert is never hidden", level: "red", length: 30 * MIN, raiseAt: 0, at: 0, hidden: false, flags: { unsilenceable: "red" } },
    { name: "unsilenceable from red: its yellow is", level: "yellow", length: 30 * MIN, raiseAt: 0, at: 0, hidden: true, flags: { unsilenceable: "red" } },
    { name: "unsilenceable from yellow: never hidden", level: "yellow", length: 30 * MIN, raiseAt: 0, at: 0, hidden: false, flags: { unsilenceable: "yellow" } },
  ];
  it.each(cases)("$name", ({ level, length, raiseAt, at, hidden, flags }) => {
    const w = world({ latching: {} }, { "pulse-band": flags ?? {} });
    const silence = w.lc.addSilence({ patient: "p", until: T0 + length, reason: "admitted for observation", author: "dr" }, T0);
    w.lc.apply([raise("pulse-band", level)], T0 + raiseAt);
    w.lc.tick(T0 + at);
    expect(w.alert("pulse-band").silencedBy.map((s) => s.id)).toEqual(hidden ? [silence.id] : []);
  });

  it("the silence states its end per priority; a silence longer than the longest bound is refused", () => {
    const w = world();
    const s = w.lc.addSilence({ patient: "p", until: T0 + 3 * DAY, reason: "holiday", author: "dr" }, T0);
    expect(s.untilByPriority).toEqual({ high: T0 + HOUR, medium: T0 + DAY, low: T0 + 3 * DAY });
    expect(codeOf(() => w.lc.addSilence({ patient: "p", until: T0 + 8 * DAY, reason: "long", author: "dr" }, T0))).toBe("silence_too_long");
    const short = world({ maxSilenceMs: { high: 10 * MIN, medium: HOUR, low: HOUR } });
    expect(codeOf(() => short.lc.addSilence({ patient: "p", until: T0 + 2 * HOUR, reason: "long", author: "dr" }, T0))).toBe("silence_too_long");
    expect(() => world({ maxSilenceMs: { high: DAY, medium: HOUR } })).toThrow(RangeError); // high may not outlast medium
  });

  it("a high alert shown after its bound is announced (unsilenced) and escalates; an upgrade of a silenced yellow is shown at once", () => {
    const w = world({ latching: {} });
    w.lc.addSilence({ patient: "p", until: T0 + 8 * HOUR, reason: "known", author: "dr" }, T0);
    w.lc.apply([raise("pulse-band", "red"), raise("bp-band", "yellow")], T0 + 30 * MIN);
    w.lc.tick(T0 + HOUR);
    const unsilenced = w.events().filter((e): e is AlertEvent => e.type === "unsilenced").map((e) => [e.alert.rule, e.at - T0]);
    expect(unsilenced).toEqual([["pulse-band", HOUR]]);
    expect(w.alert("pulse-band").escalation.nextAt).toBe(T0 + HOUR + 5 * MIN);
    expect(w.alert("bp-band").silencedBy.length).toBe(1);
    w.lc.apply([tr("bp-band", "upgrade", "yellow", "red")], T0 + 2 * HOUR);
    const upgraded = w.events().at(-1) as AlertEvent;
    expect([upgraded.type, upgraded.change, upgraded.alert.silencedBy]).toEqual(["updated", "upgraded", []]);
  });

  it.each(["kernel", "oracle"] as const)("CGM urgent low is unsilenceable by the programme default; the low warning is not (real engine, %s)", (ev) => {
    const p = new Pipeline(ev === "oracle" ? { evaluator: new Oracle() } : {});
    p.upsertPatient("p", { programme: "cgm", careTeams: [{ team: "diabetes", role: "hospital" }], paused: false, references: {} }, T0 - HOUR);
    const silence = p.lifecycle.addSilence({ patient: "p", until: T0 + HOUR, reason: "exercise", author: "patient's nurse" }, T0);
    const send = (min: number, value: number) => ingestRaw(p, [{ patient: "p", metric: "cgm", value, time: T0 + min * MIN }], ANY_SENDER, T0 + min * MIN);
    const low = () => p.lifecycle.list({ patient: "p" }).find((a) => a.rule === "cgm-low")!;
    send(0, 4.2);
    expect(low()).toMatchObject({ level: "yellow", unsilenceable: "red", silencedBy: [{ id: silence.id }] });
    send(5, 3.0);
    expect(low()).toMatchObject({ level: "red", silencedBy: [] });
    expect(low().escalation.nextAt).toBeDefined();
  });
});

describe("episodes: alerts of one patient raised close together share an episode id", () => {
  const cases: { name: string; wait?: number; raises: [number, string, string][]; episodes: Record<string, string> }[] = [
    {
      name: "default 60 s: the second and third join the first; a later one opens its own",
      raises: [[0, "p", "pulse-band"], [30 * SEC, "p", "bp-band"], [60 * SEC, "p", "temp-band"], [61 * SEC, "p", "spo2-band"]],
      episodes: { "pulse-band": "pulse-band", "bp-band": "pulse-band", "temp-band": "pulse-band", "spo2-band": "spo2-band" },
    },
    {
      name: "another patient's alerts are never in the episode",
      raises: [[0, "p", "pulse-band"], [SEC, "q", "bp-band"]],
      episodes: { "pulse-band": "pulse-band", "bp-band": "bp-band" },
    },
    {
      name: "0: every alert is its own episode",
      wait: 0,
      raises: [[0, "p", "pulse-band"], [0, "p", "bp-band"]],
      episodes: { "pulse-band": "pulse-band", "bp-band": "bp-band" },
    },
  ];
  it.each(cases)("$name", ({ wait, raises, episodes }) => {
    const w = world(wait === undefined ? {} : { episodeGroupWaitMs: wait });
    for (const [at, patient, rule] of raises) w.lc.apply([raise(rule, "yellow", patient)], T0 + at);
    const ruleOf = new Map(w.lc.list().map((a) => [a.id, a.rule]));
    expect(Object.fromEntries(w.lc.list().map((a) => [a.rule, ruleOf.get(a.episode)]))).toEqual(episodes);
    // delivered at once: each raised event is emitted by the call that raised it, carrying the episode
    const raised = w.events().filter((e): e is AlertEvent => e.type === "raised");
    expect(raised.map((e) => e.at - T0)).toEqual(raises.map(([at]) => at));
    expect(raised.every((e) => e.alert.episode === w.lc.get(e.alert.id).episode)).toBe(true);
  });

  it("each alert of an episode keeps its own lifecycle", () => {
    const w = world({ latching: {} });
    w.lc.apply([raise("pulse-band", "yellow"), raise("bp-band", "yellow")], T0);
    w.lc.ack(w.alert("pulse-band").id, "nurse", undefined, T0 + MIN);
    w.lc.apply([resolve("bp-band", "yellow")], T0 + 2 * MIN);
    expect([w.alert("pulse-band").state, w.alert("pulse-band").ack?.by, w.alert("bp-band").state]).toEqual(["firing", "nurse", "resolved"]);
    expect(w.alert("bp-band").episode).toBe(w.alert("pulse-band").id);
  });
});

describe("alarm settings from the environment", () => {
  const cases: { env: Record<string, string>; expected: object | "error" }[] = [
    { env: {}, expected: {} },
    { env: { VARSEL_RE_ALERT_AFTER: "high=15m, low=0" }, expected: { reAlertAfterMs: { high: 15 * MIN, low: 0 } } },
    { env: { VARSEL_MAX_SILENCE: "high=30m,medium=12h,low=3d" }, expected: { maxSilenceMs: { high: 30 * MIN, medium: 12 * HOUR, low: 3 * DAY } } },
    { env: { VARSEL_MAX_SILENCE: "high=2d" }, expected: "error" }, // high would outlast medium's default 24 h
    { env: { VARSEL_ESCALATION_LOOPS: "2", VARSEL_ESCALATION_DELAY: "10m" }, expected: { escalationLoops: 2, escalationDelayMs: 10 * MIN } },
    { env: { VARSEL_ESCALATION_LOOPS: "4" }, expected: "error" },
    { env: { VARSEL_ESCALATION_LOOPS: "1.5" }, expected: "error" },
    { env: { VARSEL_ESCALATION_DELAY: "0" }, expected: "error" },
    { env: { VARSEL_EPISODE_GROUP_WAIT: "0" }, expected: { episodeGroupWaitMs: 0 } },
    { env: { VARSEL_EPISODE_GROUP_WAIT: "2 minutes" }, expected: "error" },
    { env: { VARSEL_RE_ALERT_AFTER: "urgent=5m" }, expected: "error" },
  ];
  it.each(cases)("$env", ({ env, expected }) => {
    if (expected === "error") expect(() => alarmSettings(env)).toThrow(SettingError);
    else expect(alarmSettings(env)).toEqual(expected);
  });
});
