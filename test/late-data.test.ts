// Late and out-of-order data (issue 14, point 6): a request's readings are evaluated in time
// order; transitions from readings older than lateAfter describe the past (a `late` record,
// priority low, never an urgent alarm) unless the condition still holds at the rule's newest
// reading; a missing-data alert whose gap a backfill covers resolves (`backfilled`). Every case
// runs through the real pipeline on the oracle and on the wasm kernel, which must give the same
// events (docs/http.md "Late and out-of-order data").
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import type { Alert, AlertEvent, LifecycleEvent } from "../engine/lifecycle/types.js";
import { DEFAULT_LATE_AFTER_MS, lateFlags } from "../engine/lifecycle/late.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { Pipeline } from "../engine/pipeline.js";
import type { ProgrammeId } from "../engine/rules/programmes.js";
import { alarmSettings, SettingError } from "../server/cli/settings.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";
import { EVALUATORS, type EvaluatorName } from "./support/scenario.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 2, 6, 0); // Monday 07:00 in Copenhagen
const NOW = T0 + 24 * HOUR; // the gateway comes back and sends its buffer

type Reading = [metric: string, value: number, time: number];

function world(ev: EvaluatorName, programmes: ProgrammeId[] = ["cgm"], armedAt = T0 - HOUR) {
  const p = new Pipeline(ev === "oracle" ? { evaluator: new Oracle() } : {});
  p.upsertPatient("p", { programmes, careTeams: [{ team: "diabetes", role: "hospital" }], paused: false, references: {} }, armedAt);
  p.lifecycle.takeEvents();
  const send = (readings: Reading[], now: number) => {
    const answer = ingestRaw(p, readings.map(([metric, value, time]) => ({ patient: "p", metric, value, time })), ANY_SENDER, now);
    return { answer, events: p.lifecycle.takeEvents() };
  };
  /** Clock ticks every `step` from `from` to `to` (the server ticks on its own). */
  const ticks = (from: number, to: number, step = 5 * MIN) => {
    for (let t = from; t <= to; t += step) p.tick(t);
    return p.lifecycle.takeEvents();
  };
  const alert = (rule: string): Alert | undefined => p.lifecycle.list({ patient: "p" }).filter((a) => a.rule === rule).at(-1);
  return { p, send, ticks, alert };
}

/** 24 h of CGM at 5 min after T0, normal (6.5) except the given lows ([from, to) in minutes after T0, value). */
function cgmDay(lows: [from: number, to: number, value: number][]): Reading[] {
  const out: Reading[] = [];
  for (let m = 5; m <= 24 * 60; m += 5) {
    const low = lows.find(([from, to]) => m >= from && m < to);
    out.push(["cgm", low?.[2] ?? 6.5, T0 + m * MIN]);
  }
  return out;
}

const alertEvents = (events: LifecycleEvent[]) => events.filter((e): e is AlertEvent => "alert" in e);
/** An event as a line: type(change) rule level priority, late. */
const line = (e: AlertEvent) => `${e.type}${e.change ? `(${e.change})` : ""} ${e.alert.rule} ${e.alert.level} ${e.alert.priority}${e.late ? " late" : ""}`;

interface Outcome {
  events: string[];
  alerts: Alert[];
}

/** The gateway offline for 24 h (stale-data alert open), then its buffer in one request. */
function backfillDay(ev: EvaluatorName, lows: [number, number, number][], options: { shuffle?: boolean } = {}): Outcome & { before: Alert | undefined; batch: AlertEvent[] } {
  const w = world(ev);
  w.send([["cgm", 6.5, T0]], T0);
  w.ticks(T0 + 5 * MIN, NOW - MIN);
  const before = w.alert("cgm-stale");
  let readings = cgmDay(lows);
  // A reversed request: the host sorts it by time before evaluation.
  if (options.shuffle === true) readings = [...readings].reverse();
  const { events } = w.send(readings, NOW);
  const batch = alertEvents(events);
  return { before, batch, events: batch.map(line), alerts: w.p.lifecycle.list({ patient: "p" }) };
}

describe.each(EVALUATORS)("24 h of CGM in one request (%s)", (ev) => {
  it("an urgent low at hour 3 that recovered is a late record, not an alarm now; the stale-data alert resolves, backfilled", () => {
    const { before, batch, alerts } = backfillDay(ev, [[180, 185, 4.0], [185, 215, 2.8], [215, 220, 4.0]]);
    expect(before).toMatchObject({ state: "firing", level: "red", priority: "high" }); // 24 h without data
    // Nothing in the request is presented as an urgent alarm now.
    expect(batch.filter((e) => e.alert.priority === "high" && e.alert.state === "firing")).toEqual([]);
    const raised = batch.filter((e) => e.type === "raised");
    expect(raised.length).toBeGreaterThan(0);
    expect(raised.every((e) => e.late === true && e.alert.late === true && e.alert.priority === "low")).toBe(true);
    const low = alerts.find((a) => a.rule === "cgm-low")!;
    expect(low).toMatchObject({ late: true, priority: "low", peakLevel: "red", state: "cleared_awaiting_ack", conditionSince: T0 + 180 * MIN });
    expect(low.escalation.nextAt).toBeUndefined();
    expect(low.inhibitedBy).toBeUndefined();
    const stale = alerts.find((a) => a.rule === "cgm-stale")!;
    expect(stale).toMatchObject({ state: "resolved", resolution: "backfilled" });
    expect(alerts.filter((a) => a.state === "firing")).toEqual([]);
  });

  it("a request whose last readings are low raises a new urgent low now, from its own start; the past episode stays its own late record", () => {
    const { batch, alerts } = backfillDay(ev, [[180, 215, 2.8], [24 * 60 - 15, 24 * 60 + 1, 2.8]]);
    const lows = alerts.filter((a) => a.rule === "cgm-low");
    expect(lows).toHaveLength(2);
    const [past, low] = lows;
    // The 03:00 episode: a late record, resolved when it cleared (then), kept with its own start.
    expect(past).toMatchObject({ state: "resolved", resolution: "condition_cleared", late: true, priority: "low", conditionSince: T0 + 180 * MIN });
    // The present episode: an alarm now, from its own start, not from 21 hours ago.
    expect(low).toMatchObject({ state: "firing", level: "red", priority: "high", conditionSince: NOW - 15 * MIN, openedAt: NOW });
    expect(low.late).toBeUndefined();
    expect(low.escalation.nextAt).toBeDefined(); // live: it escalates
    const raised = batch.find((e) => e.alert.rule === "cgm-low" && e.type === "raised" && e.alert.id === low.id)!;
    expect([raised.late, raised.alert.priority, raised.alert.late]).toEqual([undefined, "high", undefined]);
    // The present low is never announced as the 03:00 alert reopened.
    expect(batch.filter((e) => e.alert.rule === "cgm-low" && e.change === "reopened")).toEqual([]);
    expect(alerts.find((a) => a.rule === "cgm-stale")).toMatchObject({ state: "resolved", resolution: "backfilled" });
  });

  it("a low only at the end is raised now at high priority, not late", () => {
    const { batch } = backfillDay(ev, [[24 * 60 - 15, 24 * 60 + 1, 2.8]]);
    const raised = batch.find((e) => e.type === "raised" && e.alert.rule === "cgm-low")!;
    expect(raised.alert).toMatchObject({ priority: "high", level: "red", conditionSince: NOW - 15 * MIN });
    expect([raised.late, raised.alert.late]).toEqual([undefined, undefined]);
  });

  it("a reversed request gives exactly the events of the sorted one (the reorder window is the request)", () => {
    const lows: [number, number, number][] = [[180, 215, 2.8], [600, 640, 4.0]];
    expect(backfillDay(ev, lows, { shuffle: true }).events).toEqual(backfillDay(ev, lows).events);
  });
});

describe.each(EVALUATORS)("24 h of CGM in several requests, oldest first (%s)", (ev) => {
  /** The gateway offline for 24 h, then its buffer in `parts` requests of consecutive hours. */
  function backfillInParts(lows: [number, number, number][], parts: number) {
    const w = world(ev);
    w.send([["cgm", 6.5, T0]], T0);
    w.ticks(T0 + 5 * MIN, NOW - MIN);
    const day = cgmDay(lows);
    const size = Math.ceil(day.length / parts);
    const batches: AlertEvent[][] = [];
    for (let i = 0; i < day.length; i += size) batches.push(alertEvents(w.send(day.slice(i, i + size), NOW + i).events));
    return { batches, alerts: w.p.lifecycle.list({ patient: "p" }) };
  }
  const urgentNow = (events: AlertEvent[]) => events.filter((e) => e.alert.rule === "cgm-low" && e.alert.priority === "high" && e.alert.state === "firing" && e.late !== true);

  it("a low that ended hours ago at the end of an early request is a late record, never an urgent alarm now", () => {
    // 04:30-06:00 low: the first of four 6-hour requests ends on it, 18 h ago.
    const { batches, alerts } = backfillInParts([[270, 365, 2.8]], 4);
    expect(batches.flatMap(urgentNow)).toEqual([]);
    expect(alerts.find((a) => a.rule === "cgm-low")).toMatchObject({ late: true, priority: "low", peakLevel: "red", conditionSince: T0 + 270 * MIN });
  });

  it("a low that began in an early request and lasts into the last is an urgent alarm now, from its own start", () => {
    const { batches, alerts } = backfillInParts([[300, 24 * 60 + 1, 2.8]], 4);
    expect(batches.slice(0, -1).flatMap(urgentNow)).toEqual([]); // nothing urgent while the requests are in the past
    const present = urgentNow(batches.at(-1)!);
    expect(present).toHaveLength(1);
    expect(present[0]).toMatchObject({ type: "updated", change: "upgraded" });
    const low = alerts.filter((a) => a.rule === "cgm-low");
    expect(low).toHaveLength(1); // one clinical event, one alarm
    expect(low[0]).toMatchObject({ state: "firing", level: "red", priority: "high", conditionSince: T0 + 300 * MIN });
    expect(low[0].late).toBeUndefined();
    expect(low[0].escalation.nextAt).toBeDefined(); // live: it escalates
  });

  it("the same day in one request and in four ends with the same open alerts (level, priority, start)", () => {
    const lows: [number, number, number][] = [[180, 215, 2.8], [300, 24 * 60 + 1, 2.8]];
    const open = (alerts: Alert[]) => alerts.filter((a) => a.state === "firing").map((a) => [a.rule, a.level, a.priority, a.conditionSince, a.late ?? false]);
    expect(open(backfillInParts(lows, 4).alerts)).toEqual(open(backfillInParts(lows, 1).alerts));
  });
});

describe.each(EVALUATORS)("late data, table (%s)", (ev) => {
  const cases: { name: string; live?: Reading[]; batch: Reading[]; now: number; expected: string[] }[] = [
    {
      name: "within lateAfter: a low 10 min ago that recovered is an alarm as before (raised high, latched)",
      batch: [["cgm", 2.8, NOW - 10 * MIN], ["cgm", 6.5, NOW - 5 * MIN], ["cgm", 6.5, NOW]],
      now: NOW,
      expected: ["raised cgm-low red high", "updated(cleared) cgm-low red high"],
    },
    {
      name: "past lateAfter: the same episode an hour ago is a late record (priority low)",
      batch: [["cgm", 2.8, NOW - 60 * MIN], ["cgm", 6.5, NOW - 55 * MIN], ["cgm", 6.5, NOW]],
      now: NOW,
      expected: ["raised cgm-low red low late", "updated(cleared) cgm-low red low late"],
    },
    {
      name: "a late upgrade of a present warning never raises its priority; the present reading sets it",
      live: [["cgm", 4.2, NOW - 60 * MIN]],
      batch: [["cgm", 2.8, NOW - 40 * MIN], ["cgm", 4.2, NOW - 30 * MIN], ["cgm", 4.2, NOW]],
      now: NOW,
      expected: ["updated(upgraded) cgm-low red medium late", "updated(downgraded) cgm-low yellow medium"],
    },
    {
      name: "a reading older than the last of its metric (an earlier request) is out_of_order: no transition",
      live: [["cgm", 6.5, NOW - 5 * MIN]],
      batch: [["cgm", 2.8, NOW - 60 * MIN]],
      now: NOW,
      expected: [],
    },
  ];
  it.each(cases)("$name", ({ live, batch, now, expected }) => {
    const w = world(ev);
    w.send([["cgm", 6.5, now - 2 * HOUR]], now - 2 * HOUR);
    for (const r of live ?? []) w.send([r], r[2]);
    w.p.lifecycle.takeEvents();
    const { answer, events } = w.send(batch, now);
    expect(alertEvents(events).filter((e) => e.alert.rule !== "cgm-stale").map(line)).toEqual(expected);
    if (expected.length === 0) expect(answer.readings.map((r) => r.triage)).toEqual(["out_of_order"]);
  });

  it("a missed daily measurement resolves when the day's reading arrives late (backfilled), even past the deadline", () => {
    const w = world(ev, ["telehjerte"], T0 - 24 * HOUR); // armed Sunday: Monday is the first scheduled day
    const monday1330 = T0 + 6.5 * HOUR; // deadline 12:00 + grace 1 h local (13:00 = 12:00 UTC)
    w.ticks(monday1330, monday1330);
    expect(w.alert("weight-missing")).toMatchObject({ state: "firing", level: "yellow" });
    const { events } = w.send([["weight", 80, T0 + 2 * HOUR]], T0 + 25 * HOUR); // Monday 09:00, sent Tuesday 08:00
    expect(alertEvents(events).map(line)).toEqual(["resolved weight-missing yellow medium"]);
    expect(w.alert("weight-missing")).toMatchObject({ state: "resolved", resolution: "backfilled" });
  });

  it("a backfill does not raise the stale-data alert it fills (a missing rule is judged on the request's newest reading)", () => {
    const w = world(ev);
    w.send([["cgm", 6.5, NOW - 2 * HOUR]], NOW - 2 * HOUR); // no tick since: no stale-data alert open
    const { answer, events } = w.send(cgmDay([]).filter(([, , t]) => t > NOW - 2 * HOUR), NOW);
    expect(answer.transitions).toBeGreaterThan(0); // the kernel judged the rule at each reading ...
    expect(alertEvents(events)).toEqual([]); // ... the lifecycle announced only the net outcome: nothing
  });

  it("a fresh reading after a real gap (no backfill) leaves a latched stale-data alert for review", () => {
    const w = world(ev);
    w.send([["cgm", 6.5, T0]], T0);
    w.ticks(T0 + 5 * MIN, T0 + HOUR);
    w.send([["cgm", 6.5, T0 + HOUR]], T0 + HOUR);
    expect(w.alert("cgm-stale")).toMatchObject({ state: "cleared_awaiting_ack", level: "red" });
  });
});

describe("kernel and oracle give the same late-data events", () => {
  it("on the 24 h backfill with lows at hour 3 and at the end", () => {
    const lows: [number, number, number][] = [[180, 215, 2.8], [700, 720, 3.8], [24 * 60 - 15, 24 * 60 + 1, 2.8]];
    const [oracle, wasm] = EVALUATORS.map((ev) => backfillDay(ev, lows));
    expect(wasm.events).toEqual(oracle.events);
    expect(wasm.alerts).toEqual(oracle.alerts);
  });
});

describe("lateFlags: which transitions of a request describe the past", () => {
  const tr = (rule: string, to: AlertTransition["to"], age: number): AlertTransition => ({
    patient: "p", rule, metric: "cgm", kind: to === "none" ? "resolve" : "raise", from: "none", to, direction: "low",
    priority: "high", interpretation: "LL", time: NOW - age, value: 3,
  });
  const L = DEFAULT_LATE_AFTER_MS;
  const reading = (metric: string, age: number, triage = "N") => ({ patient: "p", metric, time: NOW - age, triage });
  /** The request's readings unless a case says otherwise: one present CGM reading. */
  const PRESENT = [reading("cgm", 0)];
  const cases: { name: string; transitions: AlertTransition[]; readings?: ReturnType<typeof reading>[]; late: boolean[] }[] = [
    { name: "recent transitions are present", transitions: [tr("a", "red", L - 1), tr("a", "none", 0)], late: [false, false] },
    { name: "an old episode that ended is late, its end too", transitions: [tr("a", "red", 2 * L), tr("a", "none", L + 1)], late: [true, true] },
    { name: "an old raise still holding at a present reading of its metric is present", transitions: [tr("a", "red", 2 * L)], late: [false] },
    { name: "an old raise still holding at the request's newest reading, itself old, is late (a backfill in several requests)", transitions: [tr("a", "red", 2 * L)], readings: [reading("cgm", 2 * L), reading("cgm", L + 1)], late: [true] },
    { name: "a present reading of another metric does not make it present", transitions: [tr("a", "red", 2 * L)], readings: [reading("cgm", L + 1), reading("pulse", 0)], late: [true] },
    { name: "a present reading that was not evaluated (out_of_order) does not make it present", transitions: [tr("a", "red", 2 * L)], readings: [reading("cgm", L + 1), reading("cgm", 0, "out_of_order")], late: [true] },
    { name: "per rule: another rule's later transition does not make it past", transitions: [tr("a", "red", 2 * L), tr("b", "none", 2 * L)], late: [false, true] },
    { name: "exactly lateAfter old is not late", transitions: [tr("a", "red", L), tr("a", "none", L)], late: [false, false] },
  ];
  it.each(cases)("$name", ({ transitions, readings, late }) => {
    expect(lateFlags(transitions, readings ?? PRESENT, NOW, L)).toEqual(late);
  });
});

describe("VARSEL_LATE_AFTER", () => {
  const cases: { value: string; expected: number | "error" }[] = [
    { value: "30m", expected: 30 * MIN },
    { value: "24h", expected: 24 * HOUR },
    { value: "0", expected: "error" },
    { value: "30s", expected: "error" },
    { value: "8d", expected: "error" },
    { value: "soon", expected: "error" },
  ];
  it.each(cases)("$value", ({ value, expected }) => {
    if (expected === "error") expect(() => alarmSettings({ VARSEL_LATE_AFTER: value })).toThrow(SettingError);
    else expect(alarmSettings({ VARSEL_LATE_AFTER: value }).lateAfterMs).toBe(expected);
  });

  it("a pipeline with lateAfter 2 h treats an hour-old episode as present", () => {
    const p = new Pipeline({ lifecycle: { lateAfterMs: 2 * HOUR } });
    p.upsertPatient("p", { programmes: ["cgm"], careTeams: [{ team: "diabetes", role: "hospital" }], paused: false, references: {} }, T0 - HOUR);
    const items = [[2.8, NOW - HOUR], [6.5, NOW]].map(([value, time]) => ({ patient: "p", metric: "cgm", value, time }));
    ingestRaw(p, items, ANY_SENDER, NOW);
    const raised = alertEvents(p.lifecycle.takeEvents()).find((e) => e.type === "raised" && e.alert.rule === "cgm-low")!;
    expect([raised.late, raised.alert.priority]).toEqual([undefined, "high"]);
  });
});
