// Backtest replay blocks (engine/backtest/kernel-block.ts): a cohort replayed through the wasm
// kernel in replay blocks (patient by patient) must report exactly what the same kernel reports
// fed in time order, and what the TypeScript oracle reports, on random mixed cohorts (TeleKOL,
// TeleHjerte, CGM, NIV; overrides, a NEWS2 score), readings pushed in chunks with late and
// out-of-order uploads, duplicates and readings outside the period, under the current rules and
// a proposal (so the diff lists are compared too).
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Backtest } from "../engine/backtest/backtest.js";
import type { AlertItem, BacktestOptions, BacktestPatient, BacktestReport, Marker, ProgrammeRules } from "../engine/backtest/types.js";
import type { CanonicalReading } from "../engine/ingest/canonical.js";
import { metricByKey, type MetricKey } from "../engine/metrics.js";
import { Oracle } from "../engine/oracle/oracle.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "../engine/rules/programmes.js";
import type { RuleOverride } from "../engine/thresholds.js";
import { Random } from "../server/simulate/random.js";

const RUNS = Math.max(30, Math.min(200, Number(process.env.VARSEL_PROPERTY_RUNS ?? 60)));
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Monday 2026-01-05 00:00 in Copenhagen (CET). */
const WINTER = Date.UTC(2026, 0, 4, 23);
/** Saturday 2026-03-28 00:00 CET: the period spans the change to summer time (Sunday 29th). */
const SPRING = Date.UTC(2026, 2, 27, 23);

// ---- overrides and proposals ----

const OVERRIDES: Record<string, RuleOverride[]> = {
  none: [],
  "pulse-keep": [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowLow: 50, yellowHigh: 95, redHigh: 115 }, modifiers: { keepFiringFor: "30m" } }],
  "no-missing": [
    { id: "spo2-missing", remove: true },
    { id: "weight-missing", remove: true },
    { id: "niv-missing", remove: true },
  ],
  news2: [{ id: "news2", kind: "score", score: "news2", window: "1h", modifiers: { for: "10m" } }],
  "temp-for": [{ id: "temp-band", kind: "band", metric: "temp", limits: { yellowHigh: 37.5, redHigh: 38.5 }, modifiers: { for: "10m", nOfM: [2, 3] } }],
  "cgm-margin": [{ id: "cgm-low", kind: "band", metric: "cgm", limits: { redLow: 3.5, yellowLow: 4.8 }, modifiers: { clearMargin: 0.5 } }],
  "pulse-stale": [{ id: "pulse-stale", kind: "missing", metric: "pulse", stale: { yellow: "6h", red: "12h" } }],
  "weight-rate": [{ id: "weight-rate", kind: "rate", metric: "weight", basis: "slope", window: "48h", limits: { yellowHigh: 0.0005, redHigh: 0.001 } }],
  "spo2-ref": [{ id: "spo2-drop", kind: "baseline", metric: "spo2", mode: "points", limits: { redLow: -4, yellowLow: -2 } }],
};

/** Changes a proposal may make, per programme. */
const PROPOSALS: Record<ProgrammeId, ((r: RuleDef) => RuleDef)[]> = {
  telekol: [
    (r) => (r.id === "pulse-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r),
    (r) => (r.id === "spo2-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowLow: 93 }, modifiers: { clearMargin: 0 } } : r),
  ],
  telehjerte: [
    (r) => (r.id === "weight-change" && r.kind === "delta" ? { ...r, window: "48h", limits: { ...r.limits, yellowHigh: 1.5 } } : r),
    (r) => (r.id === "weight-missing" && r.kind === "missing" ? { ...r, daily: { deadline: "10:00", grace: "30m", redAfter: 2 } } : r),
    (r) => (r.id === "bp-sys-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 150 } } : r),
  ],
  cgm: [
    (r) => (r.id === "cgm-stale" && r.kind === "missing" ? { ...r, stale: { yellow: "20m", red: "45m" } } : r),
    (r) => (r.id === "cgm-high" && r.kind === "band" ? { ...r, modifiers: { ...r.modifiers, for: "30m" } } : r),
    (r) => (r.id === "cgm-low" && r.kind === "band" ? { ...r, limits: { redLow: 3.0, yellowLow: 4.0 } } : r),
  ],
  niv: [
    (r) => (r.id === "niv-leak" && r.kind === "band" ? { ...r, limits: { yellowHigh: 30, redHigh: 45 } } : r),
    (r) => (r.id === "niv-usage" && r.kind === "band" ? { ...r, limits: { redLow: 3, yellowLow: 5 } } : r),
  ],
};

const PROGRAMME_IDS: ProgrammeId[] = ["telekol", "telehjerte", "cgm", "niv"];

// ---- readings ----

/** Metrics a patient measures, with the centre, spread and excursion of their values. */
const VITALS: Partial<Record<MetricKey, [number, number, number]>> = {
  spo2: [94, 2, 9],
  pulse: [82, 10, 40],
  temp: [37, 0.4, 2.2],
  resp_rate: [17, 3, 12],
  weight: [80, 0, 0], // a walk, below
  bp_sys: [130, 15, 55],
  bp_dia: [80, 8, 28],
  niv_usage: [6, 2, 5],
  niv_leak: [18, 6, 30],
  niv_ahi: [4, 2, 9],
  tcco2: [6, 0.4, 1.8],
  spo2_t90: [8, 5, 30],
};

const MEASURES: Record<ProgrammeId, MetricKey[]> = {
  telekol: ["spo2", "pulse", "temp", "resp_rate"],
  telehjerte: ["weight", "bp_sys", "bp_dia", "pulse"],
  cgm: ["cgm"],
  niv: ["niv_usage", "niv_leak", "niv_ahi", "tcco2", "spo2_t90"],
};

interface PatientDraw {
  programmes: ProgrammeId[];
  override: string;
  /** A clinician reference for spo2 (baseline rules), or none. */
  spo2Ref: number | null;
}

interface World {
  patients: PatientDraw[];
  from: number;
  days: number;
  seed: number;
  tickStepMs: number;
  /** Share of readings uploaded late (arriving after newer ones). */
  lateShare: number;
  chunk: number;
  proposal: { programme: ProgrammeId; change: number }[];
  markers: { patient: number; at: number }[];
  maxDiffItems: number | undefined;
}

const patientArb: fc.Arbitrary<PatientDraw> = fc.record({
  programmes: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...PROGRAMME_IDS).map((p) => [p]) },
    { weight: 2, arbitrary: fc.shuffledSubarray(PROGRAMME_IDS, { minLength: 2, maxLength: 2 }) },
    { weight: 1, arbitrary: fc.constant<ProgrammeId[]>([]) },
  ),
  override: fc.oneof({ weight: 4, arbitrary: fc.constant("none") }, { weight: 5, arbitrary: fc.constantFrom(...Object.keys(OVERRIDES)) }),
  spo2Ref: fc.option(fc.constantFrom(92, 95), { freq: 4 }),
});

const worldArb: fc.Arbitrary<World> = fc.record({
  patients: fc.array(patientArb, { minLength: 2, maxLength: 9 }),
  from: fc.constantFrom(WINTER, WINTER, SPRING),
  days: fc.integer({ min: 2, max: 4 }),
  seed: fc.integer(),
  tickStepMs: fc.constantFrom(5 * MIN, 5 * MIN, 10 * MIN),
  lateShare: fc.constantFrom(0, 0.02, 0.1),
  chunk: fc.constantFrom(37, 500, 100_000),
  proposal: fc.uniqueArray(
    fc.constantFrom(...PROGRAMME_IDS).chain((programme) => fc.record({ programme: fc.constant(programme), change: fc.integer({ min: 0, max: PROPOSALS[programme].length - 1 }) })),
    { minLength: 1, maxLength: 4, selector: (p) => `${p.programme}${p.change}` },
  ),
  markers: fc.array(fc.record({ patient: fc.nat(), at: fc.double({ min: 0, max: 1, noNaN: true }) }), { maxLength: 4 }),
  maxDiffItems: fc.constantFrom(undefined, undefined, 3),
});

const patientId = (i: number) => `p-${i}`;

function cohort(world: World): BacktestPatient[] {
  return world.patients.map((p, i) => {
    const patient: BacktestPatient = { id: patientId(i), programmes: p.programmes };
    if (p.override !== "none") patient.overrides = OVERRIDES[p.override];
    if (p.spo2Ref !== null) patient.references = { spo2: p.spo2Ref };
    return patient;
  });
}

function proposalOf(world: World): ProgrammeRules {
  const out: ProgrammeRules = {};
  for (const { programme, change } of world.proposal) out[programme] = (out[programme] ?? PROGRAMMES[programme].rules).map(PROPOSALS[programme][change]);
  return out;
}

function clamp(metric: MetricKey, v: number): number {
  const m = metricByKey(metric)!;
  return Math.min(m.max, Math.max(m.min, Math.round(v * 10) / 10));
}

/**
 * Each patient's readings (one random stream per patient): daily sessions of its vitals on most
 * days (values now and then far out), CGM every 5 minutes with sensor gaps, a few duplicates and
 * a few readings outside the period; minute times. Returned in upload order: by time, except
 * `lateShare` of them uploaded 30 minutes to a day late.
 */
function readingsOf(world: World): CanonicalReading[] {
  const streams = Random.seeded(world.seed).streams(world.patients.length + 1);
  const out: (CanonicalReading & { arrival: number })[] = [];
  const { from, days } = world;
  const to = from + days * DAY;
  world.patients.forEach((p, i) => {
    const r = streams[i];
    const patient = patientId(i);
    const metrics = new Set(p.programmes.flatMap((id) => MEASURES[id]));
    if (p.override === "news2") for (const m of MEASURES.telekol) metrics.add(m);
    const push = (metric: MetricKey, time: number, value: number) => out.push({ index: 0, patient, metric, time, value: clamp(metric, value), arrival: time });
    if (metrics.delete("cgm")) {
      let g = 4 + r.next() * 8;
      let gapUntil = 0;
      for (let t = from + Math.floor(r.next() * 5) * MIN; t < to; t += 5 * MIN) {
        if (t < gapUntil) continue;
        if (r.next() < 0.004) gapUntil = t + Math.floor(10 + r.next() * 80) * MIN;
        g = Math.max(2.2, Math.min(22, g + (r.next() - 0.5) * 1.6 + (8 - g) * 0.02));
        push("cgm", t, g);
      }
    }
    let weight = 70 + r.next() * 30;
    for (let d = 0; d < days; d++) {
      if (r.next() < 0.25) continue; // a day without measuring
      weight += (r.next() - 0.35) * 2;
      const sessions = 1 + Math.floor(r.next() * 3);
      for (let s = 0; s < sessions; s++) {
        const time = from + d * DAY + (6 * 60 + Math.floor(r.next() * 16 * 60)) * MIN;
        for (const metric of metrics) {
          const [centre, spread, wild] = VITALS[metric]!;
          const value = metric === "weight" ? weight : centre + (r.next() - 0.5) * 2 * (r.next() < 0.2 ? wild : spread);
          push(metric, time + (r.next() < 0.3 ? MIN : 0), value);
        }
      }
    }
  });
  const r = streams[world.patients.length];
  const n = out.length;
  for (let k = 0; k < n; k++) {
    const x = out[k];
    if (r.next() < 0.01) out.push({ ...x, value: clamp(x.metric, x.value + 1) }); // a duplicate time
    if (r.next() < world.lateShare) x.arrival = x.time + [30 * MIN, 3 * HOUR, DAY][Math.floor(r.next() * 3)];
  }
  if (out.length > 0) {
    out.push({ ...out[0], time: from - HOUR, arrival: from - HOUR }); // outside the period: skipped
    out.push({ ...out[0], time: to + MIN, arrival: to + MIN });
  }
  out.sort((a, b) => a.arrival - b.arrival || a.time - b.time);
  return out.map(({ arrival: _, ...reading }, index) => ({ ...reading, index }));
}

interface Run {
  report: BacktestReport;
  alerts: Record<string, AlertItem[]>;
}

function replay(options: BacktestOptions, readings: CanonicalReading[], chunk: number, make: (o: BacktestOptions) => Backtest): Run {
  const bt = make(options);
  for (let i = 0; i < readings.length; i += chunk) bt.pushReadings(readings.slice(i, i + chunk));
  const report = bt.finish();
  const alerts: Record<string, AlertItem[]> = {};
  for (const set of report.ruleSets) alerts[set.name] = bt.alerts(set.name);
  return { report, alerts };
}

const key = (a: AlertItem) => `${a.patient} ${a.rule} ${a.time} ${a.end} ${a.open} ${a.priority}`;
const sortedAlerts = (run: Run) => Object.fromEntries(Object.entries(run.alerts).map(([name, items]) => [name, items.map(key).sort()]));

function expectListedAlertsExist(run: Run): void {
  for (const set of run.report.ruleSets) {
    for (const item of set.diff?.items ?? []) {
      const from = item.change === "disappeared" ? run.alerts.current : run.alerts[set.name];
      expect(from.map(key)).toContain(key(item));
    }
  }
}

describe("backtest in replay blocks", () => {
  it(`reports exactly what the kernel in time order and the oracle report, on ${RUNS} random mixed cohorts`, () => {
    const seen = { alerts: 0, high: 0, diffItems: 0, truncated: 0, late: 0, skipped: 0, news2: 0, markers: 0, cgm: 0, multiProgramme: 0 };
    fc.assert(
      fc.property(worldArb, (world) => {
        const patients = cohort(world);
        const to = world.from + world.days * DAY;
        const markers: Marker[] = world.markers.map((m) => ({ patient: patientId(m.patient % patients.length), time: world.from + Math.floor((m.at * (to - world.from)) / MIN) * MIN, label: "admission" }));
        const options: BacktestOptions = {
          patients,
          from: world.from,
          to,
          tickStepMs: world.tickStepMs,
          proposed: [{ name: "proposal", programmes: proposalOf(world) }],
          markers,
          maxDiffItems: world.maxDiffItems,
        };
        const readings = readingsOf(world);
        const blocks = replay(options, readings, world.chunk, (o) => new Backtest(o, undefined, "always"));
        const timeOrder = replay(options, readings, world.chunk, (o) => new Backtest(o, undefined, "never"));
        const oracle = replay(options, readings, world.chunk, (o) => new Backtest(o, () => new Oracle()));

        expect(blocks.report).toEqual(timeOrder.report);
        expect(isDeepStrictEqual(blocks.report, timeOrder.report)).toBe(true);
        expectListedAlertsExist(blocks);
        expect(timeOrder.report).toEqual(oracle.report);
        expect(isDeepStrictEqual(timeOrder.report, oracle.report)).toBe(true);
        // Alerts: the same set (blocks raise them patient by patient: another order across patients).
        expect(sortedAlerts(blocks)).toEqual(sortedAlerts(timeOrder));
        expect(timeOrder.alerts).toEqual(oracle.alerts);

        const r = blocks.report;
        seen.alerts += r.ruleSets[0].alerts.all;
        seen.high += r.ruleSets[0].alerts.high;
        const diff = r.ruleSets[1].diff!;
        seen.diffItems += diff.items.length;
        if (diff.truncated) seen.truncated++;
        if (r.readings.late > 0) seen.late++;
        if (r.readings.skipped > 0) seen.skipped++;
        if (blocks.alerts.current.some((a) => a.rule === "news2")) seen.news2++;
        if ((r.ruleSets[0].markers?.detected ?? 0) > 0) seen.markers++;
        if (r.cgm !== null) seen.cgm++;
        if (world.patients.some((p) => p.programmes.length > 1)) seen.multiProgramme++;
      }),
      { numRuns: RUNS, seed: 1_505_2026 },
    );
    // Not vacuous: alerts of both priorities, diff lists (also truncated ones), late uploads,
    // skipped readings, NEWS2 alerts, detected markers, CGM summaries, patients on two programmes.
    expect(seen.alerts).toBeGreaterThan(RUNS * 5);
    expect(seen.high).toBeGreaterThan(RUNS);
    expect(seen.diffItems).toBeGreaterThan(RUNS / 2);
    expect(seen.truncated).toBeGreaterThan(0);
    expect(seen.late).toBeGreaterThan(RUNS / 4);
    expect(seen.skipped).toBeGreaterThan(RUNS / 2);
    expect(seen.news2).toBeGreaterThan(0);
    expect(seen.markers).toBeGreaterThan(0);
    expect(seen.cgm).toBeGreaterThan(RUNS / 4);
    expect(seen.multiProgramme).toBeGreaterThan(RUNS / 4);
  });

  it("reports the same when one interval holds more readings than a block interval or a batch takes (65 536)", () => {
    // NIV patients tick only at their daily deadline (14:00): a morning of one reading a minute
    // from 100 patients (72 000 readings, 2 % uploaded out of order) is one interval, cut at 65 536.
    const from = WINTER;
    const to = from + 12 * HOUR;
    const LEAK_MARGIN: RuleOverride[] = [{ id: "niv-leak", kind: "band", metric: "niv_leak", limits: { yellowHigh: 20, redHigh: 35 }, modifiers: { clearMargin: 2 } }];
    const patients: BacktestPatient[] = Array.from({ length: 100 }, (_, i) => ({ id: patientId(i), programme: "niv" as const, overrides: i % 10 === 0 ? LEAK_MARGIN : undefined }));
    const r = Random.seeded(99);
    const raw: (CanonicalReading & { arrival: number })[] = [];
    for (let m = 0; m < 720; m++) {
      for (let i = 0; i < patients.length; i++) {
        const time = from + m * MIN;
        const metric = (["niv_leak", "niv_ahi", "tcco2"] as const)[(m + i) % 3];
        const [centre, spread, wild] = VITALS[metric]!;
        raw.push({ index: 0, patient: patientId(i), metric, time, value: clamp(metric, centre + (r.next() - 0.5) * 2 * (r.next() < 0.2 ? wild : spread)), arrival: r.next() < 0.02 ? time + 20 * MIN : time });
      }
    }
    raw.sort((a, b) => a.arrival - b.arrival);
    const readings = raw.map(({ arrival: _, ...reading }, index) => ({ ...reading, index }));
    const options: BacktestOptions = { patients, from, to, proposed: [{ name: "proposal", programmes: { niv: PROGRAMMES.niv.rules.map(PROPOSALS.niv[0]) } }] };
    const blocks = replay(options, readings, 100_000, (o) => new Backtest(o, undefined, "always"));
    const timeOrder = replay(options, readings, 100_000, (o) => new Backtest(o, undefined, "never"));
    const oracle = replay(options, readings, 100_000, (o) => new Backtest(o, () => new Oracle()));
    expect(blocks.report.readings).toEqual({ replayed: 72_000, skipped: 0, late: 0 });
    expect(blocks.report.ruleSets[0].alerts.all).toBeGreaterThan(1000);
    expect(blocks.report.ruleSets[1].diff!.disappeared).toBeGreaterThan(0);
    expect(blocks.report).toEqual(timeOrder.report);
    expect(sortedAlerts(blocks)).toEqual(sortedAlerts(timeOrder));
    expect(timeOrder.report).toEqual(oracle.report);
    expect(timeOrder.alerts).toEqual(oracle.alerts);
  });

  // Found by the property above: a truncated diff list (maxDiffItems) kept the first unmatched
  // alerts in the order of rule-name INDICES, handed out as rules first move, which blocks change;
  // report.ts now orders by patient and rule name.
  it("lists the same alerts in a truncated diff with blocks as without", () => {
    const from = WINTER;
    const quiet = PROGRAMMES.telekol.rules.map((r): RuleDef => (r.kind === "band" && (r.id === "spo2-band" || r.id === "pulse-band") ? { ...r, limits: { redLow: 1, yellowLow: 2 } } : r));
    const options: BacktestOptions = {
      patients: [
        { id: "a", programme: "telekol" },
        { id: "b", programme: "telekol" },
      ],
      from,
      to: from + 12 * HOUR,
      proposed: [{ name: "quiet", programmes: { telekol: quiet } }],
      maxDiffItems: 1,
    };
    // b's spo2 alert moves first in time; a's pulse alert is a's first in a's own replay.
    const readings: CanonicalReading[] = [
      { index: 0, patient: "b", metric: "spo2", value: 85, time: from + 8 * HOUR },
      { index: 1, patient: "a", metric: "pulse", value: 130, time: from + 9 * HOUR },
      { index: 2, patient: "a", metric: "spo2", value: 85, time: from + 10 * HOUR },
    ];
    const diffOf = (mode: "always" | "never") => replay(options, readings, readings.length, (o) => new Backtest(o, undefined, mode)).report.ruleSets[1].diff!;
    const timeOrder = diffOf("never");
    expect(timeOrder).toMatchObject({ appeared: 0, disappeared: 3, truncated: true });
    // Patient a first, then by rule name: pulse-band before spo2-band, whichever moved first.
    expect(timeOrder.items.map((i) => `${i.patient} ${i.rule}`)).toEqual(["a pulse-band"]);
    expect(diffOf("always")).toEqual(timeOrder);
  });
});
