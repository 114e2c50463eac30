// The registry's snapshot: compact columns plus each distinct definition once, and the lazy
// restore of them (a patient's maps and a rule's RuleInfo are made when first used).
import type { CompiledRule } from "./evaluator.js";
import type { Patient, PatientConfig } from "./patients.js";
import { compileRule, ruleMetricUnit } from "./rules/compile.js";
import type { RuleDef } from "./rules/definitions.js";
import { alignedCopy } from "./typed-bytes.js";

/**
 * The registry as compact columns (snapshots); slot and rule numbers are the evaluator's. A rule's
 * compiled form is not stored: it is the compiler's output for its definition, recompiled on
 * restore (once per distinct definition; definitions are stored once, not once per rule).
 * Numeric columns are the bytes of Int32Array / Float64Array / Uint8Array, one element per
 * slot or rule; -1 marks a number the registry never used.
 */
export interface RegistryState {
  /** Patient ids in registration order. */
  patients: string[];
  /** Their configurations; absent when the owner restores them from its own records (the pipeline does). */
  configs?: PatientConfig[];
  /** Distinct definitions, referred to by index. */
  definitions: RuleDef[];
  metrics: string[];
  /** Per slot: owner (patient index), metric index. Int32. */
  slotPatient: Uint8Array;
  slotMetric: Uint8Array;
  /** Per rule: owner (patient index), definition index, slot, score rule a link triggers (else -1). Int32. */
  rulePatient: Uint8Array;
  ruleDefinition: Uint8Array;
  ruleSlot: Uint8Array;
  ruleTarget: Uint8Array;
  /** Per rule: when it was armed (the compiled anchor). Float64. */
  ruleAnchor: Uint8Array;
  /** Per rule: RULE_ACTIVE when the patient still uses it (disabled rules keep their number). Uint8. */
  ruleFlags: Uint8Array;
}

export const RULE_ACTIVE = 1;

/**
 * A restored snapshot's columns. A patient's maps and a rule's RuleInfo are made from them when
 * first used: building ~1.5 million map entries and objects up front was most of a restart.
 */
export class Restored {
  readonly rulePatient: Int32Array;
  readonly ruleDefinition: Int32Array;
  readonly ruleSlot: Int32Array;
  readonly ruleTarget: Int32Array;
  readonly ruleAnchor: Float64Array;
  readonly ruleFlags: Uint8Array;
  readonly compile = compiler();
  readonly definitions: RuleDef[];
  readonly metrics: string[];
  private readonly slotMetric: Int32Array;
  /** Per patient index: its slots (ascending) at slotIds[slotStart[i] .. slotStart[i + 1]); the same for rules. */
  private readonly slotStart: Int32Array;
  private readonly slotIds: Int32Array;
  private readonly ruleStart: Int32Array;
  private readonly ruleIds: Int32Array;

  constructor(
    state: RegistryState,
    readonly patients: Patient[],
    slotPatient: Int32Array,
  ) {
    this.definitions = state.definitions;
    this.metrics = state.metrics;
    this.slotMetric = new Int32Array(alignedCopy(state.slotMetric));
    this.rulePatient = new Int32Array(alignedCopy(state.rulePatient));
    this.ruleDefinition = new Int32Array(alignedCopy(state.ruleDefinition));
    this.ruleSlot = new Int32Array(alignedCopy(state.ruleSlot));
    this.ruleTarget = new Int32Array(alignedCopy(state.ruleTarget));
    this.ruleAnchor = new Float64Array(alignedCopy(state.ruleAnchor));
    this.ruleFlags = new Uint8Array(state.ruleFlags); // a copy: a view would keep the whole decoded snapshot alive
    [this.slotStart, this.slotIds] = groupByPatient(slotPatient, state.patients.length);
    [this.ruleStart, this.ruleIds] = groupByPatient(this.rulePatient, state.patients.length);
  }

  slotMetricOf(slot: number): number {
    return this.slotMetric[slot];
  }

  slotsOf(index: number): Map<string, number> {
    const slots = new Map<string, number>();
    // Ascending slot numbers: the order the patient's map had (slots are never removed).
    for (let k = this.slotStart[index]; k < this.slotStart[index + 1]; k++) slots.set(this.metrics[this.slotMetric[this.slotIds[k]]], this.slotIds[k]);
    return slots;
  }

  /** The patient's active rules and score links; ascending rule numbers are the order its maps had (a changed rule gets a new number). */
  rulesOf(index: number): { rules: Map<string, number>; links: Map<string, number[]> } {
    const rules = new Map<string, number>();
    const links = new Map<string, number[]>();
    for (let k = this.ruleStart[index]; k < this.ruleStart[index + 1]; k++) {
      const id = this.ruleIds[k];
      if (this.ruleFlags[id] !== RULE_ACTIVE) continue;
      const ruleId = this.definitions[this.ruleDefinition[id]].id;
      if (this.ruleTarget[id] < 0) rules.set(ruleId, id);
      else {
        const list = links.get(ruleId);
        if (list === undefined) links.set(ruleId, [id]);
        else list.push(id);
      }
    }
    return { rules, links };
  }

  /** The rule numbers a restored patient had. */
  ruleIdsOf(index: number): Int32Array {
    return this.ruleIds.subarray(this.ruleStart[index], this.ruleStart[index + 1]);
  }
}

/** A patient restored from a snapshot: its maps are built when first used. */
export class RestoredPatient implements Patient {
  private slotMap: Map<string, number> | undefined;
  private ruleMaps: { rules: Map<string, number>; links: Map<string, number[]> } | undefined;

  constructor(
    readonly id: string,
    public config: PatientConfig,
    readonly index: number,
    private readonly from: Restored,
  ) {}

  get slots(): Map<string, number> {
    return (this.slotMap ??= this.from.slotsOf(this.index));
  }

  get rules(): Map<string, number> {
    return (this.ruleMaps ??= this.from.rulesOf(this.index)).rules;
  }

  get links(): Map<string, number[]> {
    return (this.ruleMaps ??= this.from.rulesOf(this.index)).links;
  }

  /** False while its rules are exactly as restored (nothing asked for them). */
  rulesTouched(): boolean {
    return this.ruleMaps !== undefined;
  }
}

/**
 * Numbers distinct definitions. Equal definitions are often different objects (a programme's rule
 * and the restored copy of it), so they are told apart by content (JSON: a definition that
 * compiled holds no NaN or Infinity), looked up by identity first so each object is serialized once.
 */
export function definitionTable(): { definitions: RuleDef[]; indexOf(def: RuleDef): number } {
  const definitions: RuleDef[] = [];
  const byObject = new Map<RuleDef, number>();
  const byContent = new Map<string, number>();
  return {
    definitions,
    indexOf(def) {
      let d = byObject.get(def);
      if (d !== undefined) return d;
      const key = JSON.stringify(def);
      d = byContent.get(key);
      if (d === undefined) {
        d = definitions.length;
        definitions.push(def);
        byContent.set(key, d);
      }
      byObject.set(def, d);
      return d;
    },
  };
}

/** Counting sort of ids 0..n-1 by owner: start offsets per owner (length owners + 1) and the ids, ascending per owner. */
function groupByPatient(owner: Int32Array, owners: number): [Int32Array, Int32Array] {
  const start = new Int32Array(owners + 1);
  for (let i = 0; i < owner.length; i++) if (owner[i] >= 0) start[owner[i] + 1]++;
  for (let p = 0; p < owners; p++) start[p + 1] += start[p];
  const next = start.slice(0, owners);
  const ids = new Int32Array(start[owners]);
  for (let i = 0; i < owner.length; i++) if (owner[i] >= 0) ids[next[owner[i]]++] = i;
  return [start, ids];
}

/**
 * Recompiles stored definitions. A compiled rule depends on its definition, the patient's slots
 * and the time it was armed; everything but slot and anchor is compiled once per definition.
 */
function compiler(): (def: RuleDef, slots: Map<string, number>, slot: number, anchor: number) => CompiledRule {
  const shared = new Map<RuleDef, CompiledRule>();
  const ctx = (slots: Map<string, number>, now: number) => ({ now, canonicalUnit: ruleMetricUnit, slotOf: (m: string) => slots.get(m) ?? -1 });
  return (def, slots, slot, anchor) => {
    // A score rule names several of the patient's slots: compiled for the patient itself.
    if (def.kind === "score") return compileRule(def, ctx(slots, anchor)).rule;
    let base = shared.get(def);
    if (base === undefined) shared.set(def, (base = compileRule(def, ctx(new Map(), 0)).rule));
    return { kind: base.kind, slot, flags: base.flags, limits: base.limits, params: base.params, anchor };
  };
}
