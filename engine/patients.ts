// Patients, their slots (one per metric) and their compiled rules: the bridge between the
// clinical vocabulary (patient id, metric key, rule id) and the evaluator's numbers.
import { KIND_SCORE_LINK } from "../assembly/layout.js";
import { VarselError } from "./errors.js";
import { alignedCopy, bytesOf } from "./typed-bytes.js";
import type { CompiledRule, Evaluator, Limits, ParamSet } from "./evaluator.js";
import { metricByKey } from "./metrics.js";
import { compileRuleSet, ruleMetricUnit, type CompiledDefinition } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { checkProgrammes, effectiveRules, PROGRAMMES, programmeSets, programmesOf, type ProgrammeId } from "./rules/programmes.js";
import { definitionTable, Restored, RestoredPatient, RULE_ACTIVE, type RegistryState } from "./registry-snapshot.js";

export type { RegistryState } from "./registry-snapshot.js";

/** What a clinician or administrator sets for a patient. */
export interface PatientConfig {
  /** The patient's programmes, in order; their rules are merged into one set (engine/rules/merge.ts). */
  programmes?: ProgrammeId[];
  /** The one programme of configurations from before `programmes` (read as `[programme]`). */
  programme?: ProgrammeId;
  /** Per-patient overrides of the programme's rules, by rule id. */
  rules?: (RuleDef | { id: string; remove: true })[];
  /** Clinician reference values (baseline) by metric key, in the canonical unit. */
  references?: Record<string, number>;
  paused?: boolean;
}

/** What the engine knows about one evaluator rule id. */
export interface RuleInfo {
  patient: string;
  ruleId: string;
  metric: string;
  definition: RuleDef;
  compiled: CompiledRule;
  /** Score link rules only trigger a score; they never alert. */
  link: boolean;
}

/** A registered patient (exported for the snapshot code in registry-snapshot.ts). */
export interface Patient {
  id: string;
  config: PatientConfig;
  slots: Map<string, number>;
  /** Rule id → evaluator rule id of the active rules. */
  rules: Map<string, number>;
  /** Score rule id → its link rule ids. */
  links: Map<string, number[]>;
}

const NEWS2_METRIC = "news2";

/** A merged rule set compiled with provisional slots (see PatientRegistry.template). */
interface Template {
  compiled: CompiledDefinition[];
  /** The metric of provisional slot -1 - k. */
  metrics: string[];
}



/** Records built between two pauses of prepareExport (a few ms). */
const BUILD_STEP = 8192;

export class PatientRegistry {
  private readonly patients = new Map<string, Patient>();
  /** Per slot: its patient and metric. */
  private readonly slotPatients: string[] = [];
  private readonly slotMetrics: string[] = [];
  /** Per evaluator rule; after a restore, filled in on first use (restoring 500 000 objects was most of a restart). */
  private readonly ruleInfo: (RuleInfo | undefined)[] = [];
  /**
   * Bumped by every change exportState's output depends on: an unchanged registry exports the
   * columns of its last export (snapshots; building them costs ~0.3 s at 100 000 patients).
   */
  private version = 0;
  private exported: { version: number; configs: boolean; state: RegistryState } | undefined;
  private restored: Restored | undefined;
  /** Compiled rule sets by programme list, for patients without overrides (see template()). */
  private readonly templates = new Map<string, { lists: RuleDef[][]; now: number; definitions: RuleDef[]; template: Template }>();

  /** `programmeRules` gives a programme's current rule set (versioned elsewhere; default: built-in). */
  constructor(
    private readonly ev: Evaluator,
    private readonly programmeRules: (id: ProgrammeId) => RuleDef[] = (id) => PROGRAMMES[id].rules,
  ) {}

  /** Ids of the patients on a programme, alone or with others (to recompile them when its rules change). */
  onProgramme(programme: ProgrammeId): string[] {
    return [...this.patients.values()].filter((p) => programmesOf(p.config).includes(programme)).map((p) => p.id);
  }

  /** The configuration a patient was last given. */
  config(patient: string): PatientConfig {
    return this.get(patient).config;
  }

  /** Everything the registry holds, as compact columns (see RegistryState). */
  exportState(options: { configs?: boolean } = {}): RegistryState {
    const configs = options.configs !== false;
    const last = this.exported;
    if (last !== undefined && last.version === this.version && last.configs === configs) return last.state;
    const state = this.buildState(options);
    this.exported = { version: this.version, configs, state };
    return state;
  }

  /**
   * Builds the export of this version in slices (`slice` is awaited between steps of a few
   * thousand records), for exportState to return at once afterwards (a snapshot's capture, which
   * must not stall: building the columns is ~1.5 s at 100 000 patients). Resolves false when the
   * registry changed meanwhile (the part built is dropped: the caller tries again later).
   */
  async prepareExport(options: { configs?: boolean }, slice: () => Promise<void>, step = BUILD_STEP): Promise<boolean> {
    const configs = options.configs !== false;
    const version = this.version;
    const last = this.exported;
    if (last !== undefined && last.version === version && last.configs === configs) return true;
    const steps = this.buildSteps(options, step);
    for (let next = steps.next(); ; next = steps.next()) {
      if (next.done === true) {
        this.exported = { version, configs, state: next.value };
        return true;
      }
      await slice();
      // Every change the columns depend on bumps the version: unchanged means what was read still holds.
      if (this.version !== version) return false;
    }
  }

  /** Whether exportState(options) returns without building (see prepareExport). */
  exportReady(options: { configs?: boolean } = {}): boolean {
    const last = this.exported;
    return last !== undefined && last.version === this.version && last.configs === (options.configs !== false);
  }

  private buildState(options: { configs?: boolean }): RegistryState {
    const steps = this.buildSteps(options);
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    return step.value;
  }

  /** buildState's work, pausing (yield) every STEP records; reads the live registry between pauses. */
  private *buildSteps(options: { configs?: boolean }, STEP = BUILD_STEP): Generator<void, RegistryState, void> {
    const patientIndex = new Map<string, number>();
    const patients: string[] = [];
    const configs: PatientConfig[] = [];
    for (const p of this.patients.values()) {
      patientIndex.set(p.id, patients.length);
      patients.push(p.id);
      configs.push(p.config);
      if (patients.length % STEP === 0) yield;
    }
    const metricIndex = new Map<string, number>();
    const slots = this.slotPatients.length;
    const slotPatient = new Int32Array(slots).fill(-1);
    const slotMetric = new Int32Array(slots).fill(-1);
    for (let slot = 0; slot < slots; slot++) {
      if (slot % STEP === STEP - 1) yield;
      const patient = this.slotPatients[slot];
      if (patient === undefined) continue;
      slotPatient[slot] = patientIndex.get(patient)!;
      const metric = this.slotMetrics[slot];
      let m = metricIndex.get(metric);
      if (m === undefined) metricIndex.set(metric, (m = metricIndex.size));
      slotMetric[slot] = m;
    }
    const definitionIndex = definitionTable();
    const n = this.ruleInfo.length;
    const rulePatient = new Int32Array(n).fill(-1);
    const ruleDefinition = new Int32Array(n).fill(-1);
    const ruleSlot = new Int32Array(n).fill(-1);
    const ruleTarget = new Int32Array(n).fill(-1);
    const ruleAnchor = new Float64Array(n);
    const ruleFlags = new Uint8Array(n);
    const r = this.restored;
    for (let id = 0; id < n; id++) {
      if (id % STEP === STEP - 1) yield;
      const info = this.ruleInfo[id];
      let definition: RuleDef;
      if (info !== undefined) {
        rulePatient[id] = patientIndex.get(info.patient)!;
        definition = info.definition;
        ruleSlot[id] = info.compiled.slot;
        ruleTarget[id] = info.link ? info.compiled.target! : -1;
        ruleAnchor[id] = info.compiled.anchor;
      } else if (r !== undefined && id < r.rulePatient.length && r.rulePatient[id] >= 0) {
        // Not touched since the restore: copied from the columns (patients keep their index: none is ever removed).
        rulePatient[id] = r.rulePatient[id];
        definition = r.definitions[r.ruleDefinition[id]];
        ruleSlot[id] = r.ruleSlot[id];
        ruleTarget[id] = r.ruleTarget[id];
        ruleAnchor[id] = r.ruleAnchor[id];
      } else continue;
      ruleDefinition[id] = definitionIndex.indexOf(definition);
    }
    // Restored patients nobody touched still have the restored flags; the others say what is active.
    if (r !== undefined) ruleFlags.set(r.ruleFlags.subarray(0, Math.min(n, r.ruleFlags.length)));
    let walked = 0;
    for (const p of this.patients.values()) {
      if (++walked % STEP === 0) yield;
      if (p instanceof RestoredPatient) {
        if (!p.rulesTouched()) continue;
        for (const id of r!.ruleIdsOf(p.index)) ruleFlags[id] = 0;
      }
      for (const id of p.rules.values()) ruleFlags[id] = RULE_ACTIVE;
      for (const ids of p.links.values()) for (const id of ids) ruleFlags[id] = RULE_ACTIVE;
    }
    return {
      patients,
      ...(options.configs === false ? {} : { configs }),
      definitions: definitionIndex.definitions,
      metrics: [...metricIndex.keys()],
      slotPatient: bytesOf(slotPatient),
      slotMetric: bytesOf(slotMetric),
      rulePatient: bytesOf(rulePatient),
      ruleDefinition: bytesOf(ruleDefinition),
      ruleSlot: bytesOf(ruleSlot),
      ruleTarget: bytesOf(ruleTarget),
      ruleAnchor: bytesOf(ruleAnchor),
      ruleFlags: ruleFlags,
    };
  }

  /** Restores `exportState`'s data; the evaluator must hold the matching slots and rules (a kernel snapshot). */
  importState(state: RegistryState, configs: readonly PatientConfig[] | undefined = state.configs): void {
    if (configs === undefined || configs.length !== state.patients.length) throw new RangeError("registry state: one configuration per patient is needed");
    this.version++;
    const patients: RestoredPatient[] = [];
    const slotPatient = new Int32Array(alignedCopy(state.slotPatient));
    const r = new Restored(state, patients, slotPatient);
    state.patients.forEach((id, i) => patients.push(new RestoredPatient(id, configs[i], i, r)));
    this.patients.clear();
    for (const p of patients) this.patients.set(p.id, p);
    this.slotPatients.length = 0;
    this.slotMetrics.length = 0;
    for (let slot = 0; slot < slotPatient.length; slot++) {
      if (slotPatient[slot] < 0) continue;
      this.slotPatients[slot] = patients[slotPatient[slot]].id;
      this.slotMetrics[slot] = r.metrics[r.slotMetricOf(slot)];
    }
    this.restored = r;
    this.ruleInfo.length = 0;
    this.ruleInfo.length = r.rulePatient.length;
  }

  /** A rule's RuleInfo, made from the restored columns on first use. */
  private info(id: number): RuleInfo {
    const known = this.ruleInfo[id];
    if (known !== undefined) return known;
    const r = this.restored!;
    const p = r.patients[r.rulePatient[id]];
    const definition = r.definitions[r.ruleDefinition[id]];
    const target = r.ruleTarget[id];
    let info: RuleInfo;
    if (target >= 0) {
      // A score link: the score rule's compiled form on another slot (as `add` makes it).
      const score = this.info(target);
      const compiled: CompiledRule = { ...score.compiled, kind: KIND_SCORE_LINK, slot: r.ruleSlot[id], target, scoreInputs: undefined };
      info = { patient: p.id, ruleId: definition.id, metric: score.metric, definition, compiled, link: true };
    } else {
      const compiled = r.compile(definition, p.slots, r.ruleSlot[id], r.ruleAnchor[id]);
      info = { patient: p.id, ruleId: definition.id, metric: this.slotMetrics[r.ruleSlot[id]], definition, compiled, link: false };
    }
    this.ruleInfo[id] = info;
    return info;
  }

  has(patient: string): boolean {
    return this.patients.has(patient);
  }

  /** The slot of a patient's metric, allocated on first use. */
  slotOf(patient: string, metric: string): number {
    const p = this.get(patient);
    let slot = p.slots.get(metric);
    if (slot === undefined) {
      this.version++;
      const histCap = metric === NEWS2_METRIC ? 0 : (metricByKey(metric)?.typicalHistory ?? 0);
      slot = this.ev.addSlot({ histCap, ref: p.config.references?.[metric] ?? NaN, paused: p.config.paused === true });
      p.slots.set(metric, slot);
      this.slotPatients[slot] = patient;
      this.slotMetrics[slot] = metric;
    }
    return slot;
  }

  /** The slot of a patient's metric if it has one (never allocates). */
  existingSlot(patient: string, metric: string): number | undefined {
    return this.patients.get(patient)?.slots.get(metric);
  }

  /** The metrics a patient has a slot for (every metric it was sent readings of). */
  metricsOf(patient: string): string[] {
    return [...(this.patients.get(patient)?.slots.keys() ?? [])];
  }

  /** The evaluator id of a patient's active rule, or undefined. */
  ruleIndex(patient: string, ruleId: string): number | undefined {
    return this.patients.get(patient)?.rules.get(ruleId);
  }

  slotOwner(slot: number): { patient: string; metric: string } {
    return { patient: this.slotPatients[slot], metric: this.slotMetrics[slot] };
  }

  rule(id: number): RuleInfo {
    return this.info(id);
  }

  /**
   * Creates or reconfigures a patient. All rules are compiled before anything changes, so an
   * invalid threshold leaves the patient as it was. Rules kept by id keep their alert state.
   * Returns the ids of the rules that were removed (their open alerts must be retired).
   */
  configure(patient: string, config: PatientConfig, now: number): string[] {
    const programmes = programmesOf(config);
    checkProgrammes(programmes, "invalid_threshold");
    for (const metric of Object.keys(config.references ?? {})) {
      if (metricByKey(metric) === undefined) throw new VarselError("unknown_metric", `unknown metric ${metric}`, { metric });
    }
    this.version++;
    const existed = this.patients.get(patient);
    const p: Patient = existed ?? { id: patient, config, slots: new Map(), rules: new Map(), links: new Map() };
    // The merged rule set is compiled once here; the oracle and the kernel both evaluate it.
    const { definitions, template } = this.template(programmes, config.rules, now);
    const compiled = this.instantiate(p, template);
    const wasPaused = p.config.paused === true;
    p.config = config;
    this.applyReferencesAndPause(p, wasPaused, now);
    return this.replaceRules(p, definitions, compiled);
  }

  /** The definition of a patient's active rule, or undefined. */
  definition(patient: string, ruleId: string): RuleDef | undefined {
    const id = this.patients.get(patient)?.rules.get(ruleId);
    return id === undefined ? undefined : this.info(id).definition;
  }

  /**
   * The merged definitions and their compiled form with provisional slots (-1 - k for the k-th
   * metric the rules name). Patients of the same programmes without overrides share one, compiled
   * once while the programmes' rule lists and `now` (the missing rules' anchor) are unchanged: a
   * cohort of 10 000 patients compiled each patient's identical rules before.
   */
  private template(programmes: ProgrammeId[], overrides: PatientConfig["rules"], now: number): { definitions: RuleDef[]; template: Template } {
    const lists = programmes.map((id) => this.programmeRules(id));
    const shared = overrides === undefined || overrides.length === 0;
    const key = programmes.join(",");
    const known = shared ? this.templates.get(key) : undefined;
    if (known !== undefined && known.now === now && known.lists.every((l, i) => l === lists[i])) return known;
    const sets = programmeSets(programmes, (id) => lists[programmes.indexOf(id)]);
    const definitions = effectiveRules(sets, overrides).map((e) => e.rule);
    const metrics: string[] = [];
    const ctx = {
      now,
      canonicalUnit: ruleMetricUnit,
      slotOf: (m: string) => {
        let k = metrics.indexOf(m);
        if (k < 0) k = metrics.push(m) - 1;
        return -1 - k;
      },
    };
    const entry = { lists, now, definitions, template: { compiled: compileRuleSet(definitions, ctx), metrics } };
    if (shared) this.templates.set(key, entry);
    return entry;
  }

  /**
   * A template's rules on the patient's slots: the slots it has, the others allocated in the order
   * the rules name their metrics (only now: every rule compiled, so a bad one changed nothing).
   */
  private instantiate(p: Patient, template: Template): CompiledDefinition[] {
    if (!this.patients.has(p.id)) this.patients.set(p.id, p);
    const real = template.metrics.map((m) => p.slots.get(m) ?? this.slotOf(p.id, m));
    const fix = (slot: number) => (slot < 0 ? real[-1 - slot] : slot);
    return template.compiled.map(({ rule, links }) => ({
      rule: { ...rule, slot: fix(rule.slot), scoreInputs: rule.scoreInputs?.map(fix) },
      links: links.map(fix),
    }));
  }

  private applyReferencesAndPause(p: Patient, wasPaused: boolean, now: number): void {
    for (const [metric, value] of Object.entries(p.config.references ?? {})) {
      this.ev.setSlotRef(this.slotOf(p.id, metric), value);
    }
    const paused = p.config.paused === true;
    if (paused !== wasPaused) for (const slot of p.slots.values()) this.ev.setSlotPaused(slot, paused, now);
  }

  private replaceRules(p: Patient, definitions: RuleDef[], compiled: CompiledDefinition[]): string[] {
    const keep = new Set(definitions.map((d) => d.id));
    // A rule that changed shape (kind, metric, flags) starts afresh: its old alert is retired too.
    const retired = [...p.rules.keys()].filter((id) => !keep.has(id));
    for (const id of retired) this.remove(p, id);
    definitions.forEach((def, i) => {
      const { rule, links } = compiled[i];
      const existing = p.rules.get(def.id);
      if (existing !== undefined && this.sameShape(this.info(existing).compiled, rule)) {
        this.update(existing, def, rule);
        return;
      }
      if (existing !== undefined) {
        this.remove(p, def.id);
        retired.push(def.id);
      }
      this.add(p, def, rule, links);
    });
    return retired;
  }

  private sameShape(a: CompiledRule, b: CompiledRule): boolean {
    return a.kind === b.kind && a.slot === b.slot && a.flags === b.flags && String(a.scoreInputs) === String(b.scoreInputs);
  }

  private update(id: number, def: RuleDef, rule: CompiledRule): void {
    const info = this.info(id);
    if (!sameLimits(info.compiled.limits, rule.limits)) this.ev.setRuleLimits(id, rule.limits);
    if (!sameParams(info.compiled.params, rule.params)) this.ev.setRuleParams(id, rule.params);
    this.ruleInfo[id] = { ...info, definition: def, compiled: { ...rule, anchor: info.compiled.anchor } };
  }

  private add(p: Patient, def: RuleDef, rule: CompiledRule, links: number[]): void {
    const id = this.ev.addRule(rule);
    const metric = this.slotMetrics[rule.slot];
    this.ruleInfo[id] = { patient: p.id, ruleId: def.id, metric, definition: def, compiled: rule, link: false };
    p.rules.set(def.id, id);
    const linkIds = links.map((slot) => {
      const link: CompiledRule = { ...rule, kind: KIND_SCORE_LINK, slot, target: id, scoreInputs: undefined };
      const linkId = this.ev.addRule(link);
      this.ruleInfo[linkId] = { patient: p.id, ruleId: def.id, metric, definition: def, compiled: link, link: true };
      return linkId;
    });
    if (linkIds.length > 0) p.links.set(def.id, linkIds);
  }

  private remove(p: Patient, ruleId: string): void {
    const id = p.rules.get(ruleId);
    if (id === undefined) return;
    this.ev.disableRule(id);
    for (const link of p.links.get(ruleId) ?? []) this.ev.disableRule(link);
    p.rules.delete(ruleId);
    p.links.delete(ruleId);
  }

  private get(patient: string): Patient {
    const p = this.patients.get(patient);
    if (p === undefined) throw new VarselError("unknown_patient", "unknown patient");
    return p;
  }
}

function sameLimits(a: Limits, b: Limits): boolean {
  return a.every((v, i) => Object.is(v, b[i]));
}

function sameParams(a: ParamSet, b: ParamSet): boolean {
  return (Object.keys(a) as (keyof ParamSet)[]).every((k) => Object.is(a[k], b[k]));
}
