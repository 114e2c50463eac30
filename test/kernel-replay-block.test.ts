// Replay blocks (assembly/replay.ts): a block of a group's readings and tick instants, replayed
// patient by patient, must give every rule exactly the transitions the same kernel gives it with
// time-major calls (evaluate each interval, then tick), and leave exactly the same state; a
// malformed block is refused with its code and changes nothing; a block whose transitions do not
// fit the output region stops and resumes without losing or repeating one.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ERR_BAD_BLOCK,
  ERR_BAD_SLOT,
  ERR_BATCH_TOO_LARGE,
  ERR_OUT_FULL,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_RATE,
  KIND_SCORE,
  KIND_SCORE_LINK,
  MISSING_DAILY,
  MISSING_INTERVAL,
  RATE_FORECAST,
  RULE_COMPUTED_REF,
  RULE_ON_OXYGEN,
  TR_DOWNGRADE,
  TR_RAISE,
  TR_RESOLVE,
  TR_UPGRADE,
} from "../assembly/layout.js";
import { DEFAULT_PARAMS, type CompiledRule, type Limits, type ParamSet, type SlotConfig, type Transition } from "../engine/evaluator.js";
import { KernelError } from "../engine/kernel/errors.js";
import { WasmKernel, type BlockViews, type KernelCapacity } from "../engine/kernel/wasm-kernel.js";
import { limitsArb, paramsArb, slotArb, T0 } from "./support/random-world.js";

const RUNS = Math.max(100, Number(process.env.VARSEL_PROPERTY_RUNS ?? 300));
const MIN = 60_000;
const HOUR = 60 * MIN;
const half = (lo: number, hi: number) => fc.integer({ min: lo * 2, max: hi * 2 }).map((i) => i / 2);

// ---- a cohort: patients with their own slots and rules, grouped into runs ----

interface PatientRule {
  kind: number;
  /** The patient's own slot index. */
  slot: number;
  flags: number;
  limits: Limits;
  params: ParamSet;
  /** Score rules: the patient's own slot indices (-1 absent). */
  inputs: number[];
}

interface PatientSpec {
  slots: SlotConfig[];
  rules: PatientRule[];
}

interface Cohort {
  patients: PatientSpec[];
  /** Does patient i (> 0) share the previous patient's run? (A run may hold several patients.) */
  joins: boolean[];
}

/** Stale-data and daily limits small enough for 1, 2 or 15 to cross them. */
const missingLimitsArb: fc.Arbitrary<Limits> = fc
  .tuple(fc.constantFrom(NaN, 0, 0.5, 1, 15), fc.constantFrom(NaN, 1, 2, 30))
  .map(([yellow, red]) => [NaN, NaN, yellow, red > yellow ? red : NaN] as Limits);

/** One rule of a patient with `slots` slots: every kind, with the modifiers of paramsArb (margin, for, keep, N of M); a NEWS2 score when `news2`. */
const patientRuleArb = (slots: number, news2: boolean): fc.Arbitrary<PatientRule> =>
  fc.constantFrom(KIND_BAND, KIND_BAND, KIND_BAND, KIND_BASELINE, KIND_DELTA, KIND_RATE, KIND_MISSING, KIND_MISSING, ...(news2 ? [KIND_SCORE, KIND_SCORE] : [])).chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      slot: fc.integer({ min: 0, max: slots - 1 }),
      flags: kind === KIND_BASELINE ? fc.constantFrom(0, RULE_COMPUTED_REF) : kind === KIND_SCORE ? fc.constantFrom(0, RULE_ON_OXYGEN) : fc.constant(0),
      limits: kind === KIND_MISSING ? missingLimitsArb : limitsArb,
      params: paramsArb.chain((p) =>
        kind === KIND_MISSING
          ? fc.constantFrom(MISSING_INTERVAL, MISSING_DAILY).map((mode) => ({ ...p, mode }))
          : kind === KIND_RATE
            ? fc.constantFrom(0, RATE_FORECAST).map((mode) => ({ ...p, mode, horizonMs: mode === RATE_FORECAST ? 20 * MIN : p.horizonMs }))
            : fc.constant(p),
      ),
      inputs: fc.array(fc.integer({ min: -1, max: slots - 1 }), { minLength: 6, maxLength: 6 }),
    }),
  );

const patientArb = (news2: boolean): fc.Arbitrary<PatientSpec> =>
  fc
    .array(slotArb, { minLength: 1, maxLength: 3 })
    .chain((slots) => fc.record({ slots: fc.constant(slots), rules: fc.array(patientRuleArb(slots.length, news2), { minLength: 0, maxLength: 5 }) }));

/** 2..6 patients; half the cohorts may have NEWS2 score rules. */
const cohortArb: fc.Arbitrary<Cohort> = fc
  .boolean()
  .chain((news2) => fc.array(patientArb(news2), { minLength: 2, maxLength: 6 }))
  .chain((patients) => fc.record({ patients: fc.constant(patients), joins: fc.array(fc.boolean(), { minLength: patients.length, maxLength: patients.length }) }))
  .map(({ patients, joins }) => ({ patients, joins: joins.map((j, i) => i > 0 && j) }));

const hasScore = (c: Cohort) => c.patients.some((p) => p.rules.some((r) => r.kind === KIND_SCORE));

/** Where a cohort lives in a kernel: per patient its first slot, its rules [from, to) and its run. */
interface Layout {
  slotBase: number[];
  ruleFrom: number[];
  ruleTo: number[];
  runOf: number[];
  /** Patient of each kernel slot. */
  slotPatient: number[];
  runs: number;
  /** Kernel rule id → kind (for the coverage counts). */
  kinds: number[];
}

/** Adds the cohort patient by patient (slots, then rules; a score rule followed by its links), as the engine does. */
function setUpCohort(k: WasmKernel, cohort: Cohort): Layout {
  const layout: Layout = { slotBase: [], ruleFrom: [], ruleTo: [], runOf: [], slotPatient: [], runs: 0, kinds: [] };
  let rule = 0;
  cohort.patients.forEach((p, i) => {
    const base = layout.slotPatient.length;
    layout.slotBase.push(base);
    for (const s of p.slots) {
      expect(k.addSlot(s)).toBe(layout.slotPatient.length);
      layout.slotPatient.push(i);
    }
    layout.ruleFrom.push(rule);
    for (const spec of p.rules) {
      const compiled: CompiledRule = { kind: spec.kind, slot: base + spec.slot, flags: spec.flags, limits: spec.limits, params: spec.params, anchor: T0 };
      if (spec.kind !== KIND_SCORE) {
        k.addRule(compiled);
        layout.kinds.push(spec.kind);
        rule++;
        continue;
      }
      const inputs = spec.inputs.map((s) => (s < 0 ? -1 : base + s));
      const scoreId = k.addRule({ ...compiled, scoreInputs: inputs });
      layout.kinds.push(KIND_SCORE);
      rule++;
      for (const input of new Set(inputs.filter((s) => s >= 0))) {
        k.addRule({ ...compiled, kind: KIND_SCORE_LINK, slot: input, target: scoreId });
        layout.kinds.push(KIND_SCORE_LINK);
        rule++;
      }
    }
    layout.ruleTo.push(rule);
    if (i > 0 && !cohort.joins[i]) layout.runs++;
    layout.runOf.push(layout.runs);
  });
  layout.runs++;
  return layout;
}

/** The same cohort on two fresh kernels: `kernel` for blocks, `reference` for time-major calls. */
function twoKernels(cohort: Cohort, capacity: Partial<KernelCapacity> = {}): { kernel: WasmKernel; reference: WasmKernel; layout: Layout } {
  const kernel = WasmKernel.load(undefined, capacity);
  const reference = WasmKernel.load();
  const layout = setUpCohort(kernel, cohort);
  expect(setUpCohort(reference, cohort)).toEqual(layout);
  return { kernel, reference, layout };
}

// ---- blocks: intervals of readings in arrival order and the tick instants between them ----

interface RawReading {
  patient: number;
  /** The patient's own slot index (taken modulo its slot count). */
  slot: number;
  offset: number;
  value: number;
}

interface RawInterval {
  advance: number;
  readings: RawReading[];
  /** Interval clock: the newest reading's time, the step's time, or an hour behind it. */
  nowMode: 0 | 1 | 2;
  tz: number;
  /** The tick after this interval (ignored for a block's last interval). */
  tickAdvance: number;
  tickTz: number;
}

const TZ = fc.constantFrom(0, HOUR, 2 * HOUR);
const valueArb = fc.oneof(
  { weight: 12, arbitrary: half(0, 110) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, 1e39, -1e39, 3.4e38, -0.0, 1e-45, Infinity) },
);
const readingArb = (patients: number): fc.Arbitrary<RawReading> =>
  fc.record({
    patient: fc.integer({ min: 0, max: patients - 1 }),
    slot: fc.integer({ min: 0, max: 2 }),
    // Repeated times (duplicates), times going back within an interval and behind earlier intervals.
    offset: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -3, max: 3 }).map((i) => i * 5 * MIN) },
      { weight: 2, arbitrary: fc.constantFrom(0, 1000, MIN, 5 * MIN + 1) },
      { weight: 1, arbitrary: fc.constantFrom(-3 * HOUR, -26 * HOUR) },
    ),
    value: valueArb,
  });

const intervalArb = (patients: number): fc.Arbitrary<RawInterval> =>
  fc.record({
    advance: fc.constantFrom(0, MIN, 5 * MIN, 20 * MIN, HOUR, 6 * HOUR, 26 * HOUR),
    readings: fc.array(readingArb(patients), { minLength: 0, maxLength: 10 }),
    nowMode: fc.constantFrom<0 | 1 | 2>(0, 0, 1, 2),
    tz: TZ,
    tickAdvance: fc.constantFrom(0, MIN, 5 * MIN, 20 * MIN, HOUR, 6 * HOUR, 26 * HOUR, -5 * MIN),
    tickTz: TZ,
  });

/** A run of blocks: each 1..6 intervals (m = intervals - 1 ticks). */
const blocksArb = (patients: number) => fc.array(fc.array(intervalArb(patients), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 });

interface Reading {
  slot: number;
  time: number;
  value: number;
}

interface Block {
  intervals: Reading[][];
  nows: [number, number][];
  ticks: [number, number][];
}

/**
 * Absolute times and kernel slots for the raw blocks. With `timeOrder`, each interval's readings
 * are stably sorted by time, as KernelBlock stages them (the kernel's NEWS2 observation sets need
 * it: see "NEWS2 observation sets across patients" below).
 */
function materialise(cohort: Cohort, layout: Layout, raw: RawInterval[][], timeOrder: boolean): Block[] {
  let clock = T0;
  return raw.map((intervals) => {
    const block: Block = { intervals: [], nows: [], ticks: [] };
    intervals.forEach((iv, k) => {
      clock += iv.advance;
      const readings = iv.readings.map((r) => ({
        slot: layout.slotBase[r.patient] + (r.slot % cohort.patients[r.patient].slots.length),
        time: clock + r.offset,
        value: r.value,
      }));
      const newest = readings.reduce((t, r) => Math.max(t, r.time), -Infinity);
      const now = iv.nowMode === 0 && readings.length > 0 ? newest : iv.nowMode === 2 ? clock - HOUR : clock;
      if (timeOrder) readings.sort((a, b) => a.time - b.time);
      block.intervals.push(readings);
      block.nows.push([now, iv.tz]);
      if (k < intervals.length - 1) {
        clock += iv.tickAdvance;
        block.ticks.push([clock, iv.tickTz]);
      }
    });
    return block;
  });
}

// ---- the two ways of driving a kernel ----

/** A transition with its reading as (time, value) instead of an index (which differs: input vs sorted order). */
interface Seen {
  kind: number;
  from: number;
  to: number;
  dir: number;
  time: number;
  x: number;
  detail: number;
  readingTime: number;
  readingValue: number;
}

const f32 = (v: number) => Math.fround(v);

function seen(t: Transition, reading: Reading | undefined): Seen {
  return {
    kind: t.kind,
    from: t.from,
    to: t.to,
    dir: t.dir,
    time: t.time,
    x: t.x,
    detail: t.detail,
    readingTime: reading === undefined ? NaN : reading.time,
    readingValue: reading === undefined ? NaN : f32(reading.value),
  };
}

/** Per rule, its transitions in order. */
type PerRule = Map<number, Seen[]>;

function add(out: PerRule, t: Transition, reading: Reading | undefined): void {
  if (t.reading >= 0) expect(reading).toBeDefined();
  else expect(reading).toBeUndefined();
  let list = out.get(t.rule);
  if (list === undefined) out.set(t.rule, (list = []));
  list.push(seen(t, reading));
}

/** evaluate(interval k) then tick(T_k), k = 0..m, block after block. */
function timeMajor(k: WasmKernel, blocks: Block[]): PerRule {
  const out: PerRule = new Map();
  for (const b of blocks) {
    b.intervals.forEach((readings, i) => {
      const [now, tz] = b.nows[i];
      const res = k.evaluate(
        readings.map((r) => r.slot),
        readings.map((r) => r.time),
        readings.map((r) => r.value),
        now,
        tz,
      );
      for (const t of res.transitions) add(out, t, readings[t.reading]);
      if (i < b.ticks.length) for (const t of k.tick(b.ticks[i][0], b.ticks[i][1])) add(out, t, undefined);
    });
  }
  return out;
}

/** The arrival indices of a block's readings in the kernel's sorted order: by run, stable. */
function sortedOrder(readings: Reading[], runOf: (slot: number) => number, runs: number): number[] {
  const order: number[] = [];
  for (let r = 0; r < runs; r++) readings.forEach((x, i) => runOf(x.slot) === r && order.push(i));
  return order;
}

type Columns = ReturnType<WasmKernel["inputColumns"]>;

/**
 * The input columns as views of `n` readings without asking inputColumns(n) for them (it would
 * make the transition region big enough for an evaluate() of all n; a block needs room for its
 * longest segment only, which blockViews() ensures, with the batch capacity).
 */
function columns(k: WasmKernel, n: number): Columns {
  const c = k.inputColumns(1);
  return {
    slots: new Uint32Array(c.slots.buffer, c.slots.byteOffset, n),
    times: new Float64Array(c.times.buffer, c.times.byteOffset, n),
    values: new Float32Array(c.values.buffer, c.values.byteOffset, n),
  };
}

/** Each run's rules [from, to): the rules of its patients. */
function runRanges(layout: Layout): { from: number[]; to: number[] } {
  const from: number[] = [];
  const to: number[] = [];
  layout.runOf.forEach((run, patient) => {
    from[run] ??= layout.ruleFrom[patient];
    to[run] = layout.ruleTo[patient];
  });
  return { from, to };
}

/** The most readings of one run in one interval. */
function longestSegment(layout: Layout, b: Block): number {
  let longest = 0;
  for (const iv of b.intervals) {
    const perRun = new Map<number, number>();
    for (const r of iv) {
      const run = layout.runOf[layout.slotPatient[r.slot]];
      perRun.set(run, (perRun.get(run) ?? 0) + 1);
      longest = Math.max(longest, perRun.get(run)!);
    }
  }
  return longest;
}

interface Staged {
  readings: Reading[];
  n: number;
  m: number;
  p: number;
  views: BlockViews;
}

/**
 * Writes a block into the kernel as a host does: capacity first (blockViews, with room for the
 * block's longest segment and widest run unless told less), readings in arrival order into the
 * input columns, each slot's run, interval starts, clocks and ticks, each run's rules. `spoil`
 * may then break it before runBlock.
 */
function stage(k: WasmKernel, layout: Layout, b: Block, opts: { segment?: number; widest?: number; spoil?: (v: BlockViews, cols: Columns) => void } = {}): Staged {
  const readings = b.intervals.flat();
  const n = readings.length;
  const m = b.ticks.length;
  const p = layout.runs;
  const runs = runRanges(layout);
  let widest = 0;
  for (let r = 0; r < p; r++) widest = Math.max(widest, runs.to[r] - runs.from[r]);
  const need = () => k.blockViews(Math.max(n, 1), Math.max(m, 1), p, Math.max(opts.segment ?? longestSegment(layout, b), 1), opts.widest ?? widest);
  need();
  const cols = columns(k, n);
  readings.forEach((r, i) => {
    cols.slots[i] = r.slot;
    cols.times[i] = r.time;
    cols.values[i] = r.value;
  });
  const v = need(); // grows nothing now: the same parts, fresh views
  layout.slotPatient.forEach((patient, s) => (v.slotRuns[s] = layout.runOf[patient]));
  let at = 0;
  b.intervals.forEach((iv, i) => {
    v.starts[i] = at;
    at += iv.length;
    v.nows[2 * i] = b.nows[i][0];
    v.nows[2 * i + 1] = b.nows[i][1];
  });
  b.ticks.forEach(([t, tz], i) => {
    v.ticks[2 * i] = t;
    v.ticks[2 * i + 1] = tz;
  });
  for (let r = 0; r < p; r++) {
    v.runs[4 * r + 2] = runs.from[r];
    v.runs[4 * r + 3] = runs.to[r];
  }
  opts.spoil?.(v, cols);
  return { readings, n, m, p, views: v };
}

/** What replaying one block took. */
interface BlockCall {
  /** Transition count of each call (runBlock, then every resumeBlock). */
  counts: number[];
  /** blockPending() after each call. */
  pending: boolean[];
  /** Patient of each transition, in the order the calls wrote them. */
  patients: number[];
}

/** Each block staged and replayed (resumed while pending); transitions per rule. */
function byBlocks(k: WasmKernel, layout: Layout, blocks: Block[], calls: BlockCall[] = [], opts: { segment?: number; widest?: number } = {}): PerRule {
  const out: PerRule = new Map();
  const patientOfRule = (rule: number) => layout.ruleTo.findIndex((to) => rule < to);
  for (const b of blocks) {
    const { readings, n, m, p, views } = stage(k, layout, b, opts);
    const order = sortedOrder(readings, (s) => layout.runOf[layout.slotPatient[s]], p);
    const call: BlockCall = { counts: [], pending: [], patients: [] };
    const take = (count: number) => {
      call.counts.push(count);
      call.pending.push(k.blockPending());
      for (const t of k.readTransitions(count)) {
        call.patients.push(patientOfRule(t.rule));
        add(out, t, t.reading >= 0 ? readings[order[t.reading]] : undefined);
      }
    };
    take(k.runBlock(n, m, p));
    while (k.blockPending()) take(k.resumeBlock());
    calls.push(call);
    // The sorted times the host reads reading transitions' times from are the readings by run, stable.
    expect(Array.from(views.sortedTimes.subarray(0, n))).toEqual(order.map((i) => readings[i].time));
    expect(k.resumeBlock()).toBe(0);
  }
  return out;
}

function sortedRules(m: PerRule): [number, Seen[]][] {
  return [...m].sort((a, b) => a[0] - b[0]);
}

function snapshotOf(k: WasmKernel): Buffer {
  return Buffer.from(k.snapshot());
}

describe("replay blocks against time-major calls (real wasm)", () => {
  it(`give every rule the transitions of evaluate()/tick() in time order, and the same state, on ${RUNS} random cohorts`, () => {
    const kinds = new Set<number>();
    const transitionKinds = new Set<number>();
    let fromReadings = 0;
    let fromTicks = 0;
    let multiPatientRuns = 0;
    let outOfOrder = 0;
    let severalBlocks = 0;
    fc.assert(
      fc.property(
        cohortArb.chain((cohort) => fc.record({ cohort: fc.constant(cohort), blocks: blocksArb(cohort.patients.length), prefetch: fc.boolean() })),
        ({ cohort, blocks: raw, prefetch }) => {
          const straight = WasmKernel.load();
          // evaluate() has a prefetching loop for a large state and a plain one: either as the reference.
          if (prefetch) straight.setCachedStateBytes(0);
          const blocked = WasmKernel.load();
          const layout = setUpCohort(straight, cohort);
          expect(setUpCohort(blocked, cohort)).toEqual(layout);
          // Readings in arrival order, out of time order across patients too, unless the cohort
          // has NEWS2 rules (then in time order within each interval, as the backtest stages them).
          const blocks = materialise(cohort, layout, raw, hasScore(cohort));
          const expected = timeMajor(straight, blocks);
          const actual = byBlocks(blocked, layout, blocks);
          expect(sortedRules(actual)).toEqual(sortedRules(expected));
          expect(snapshotOf(blocked).equals(snapshotOf(straight))).toBe(true);

          layout.kinds.forEach((kind) => kinds.add(kind));
          for (const list of expected.values()) {
            for (const s of list) {
              transitionKinds.add(s.kind);
              if (Number.isNaN(s.readingTime)) fromTicks++;
              else fromReadings++;
            }
          }
          if (layout.runs < cohort.patients.length) multiPatientRuns++;
          if (blocks.length > 1) severalBlocks++;
          for (const b of blocks) {
            const times = b.intervals.flat().map((r) => r.time);
            if (times.some((t, i) => i > 0 && t < times[i - 1])) outOfOrder++;
          }
        },
      ),
      { numRuns: RUNS, seed: 20_260_105 },
    );
    // Not vacuous: every rule kind, every transition kind, transitions from readings and from
    // ticks, runs of several patients, several blocks in a row, readings out of time order.
    expect([...kinds].sort()).toEqual([KIND_BAND, KIND_BASELINE, KIND_DELTA, KIND_RATE, KIND_MISSING, KIND_SCORE, KIND_SCORE_LINK].sort());
    expect([...transitionKinds].sort()).toEqual([TR_RAISE, TR_UPGRADE, TR_DOWNGRADE, TR_RESOLVE]);
    expect(fromReadings).toBeGreaterThan(RUNS);
    expect(fromTicks).toBeGreaterThan(RUNS);
    expect(multiPatientRuns).toBeGreaterThan(RUNS / 10);
    expect(severalBlocks).toBeGreaterThan(RUNS / 10);
    expect(outOfOrder).toBeGreaterThan(RUNS / 10);
  });
});

// ---- fixed cohorts for the table-driven tests ----

const P = (o: Partial<ParamSet>): ParamSet => ({ ...DEFAULT_PARAMS, ...o });
const plain = (histCap = 0): SlotConfig => ({ histCap, ref: NaN, paused: false });
const rule = (kind: number, slot: number, limits: Limits, params: ParamSet = DEFAULT_PARAMS, inputs: number[] = []): PatientRule => ({ kind, slot, flags: 0, limits, params, inputs });
const STALE: Limits = [NaN, NaN, 15, 30];

/** Four patients, one run each; the third has no rules (an empty range between two others). */
const fourPatients: Cohort = {
  patients: [
    { slots: [plain(4), plain()], rules: [rule(KIND_BAND, 0, [NaN, NaN, 100, 120], P({ forMs: 10 * MIN, margin: 2 })), rule(KIND_MISSING, 1, STALE)] },
    { slots: [plain(4)], rules: [rule(KIND_DELTA, 0, [-3, -2, 1, 2], P({ windowMs: 72 * HOUR })), rule(KIND_BAND, 0, [40, 50, 100, 110])] },
    { slots: [plain()], rules: [] },
    { slots: [plain()], rules: [rule(KIND_BAND, 0, [NaN, NaN, 10, 20], P({ keepMs: 30 * MIN })), rule(KIND_MISSING, 0, STALE)] },
  ],
  joins: [false, false, false, false],
};

/** Block `i` of the four patients: three intervals (two ticks), every patient measuring, values crossing limits. */
function fourPatientBlock(layout: Layout, i: number): Block {
  const base = T0 + i * 2 * HOUR;
  const at = (patient: number, slot: number, minutes: number, value: number): Reading => ({ slot: layout.slotBase[patient] + slot, time: base + minutes * MIN, value });
  return {
    intervals: [
      [at(0, 0, 0, 130), at(1, 0, 0, 80), at(0, 1, 1, 5), at(3, 0, 1, 25), at(2, 0, 2, 7), at(1, 0, 2, 85)],
      [at(3, 0, 20, 5), at(0, 0, 21, 90 + i * 40), at(1, 0, 21, 115)],
      [at(1, 0, 50, 79), at(0, 1, 55, 1)],
    ],
    nows: [
      [base + 2 * MIN, HOUR],
      [base + 21 * MIN, HOUR],
      [base + 55 * MIN, HOUR],
    ],
    ticks: [
      [base + 15 * MIN, HOUR],
      [base + 45 * MIN, HOUR],
    ],
  };
}

/** The KernelError code a call throws (undefined: it did not throw). */
function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof KernelError) return err.code;
    throw err;
  }
  return undefined;
}

interface Hostile {
  name: string;
  code: number;
  /** Breaks the staged block (views of the kernel's block parts and input columns). */
  spoil?: (v: BlockViews, cols: Columns, s: { n: number; m: number; p: number; slots: number; rules: number }) => void;
  /** The counts passed to runBlock instead of the block's. */
  counts?: (v: BlockViews, s: { n: number; m: number; p: number }) => [number, number, number];
}

const HOSTILE: Hostile[] = [
  { name: "more readings than the batch capacity", code: ERR_BATCH_TOO_LARGE, counts: (v, s) => [v.sortedTimes.length + 1, s.m, s.p] },
  { name: "more ticks than the tick capacity", code: ERR_BATCH_TOO_LARGE, counts: (v, s) => [s.n, v.starts.length, s.p] },
  { name: "more runs than the run capacity", code: ERR_BATCH_TOO_LARGE, counts: (v, s) => [s.n, s.m, v.runs.length / 4 + 1] },
  { name: "a reading's slot one past the last slot", code: ERR_BAD_SLOT, spoil: (_v, cols, s) => (cols.slots[s.n - 1] = s.slots) },
  { name: "a reading's slot 2^32 - 1", code: ERR_BAD_SLOT, spoil: (_v, cols) => (cols.slots[3] = 0xffffffff) },
  { name: "the first interval not starting at 0", code: ERR_BAD_BLOCK, spoil: (v) => (v.starts[0] = 1) },
  { name: "interval starts decreasing", code: ERR_BAD_BLOCK, spoil: (v) => (v.starts[2] = v.starts[1] - 1) },
  { name: "the last interval starting past n", code: ERR_BAD_BLOCK, spoil: (v, _c, s) => (v.starts[s.m] = s.n + 1) },
  { name: "a read slot mapped to run p", code: ERR_BAD_BLOCK, spoil: (v, cols, s) => (v.slotRuns[cols.slots[s.n - 1]] = s.p) },
  { name: "a read slot mapped to run 2^32 - 1", code: ERR_BAD_BLOCK, spoil: (v, cols) => (v.slotRuns[cols.slots[0]] = 0xffffffff) },
  { name: "a run's rules starting before the previous run's end", code: ERR_BAD_BLOCK, spoil: (v) => (v.runs[4 * 1 + 2] = v.runs[4 * 0 + 3] - 1) },
  { name: "a run's rules ending before they start", code: ERR_BAD_BLOCK, spoil: (v) => (v.runs[4 * 1 + 3] = v.runs[4 * 1 + 2] - 1) },
  { name: "a run's rules ending past the rule count", code: ERR_BAD_BLOCK, spoil: (v, _c, s) => (v.runs[4 * (s.p - 1) + 3] = s.rules + 1) },
  { name: "runs out of order (the last run's rules first)", code: ERR_BAD_BLOCK, spoil: (v, _c, s) => ((v.runs[4 * (s.p - 1) + 2] = 0), (v.runs[4 * (s.p - 1) + 3] = 1)) },
  // Found by the hostile review: a slot handed to another (valid) run, and rules in no run's range.
  { name: "a slot mapped to another run than the one holding its rules", code: ERR_BAD_BLOCK, spoil: (v, cols) => (v.slotRuns[cols.slots[0]] = v.slotRuns[cols.slots[0]] === 0 ? 1 : 0) },
  { name: "a gap between two runs' rules (never ticked)", code: ERR_BAD_BLOCK, spoil: (v) => (v.runs[4 * 1 + 2] = v.runs[4 * 0 + 3] + 1) },
  { name: "the last run ending before the rule count", code: ERR_BAD_BLOCK, spoil: (v, _c, s) => (v.runs[4 * (s.p - 1) + 3] = s.rules - 1) },
];

interface TooTight {
  name: string;
  cohort: Cohort;
  capacity?: Partial<KernelCapacity>;
  block: (layout: Layout) => Block;
  /** What the host asks room for (less than the block needs). */
  ask: { segment?: number; widest?: number };
  /** The time-major transitions are what the case is about. */
  check: (transitions: Seen[]) => void;
}

const BAND_LIMITS: Limits[] = [10, 20, 30, 40, 50, 60, 70, 80].map((l) => [NaN, NaN, l, l + 5]);

const TOO_TIGHT: TooTight[] = [
  {
    // One patient, 1 200 stale-data rules (6 per slot) that all turn yellow at one tick; the host
    // asks room for a run of one rule: 2 × 1 200 records do not fit the 2 048 a kernel starts with.
    name: "one tick of a run's rules",
    cohort: { patients: [{ slots: Array.from({ length: 200 }, () => plain()), rules: Array.from({ length: 1200 }, (_, i) => rule(KIND_MISSING, i % 200, STALE)) }], joins: [false] },
    block: () => ({ intervals: [[], []], nows: [[T0, 0], [T0 + 20 * MIN, 0]], ticks: [[T0 + 20 * MIN, 0]] }),
    ask: { widest: 1 },
    check: (ts) => expect(ts.filter((s) => s.kind === TR_RAISE)).toHaveLength(1200),
  },
  {
    // One slot with 8 band rules, 200 readings of it in one interval: 200 × 8 × 2 records > 2 048.
    name: "one patient's readings of one interval",
    cohort: { patients: [{ slots: [plain()], rules: BAND_LIMITS.map((l) => rule(KIND_BAND, 0, l)) }, { slots: [plain()], rules: [rule(KIND_BAND, 0, [NaN, NaN, 1, 2])] }], joins: [false, false] },
    capacity: { batch: 4096 },
    block: () => ({
      intervals: [Array.from({ length: 200 }, (_, i): Reading => ({ slot: i % 7 === 3 ? 1 : 0, time: T0 + i * MIN, value: (i * 37) % 100 }))],
      nows: [[T0 + 200 * MIN, 0]],
      ticks: [],
    }),
    ask: { segment: 1 },
    check: (ts) => expect(ts.length).toBeGreaterThan(200),
  },
];

describe("hostile replay blocks", () => {
  it.each(HOSTILE)("$name: KernelError $code, the kernel unchanged, and the next valid block as time-major calls", ({ code, spoil, counts }) => {
    const { kernel, reference, layout } = twoKernels(fourPatients);
    const rules = layout.ruleTo[layout.ruleTo.length - 1];
    // Some state first (alerts raised, timers running), the same on both.
    const first = fourPatientBlock(layout, 0);
    expect(sortedRules(byBlocks(kernel, layout, [first]))).toEqual(sortedRules(timeMajor(reference, [first])));
    const before = snapshotOf(kernel);
    expect(before.equals(snapshotOf(reference))).toBe(true);

    const next = fourPatientBlock(layout, 1);
    const staged = stage(kernel, layout, next, { spoil: (v, cols) => spoil?.(v, cols, { n: next.intervals.flat().length, m: next.ticks.length, p: layout.runs, slots: layout.slotPatient.length, rules }) });
    const [n, m, p] = counts?.(staged.views, staged) ?? [staged.n, staged.m, staged.p];
    expect(codeOf(() => kernel.runBlock(n, m, p))).toBe(code);
    expect(kernel.blockPending()).toBe(false);
    expect(kernel.resumeBlock()).toBe(0);
    expect(snapshotOf(kernel).equals(before)).toBe(true);

    // Refused means nothing applied: the same block, valid, gives what time-major calls give.
    const expected = timeMajor(reference, [next]);
    expect(expected.size).toBeGreaterThan(0);
    expect(sortedRules(byBlocks(kernel, layout, [next]))).toEqual(sortedRules(expected));
    expect(snapshotOf(kernel).equals(snapshotOf(reference))).toBe(true);
  });

  it.each(TOO_TIGHT)("ERR_OUT_FULL when $name cannot fit the transition region; nothing applied; fits once the host makes room", ({ cohort, capacity, block: make, ask, check }) => {
    const { kernel, reference, layout } = twoKernels(cohort, capacity);
    const block = make(layout);
    const before = snapshotOf(kernel);
    const staged = stage(kernel, layout, block, ask);
    expect(codeOf(() => kernel.runBlock(staged.n, staged.m, staged.p))).toBe(ERR_OUT_FULL);
    expect(kernel.blockPending()).toBe(false);
    expect(snapshotOf(kernel).equals(before)).toBe(true);

    const expected = timeMajor(reference, [block]);
    check([...expected.values()].flat());
    expect(sortedRules(byBlocks(kernel, layout, [block]))).toEqual(sortedRules(expected));
    expect(snapshotOf(kernel).equals(snapshotOf(reference))).toBe(true);
  });
});

/** The readings of an interval: every patient (slot q) at each of `minutes`, arrival interleaving the patients (time-major order), each patient's in time order. */
function everyPatient(patients: number, minutes: number[], values: number[]): Reading[] {
  return minutes.flatMap((min, j) => Array.from({ length: patients }, (_, q): Reading => ({ slot: q, time: T0 + min * MIN + q, value: values[(j + q) % values.length] })));
}

interface Oversized {
  name: string;
  patients: number;
  rules: PatientRule[];
  block: (patients: number) => Block;
}

const OVERSIZED: Oversized[] = [
  {
    // Each reading crosses two band rules; stale-data rules turn at two ticks: 6 000 transitions.
    name: "readings crossing limits",
    patients: 400,
    rules: [rule(KIND_BAND, 0, [NaN, NaN, 50, 80]), rule(KIND_BAND, 0, [20, 30, NaN, NaN], P({ margin: 1 })), rule(KIND_MISSING, 0, STALE)],
    block: (n) => ({
      intervals: [everyPatient(n, [0, 1, 2, 3], [100, 10, 100, 10]), everyPatient(n, [26, 27], [100, 50]), everyPatient(n, [61], [10])],
      nows: [[T0 + 4 * MIN, HOUR], [T0 + 28 * MIN, HOUR], [T0 + 62 * MIN, HOUR]],
      ticks: [[T0 + 25 * MIN, HOUR], [T0 + 60 * MIN, HOUR]],
    }),
  },
  {
    // Mostly ticks (every 5 minutes for two hours): a `for` band rule and a stale-data rule move
    // at ticks, so the region fills in the middle of runs' tick sequences (a resumed run must
    // not tick an instant again: a stale rule ticked at an earlier instant would go back down).
    name: "ticks moving rules",
    patients: 400,
    rules: [rule(KIND_BAND, 0, [NaN, NaN, 50, 80], P({ forMs: 10 * MIN })), rule(KIND_MISSING, 0, STALE)],
    block: (n) => {
      const ticks = Array.from({ length: 24 }, (_, i): [number, number] => [T0 + (i + 1) * 5 * MIN, 0]);
      const intervals: Reading[][] = ticks.map(() => []);
      intervals.push([]);
      intervals[0] = everyPatient(n, [0], [90]);
      intervals[12] = everyPatient(n, [61], [10]);
      return { intervals, nows: intervals.map((_, k): [number, number] => [k === 0 ? T0 : T0 + (5 * k + 1) * MIN, 0]), ticks };
    },
  },
];

describe("a replay block larger than the transition region", () => {
  it.each(OVERSIZED)("$name: stops with a partial count while pending and resumes to exactly the transitions of one time-major pass", ({ patients, rules, block: make }) => {
    const cohort: Cohort = {
      patients: Array.from({ length: patients }, () => ({ slots: [plain(2)], rules })),
      joins: Array.from({ length: patients }, () => false),
    };
    const { kernel, reference, layout } = twoKernels(cohort);
    const block = make(patients);
    const expected = timeMajor(reference, [block]);
    const total = [...expected.values()].reduce((sum, list) => sum + list.length, 0);
    expect(total).toBeGreaterThan(2048); // the region a kernel starts with; the block asks no more

    const calls: BlockCall[] = [];
    const actual = byBlocks(kernel, layout, [block], calls);
    const { counts, pending, patients: order } = calls[0];
    expect(counts.length).toBeGreaterThanOrEqual(2);
    expect(counts[0]).toBeGreaterThan(0);
    expect(pending).toEqual(counts.map((_, i) => i < counts.length - 1));
    for (const c of counts) expect(c).toBeLessThanOrEqual(2048);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
    // Patient by patient: no transition repeated or lost at a pause, none out of its run's turn.
    expect(order.every((q, i) => i === 0 || q >= order[i - 1])).toBe(true);
    expect(new Set(order).size).toBe(patients);
    expect(sortedRules(actual)).toEqual(sortedRules(expected));
    expect(snapshotOf(kernel).equals(snapshotOf(reference))).toBe(true);
  });
});

// ---- the precondition for NEWS2 sets (docs/kernel.md "Replay blocks"), found by the property above ----
// A NEWS2 observation set is closed by a reading of ANY patient on a score-linked slot whose time
// lies past the set's window (assembly/rules/score-set.ts: one pending list per evaluate() call);
// a block replays each patient alone, so only the patient's own readings, or the segment's end,
// close it. The two agree when each interval's readings are in time order and a score rule's
// links are enabled with it (the backtest sorts every interval; the engine disables a score rule
// and its links together): the property above feeds NEWS2 cohorts so. These two cases show each
// half of the precondition matters: outside it, the transitions differ.

const NEWS2_WINDOW = P({ windowMs: HOUR });
/** A patient with a spo2 slot (0), a pulse slot (1) and a news2 slot (2) whose score reads both. */
const news2Patient = (limits: Limits): PatientSpec => ({ slots: [plain(), plain(), plain()], rules: [rule(KIND_SCORE, 2, limits, NEWS2_WINDOW, [-1, 0, -1, 1, -1, -1])] });

describe("NEWS2 observation sets across patients in a replay block: outside the precondition", () => {
  it("readings out of time order: another patient's later reading closes the patient's set in evaluate(), not in a block", () => {
    const cohort: Cohort = { patients: [news2Patient([NaN, NaN, 2, 3]), news2Patient([NaN, NaN, 2, 3])], joins: [false, false] };
    const { kernel: blocked, reference: straight, layout } = twoKernels(cohort);
    const spo2 = (patient: number, minutes: number, value: number): Reading => ({ slot: layout.slotBase[patient], time: T0 + minutes * MIN, value });
    // Patient 0's readings in time order; patient 1's reading, 10 minutes after patient 0's first, arrives between them.
    const block: Block = { intervals: [[spo2(0, -10, 85), spo2(1, 0, 97), spo2(0, -5, 97)]], nows: [[T0, 0]], ticks: [] };
    const expected = timeMajor(straight, [block]);
    // evaluate(): patient 0's first set (spo2 85: 3 points, yellow) is closed and scored by patient 1's reading, then
    // the reading at -5 min opens a second set (spo2 97: 0 points) that resolves it.
    expect(expected.get(0)?.map((s) => [s.kind, s.time])).toEqual([
      [TR_RAISE, T0 - 10 * MIN],
      [TR_RESOLVE, T0 - 5 * MIN],
    ]);
    // The block scores one set of both readings (spo2 97): no transition at all.
    expect(byBlocks(blocked, layout, [block]).get(0) ?? []).toEqual([]);
  });

  it("a score link disabled without its score: the set closed by another patient's reading scores without the later reading's slot", () => {
    const cohort: Cohort = { patients: [news2Patient([NaN, NaN, 4, 5.5]), news2Patient([NaN, NaN, 4, 5.5])], joins: [false, false] };
    const { kernel: blocked, reference: straight, layout } = twoKernels(cohort);
    // Rules of patient 0: score 0, spo2 link 1, pulse link 2. Disable the pulse link on both kernels.
    straight.disableRule(2);
    blocked.disableRule(2);
    const at = (patient: number, slot: number, minutes: number, value: number): Reading => ({ slot: layout.slotBase[patient] + slot, time: T0 + minutes * MIN, value });
    const blocks: Block[] = [
      { intervals: [[at(0, 1, -30, 30)]], nows: [[T0 - 30 * MIN, 0]], ticks: [] }, // pulse 30: 3 points
      // In time order: patient 0's spo2 85 (3 points) opens a set, patient 1's reading at 6 min closes it, patient 0's pulse 70 at 7 min.
      { intervals: [[at(0, 0, 0, 85), at(1, 0, 6, 97), at(0, 1, 7, 70)]], nows: [[T0 + 7 * MIN, 0]], ticks: [] },
    ];
    const expected = timeMajor(straight, blocks);
    // evaluate(): scored at 0 with the pulse of -30 min: 3 + 3 = 6, red.
    expect(expected.get(0)?.map((s) => [s.kind, s.to, s.x])).toEqual([[TR_RAISE, 2, 6]]);
    // The block scores the set at the end of patient 0's segment, when the pulse's last time (7 min) lies after the set: 3, yellow.
    expect(byBlocks(blocked, layout, blocks).get(0)?.map((s) => [s.kind, s.to, s.x])).toEqual([[TR_RAISE, 1, 3]]);
  });
});
