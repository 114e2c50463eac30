// fast-check arbitraries for the differential test: random slots, rules of every kind and
// streams of readings, ticks and reconfigurations, drawn from small grids so that values land
// exactly on limits, times repeat and go backwards, and windows and timers expire mid-stream.
import fc from "fast-check";
import {
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_RATE,
  KIND_SCORE,
  KIND_SCORE_LINK,
  MISSING_DAILY,
  RULE_COMPUTED_REF,
  RULE_ON_OXYGEN,
} from "../../assembly/layout.js";
import { DEFAULT_PARAMS, type CompiledRule, type Limits, type ParamSet, type SlotConfig } from "../../engine/evaluator.js";

export const T0 = Date.UTC(2026, 10, 2, 6, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

const half = (lo: number, hi: number) => fc.integer({ min: lo * 2, max: hi * 2 }).map((i) => i / 2);

/** Sorted limits, each present or NaN; drawn from a grid shared with values so boundaries get hit. */
export const limitsArb: fc.Arbitrary<Limits> = fc
  .tuple(fc.uniqueArray(half(-10, 110), { minLength: 4, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
  .map(([vals, present]) => {
    const sorted = [...vals].sort((a, b) => a - b);
    return sorted.map((v, i) => (present[i] ? v : NaN)) as Limits;
  });

/**
 * Missing rules classify a count of missed deadlines or minutes without data: limits from the
 * shared grid seldom fall where 1, 2 or 15 cross them, so half of them get small limits instead.
 */
const missingLimitsArb: fc.Arbitrary<Limits> = fc.oneof(
  limitsArb,
  fc
    .tuple(fc.constantFrom(NaN, 0, 0.5, 1, 15), fc.constantFrom(NaN, 1, 2, 30))
    .map(([yellow, red]) => [NaN, NaN, yellow, red > yellow ? red : NaN] as Limits),
);

const durationArb = fc.constantFrom(0, 0, 5 * MIN, 30 * MIN, 2 * HOUR);

export const paramsArb: fc.Arbitrary<ParamSet> = fc
  .record({
    forMs: durationArb,
    keepMs: durationArb,
    windowMs: fc.constantFrom(10 * MIN, HOUR, 72 * HOUR),
    horizonMs: fc.constantFrom(0, 20 * MIN),
    margin: fc.constantFrom(0, 0, 0.5, 2, 0.1),
    nm: fc.option(fc.integer({ min: 1, max: 5 }).chain((m) => fc.tuple(fc.integer({ min: 1, max: m }), fc.constant(m)))),
    mode: fc.integer({ min: 0, max: 2 }),
    minCount: fc.integer({ min: 0, max: 3 }),
    deadlineMs: fc.integer({ min: 0, max: 23 }).map((h) => h * HOUR),
    graceMs: fc.constantFrom(0, HOUR),
    weekdays: fc.integer({ min: 1, max: 0x7f }),
    everyNDays: fc.integer({ min: 1, max: 3 }),
    enrolmentDay: fc.integer({ min: 0, max: 1 }),
  })
  .map(({ nm, ...p }) => ({ ...DEFAULT_PARAMS, ...p, n: nm ? nm[0] : 0, m: nm ? nm[1] : 0 }));

export const slotArb: fc.Arbitrary<SlotConfig> = fc.record({
  histCap: fc.constantFrom(0, 1, 3, 8),
  ref: fc.oneof(fc.constant(NaN), half(0, 100)),
  paused: fc.boolean(),
});

export interface RuleSpec {
  kind: number;
  slot: number;
  flags: number;
  limits: Limits;
  params: ParamSet;
  inputs: number[];
}

const ruleArb = (slots: number): fc.Arbitrary<RuleSpec> =>
  fc.constantFrom(KIND_BAND, KIND_BAND, KIND_BASELINE, KIND_DELTA, KIND_RATE, KIND_MISSING, KIND_SCORE).chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      slot: fc.integer({ min: 0, max: slots - 1 }),
      flags: fc.constantFrom(0, RULE_COMPUTED_REF, RULE_ON_OXYGEN),
      limits: kind === KIND_MISSING ? missingLimitsArb : limitsArb,
      params: paramsArb,
      inputs: fc.array(fc.integer({ min: -1, max: slots - 1 }), { minLength: 6, maxLength: 6 }),
    }),
  );

export type Op =
  | { type: "batch"; advance: number; readings: { slot: number; offset: number; value: number }[]; lag: number }
  | { type: "tick"; advance: number }
  | { type: "ref"; slot: number; value: number }
  | { type: "pause"; slot: number; paused: boolean }
  | { type: "limits"; rule: number; limits: Limits }
  | { type: "params"; rule: number; params: ParamSet }
  | { type: "disable"; rule: number };

const advanceArb = fc.constantFrom(0, MIN, 5 * MIN, 20 * MIN, HOUR, 6 * HOUR, 26 * HOUR);

/** A batch of 1..8 readings (at least minLength) whose times are `now - lag + offset`. */
const batchArb = (slots: number, offset: fc.Arbitrary<number>, minLength: number) =>
  fc.record({
    type: fc.constant("batch" as const),
    advance: advanceArb,
    lag: fc.constantFrom(0, 0, MIN, 3 * HOUR),
    readings: fc.array(
      fc.record({ slot: fc.integer({ min: 0, max: slots - 1 }), offset, value: half(0, 110) }),
      { minLength, maxLength: 8 },
    ),
  });

/**
 * A gateway's buffer sent at once (late data, docs/http.md "Late and out-of-order data"): 2..24
 * readings in time order (the host sorts a request) 5 min to 1 h apart, the newest `lag` before
 * now: up to a day of readings, across missing-data limits and daily deadlines.
 */
const backfillArb = (slots: number): fc.Arbitrary<Op> =>
  fc
    .record({
      advance: advanceArb,
      lag: fc.constantFrom(0, 5 * MIN, 24 * HOUR),
      readings: fc.array(fc.record({ slot: fc.integer({ min: 0, max: slots - 1 }), gap: fc.constantFrom(5 * MIN, 5 * MIN, 15 * MIN, HOUR), value: half(0, 110) }), {
        minLength: 2,
        maxLength: 24,
      }),
    })
    .map(({ advance, lag, readings }) => {
      let offset = -readings.reduce((sum, r) => sum + r.gap, 0);
      return { type: "batch" as const, advance, lag, readings: readings.map(({ slot, gap, value }) => ({ slot, value, offset: (offset += gap) })) };
    });

const opArb = (slots: number, rules: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 8, arbitrary: batchArb(slots, fc.integer({ min: -3, max: 3 }).map((i) => i * 5 * MIN), 1) },
    // Observation sets: several readings at one time or seconds to minutes apart, as a device
    // sends a set of vitals (docs/kernel.md, "NEWS2 score"); 5 min is the set window's edge.
    { weight: 4, arbitrary: batchArb(slots, fc.constantFrom(0, 0, 0, 1000, MIN, 5 * MIN, 5 * MIN + 1, 6 * MIN), 2) },
    { weight: 2, arbitrary: backfillArb(slots) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant("tick" as const), advance: advanceArb }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("ref" as const), slot: fc.integer({ min: 0, max: slots - 1 }), value: fc.oneof(fc.constant(NaN), half(0, 100)) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("pause" as const), slot: fc.integer({ min: 0, max: slots - 1 }), paused: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("limits" as const), rule: fc.integer({ min: 0, max: rules - 1 }), limits: limitsArb }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("params" as const), rule: fc.integer({ min: 0, max: rules - 1 }), params: paramsArb }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("disable" as const), rule: fc.integer({ min: 0, max: rules - 1 }) }) },
  );

export interface World {
  slots: SlotConfig[];
  rules: RuleSpec[];
  tz: number;
  ops: Op[];
}

export const worldArb: fc.Arbitrary<World> = fc
  .record({
    slots: fc.array(slotArb, { minLength: 1, maxLength: 6 }),
    tz: fc.constantFrom(0, HOUR, 2 * HOUR),
  })
  .chain(({ slots, tz }) =>
    fc.array(ruleArb(slots.length), { minLength: 1, maxLength: 8 }).chain((rules) =>
      fc.record({
        slots: fc.constant(slots),
        rules: fc.constant(rules),
        tz: fc.constant(tz),
        ops: fc.array(opArb(slots.length, rules.length), { minLength: 1, maxLength: 40 }),
      }),
    ),
  );

/** Adds a world's slots and rules to an evaluator; a score rule is followed by its link rules. Returns evaluator rule ids per spec. */
export function compiledRules(world: World): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const spec of world.rules) {
    const base: CompiledRule = { kind: spec.kind, slot: spec.slot, flags: spec.flags, limits: spec.limits, params: spec.params, anchor: T0 };
    if (spec.kind !== KIND_SCORE) {
      out.push(base);
      continue;
    }
    const scoreId = out.length;
    out.push({ ...base, scoreInputs: spec.inputs });
    for (const input of new Set(spec.inputs.filter((s) => s >= 0))) {
      out.push({ ...base, kind: KIND_SCORE_LINK, slot: input, target: scoreId });
    }
  }
  return out;
}

/**
 * Worlds of daily missing rules only, for the day a rule is armed on: deadlines around the
 * anchor's local time (T0 06:00 UTC, tz 0-2 h; unpausing moves it), small limits, readings
 * sparse against ticks and pauses, so whether that day counts decides transitions often.
 */
export const dailyWorldArb: fc.Arbitrary<World> = fc
  .record({
    slots: fc.array(fc.record({ histCap: fc.constant(0), ref: fc.constant(NaN), paused: fc.constantFrom(false, false, true) }), { minLength: 1, maxLength: 3 }),
    tz: fc.constantFrom(0, HOUR, 2 * HOUR),
  })
  .chain(({ slots, tz }) => {
    const params = fc
      .record({
        deadlineMs: fc.constantFrom(0, 5, 6, 7, 8, 9, 12, 23).map((h) => h * HOUR),
        graceMs: fc.constantFrom(0, HOUR),
        weekdays: fc.constantFrom(0x7f, 0x7f, 0x15, 0x01),
        everyNDays: fc.integer({ min: 1, max: 2 }),
        enrolmentDay: fc.integer({ min: 0, max: 1 }),
      })
      .map((p): ParamSet => ({ ...DEFAULT_PARAMS, ...p, mode: MISSING_DAILY }));
    const limits = fc
      .tuple(fc.constantFrom(NaN, 0, 0.5, 1), fc.constantFrom(NaN, 1, 2, 3))
      .map(([yellow, red]) => [NaN, NaN, yellow, red > yellow ? red : NaN] as Limits);
    const rule = fc.record({ kind: fc.constant(KIND_MISSING), slot: fc.integer({ min: 0, max: slots.length - 1 }), flags: fc.constant(0), limits, params, inputs: fc.constant<number[]>([]) });
    const at = fc.constantFrom(0, MIN, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 26 * HOUR);
    const slot = fc.integer({ min: 0, max: slots.length - 1 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ type: fc.constant("tick" as const), advance: at }) },
      { weight: 2, arbitrary: fc.record({ type: fc.constant("batch" as const), advance: at, lag: fc.constantFrom(0, 3 * HOUR), readings: fc.array(fc.record({ slot, offset: fc.constant(0), value: fc.constant(1) }), { minLength: 1, maxLength: 2 }) }) },
      { weight: 2, arbitrary: fc.record({ type: fc.constant("pause" as const), slot, paused: fc.boolean() }) },
    );
    return fc.array(rule, { minLength: 1, maxLength: 4 }).chain((rules) => fc.record({ slots: fc.constant(slots), rules: fc.constant(rules), tz: fc.constant(tz), ops: fc.array(op, { minLength: 1, maxLength: 30 }) }));
  });

/**
 * Worlds shaped like a CGM patient in a backtest (engine/rules/programmes.ts "cgm"): one slot
 * with history, a band rule with a clear margin, a band rule held 15 minutes (clear margin 0.5),
 * a 20-minute forecast over 15 minutes and a stale-data rule; glucose as a random walk mostly in
 * range, a reading every 5 minutes (sometimes a gap), a tick after many of them. The kernel's
 * shortcuts for rules at rest (band rules met by a plain-N reading, idle timed rules at a tick)
 * and its window scan from the newest entry are taken all the time here, and left often.
 */
export const cgmWorldArb: fc.Arbitrary<World> = fc
  .record({
    start: fc.integer({ min: 30, max: 150 }),
    margin: fc.constantFrom(0.2, 0, 1),
    forMs: fc.constantFrom(15 * MIN, 30 * MIN, 0),
    steps: fc.array(
      fc.record({ dv: fc.integer({ min: -15, max: 15 }), gap: fc.constantFrom(5 * MIN, 5 * MIN, 5 * MIN, 10 * MIN, 40 * MIN), tick: fc.constantFrom(0, 0, MIN, 5 * MIN) }),
      { minLength: 10, maxLength: 150 },
    ),
  })
  .map(({ start, margin, forMs, steps }) => {
    const p = (o: Partial<ParamSet>): ParamSet => ({ ...DEFAULT_PARAMS, ...o });
    const rule = (kind: number, limits: Limits, params: ParamSet): RuleSpec => ({ kind, slot: 0, flags: 0, limits, params, inputs: [] });
    const rules = [
      rule(KIND_BAND, [3.1, 4.4, NaN, NaN], p({ margin })),
      rule(KIND_BAND, [NaN, NaN, 10, 14.4], p({ forMs, margin: 0.5 })),
      rule(KIND_RATE, [3.1, NaN, NaN, NaN], p({ mode: 1, windowMs: 15 * MIN, horizonMs: 20 * MIN })),
      rule(KIND_MISSING, [NaN, NaN, 15, 30], p({ mode: 0 })),
    ];
    let v = start;
    const ops: Op[] = [];
    for (const s of steps) {
      v = Math.min(220, Math.max(20, v + s.dv));
      ops.push({ type: "batch", advance: s.gap, lag: 0, readings: [{ slot: 0, offset: 0, value: v / 10 }] });
      if (s.tick > 0) ops.push({ type: "tick", advance: s.tick });
    }
    return { slots: [{ histCap: 8, ref: NaN, paused: false }], rules, tz: HOUR, ops };
  });
