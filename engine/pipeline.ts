// The whole of varsel below the protocol: patients and their care teams, versioned thresholds,
// ingest (plain or FHIR) with idempotent measurement ids, evaluation, and the alert lifecycle.
// The server only translates HTTP and WebSocket into calls on this class.
import { TRIAGE_N, TRIAGE_NOT_TRIAGED, TRIAGE_REF_NEEDED } from "../assembly/layout.js";
import { TRIAGE_NAMES } from "./alerts.js";
import { Engine, type EvaluatedReading } from "./engine.js";
import { VarselError } from "./errors.js";
import type { Evaluator } from "./evaluator.js";
import { fhirToItems, ingestFhir } from "./ingest/fhir.js";
import { ReadingColumns } from "./ingest/columns.js";
import { PatientCache, type SenderScope } from "./ingest/patient-cache.js";
import { newReadingFields, normalizeReading, readInto, type BatchRejection, type Reading } from "./ingest/normalize.js";
import { AlertLifecycle } from "./lifecycle/lifecycle.js";
import { validateChain } from "./lifecycle/routing.js";
import { limitsInForce } from "./lifecycle/rules.js";
import type { ReviewSource } from "./lifecycle/review.js";
import type { LifecycleOptions, LifecycleState, RoutingEntry, RuleContext } from "./lifecycle/types.js";
import { IdempotencyWindow, type IdempotencyState } from "./idempotency.js";
import type { RegistryState } from "./patients.js";
import { compileRuleSet, ruleMetricUnit } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { effectiveRules, PROGRAMMES, type ProgrammeId } from "./rules/programmes.js";
import { ThresholdHistory, type RuleOverride, type ThresholdVersion } from "./thresholds.js";
import { METRICS, resolveMetric } from "./metrics.js";

/** A patient as the API shows it. */
export interface PatientRecord {
  id: string;
  programme?: ProgrammeId;
  /** The care chain in order (hospital, municipality, GP); teams also decide who may see the patient. */
  careTeams: RoutingEntry[];
  paused: boolean;
  /** Clinician reference values for baseline rules, by metric key. */
  references: Record<string, number>;
  updatedAt: number;
}

export type PatientInput = Omit<PatientRecord, "id" | "updatedAt">;

/** Who sends readings: devices only for patients of their teams. */
export interface IngestScope {
  /** Teams the sender may ingest for; undefined = any patient (admin, internal). */
  teams?: readonly string[];
  channel: string;
}

export interface IngestOptions {
  /** The answer's `readings` lists only readings whose triage is not N (counts stay complete). */
  compact?: boolean;
}

export interface IngestAnswer {
  /** Readings evaluated now. */
  accepted: number;
  /** Readings whose measurement id was already received: acknowledged again, not evaluated again. */
  duplicates: { index: number; id: string }[];
  rejected: BatchRejection[];
  /** FHIR Observations with status cancelled / entered-in-error. */
  invalidated: { index: number; id: string }[];
  /** Every evaluated reading in evaluation order; with `compact`, only those whose triage is not N. */
  readings: { index: number; metric: string; triage: string }[];
  /** Alert transitions this batch caused. */
  transitions: number;
}

/** Everything but the kernel, as plain data (snapshots). */
export interface PipelineState {
  patients: PatientRecord[];
  seen: IdempotencyState;
  thresholds: ReturnType<ThresholdHistory["exportState"]>;
  registry: RegistryState;
  lifecycle: LifecycleState;
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
  rejected: BatchRejection[];
  duplicates: { index: number; id: string }[];
  /** Measurement-id keys admitted in this batch (created at the first id). */
  inBatch: Set<string> | undefined;
  /** The same keys in order, remembered once the batch is evaluated. */
  keys: string[];
}

export class Pipeline {
  readonly engine: Engine;
  readonly lifecycle: AlertLifecycle;
  readonly thresholds = new ThresholdHistory();
  private readonly patients = new Map<string, PatientRecord>();
  private readonly seen: IdempotencyWindow;
  private readonly cache = new PatientCache((id) => (this.patients.has(id) ? this.teamsOf(id) : undefined));
  private readonly cols = new ReadingColumns();
  private readonly fields = newReadingFields();

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
      },
    };
  }

  /** A pipeline continuing exactly from an exported state (the evaluator restored from its bytes). */
  static fromState(evaluator: Evaluator, state: PipelineState, options: Omit<PipelineOptions, "evaluator"> = {}): Pipeline {
    const p = new Pipeline({ ...options, evaluator });
    for (const record of state.patients) p.patients.set(record.id, record);
    p.seen.importState(state.seen);
    p.thresholds.importState(state.thresholds);
    p.engine.patients.importState(
      state.registry,
      state.registry.patients.map((id) => {
        const r = p.patients.get(id);
        if (r === undefined) throw new RangeError(`snapshot: patient ${id} is in the registry but has no record`);
        return { programme: r.programme, rules: p.thresholds.patientOverrides(id), references: r.references, paused: r.paused };
      }),
    );
    p.lifecycle.importState(
      state.lifecycle,
      state.patients.map((r) => [r.id, { programme: r.programme, careTeams: r.careTeams }]),
    );
    return p;
  }

  // ---- patients and thresholds ----

  /** Creates or updates a patient; validation failures leave the patient as it was. */
  upsertPatient(id: string, input: PatientInput, now: number): PatientRecord {
    if (input.programme !== undefined && PROGRAMMES[input.programme] === undefined) {
      throw new VarselError("invalid_body", `unknown programme ${input.programme}`, { programme: input.programme });
    }
    validateChain(input.careTeams);
    const record: PatientRecord = { id, ...input, updatedAt: now };
    this.reconfigure(record, this.thresholds.patientOverrides(id), now);
    this.lifecycle.setPatient(id, { programme: input.programme, careTeams: input.careTeams }, now);
    this.patients.set(id, record);
    this.cache.forget(id); // its teams may have changed
    return record;
  }

  patient(id: string): PatientRecord | undefined {
    return this.patients.get(id);
  }

  /** Teams that may see a patient (its care chain). */
  teamsOf(patient: string): string[] {
    return [...new Set(this.patients.get(patient)?.careTeams.map((e) => e.team) ?? [])];
  }

  /** Replaces a patient's overrides; the new version is recorded only if every rule compiles. */
  setPatientThresholds(id: string, rules: RuleOverride[], author: string, reason: string, now: number): ThresholdVersion {
    const record = this.requirePatient(id);
    this.reconfigure(record, rules, now);
    return this.thresholds.setPatient(id, rules, author, reason, now);
  }

  /** Replaces a programme's rule set and re-judges every patient on it from now on. */
  setProgrammeThresholds(id: ProgrammeId, rules: RuleDef[], author: string, reason: string, now: number): ThresholdVersion {
    if (PROGRAMMES[id] === undefined) throw new VarselError("not_found", `unknown programme ${id}`);
    // Validate the whole set before recording it: a bad rule leaves the programme as it was.
    compileRuleSet(rules, { now, canonicalUnit: ruleMetricUnit, slotOf: () => 0 });
    const version = this.thresholds.setProgramme(id, rules, author, reason, now);
    for (const patient of this.engine.patients.onProgramme(id)) {
      this.reconfigure(this.requirePatient(patient), this.thresholds.patientOverrides(patient), now);
    }
    return version;
  }

  /** The rules that judge a patient now: the programme's with the patient's overrides applied. */
  effectiveRules(id: string): RuleDef[] {
    const programme = this.requirePatient(id).programme;
    const base = programme === undefined ? undefined : { ...PROGRAMMES[programme], rules: this.thresholds.programmeRules(programme) };
    return effectiveRules(base, this.thresholds.patientOverrides(id));
  }

  /** The threshold version that judges a patient now: "<programme>:v<n>/patient:v<m>" (v0 = built-in defaults). */
  thresholdVersion(patient: string): string {
    const programme = this.patients.get(patient)?.programme;
    const p = programme === undefined ? "none" : `${programme}:v${this.thresholds.programmeHistory(programme).length}`;
    return `${p}/patient:v${this.thresholds.patientHistory(patient).length}`;
  }

  private reconfigure(record: PatientRecord, overrides: RuleOverride[], now: number): void {
    const removed = this.engine.configurePatient(
      record.id,
      { programme: record.programme, rules: overrides, references: record.references, paused: record.paused },
      now,
    );
    for (const rule of removed) this.lifecycle.retire(record.id, rule, now);
  }

  private ruleContext(patient: string, rule: string): RuleContext | undefined {
    const def = this.engine.patients.definition(patient, rule);
    if (def === undefined) return undefined;
    return { kind: def.kind, thresholdVersion: this.thresholdVersion(patient), limits: limitsInForce(def) };
  }

  private requirePatient(id: string): PatientRecord {
    const p = this.patients.get(id);
    if (p === undefined) throw new VarselError("not_found", "unknown patient");
    return p;
  }

  // ---- ingest ----

  /**
   * Plain readings: validates each, evaluates the valid ones, feeds the lifecycle. With
   * `compact`, the answer's `readings` lists only readings whose triage is not N.
   */
  ingest(items: readonly unknown[], scope: IngestScope, now: number, options: IngestOptions = {}): IngestAnswer {
    const b = this.startBatch(scope);
    const f = this.fields;
    for (let index = 0; index < items.length; index++) {
      const rejection = readInto(items[index], now, f);
      if (rejection !== undefined) b.rejected.push({ index, code: rejection.code, message: rejection.message });
      else this.admit(b, index, f.patient, f.metric.index, f.metric.key, f.value, f.time, f.id);
    }
    // Full reading objects only for the few readings the lifecycle needs (normalizing is deterministic).
    const readingAt = (pos: number) => (normalizeReading(items[b.cols.index[pos]], now) as { reading: Reading }).reading;
    return this.evaluate(b, [], now, options, readingAt, { items });
  }

  /** A FHIR Observation or Bundle: entries (and BP components) become readings; `index` is the entry index. */
  ingestFhir(resource: unknown, scope: IngestScope, now: number, options: IngestOptions = {}): IngestAnswer {
    const fhir = ingestFhir(resource, now, (ref) => ref);
    const b = this.startBatch(scope);
    for (const r of fhir.rejected) {
      b.rejected.push({ index: r.entry, code: r.code, message: r.component === undefined ? r.message : `component ${r.component}: ${r.message}` });
    }
    const admitted: Reading[] = [];
    for (const { entry, reading: r } of fhir.accepted) {
      if (this.admit(b, entry, r.patient, r.metricIndex, r.metric, r.value, r.time, r.id)) admitted.push(r);
    }
    const invalidated = fhir.invalidations.map((i) => ({ index: i.entry, id: i.id }));
    const answer = this.evaluate(b, invalidated, now, options, (pos) => admitted[pos], { attribute: (r) => fhirOrigin(resource, r.index) });
    for (const i of fhir.invalidations) {
      // Only a sender that may send for the patient may withdraw its readings.
      const entry = i.patient === undefined ? undefined : this.cache.entry(i.patient);
      if (entry !== undefined && this.cache.admits(entry, b.scope)) this.lifecycle.withdrawReading(i.patient!, i.id, now);
    }
    return answer;
  }

  /** Per-batch state for admit(). */
  private startBatch(scope: IngestScope): Batch {
    return {
      scope: this.cache.scope(scope.teams),
      cols: this.cols.reset(),
      rejected: [],
      duplicates: [],
      inBatch: undefined,
      keys: [],
    };
  }

  /**
   * Scope, registration and measurement-id checks of one valid reading; the reading goes into
   * the batch's columns, or into rejected / duplicates. True when it was admitted.
   */
  private admit(b: Batch, index: number, patient: string, metricIndex: number, metric: string, value: number, time: number, id: string | undefined): boolean {
    const entry = this.cache.entry(patient);
    // A scoped sender (a device) learns nothing about patients outside its teams, not even whether they exist.
    if (!this.cache.admits(entry, b.scope)) {
      b.rejected.push({ index, code: "forbidden", message: "patient is not in the sender's care teams" });
      return false;
    }
    if (entry === undefined) {
      b.rejected.push({ index, code: "unknown_patient", message: "patient is not registered" });
      return false;
    }
    if (id !== undefined) {
      const key = `${patient}\u0000${metric}\u0000${id}`;
      b.inBatch ??= new Set();
      if (this.seen.has(key) || b.inBatch.has(key)) {
        b.duplicates.push({ index, id });
        return false;
      }
      b.inBatch.add(key);
      b.keys.push(key);
    }
    let slot = entry.slots[metricIndex];
    if (slot < 0) slot = entry.slots[metricIndex] = this.engine.patients.slotOf(patient, metric);
    b.cols.push(slot, time, value, metricIndex, index);
    return true;
  }

  /** Evaluates the batch's columns, feeds the lifecycle and builds the answer. */
  private evaluate(
    b: Batch,
    invalidated: { index: number; id: string }[],
    now: number,
    options: IngestOptions,
    readingAt: (pos: number) => Reading,
    review: Omit<ReviewSource, "knownPatient">,
  ): IngestAnswer {
    const cols = b.cols;
    const n = cols.length;
    const { triage, order, transitions } = this.engine.evaluateColumns(cols, now);
    for (const key of b.keys) this.seen.add(key);
    const triggers = new Set<number>();
    for (const t of transitions) if (t.reading !== undefined) triggers.add(t.reading);
    // The lifecycle sees only the readings it uses: transition triggers (measurement ids for the
    // why) and readings that need a review; the answer, every reading or only those not N.
    const needed: EvaluatedReading[] = [];
    const readings: IngestAnswer["readings"] = [];
    for (let k = 0; k < n; k++) {
      const pos = order === undefined ? k : order[k];
      const code = triage[k];
      const index = cols.index[pos];
      if (options.compact !== true || code !== TRIAGE_N) readings.push({ index, metric: METRICS[cols.metric[pos]].key, triage: TRIAGE_NAMES[code] });
      if (code === TRIAGE_NOT_TRIAGED || code === TRIAGE_REF_NEEDED || (triggers.size > 0 && triggers.has(index))) {
        const r = readingAt(pos);
        needed.push({ patient: r.patient, metric: r.metric, metricIndex: r.metricIndex, value: r.value, time: r.time, id: r.id, device: r.device, index, triage: TRIAGE_NAMES[code] });
      }
    }
    const rejected = b.rejected;
    this.lifecycle.ingest({ readings: needed, rejected, transitions }, now, { ...review, knownPatient: (p) => this.patients.has(p) });
    rejected.sort((a, c) => a.index - c.index);
    return { accepted: n, duplicates: b.duplicates, rejected, invalidated, readings, transitions: transitions.length };
  }

  /** Advances the clock for missing data, pending timers, silences and escalation. */
  tick(now: number): void {
    this.lifecycle.apply(this.engine.tick(now), now);
    this.lifecycle.tick(now);
  }
}

/** Patient and metric of a rejected FHIR entry, so a unit failure can be shown to its clinicians. */
function fhirOrigin(resource: unknown, entry: number): { patient: string; metric: string } | undefined {
  try {
    const item = fhirToItems(resource).items.find((i) => i.entry === entry)?.item;
    const metric = item === undefined ? undefined : resolveMetric(item.metric)?.metric.key;
    return item === undefined || metric === undefined ? undefined : { patient: item.patient, metric };
  } catch {
    return undefined;
  }
}
