// The whole of varsel below the protocol: patients and their care teams, versioned thresholds,
// ingest (plain or FHIR) with idempotent measurement ids, evaluation, and the alert lifecycle.
// The server only translates HTTP and WebSocket into calls on this class.
import { TRIAGE_DUPLICATE, TRIAGE_N, TRIAGE_NOT_TRIAGED, TRIAGE_OUT_OF_ORDER, TRIAGE_REF_NEEDED } from "../assembly/layout.js";
import { TRIAGE_NAMES } from "./alerts.js";
import { Engine, type EvaluatedReading } from "./engine.js";
import { VarselError } from "./errors.js";
import type { Evaluator } from "./evaluator.js";
import type { CanonicalBatch, CanonicalInvalidation, CanonicalReading } from "./ingest/canonical.js";
import { ReadingColumns } from "./ingest/columns.js";
import { PatientCache, type SenderScope } from "./ingest/patient-cache.js";
import type { BatchRejection } from "./ingest/normalize.js";
import { AlertLifecycle } from "./lifecycle/lifecycle.js";
import { validateChain } from "./lifecycle/routing.js";
import { checkAckTimeouts } from "./lifecycle/alarm-policy.js";
import { limitsInForce } from "./lifecycle/rules.js";
import type { LifecycleOptions, LifecycleState, RoutingEntry, RuleContext } from "./lifecycle/types.js";
import { IdempotencyWindow, type IdempotencyState } from "./idempotency.js";
import type { RegistryState } from "./patients.js";
import { compileRuleSet, ruleMetricUnit } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { programmesOfRule, type EffectiveRule } from "./rules/merge.js";
import { checkProgrammes, effectiveRules, PROGRAMMES, programmeSets, programmesOf, type ProgrammeId } from "./rules/programmes.js";
import { ThresholdHistory, type RuleOverride, type ThresholdVersion } from "./thresholds.js";
import { metricByKey } from "./metrics.js";
import type { StoredReading } from "./store/store.js";
import { WithdrawnReadings, type WithdrawnState } from "./withdrawn-readings.js";

/** A patient as the API shows it. */
export interface PatientRecord {
  id: string;
  /** The patient's programmes, in the order given (COPD and heart failure together is common); empty = none. */
  programmes: ProgrammeId[];
  /** The care chain in order (hospital, municipality, GP); teams also decide who may see the patient. */
  careTeams: RoutingEntry[];
  paused: boolean;
  /** Clinician reference values for baseline rules, by metric key. */
  references: Record<string, number>;
  updatedAt: number;
}

/**
 * What a patient command carries. The API journals `programmes`; journals written before several
 * programmes per patient carry the one `programme`, which is still read (as `[programme]`).
 */
export type PatientInput = Omit<PatientRecord, "id" | "updatedAt" | "programmes"> & { programmes?: ProgrammeId[]; programme?: ProgrammeId };

/** Who sends readings: devices only for patients of their teams. */
export interface IngestScope {
  /** Teams the sender may ingest for; undefined = any patient (admin, internal). */
  teams?: readonly string[];
  channel: string;
}

export interface IngestOptions {
  /** The answer's `readings` lists only readings whose triage is not N (counts stay complete). */
  compact?: boolean;
  /** Also return every evaluated reading with its triage, for the store's readings view. */
  keep?: boolean;
}

export interface IngestAnswer {
  /** Readings evaluated now. */
  accepted: number;
  /** Readings whose measurement id was already received: acknowledged again, not evaluated again. */
  duplicates: { index: number; id: string }[];
  rejected: BatchRejection[];
  /** FHIR Observations with status cancelled / entered-in-error. */
  invalidated: { index: number; id: string }[];
  /**
   * FHIR withdrawals that found the reading (cancelled / entered-in-error, or an amended /
   * corrected Observation replacing one), each as DELETE /v1/measurements/{id} answers it, in
   * entry order; absent when there was none.
   */
  withdrawals?: IngestWithdrawal[];
  /** Every evaluated reading in evaluation order; with `compact`, only those whose triage is not N. */
  readings: { index: number; metric: string; triage: string }[];
  /** Alert transitions this batch caused. */
  transitions: number;
}

/** What an ingest did: the answer, and (with `keep`) every evaluated reading for the store. */
export interface Ingested {
  answer: IngestAnswer;
  readings: StoredReading[];
}

/** A withdrawal a FHIR ingest made: its entry index, whether it is a correction, and what it did. */
export type IngestWithdrawal = Withdrawal & { index: number; correction?: true };

/** What withdrawing a measurement did (FHIR cancelled / entered-in-error, DELETE /v1/measurements/{id}). */
export interface Withdrawal {
  patient: string;
  id: string;
  /** Metrics whose reading with this id was forgotten by the idempotency window: a resend with the id is evaluated as new. */
  metrics: string[];
  /** Metrics whose reading was taken out of the rules' state (it was still that metric's latest reading). */
  retracted: string[];
  /** Alerts resolved with `reading_withdrawn`: every reading they list was withdrawn, and taken out. */
  resolved: string[];
  /** Alerts kept open and marked (`updated`, change `reading_withdrawn`) for a clinician to review. */
  marked: string[];
}

/** Everything but the kernel, as plain data (snapshots). */
export interface PipelineState {
  patients: PatientRecord[];
  seen: IdempotencyState;
  thresholds: ReturnType<ThresholdHistory["exportState"]>;
  registry: RegistryState;
  lifecycle: LifecycleState;
  /** Withdrawn readings still in their slot's history (absent in snapshots written before). */
  withdrawn?: WithdrawnState;
}

export interface PipelineOptions {
  evaluator?: Evaluator;
  lifecycle?: Omit<LifecycleOptions, "rules">;
  /** Measurement ids remembered for idempotency (oldest forgotten first). */
  idempotencyWindow?: number;
  /** Told how long each evaluator batch took. */
  onBatch?: (seconds: number, readings: number) => void;
}

const DEFAULT_IDEMPOTENCY_WINDOW = 1_000_000;

/** One ingest batch being admitted. */
interface Batch {
  scope: SenderScope;
  cols: ReadingColumns;
  /** The admitted readings, by column position. */
  admitted: CanonicalReading[];
  rejected: BatchRejection[];
  duplicates: { index: number; id: string }[];
  /** Measurement-id keys admitted in this batch (created at the first id). */
  inBatch: Set<string> | undefined;
  /** The same keys in order, remembered once the batch is evaluated. */
  keys: string[];
  /** Per key, its reading's column position (its time is remembered with the key). */
  keyPos: number[];
}

export class Pipeline {
  readonly engine: Engine;
  readonly lifecycle: AlertLifecycle;
  readonly thresholds = new ThresholdHistory();
  private readonly patients = new Map<string, PatientRecord>();
  private readonly seen: IdempotencyWindow;
  private readonly withdrawn = new WithdrawnReadings();
  private readonly cache = new PatientCache((id) => (this.patients.has(id) ? this.teamsOf(id) : undefined));
  private readonly cols = new ReadingColumns();

  constructor(options: PipelineOptions = {}) {
    this.engine = new Engine({
      evaluator: options.evaluator,
      programmeRules: (id) => this.thresholds.programmeRules(id),
      onBatch: options.onBatch,
    });
    this.lifecycle = new AlertLifecycle({ ...options.lifecycle, rules: (patient, rule) => this.ruleContext(patient, rule) });
    this.seen = new IdempotencyWindow(options.idempotencyWindow ?? DEFAULT_IDEMPOTENCY_WINDOW);
  }

  // ---- snapshots ----

  /** The whole state: the kernel's bytes and everything else as plain data. */
  /**
   * The whole state. `kernelInto`: memory the kernel bytes may be written into (see
   * WasmKernel.snapshot). `views` (for a state packed at once): the idempotency keys are views of
   * the live window, valid only until the engine changes.
   */
  exportState(options: { kernelInto?: Uint8Array; views?: boolean } = {}): { kernel: Uint8Array; state: PipelineState } {
    return {
      kernel: this.engine.snapshotEvaluator({ into: options.kernelInto }),
      state: {
        patients: [...this.patients.values()],
        seen: this.seen.exportState({ copy: options.views !== true }),
        thresholds: this.thresholds.exportState(),
        // A patient's configuration is its record plus its threshold overrides (reconfigure builds it so).
        registry: this.engine.patients.exportState({ configs: false }),
        // The routing is the records' programme and care chain (upsertPatient sets both): not stored twice.
        lifecycle: this.lifecycle.exportState({ routing: false }),
        withdrawn: this.withdrawn.exportState(),
      },
    };
  }

  /** A pipeline continuing exactly from an exported state (the evaluator restored from its bytes). */
  static fromState(evaluator: Evaluator, state: PipelineState, options: Omit<PipelineOptions, "evaluator"> = {}): Pipeline {
    const p = new Pipeline({ ...options, evaluator });
    for (const record of state.patients) p.patients.set(record.id, currentRecord(record));
    p.seen.importState(state.seen);
    p.withdrawn.importState(state.withdrawn);
    p.thresholds.importState(state.thresholds);
    p.engine.patients.importState(
      state.registry,
      state.registry.patients.map((id) => {
        const r = p.patients.get(id);
        if (r === undefined) throw new RangeError(`snapshot: patient ${id} is in the registry but has no record`);
        return { programmes: r.programmes, rules: p.thresholds.patientOverrides(id), references: r.references, paused: r.paused };
      }),
    );
    p.lifecycle.importState(
      state.lifecycle,
      [...p.patients.values()].map((r) => [r.id, { programmes: r.programmes, careTeams: r.careTeams }]),
    );
    return p;
  }

  // ---- patients and thresholds ----

  // Each command's preconditions are checked in full before its first change (engine/durable/apply.ts
  // calls check* first): a refused command changes nothing.

  /** Throws what upsertPatient would refuse; changes nothing. */
  checkPatient(id: string, input: PatientInput, now: number): void {
    if (input.programme !== undefined && input.programmes !== undefined) throw new VarselError("invalid_body", "give programmes or programme, not both");
    const programmes = programmesOf(input);
    checkProgrammes(programmes, "invalid_body");
    validateChain(input.careTeams);
    checkAckTimeouts(input.careTeams);
    for (const [metric, value] of Object.entries(input.references)) {
      if (metricByKey(metric) === undefined) throw new VarselError("unknown_metric", `unknown metric ${metric}`, { metric });
      if (typeof value !== "number" || !Number.isFinite(value)) throw new VarselError("invalid_body", `reference for ${metric} must be a finite number`);
    }
    this.checkRules(programmes, undefined, this.thresholds.patientOverrides(id), now);
  }

  /** Throws what setPatientThresholds would refuse; changes nothing. */
  checkPatientThresholds(id: string, rules: RuleOverride[], now: number): void {
    this.checkRules(this.requirePatient(id).programmes, undefined, rules, now);
  }

  /** Throws what setProgrammeThresholds would refuse (the set, and each patient's overrides on it); changes nothing. */
  checkProgrammeThresholds(id: ProgrammeId, rules: RuleDef[], now: number): void {
    if (!Object.hasOwn(PROGRAMMES, id)) throw new VarselError("not_found", `unknown programme ${id}`);
    compileRuleSet(rules, { now, canonicalUnit: ruleMetricUnit, slotOf: () => 0 });
    // Each patient on it, with its other programmes, must still merge and compile.
    for (const patient of this.engine.patients.onProgramme(id)) {
      this.checkRules(this.requirePatient(patient).programmes, { id, rules }, this.thresholds.patientOverrides(patient), now);
    }
  }

  /** The programmes' current rule sets; `replaced`: one programme's set as it would become. */
  private programmeSets(programmes: readonly ProgrammeId[], replaced?: { id: ProgrammeId; rules: RuleDef[] }) {
    return programmeSets(programmes, (p) => (p === replaced?.id ? replaced.rules : this.thresholds.programmeRules(p)));
  }

  /** Merges and compiles a patient's effective rules without keeping them: throws invalid_threshold as configuring would. */
  private checkRules(programmes: readonly ProgrammeId[], replaced: { id: ProgrammeId; rules: RuleDef[] } | undefined, overrides: RuleOverride[], now: number): void {
    const rules = effectiveRules(this.programmeSets(programmes, replaced), overrides).map((e) => e.rule);
    compileRuleSet(rules, { now, canonicalUnit: ruleMetricUnit, slotOf: () => 0 });
  }

  /** Creates or updates a patient (checked by checkPatient). */
  upsertPatient(id: string, input: PatientInput, now: number): PatientRecord {
    const record = currentRecord({ id, ...input, updatedAt: now });
    this.reconfigure(record, this.thresholds.patientOverrides(id), now);
    this.lifecycle.setPatient(id, { programmes: record.programmes, careTeams: record.careTeams }, now);
    this.patients.set(id, record);
    this.cache.forget(id); // its teams may have changed
    return record;
  }

  patient(id: string): PatientRecord | undefined {
    return this.patients.get(id);
  }

  /** Every registered patient's id. */
  patientIds(): IterableIterator<string> {
    return this.patients.keys();
  }

  /** Teams that may see a patient (its care chain). */
  teamsOf(patient: string): string[] {
    return [...new Set(this.patients.get(patient)?.careTeams.map((e) => e.team) ?? [])];
  }

  /** Replaces a patient's overrides (checked by checkPatientThresholds). */
  setPatientThresholds(id: string, rules: RuleOverride[], author: string, reason: string, now: number): ThresholdVersion {
    const record = this.requirePatient(id);
    this.reconfigure(record, rules, now);
    return this.thresholds.setPatient(id, rules, author, reason, now);
  }

  /** Replaces a programme's rule set and re-judges every patient on it from now on (checked by checkProgrammeThresholds). */
  setProgrammeThresholds(id: ProgrammeId, rules: RuleDef[], author: string, reason: string, now: number): ThresholdVersion {
    const version = this.thresholds.setProgramme(id, rules, author, reason, now);
    for (const patient of this.engine.patients.onProgramme(id)) {
      this.reconfigure(this.requirePatient(patient), this.thresholds.patientOverrides(patient), now);
    }
    return version;
  }

  /** The rules that judge a patient now, each with its programmes: the programmes' rules merged, the patient's overrides applied. */
  effectiveRules(id: string): EffectiveRule[] {
    return effectiveRules(this.programmeSets(this.requirePatient(id).programmes), this.thresholds.patientOverrides(id));
  }

  /**
   * The threshold version that judges a patient now: "<programme>:v<n>/patient:v<m>", programmes
   * joined by "+" ("telekol:v0+telehjerte:v2/patient:v1"); v0 = built-in defaults, "none" without a programme.
   */
  thresholdVersion(patient: string): string {
    const programmes = this.patients.get(patient)?.programmes ?? [];
    const p = programmes.length === 0 ? "none" : programmes.map((id) => `${id}:v${this.thresholds.programmeHistory(id).length}`).join("+");
    return `${p}/patient:v${this.thresholds.patientHistory(patient).length}`;
  }

  private reconfigure(record: PatientRecord, overrides: RuleOverride[], now: number): void {
    const removed = this.engine.configurePatient(
      record.id,
      { programmes: record.programmes, rules: overrides, references: record.references, paused: record.paused },
      now,
    );
    for (const rule of removed) this.lifecycle.retire(record.id, rule, now);
  }

  private ruleContext(patient: string, rule: string): RuleContext | undefined {
    const def = this.engine.patients.definition(patient, rule);
    if (def === undefined) return undefined;
    const programmes = programmesOfRule(this.programmeSets(this.requirePatient(patient).programmes), rule);
    const ctx: RuleContext = { kind: def.kind, thresholdVersion: this.thresholdVersion(patient), limits: limitsInForce(def), programmes };
    if (def.latching === true) ctx.latching = true;
    if (def.unsilenceable !== undefined) ctx.unsilenceable = def.unsilenceable;
    return ctx;
  }

  private requirePatient(id: string): PatientRecord {
    const p = this.patients.get(id);
    if (p === undefined) throw new VarselError("not_found", "unknown patient");
    return p;
  }

  // ---- ingest ----

  /**
   * A validated batch (engine/ingest/canonical.ts): scope, registration and measurement-id checks
   * per reading, evaluation of the admitted ones, the lifecycle fed with the outcome. FHIR
   * withdrawals are applied in entry order: the readings before one are evaluated first, those
   * after it (a correction's own readings included) after it, each run as its own reorder window.
   * Never throws on any batch: every refusal is an item's rejection.
   */
  ingest(batch: CanonicalBatch, scope: IngestScope, now: number, options: IngestOptions = {}): Ingested {
    const invalidations = batch.invalidations;
    const invalidated = invalidations.filter((i) => i.correction !== true).map((i) => ({ index: i.index, id: i.id }));
    if (invalidations.length === 0) return this.evaluateRun(batch.readings, batch, scope, now, options, invalidated);
    // Runs of readings between withdrawals: a withdrawal goes before the readings of its own index.
    const withdrawals: IngestWithdrawal[] = [];
    let out: Ingested | undefined;
    let start = 0;
    for (let k = 0; k <= invalidations.length; k++) {
      const before = k < invalidations.length ? invalidations[k].index : Infinity;
      let end = start;
      while (end < batch.readings.length && batch.readings[end].index < before) end++;
      if (out === undefined || end > start) {
        const run = this.evaluateRun(batch.readings.slice(start, end), out === undefined ? batch : undefined, scope, now, options, invalidated);
        out = out === undefined ? run : joinRuns(out, run);
        start = end;
      }
      if (k < invalidations.length) {
        const w = this.ingestWithdrawal(invalidations[k], scope, now);
        if (w !== undefined) withdrawals.push(w);
      }
    }
    const answer = out!.answer;
    if (withdrawals.length > 0) {
      answer.withdrawals = withdrawals;
      answer.transitions += withdrawals.reduce((n, w) => n + w.resolved.length, 0);
    }
    answer.rejected.sort((a, c) => a.index - c.index);
    return out!;
  }

  /** A FHIR withdrawal, when the sender may send for the patient and the reading is held (as DELETE checks it). */
  private ingestWithdrawal(i: CanonicalInvalidation, scope: IngestScope, now: number): IngestWithdrawal | undefined {
    // Only a sender that may send for the patient may withdraw its readings.
    const entry = i.patient === undefined ? undefined : this.cache.entry(i.patient);
    if (entry === undefined || !this.cache.admits(entry, this.cache.scope(scope.teams)) || !this.holdsReading(i.patient!, i.id)) return undefined;
    const w: IngestWithdrawal = { index: i.index, ...this.withdraw(i.patient!, i.id, now) };
    if (i.correction === true) w.correction = true;
    return w;
  }

  /**
   * One run of readings evaluated (see ingest); `batch`: the request's own rejections and their
   * attribution, given with the first run only.
   */
  private evaluateRun(readings: readonly CanonicalReading[], batch: CanonicalBatch | undefined, scope: IngestScope, now: number, options: IngestOptions, invalidated: { index: number; id: string }[]): Ingested {
    const b = this.startBatch(scope);
    for (const r of batch?.rejected ?? []) b.rejected.push({ index: r.index, code: r.code, message: r.message });
    for (const r of readings) this.admit(b, r);
    return this.evaluate(b, batch?.rejected ?? [], invalidated, now, options);
  }

  /** Per-batch state for admit(). */
  private startBatch(scope: IngestScope): Batch {
    return {
      scope: this.cache.scope(scope.teams),
      cols: this.cols.reset(),
      admitted: [],
      rejected: [],
      duplicates: [],
      inBatch: undefined,
      keys: [],
      keyPos: [],
    };
  }

  /**
   * Scope, registration and measurement-id checks of one valid reading; the reading goes into
   * the batch's columns, or into rejected / duplicates.
   */
  private admit(b: Batch, r: CanonicalReading): void {
    const { index, patient, metric, id } = r;
    const entry = this.cache.entry(patient);
    // A scoped sender (a device) learns nothing about patients outside its teams, not even whether they exist.
    if (!this.cache.admits(entry, b.scope)) {
      b.rejected.push({ index, code: "forbidden", message: "patient is not in the sender's care teams" });
      return;
    }
    if (entry === undefined) {
      b.rejected.push({ index, code: "unknown_patient", message: "patient is not registered" });
      return;
    }
    if (id !== undefined) {
      const key = measurementKey(patient, metric, id);
      b.inBatch ??= new Set();
      if (this.seen.has(key) || b.inBatch.has(key)) {
        b.duplicates.push({ index, id });
        return;
      }
      b.inBatch.add(key);
      b.keys.push(key);
      b.keyPos.push(b.admitted.length);
    }
    const metricIndex = metricByKey(metric)!.index;
    let slot = entry.slots[metricIndex];
    if (slot < 0) slot = entry.slots[metricIndex] = this.engine.patients.slotOf(patient, metric);
    b.cols.push(slot, r.time, r.value, metricIndex, index);
    b.admitted.push(r);
  }

  /**
   * Evaluates the batch's columns in time order (the reorder window is the request; a reading
   * older than its metric's last one from an earlier request is out_of_order: engine/lifecycle/late.ts),
   * feeds the lifecycle, which marks what describes the past as late, and builds the answer.
   */
  private evaluate(b: Batch, batchRejected: CanonicalBatch["rejected"], invalidated: { index: number; id: string }[], now: number, options: IngestOptions): Ingested {
    const cols = b.cols;
    const n = cols.length;
    const { triage, order, transitions } = this.engine.evaluateColumns(cols, now);
    // Triage by column position, for the keys' times (a withdrawal takes a reading back by its time).
    const triageAt = b.keys.length === 0 ? undefined : order === undefined ? triage : new Uint8Array(n);
    if (triageAt !== undefined && triageAt !== triage) for (let k = 0; k < n; k++) triageAt[order![k]] = triage[k];
    const triggers = new Set<number>();
    for (const t of transitions) if (t.reading !== undefined) triggers.add(t.reading);
    // The lifecycle sees only the readings it uses: transition triggers (measurement ids for the
    // why) and readings that need a review; the answer, every reading or only those not N.
    const needed: EvaluatedReading[] = [];
    const readings: IngestAnswer["readings"] = [];
    const stored: StoredReading[] = [];
    for (let k = 0; k < n; k++) {
      const pos = order === undefined ? k : order[k];
      const code = triage[k];
      const index = cols.index[pos];
      const r = b.admitted[pos];
      if (options.compact !== true || code !== TRIAGE_N) readings.push({ index, metric: r.metric, triage: TRIAGE_NAMES[code] });
      if (options.keep === true) stored.push(storedReading(r, TRIAGE_NAMES[code], now));
      if (code === TRIAGE_NOT_TRIAGED || code === TRIAGE_REF_NEEDED || (triggers.size > 0 && triggers.has(index))) {
        needed.push({ patient: r.patient, metric: r.metric, metricIndex: cols.metric[pos], value: r.value, time: r.time, id: r.id, device: r.device, index, triage: TRIAGE_NAMES[code] });
      }
    }
    if (triageAt !== undefined) this.rememberKeys(b, triageAt);
    const rejected = b.rejected;
    // A unit failure is shown to the patient's clinicians (canonicalization attributed it), only
    // when the sender may send for that patient: no writing into another team's stream.
    const attribution = new Map(
      batchRejected
        .filter((r) => r.patient !== undefined && this.cache.admits(this.cache.entry(r.patient), b.scope))
        .map((r) => [r.index, { patient: r.patient!, metric: r.metric! }]),
    );
    this.lifecycle.ingest({ readings: needed, rejected, transitions }, now, {
      attribute: (r) => attribution.get(r.index),
      knownPatient: (p) => this.patients.has(p),
      oldestReading: (patient, metric) => oldestReading(b.admitted, patient, metric),
    });
    rejected.sort((a, c) => a.index - c.index);
    return { answer: { accepted: n, duplicates: b.duplicates, rejected, invalidated, readings, transitions: transitions.length }, readings: stored };
  }

  /**
   * Remembers the batch's measurement keys, each with its reading's time; NaN for a reading the
   * kernel did not apply (out of order, or at its slot's latest time): there is nothing to take back.
   */
  private rememberKeys(b: Batch, triageAt: Uint8Array): void {
    for (let j = 0; j < b.keys.length; j++) {
      const pos = b.keyPos[j];
      const code = triageAt[pos];
      this.seen.add(b.keys[j], code === TRIAGE_OUT_OF_ORDER || code === TRIAGE_DUPLICATE ? NaN : b.admitted[pos].time);
    }
  }

  // ---- withdrawing a measurement ----

  /**
   * Throws not_found unless the patient exists and a reading with this id is held: in the
   * idempotency window, listed by an open alert (withdrawn already or not: a repeat is answered
   * with empty lists), or withdrawn and still in its slot's history.
   */
  checkWithdraw(patient: string, id: string): void {
    this.requirePatient(patient);
    if (!this.holdsReading(patient, id)) throw new VarselError("not_found", "unknown measurement");
  }

  /** Is a reading of this (registered) patient with this id held (see checkWithdraw)? */
  private holdsReading(patient: string, id: string): boolean {
    const held = this.engine.patients.metricsOf(patient).some((m) => this.seen.has(measurementKey(patient, m, id)));
    return held || this.lifecycle.listsReading(patient, id) || this.withdrawn.holds(patient, id);
  }

  /**
   * Withdraws a patient's readings with measurement id `id` (every metric). The id is forgotten, so
   * the corrected resend with the same id is evaluated. A reading that is still its metric's
   * latest is taken out of the slot (history, last time and value), and then every withdrawn
   * reading that became the latest again: a withdrawn reading is never judged as the latest value.
   * One that is not the latest waits (withdrawn-readings.ts). Then the lifecycle resolves each open
   * alert whose readings were all taken out (`reading_withdrawn`, its rule reset) and marks the
   * other alerts listing the reading for review. The scope (who may withdraw) is the caller's.
   */
  withdraw(patient: string, id: string, now: number): Withdrawal {
    const metrics: string[] = [];
    const taken = new Map<string, Set<string>>();
    for (const metric of this.engine.patients.metricsOf(patient)) {
      const time = this.seen.remove(measurementKey(patient, metric, id));
      if (time === undefined) continue;
      metrics.push(metric);
      if (Number.isNaN(time)) continue; // never applied: nothing to take back
      if (!this.engine.retractReading(patient, metric, time)) {
        this.withdrawn.add(patient, metric, { time, id });
        continue;
      }
      const ids = new Set([id]);
      taken.set(metric, ids);
      for (let w = this.withdrawn.newest(patient, metric); w !== undefined && this.engine.retractReading(patient, metric, w.time); w = this.withdrawn.newest(patient, metric)) {
        ids.add(w.id);
        this.withdrawn.dropNewest(patient, metric);
      }
    }
    const retracted = new Set(taken.keys());
    const { resolved, marked } = this.lifecycle.withdrawReading(patient, id, now, taken, (rule) => this.engine.resetValueRule(patient, rule, retracted));
    return { patient, id, metrics, retracted: [...retracted], resolved, marked };
  }

  /** Advances the clock for missing data, pending timers, silences and escalation; true when it forgot retained data (see AlertLifecycle.tick). */
  tick(now: number): boolean {
    this.lifecycle.apply(this.engine.tick(now), now);
    return this.lifecycle.tick(now);
  }
}

/** Two runs' outcomes as one answer (see Pipeline.ingest): counts added, lists in evaluation order. */
function joinRuns(a: Ingested, b: Ingested): Ingested {
  const x = a.answer, y = b.answer;
  return {
    answer: {
      accepted: x.accepted + y.accepted,
      duplicates: [...x.duplicates, ...y.duplicates],
      rejected: [...x.rejected, ...y.rejected],
      invalidated: x.invalidated,
      readings: [...x.readings, ...y.readings],
      transitions: x.transitions + y.transitions,
    },
    readings: [...a.readings, ...b.readings],
  };
}

/** The earliest time among a batch's admitted readings of a patient's metric (asked only when a missing-data alert clears). */
function oldestReading(admitted: readonly CanonicalReading[], patient: string, metric: string): number | undefined {
  let oldest: number | undefined;
  for (const r of admitted) if (r.patient === patient && r.metric === metric && (oldest === undefined || r.time < oldest)) oldest = r.time;
  return oldest;
}

/** A reading's key in the idempotency window: ids are the sender's, per patient and metric. */
function measurementKey(patient: string, metric: string, id: string): string {
  return `${patient}\u0000${metric}\u0000${id}`;
}

/** An evaluated reading as the store keeps it. */
function storedReading(r: CanonicalReading, triage: string, receivedAt: number): StoredReading {
  const out: StoredReading = { patient: r.patient, metric: r.metric, time: r.time, value: r.value, triage, receivedAt };
  if (r.id !== undefined) out.id = r.id;
  if (r.device !== undefined) out.device = r.device;
  return out;
}

/** A patient record in the current form: a record or command of before several programmes has `programme`. */
function currentRecord(r: PatientRecord | (Omit<PatientRecord, "programmes"> & PatientInput)): PatientRecord {
  const { programme: _legacy, ...rest } = r as PatientRecord & { programme?: ProgrammeId };
  return { ...rest, programmes: programmesOf(r) };
}
