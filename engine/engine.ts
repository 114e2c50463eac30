// The engine: validated readings (as columns) in, triage and alert transitions out; patients and
// their compiled rules on the evaluator (wasm kernel or oracle).
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "./clock.js";
import type { Evaluator, Transition } from "./evaluator.js";
import {
  directionName,
  interpretationOf,
  LEVELS,
  missingParameters,
  priorityOf,
  TRANSITION_KINDS,
  TRIAGE_NAMES,
  type Direction,
  type Interpretation,
  type Level,
  type Priority,
  type TransitionKind,
  type Triage,
} from "./alerts.js";
import { KIND_BAND, KIND_BASELINE, KIND_DELTA, KIND_RATE, KIND_SCORE } from "../assembly/layout.js";
import { WasmKernel } from "./kernel/wasm-kernel.js";
import type { ReadingColumns } from "./ingest/columns.js";
import type { BatchRejection, Reading } from "./ingest/normalize.js";
import { PatientRegistry, type PatientConfig } from "./patients.js";
import type { RuleDef } from "./rules/definitions.js";
import type { ProgrammeId } from "./rules/programmes.js";

/** One transition of one patient's rule, with everything a clinician needs to see why. */
export interface AlertTransition {
  patient: string;
  rule: string;
  metric: string;
  kind: TransitionKind;
  from: Level;
  to: Level;
  direction: Direction;
  priority: Priority;
  interpretation: Interpretation;
  time: number;
  /** The derived value that decided (reading, deviation, change, slope, score, minutes overdue); null on a clock transition. */
  value: number | null;
  /** Index of the triggering reading in the request, when a reading triggered it. */
  reading?: number;
  /** Score rules: NEWS2 parameters without a reading in the window. */
  missingParameters?: string[];
}

export interface EvaluatedReading extends Reading {
  /** Index in the request. */
  index: number;
  triage: Triage;
}

export interface IngestResult {
  accepted: number;
  rejected: BatchRejection[];
  readings: EvaluatedReading[];
  transitions: AlertTransition[];
}

/** The outcome of evaluateColumns. */
export interface ColumnResult {
  /** Triage codes (TRIAGE_* of assembly/layout.ts) in evaluation order. */
  triage: Uint8Array;
  /** Column position of the k-th evaluated reading; undefined when the columns were already in time order. */
  order: Uint32Array | undefined;
  /** `reading` is the column's request index. */
  transitions: AlertTransition[];
}

export interface EngineOptions {
  evaluator?: Evaluator;
  timeZone?: string;
  /** A programme's current rules (default: the built-in sets). */
  programmeRules?: (id: ProgrammeId) => RuleDef[];
  /** Told how long each evaluator batch took (seconds), for the batch-duration histogram. */
  onBatch?: (seconds: number, readings: number) => void;
}

export class Engine {
  readonly patients: PatientRegistry;
  private readonly ev: Evaluator;
  private readonly timeZone: string;
  private readonly onBatch: EngineOptions["onBatch"];

  constructor(options: EngineOptions = {}) {
    this.onBatch = options.onBatch;
    this.ev = options.evaluator ?? WasmKernel.load();
    this.timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
    this.patients = new PatientRegistry(this.ev, options.programmeRules);
  }

  /** The evaluator's state as bytes, when it can snapshot (the wasm kernel can; `into`: see WasmKernel.snapshot). */
  snapshotEvaluator(options: { into?: Uint8Array } = {}): Uint8Array {
    const ev = this.ev as Evaluator & { snapshot?: (options?: { into?: Uint8Array }) => Uint8Array };
    if (ev.snapshot === undefined) throw new Error("this evaluator cannot snapshot");
    return ev.snapshot(options);
  }

  /** Creates or reconfigures a patient (programme, overrides, references, pause); returns the ids of removed rules. */
  configurePatient(patient: string, config: PatientConfig, now: number): string[] {
    return this.patients.configure(patient, config, now);
  }

  /**
   * The ingest hot path: evaluates the readings of `cols` (already validated, slots allocated)
   * in time order, ties in column order, without an object per reading.
   */
  evaluateColumns(cols: ReadingColumns, now: number): ColumnResult {
    const n = cols.length;
    const order = cols.inTimeOrder() ? undefined : cols.timeOrder();
    let slots: Uint32Array = cols.slot.subarray(0, n);
    let times: Float64Array = cols.time.subarray(0, n);
    let values: Float64Array = cols.value.subarray(0, n);
    if (order !== undefined) {
      slots = new Uint32Array(n);
      times = new Float64Array(n);
      values = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const pos = order[k];
        slots[k] = cols.slot[pos];
        times[k] = cols.time[pos];
        values[k] = cols.value[pos];
      }
    }
    const started = performance.now();
    const result = this.ev.evaluate(slots, times, values, now, utcOffsetMs(this.timeZone, now));
    this.onBatch?.((performance.now() - started) / 1000, n);
    const transitions = result.transitions.map((t) =>
      this.describe(t, t.reading >= 0 ? cols.index[order === undefined ? t.reading : order[t.reading]] : undefined),
    );
    return { triage: result.triage, order, transitions };
  }

  /**
   * Takes a withdrawn reading (time t) out of its metric's slot when it is still that slot's
   * latest (Evaluator.retractLast); false otherwise, changing nothing.
   */
  retractReading(patient: string, metric: string, t: number): boolean {
    const slot = this.patients.existingSlot(patient, metric);
    return slot !== undefined && this.ev.retractLast(slot, t);
  }

  /**
   * Resets a patient's value rule (band, baseline, delta, rate) on one of `slots` to no alert;
   * false, changing nothing, for any other rule (a score or missing rule is not one reading's).
   */
  resetValueRule(patient: string, ruleId: string, metrics: ReadonlySet<string>): boolean {
    const id = this.patients.ruleIndex(patient, ruleId);
    if (id === undefined) return false;
    const info = this.patients.rule(id);
    const kind = info.compiled.kind;
    if (kind !== KIND_BAND && kind !== KIND_BASELINE && kind !== KIND_DELTA && kind !== KIND_RATE) return false;
    if (!metrics.has(info.metric)) return false;
    this.ev.resetRule(id);
    return true;
  }

  /** Advances the clock: missing data, pending `for` and keep-firing timers. */
  tick(now: number): AlertTransition[] {
    return this.ev.tick(now, utcOffsetMs(this.timeZone, now)).map((t) => this.describe(t, undefined));
  }

  private describe(t: Transition, reading: number | undefined): AlertTransition {
    const info = this.patients.rule(t.rule);
    const out: AlertTransition = {
      patient: info.patient,
      rule: info.ruleId,
      metric: info.metric,
      kind: TRANSITION_KINDS[t.kind],
      from: LEVELS[t.from],
      to: LEVELS[t.to],
      direction: directionName(t.dir),
      // A resolve keeps the priority of the alert it ends; its interpretation is back to N.
      priority: priorityOf(Math.max(t.from, t.to)),
      interpretation: interpretationOf(t.to, t.dir),
      time: t.time,
      value: Number.isNaN(t.x) ? null : t.x,
    };
    if (reading !== undefined) out.reading = reading;
    if (info.compiled.kind === KIND_SCORE) out.missingParameters = missingParameters(t.detail);
    return out;
  }
}
