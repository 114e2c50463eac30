// A backtest: a cohort's readings replayed through fresh evaluators (the wasm kernel by default)
// under the current rule set and proposed ones, on a virtual clock, isolated from the live
// engine; then the report (report.ts) and the CGM summary (cgm.ts). Readings stream in as
// columns (push) in time order and are never kept: memory is the cohort's state plus its alerts.
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../clock.js";
import type { Evaluator } from "../evaluator.js";
import type { CanonicalReading } from "../ingest/canonical.js";
import { WasmKernel } from "../kernel/wasm-kernel.js";
import { metricByKey } from "../metrics.js";
import type { RuleDef } from "../rules/definitions.js";
import { PROGRAMMES, programmesOf, type ProgrammeId } from "../rules/programmes.js";
import { CgmAccumulator } from "./cgm.js";
import { DEFAULT_STEP_MS, reportOf, type ReplayOutcome } from "./outcome.js";
import { alertItem } from "./report.js";
import { RuleSetReplay, type BlockMode } from "./replay.js";
import type { AlertItem, BacktestOptions, BacktestReport, ProgrammeRules } from "./types.js";

export const CURRENT = "current";
const CGM_INDEX = metricByKey("cgm")!.index;

/** Readings as columns: the cohort index of the patient, the metric index, time (epoch ms), value (canonical unit). */
export interface ReadingChunk {
  n: number;
  patient: Uint32Array;
  metric: Uint8Array;
  time: Float64Array;
  value: Float64Array;
}

export class Backtest {
  readonly patientIndex: Map<string, number>;
  private readonly replays: RuleSetReplay[];
  private readonly ruleNames = new Map<string, number>();
  private readonly cgm: CgmAccumulator;
  private readonly perPatient: Float64Array;
  private readonly stepMs: number;
  private replayed = 0;
  private skipped = 0;
  private late = 0;
  private lastTime: number;

  constructor(
    private readonly options: BacktestOptions,
    evaluator: (patients: number) => Evaluator = kernelFor,
    /** When the wasm kernel takes a group in replay blocks (replay.ts): "auto" by its state's size. */
    blocks: BlockMode = "auto",
  ) {
    const { patients, from, to } = options;
    this.patientIndex = checkedCohort(options);
    this.stepMs = options.tickStepMs ?? DEFAULT_STEP_MS;
    this.lastTime = from;
    const sets = [{ name: CURRENT, programmes: {} as ProgrammeRules }, ...(options.proposed ?? [])];
    const current = options.current ?? {};
    this.replays = sets.map(
      (set) =>
        new RuleSetReplay({
          name: set.name,
          programmeRules: (id: ProgrammeId): RuleDef[] => set.programmes?.[id] ?? current[id] ?? PROGRAMMES[id].rules,
          patients,
          patientIndex: this.patientIndex,
          ruleNames: this.ruleNames,
          from,
          to,
          tickStepMs: this.stepMs,
          evaluator,
          blocks,
        }),
    );
    this.cgm = new CgmAccumulator(patients.length);
    this.perPatient = new Float64Array(patients.length);
  }

  /** Readings replayed so far. */
  get replayedReadings(): number {
    return this.replayed;
  }

  /** Share of the period replayed so far (by virtual time). */
  progress(): number {
    return Math.min(1, (this.lastTime - this.options.from) / (this.options.to - this.options.from));
  }

  /**
   * Replays a chunk of readings, in time order after the previous chunk (a reading earlier than
   * an instant already ticked is still evaluated, as a late upload is, and counted late).
   * Readings outside the period are skipped.
   */
  push(chunk: ReadingChunk): void {
    const { from, to } = this.options;
    let { n, patient, metric, time, value } = chunk;
    // One pass: the readings inside the period counted per patient and into the CGM summary.
    const cgm = this.cgm;
    const per = this.perPatient;
    let maxTime = this.lastTime;
    let inside = 0;
    for (let i = 0; i < n; i++) {
      const t = time[i];
      if (!(t >= from && t < to)) continue;
      inside++;
      const p = patient[i];
      per[p]++;
      if (metric[i] === CGM_INDEX) cgm.add(p, t, value[i]);
      if (t > maxTime) maxTime = t;
    }
    if (inside < n) {
      ({ patient, metric, time, value } = keepInside(chunk, from, to, inside));
      this.skipped += n - inside;
      n = inside;
    }
    if (n === 0) return;
    // Late readings are counted against the current set's clock (each set has its own tick plan).
    this.replays.forEach((r, i) => {
      const late = r.push(n, patient, metric, time, value);
      if (i === 0) this.late += late;
    });
    this.replayed += n;
    this.lastTime = maxTime;
  }

  /** Canonical readings (validated by engine/ingest) in time order; readings of patients outside the cohort are skipped. */
  pushReadings(readings: readonly CanonicalReading[]): void {
    const { chunk, outside } = chunkOf(readings, this.patientIndex);
    this.skipped += outside;
    this.push(chunk);
  }

  /** Every alert of a rule set (after finish), in raise order per evaluator. */
  alerts(ruleSet: string): AlertItem[] {
    const replay = this.replays.find((r) => r.name === ruleSet);
    if (replay === undefined) throw new RangeError(`no rule set ${ruleSet}`);
    const names: string[] = [];
    for (const [name, i] of this.ruleNames) names[i] = name;
    const log = replay.episodes;
    return Array.from({ length: log.count }, (_, i) => alertItem(log, i, { patients: this.options.patients, ruleNames: names }));
  }

  /** Ends the replay at the period's end and reports. */
  finish(): BacktestReport {
    return reportOf(this.options, this.finishOutcome());
  }

  /** Ends the replay at the period's end; what the report is made of (outcome.ts), for a shard's part (sharded.ts). */
  finishOutcome(): ReplayOutcome {
    for (const r of this.replays) r.finish();
    const ruleNames: string[] = [];
    for (const [name, i] of this.ruleNames) ruleNames[i] = name;
    return {
      ruleNames,
      ruleSets: this.replays.map((r) => ({ name: r.name, episodes: r.episodes, transitions: r.transitions })),
      cgm: this.cgm,
      perPatient: this.perPatient,
      readings: { replayed: this.replayed, skipped: this.skipped, late: this.late },
    };
  }
}

/** A wasm kernel with room for a group's patients reserved up front (programme sets: ≤ 6 metrics and rules each). */
export function kernelFor(patients: number): WasmKernel {
  return WasmKernel.load(undefined, { slots: patients * 6, rules: patients * 8, hist: patients * 6 * 16 });
}

/** Checks the period, the cohort and the rule set names (RangeError); returns the cohort's index by patient id. */
export function checkedCohort(options: BacktestOptions): Map<string, number> {
  const { patients, from, to } = options;
  if (!(to > from)) throw new RangeError("a backtest period must end after it starts");
  const index = new Map(patients.map((p, i) => [p.id, i]));
  if (index.size !== patients.length) throw new RangeError("a patient is listed twice in the cohort");
  const names = [CURRENT, ...(options.proposed ?? []).map((s) => s.name)];
  if (new Set(names).size !== names.length) throw new RangeError(`rule set names must differ (and not be "${CURRENT}")`);
  return index;
}

/** Canonical readings as a chunk (cohort indices); `outside`: readings of patients not in the cohort, left out. */
export function chunkOf(readings: readonly CanonicalReading[], patientIndex: ReadonlyMap<string, number>): { chunk: ReadingChunk; outside: number } {
  const chunk = emptyChunk(readings.length);
  let k = 0;
  for (const r of readings) {
    const p = patientIndex.get(r.patient);
    if (p === undefined) continue;
    chunk.patient[k] = p;
    chunk.metric[k] = metricByKey(r.metric)!.index;
    chunk.time[k] = r.time;
    chunk.value[k] = r.value;
    k++;
  }
  chunk.n = k;
  return { chunk, outside: readings.length - k };
}

export function emptyChunk(n: number): ReadingChunk {
  return { n, patient: new Uint32Array(n), metric: new Uint8Array(n), time: new Float64Array(n), value: new Float64Array(n) };
}

function keepInside(c: ReadingChunk, from: number, to: number, inside: number): Omit<ReadingChunk, "n"> {
  const out = emptyChunk(inside);
  let k = 0;
  for (let i = 0; i < c.n; i++) {
    if (!(c.time[i] >= from && c.time[i] < to)) continue;
    out.patient[k] = c.patient[i];
    out.metric[k] = c.metric[i];
    out.time[k] = c.time[i];
    out.value[k] = c.value[i];
    k++;
  }
  return out;
}

/** The local days holding the readings: from the first reading's midnight to the midnight after the last (Copenhagen). */
export function periodOf(readings: readonly { time: number }[]): { from: number; to: number } | undefined {
  if (readings.length === 0) return undefined;
  let min = Infinity;
  let max = -Infinity;
  for (const r of readings) {
    if (r.time < min) min = r.time;
    if (r.time > max) max = r.time;
  }
  return { from: localMidnight(min, 0), to: localMidnight(max, 1) };
}

/** Local midnight of the day of `t`, plus `days` days. */
function localMidnight(t: number, days: number): number {
  const day = Math.floor((t + utcOffsetMs(DEFAULT_TIME_ZONE, t)) / 86_400_000) + days;
  const guess = day * 86_400_000;
  return guess - utcOffsetMs(DEFAULT_TIME_ZONE, guess - utcOffsetMs(DEFAULT_TIME_ZONE, guess));
}
