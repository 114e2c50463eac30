// Patients, their slots (one per metric) and their compiled rules: the bridge between the
// clinical vocabulary (patient id, metric key, rule id) and the evaluator's numbers.
import { KIND_SCORE_LINK } from "../assembly/layout.js";
import { VarselError } from "./errors.js";
import type { CompiledRule, Evaluator, Limits, ParamSet } from "./evaluator.js";
import { metricByKey } from "./metrics.js";
import { compileRuleSet, ruleMetricUnit, type CompiledDefinition } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { effectiveRules, PROGRAMMES, type ProgrammeId } from "./rules/programmes.js";

/** What a clinician or administrator sets for a patient. */
export interface PatientConfig {
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

interface Patient {
  id: string;
  config: PatientConfig;
  slots: Map<string, number>;
  /** Rule id → evaluator rule id of the active rules. */
  rules: Map<string, number>;
  /** Score rule id → its link rule ids. */
  links: Map<string, number[]>;
}

const NEWS2_METRIC = "news2";

/** The registry as plain data (snapshots); slot and rule numbers refer to the evaluator's. */
export interface RegistryState {
  patients: { id: string; config: PatientConfig; slots: [string, number][]; rules: [string, number][]; links: [string, number[]][] }[];
  slotOwners: { patient: string; metric: string }[];
  ruleInfo: RuleInfo[];
}

export class PatientRegistry {
  private readonly patients = new Map<string, Patient>();
  private readonly slotOwners: { patient: string; metric: string }[] = [];
  private readonly ruleInfo: RuleInfo[] = [];

  /** `programmeRules` gives a programme's current rule set (versioned elsewhere; default: built-in). */
  constructor(
    private readonly ev: Evaluator,
    private readonly programmeRules: (id: ProgrammeId) => RuleDef[] = (id) => PROGRAMMES[id].rules,
  ) {}

  /** Ids of the patients on a programme (to recompile them when its rules change). */
  onProgramme(programme: ProgrammeId): string[] {
    return [...this.patients.values()].filter((p) => p.config.programme === programme).map((p) => p.id);
  }

  /** The configuration a patient was last given. */
  config(patient: string): PatientConfig {
    return this.get(patient).config;
  }

  /** Everything the registry holds, as plain data. */
  exportState(): RegistryState {
    return {
      patients: [...this.patients.values()].map((p) => ({
        id: p.id,
        config: p.config,
        slots: [...p.slots],
        rules: [...p.rules],
        links: [...p.links],
      })),
      slotOwners: this.slotOwners,
      ruleInfo: this.ruleInfo,
    };
  }

  /** Restores `exportState`'s data; the evaluator must hold the matching slots and rules (a kernel snapshot). */
  importState(state: RegistryState): void {
    this.patients.clear();
    for (const p of state.patients) {
      this.patients.set(p.id, { id: p.id, config: p.config, slots: new Map(p.slots), rules: new Map(p.rules), links: new Map(p.links) });
    }
    // Loops, not splice(...spread): hundreds of thousands of slots would overflow the call stack.
    this.slotOwners.length = 0;
    for (const owner of state.slotOwners) this.slotOwners.push(owner);
    this.ruleInfo.length = 0;
    for (const info of state.ruleInfo) this.ruleInfo.push(info);
  }

  has(patient: string): boolean {
    return this.patients.has(patient);
  }

  /** The slot of a patient's metric, allocated on first use. */
  slotOf(patient: string, metric: string): number {
    const p = this.get(patient);
    let slot = p.slots.get(metric);
    if (slot === undefined) {
      const histCap = metric === NEWS2_METRIC ? 0 : (metricByKey(metric)?.typicalHistory ?? 0);
      slot = this.ev.addSlot({ histCap, ref: p.config.references?.[metric] ?? NaN, paused: p.config.paused === true });
      p.slots.set(metric, slot);
      this.slotOwners[slot] = { patient, metric };
    }
    return slot;
  }

  slotOwner(slot: number): { patient: string; metric: string } {
    return this.slotOwners[slot];
  }

  rule(id: number): RuleInfo {
    return this.ruleInfo[id];
  }

  /**
   * Creates or reconfigures a patient. All rules are compiled before anything changes, so an
   * invalid threshold leaves the patient as it was. Rules kept by id keep their alert state.
   * Returns the ids of the rules that were removed (their open alerts must be retired).
   */
  configure(patient: string, config: PatientConfig, now: number): string[] {
    if (config.programme !== undefined && PROGRAMMES[config.programme] === undefined) {
      throw new VarselError("invalid_threshold", `unknown programme ${config.programme}`, { programme: config.programme });
    }
    for (const metric of Object.keys(config.references ?? {})) {
      if (metricByKey(metric) === undefined) throw new VarselError("unknown_metric", `unknown metric ${metric}`, { metric });
    }
    const existed = this.patients.get(patient);
    const p: Patient = existed ?? { id: patient, config, slots: new Map(), rules: new Map(), links: new Map() };
    const programme = config.programme === undefined ? undefined : { ...PROGRAMMES[config.programme], rules: this.programmeRules(config.programme) };
    const definitions = effectiveRules(programme, config.rules);
    const compiled = this.compileAll(p, definitions, now);
    const wasPaused = p.config.paused === true;
    p.config = config;
    this.applyReferencesAndPause(p, wasPaused, now);
    return this.replaceRules(p, definitions, compiled);
  }

  /** The definition of a patient's active rule, or undefined. */
  definition(patient: string, ruleId: string): RuleDef | undefined {
    const id = this.patients.get(patient)?.rules.get(ruleId);
    return id === undefined ? undefined : this.ruleInfo[id].definition;
  }

  private compileAll(p: Patient, definitions: RuleDef[], now: number): CompiledDefinition[] {
    const pending = new Map<string, number>();
    // Slots are only allocated once every rule compiled; until then they are numbered provisionally.
    const ctx = {
      now,
      canonicalUnit: ruleMetricUnit,
      slotOf: (m: string) => {
        const known = p.slots.get(m);
        if (known !== undefined) return known;
        if (!pending.has(m)) pending.set(m, -1 - pending.size);
        return pending.get(m)!;
      },
    };
    const compiled = compileRuleSet(definitions, ctx);
    if (!this.patients.has(p.id)) this.patients.set(p.id, p);
    const real = new Map([...pending].map(([metric, provisional]) => [provisional, this.slotOf(p.id, metric)]));
    const fix = (slot: number) => (slot < 0 ? real.get(slot)! : slot);
    return compiled.map(({ rule, links }) => ({
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
      if (existing !== undefined && this.sameShape(this.ruleInfo[existing].compiled, rule)) {
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
    const info = this.ruleInfo[id];
    if (!sameLimits(info.compiled.limits, rule.limits)) this.ev.setRuleLimits(id, rule.limits);
    if (!sameParams(info.compiled.params, rule.params)) this.ev.setRuleParams(id, rule.params);
    this.ruleInfo[id] = { ...info, definition: def, compiled: { ...rule, anchor: info.compiled.anchor } };
  }

  private add(p: Patient, def: RuleDef, rule: CompiledRule, links: number[]): void {
    const id = this.ev.addRule(rule);
    const metric = this.slotOwners[rule.slot].metric;
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
