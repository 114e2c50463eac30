// The whole of varsel below the protocol: patients and their care teams, versioned thresholds,
// ingest (plain or FHIR) with idempotent measurement ids, evaluation, and the alert lifecycle.
// The server only translates HTTP and WebSocket into calls on this class.
import { Engine, type IngestResult } from "./engine.js";
import { VarselError } from "./errors.js";
import type { Evaluator } from "./evaluator.js";
import { fhirToItems, ingestFhir } from "./ingest/fhir.js";
import { normalizeReading, type BatchRejection, type Reading } from "./ingest/normalize.js";
import { AlertLifecycle } from "./lifecycle/lifecycle.js";
import { validateChain } from "./lifecycle/routing.js";
import type { ReviewSource } from "./lifecycle/review.js";
import type { LifecycleOptions, LifecycleState, RoutingEntry, RuleContext } from "./lifecycle/types.js";
import { IdempotencyWindow, type IdempotencyState } from "./idempotency.js";
import type { RegistryState } from "./patients.js";
import { compileRuleSet, ruleMetricUnit } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { effectiveRules, PROGRAMMES, type ProgrammeId } from "./rules/programmes.js";
import { ThresholdHistory, type RuleOverride, type ThresholdVersion } from "./thresholds.js";
import { resolveMetric } from "./metrics.js";

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

export interface IngestAnswer {
  /** Readings evaluated now. */
  accepted: number;
  /** Readings whose measurement id was already received: acknowledged again, not evaluated again. */
  duplicates: { index: number; id: string }[];
  rejected: BatchRejection[];
  /** FHIR Observations with status cancelled / entered-in-error. */
  invalidated: { index: number; id: string }[];
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

export class Pipeline {
  readonly engine: Engine;
  readonly lifecycle: AlertLifecycle;
  readonly thresholds = new ThresholdHistory();
  private readonly patients = new Map<string, PatientRecord>();
  private readonly seen: IdempotencyWindow;

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
  exportState(): { kernel: Uint8Array; state: PipelineState } {
    return {
      kernel: this.engine.snapshotEvaluator(),
      state: {
        patients: [...this.patients.values()],
        seen: this.seen.exportState(),
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
    const limits = def.kind === "missing" ? { stale: def.stale, daily: def.daily } : def.limits;
    return { kind: def.kind, thresholdVersion: this.thresholdVersion(patient), limits };
  }

  private requirePatient(id: string): PatientRecord {
    const p = this.patients.get(id);
    if (p === undefined) throw new VarselError("not_found", "unknown patient");
    return p;
  }

  // ---- ingest ----

  /** Plain readings: validates each, evaluates the valid ones, feeds the lifecycle. */
  ingest(items: readonly unknown[], scope: IngestScope, now: number): IngestAnswer {
    const rejected: BatchRejection[] = [];
    const valid: { index: number; reading: Reading }[] = [];
    items.forEach((item, index) => {
      const r = normalizeReading(item, now);
      if (r.ok) valid.push({ index, reading: r.reading });
      else rejected.push({ index, ...r.rejection });
    });
    return this.evaluate(valid, rejected, [], scope, now, { items });
  }

  /** A FHIR Observation or Bundle: entries (and BP components) become readings; `index` is the entry index. */
  ingestFhir(resource: unknown, scope: IngestScope, now: number): IngestAnswer {
    const fhir = ingestFhir(resource, now, (ref) => ref);
    const rejected = fhir.rejected.map((r) => ({ index: r.entry, code: r.code, message: r.component === undefined ? r.message : `component ${r.component}: ${r.message}` }));
    const valid = fhir.accepted.map((a) => ({ index: a.entry, reading: a.reading }));
    const invalidated = fhir.invalidations.map((i) => ({ index: i.entry, id: i.id }));
    return this.evaluate(valid, rejected, invalidated, scope, now, { attribute: (r) => fhirOrigin(resource, r.index) });
  }

  private evaluate(
    candidates: { index: number; reading: Reading }[],
    rejected: BatchRejection[],
    invalidated: { index: number; id: string }[],
    scope: IngestScope,
    now: number,
    review: Omit<ReviewSource, "knownPatient">,
  ): IngestAnswer {
    const duplicates: { index: number; id: string }[] = [];
    const valid: { index: number; reading: Reading }[] = [];
    const inBatch = new Set<string>();
    const allowed = scope.teams === undefined ? undefined : new Set(scope.teams);
    const mayIngest = new Map<string, boolean>();
    const inScope = (patient: string) => {
      let ok = mayIngest.get(patient);
      if (ok === undefined) mayIngest.set(patient, (ok = allowed === undefined || this.teamsOf(patient).some((t) => allowed.has(t))));
      return ok;
    };
    for (const c of candidates) {
      const { patient, metric, id } = c.reading;
      const key = id === undefined ? undefined : `${patient}\u0000${metric}\u0000${id}`;
      // A scoped sender (a device) learns nothing about patients outside its teams, not even whether they exist.
      if (!inScope(patient)) {
        rejected.push({ index: c.index, code: "forbidden", message: "patient is not in the sender's care teams" });
      } else if (!this.patients.has(patient)) rejected.push({ index: c.index, code: "unknown_patient", message: "patient is not registered" });
      else if (key !== undefined && (this.seen.has(key) || inBatch.has(key))) duplicates.push({ index: c.index, id: id! });
      else {
        if (key !== undefined) inBatch.add(key);
        valid.push(c);
      }
    }
    const result: IngestResult = { accepted: valid.length, rejected, ...this.engine.evaluate(valid, now) };
    for (const { reading } of valid) if (reading.id !== undefined) this.remember(`${reading.patient}\u0000${reading.metric}\u0000${reading.id}`);
    this.lifecycle.ingest(result, now, { ...review, knownPatient: (p) => this.patients.has(p) });
    rejected.sort((a, b) => a.index - b.index);
    return {
      accepted: valid.length,
      duplicates,
      rejected,
      invalidated,
      readings: result.readings.map((r) => ({ index: r.index, metric: r.metric, triage: r.triage })),
      transitions: result.transitions.length,
    };
  }

  private remember(key: string): void {
    this.seen.add(key);
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
