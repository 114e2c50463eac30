// A patient on several programmes (COPD and heart failure is common) is judged by ONE rule set:
// the programmes' rules merged by rule id, then the clinician's overrides. The policy (docs/http.md,
// "Several programmes"): a rule id names one condition, so the same id from two programmes becomes
// one rule whose limits are, per limit, the stricter (high limits: the lower value, low limits: the
// higher), so a value alarms at least as much as any programme would make it; modifiers likewise
// fire no later and clear no sooner. An override by rule id replaces the merged rule. What cannot be
// merged (the same id meaning different conditions, limits that cross, different schedules, or the
// same condition under two ids) is refused with invalid_threshold unless an override settles it.
import { VarselError } from "../errors.js";
import { scoreLimits } from "./compile.js";
import type { LimitsDef, MissingRule, ModifiersDef, RuleDef } from "./definitions.js";
import { ruleMetric } from "./definitions.js";
import { parseDuration } from "./duration.js";

/** One programme's rule set as the merge sees it. */
export interface ProgrammeRules {
  id: string;
  rules: readonly RuleDef[];
}

export type Override = RuleDef | { id: string; remove: true };

/** A rule that judges the patient, and the programmes it belongs to (routing and the alert name them). */
export interface EffectiveRule {
  rule: RuleDef;
  /** Programmes defining this rule id, in the patient's order; a clinician's own rule belongs to all the patient's programmes. */
  programmes: string[];
}

/** The patient's rule set: the programmes' rules merged by id, then the overrides (same id replaces, new id adds, `remove` removes). */
export function mergeProgrammes(sets: readonly ProgrammeRules[], overrides: readonly Override[] = []): EffectiveRule[] {
  const overridden = new Set(overrides.map((o) => o.id));
  const groups = new Map<string, { rules: RuleDef[]; programmes: string[] }>();
  for (const set of sets) {
    for (const rule of set.rules) {
      const g = groups.get(rule.id);
      if (g === undefined) groups.set(rule.id, { rules: [rule], programmes: [set.id] });
      else if (!g.programmes.includes(set.id)) {
        g.rules.push(rule);
        g.programmes.push(set.id);
      }
    }
  }
  const out = new Map<string, EffectiveRule>();
  // An overridden id is not merged: the override decides, even where the programmes conflict.
  for (const [id, g] of groups) out.set(id, { rule: overridden.has(id) ? g.rules[0] : mergeSameId(g.rules, g.programmes), programmes: g.programmes });
  const all = sets.map((s) => s.id);
  for (const o of overrides) {
    if ("remove" in o) out.delete(o.id);
    else out.set(o.id, { rule: o, programmes: groups.get(o.id)?.programmes ?? all });
  }
  const effective = [...out.values()];
  refuseDuplicateConditions(effective, groups, overridden);
  return effective;
}

/** The programmes a patient's rule belongs to, without merging (what mergeProgrammes records for it). */
export function programmesOfRule(sets: readonly ProgrammeRules[], ruleId: string): string[] {
  const defining = sets.filter((s) => s.rules.some((r) => r.id === ruleId)).map((s) => s.id);
  return defining.length > 0 ? defining : sets.map((s) => s.id);
}

function conflict(id: string, programmes: readonly string[], why: string): VarselError {
  return new VarselError(
    "invalid_threshold",
    `rule ${id} of ${programmes.join(" and ")}: ${why}; override the rule for the patient to settle it`,
    { rule: id, programmes: [...programmes] },
  );
}

/** One rule from several programmes' rules of the same id. */
function mergeSameId(rules: RuleDef[], programmes: string[]): RuleDef {
  const [first] = rules;
  if (rules.length === 1) return first; // the programme's own object: a one-programme patient is unchanged
  const id = first.id;
  if (rules.every((r) => canonical(r) === canonical(first))) return first;
  if (!rules.every((r) => canonical(shapeOf(r)) === canonical(shapeOf(first)))) {
    throw conflict(id, programmes, "the programmes define it differently (kind, metric, window or schedule), not only by limits");
  }
  if (first.kind === "missing") return { ...first, stale: mergeStale(rules as MissingRule[], id, programmes) };
  const limits = mergeLimits(rules.map((r) => (r.kind === "score" ? scoreLimits(r) : (r as { limits: LimitsDef }).limits)));
  const present = (["redLow", "yellowLow", "yellowHigh", "redHigh"] as const).map((k) => limits[k]).filter((v) => v !== undefined);
  if (present.some((v, i) => i > 0 && !(v > present[i - 1]))) throw conflict(id, programmes, "the stricter low and high limits cross, so every value would alarm");
  const modifiers = mergeModifiers(rules.map((r) => (r as { modifiers?: ModifiersDef }).modifiers));
  const merged = { ...first, limits } as RuleDef & { modifiers?: ModifiersDef };
  if (modifiers === undefined) delete merged.modifiers;
  else merged.modifiers = modifiers;
  return merged;
}

/** What must agree for two rules to be one condition: everything but limits, modifiers and stale durations. */
function shapeOf(rule: RuleDef): object {
  const { limits: _l, modifiers: _m, stale, ...rest } = rule as RuleDef & { limits?: unknown; modifiers?: unknown; stale?: unknown };
  // A stale rule and a daily rule are different conditions; two stale rules differ only in durations.
  return stale === undefined ? rest : { ...rest, stale: true };
}

/** JSON with sorted keys: equal definitions compare equal whatever order their fields were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** Per limit the stricter; a yellow that is not inside its red can never be reached and is dropped. */
export function mergeLimits(all: readonly LimitsDef[]): LimitsDef {
  const pick = (key: keyof LimitsDef, stricter: (a: number, b: number) => number): number | undefined => {
    const values = all.map((l) => l[key]).filter((v): v is number => typeof v === "number");
    return values.length === 0 ? undefined : values.reduce((a, b) => stricter(a, b));
  };
  const out: LimitsDef = {};
  const redLow = pick("redLow", Math.max);
  let yellowLow = pick("yellowLow", Math.max);
  let yellowHigh = pick("yellowHigh", Math.min);
  const redHigh = pick("redHigh", Math.min);
  if (yellowLow !== undefined && redLow !== undefined && yellowLow <= redLow) yellowLow = undefined;
  if (yellowHigh !== undefined && redHigh !== undefined && yellowHigh >= redHigh) yellowHigh = undefined;
  if (redLow !== undefined) out.redLow = redLow;
  if (yellowLow !== undefined) out.yellowLow = yellowLow;
  if (yellowHigh !== undefined) out.yellowHigh = yellowHigh;
  if (redHigh !== undefined) out.redHigh = redHigh;
  return out;
}

/** Milliseconds for comparing; an unreadable duration sorts first so it is kept and the compiler refuses it. */
function ms(text: string | undefined): number {
  return text === undefined ? NaN : (parseDuration(text) ?? -1);
}

/** The stricter of two durations: the one that acts sooner (undefined = never). */
function sooner(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return ms(b) < ms(a) ? b : a;
}

/** Stale data: per level the shorter wait; a yellow no shorter than the red is dropped. */
function mergeStale(rules: MissingRule[], id: string, programmes: string[]): MissingRule["stale"] {
  if (rules.some((r) => r.stale === undefined)) throw conflict(id, programmes, "the programmes expect readings on different schedules");
  const yellow = rules.map((r) => r.stale!.yellow).reduce(sooner);
  const red = rules.map((r) => r.stale!.red).reduce(sooner);
  const stale: NonNullable<MissingRule["stale"]> = {};
  if (yellow !== undefined && !(red !== undefined && ms(yellow) >= ms(red))) stale.yellow = yellow;
  if (red !== undefined) stale.red = red;
  return stale;
}

/**
 * Modifiers that fire no later and clear no sooner than any programme's: the shortest `for`, the
 * n-of-m easiest to meet (absent = 1 of 1), the widest clearMargin, the longest keepFiringFor.
 */
export function mergeModifiers(all: readonly (ModifiersDef | undefined)[]): ModifiersDef | undefined {
  if (all.every((m) => m === undefined)) return undefined;
  const out: ModifiersDef = {};
  // `for` absent means "at once", which is the strictest.
  const fors = all.map((m) => m?.for);
  if (fors.every((f) => f !== undefined)) out.for = fors.reduce(sooner, undefined);
  const nOfMs = all.map((m) => m?.nOfM ?? ([1, 1] as [number, number]));
  const easiest = nOfMs.reduce((a, b) => (b[0] < a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
  if (!(easiest[0] === 1 && easiest[1] === 1)) out.nOfM = easiest;
  const margins = all.map((m) => m?.clearMargin).filter((v): v is number => typeof v === "number");
  if (margins.length > 0) out.clearMargin = Math.max(...margins);
  const keeps = all.map((m) => m?.keepFiringFor).filter((v): v is string => v !== undefined);
  if (keeps.length > 0) out.keepFiringFor = keeps.reduce((a, b) => (ms(b) > ms(a) ? b : a));
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The sides of the scale a rule watches: a value can alarm low, high, or (missing data) either. */
function sides(rule: RuleDef): { low: boolean; high: boolean } {
  if (rule.kind === "missing") return { low: true, high: true };
  const l = rule.kind === "score" ? scoreLimits(rule) : rule.limits;
  return { low: l?.redLow !== undefined || l?.yellowLow !== undefined, high: l?.redHigh !== undefined || l?.yellowHigh !== undefined };
}

/**
 * One reading must not raise two alerts for one condition: rules of different ids from different
 * programmes that watch the same metric, kind and side are refused (unless an override names one).
 * Rules of one programme are the programme's own design and stay as they are.
 */
function refuseDuplicateConditions(effective: EffectiveRule[], groups: Map<string, { programmes: string[] }>, overridden: Set<string>): void {
  const fromProgrammes = effective.filter((e) => groups.has(e.rule.id) && !overridden.has(e.rule.id));
  for (let i = 0; i < fromProgrammes.length; i++) {
    for (let j = i + 1; j < fromProgrammes.length; j++) {
      const a = fromProgrammes[i];
      const b = fromProgrammes[j];
      if (a.programmes.some((p) => b.programmes.includes(p))) continue;
      if (a.rule.kind !== b.rule.kind || ruleMetric(a.rule) !== ruleMetric(b.rule)) continue;
      const sa = sides(a.rule);
      const sb = sides(b.rule);
      if (!((sa.low && sb.low) || (sa.high && sb.high))) continue;
      throw new VarselError(
        "invalid_threshold",
        `rules ${a.rule.id} (${a.programmes.join(", ")}) and ${b.rule.id} (${b.programmes.join(", ")}) watch the same condition under two ids; ` +
          "give them one id or override one for the patient",
        { rule: b.rule.id, programmes: [...a.programmes, ...b.programmes] },
      );
    }
  }
}
