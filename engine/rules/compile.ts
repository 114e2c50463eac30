// Compiles clinician rule definitions into the flat numbers the evaluators run
// (engine/evaluator.ts CompiledRule). Every check a threshold must pass is here, so a bad
// threshold is refused with `invalid_threshold` before it can reach the kernel.
import {
  BASELINE_ABSOLUTE,
  BASELINE_PERCENT,
  BASELINE_POINTS,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_RATE,
  KIND_SCORE,
  MISSING_DAILY,
  MISSING_ENROLMENT_DAY_COUNTS,
  MISSING_ENROLMENT_DAY_SKIPPED,
  MISSING_INTERVAL,
  NEWS2_SCALE_1,
  NEWS2_SCALE_2,
  RATE_FORECAST,
  RATE_SLOPE,
  RULE_COMPUTED_REF,
  RULE_ON_OXYGEN,
} from "../../assembly/layout.js";
import { VarselError } from "../errors.js";
import { canonicalUnitOf, normalizeUnit } from "../metrics.js";
import { DEFAULT_PARAMS, type CompiledRule, type Limits, type ParamSet } from "../evaluator.js";
import type { LimitsDef, ModifiersDef, MissingRule, RuleDef, ScoreRule } from "./definitions.js";
import { WEEKDAYS } from "./definitions.js";
import { parseDuration, parseTimeOfDay } from "./duration.js";

const MAX_NOFM = 16;
const NEWS2_DEFAULT_LIMITS: LimitsDef = { yellowHigh: 4, redHigh: 6 };

/** The limits a score rule is evaluated with: its own, or the NEWS2 defaults (yellow 4, red 6). */
export function scoreLimits(rule: ScoreRule): LimitsDef {
  return rule.limits ?? NEWS2_DEFAULT_LIMITS;
}

/** What the compiler needs to know about the patient it compiles for. */
export interface CompileContext {
  /** Slot of the patient's metric (allocated on first use). */
  slotOf(metric: string): number;
  /** The canonical unit of a metric, undefined when the metric is unknown. */
  canonicalUnit(metric: string): string | undefined;
  /** When missing rules are armed. */
  now: number;
}

/** A compiled rule plus, for a score, the input slots that must trigger it. */
export interface CompiledDefinition {
  rule: CompiledRule;
  links: number[];
}

function invalid(rule: { id?: string }, message: string): VarselError {
  return new VarselError("invalid_threshold", `rule ${rule.id ?? "?"}: ${message}`, { rule: rule.id });
}

function duration(rule: RuleDef, field: string, text: string | undefined, required: boolean): number {
  if (text === undefined) {
    if (required) throw invalid(rule, `${field} is required`);
    return 0;
  }
  const ms = typeof text === "string" ? parseDuration(text) : null;
  if (ms === null || ms < 0) throw invalid(rule, `${field} must be a duration like "15m", "72h" or "3d", at most a year`);
  return ms;
}

/** Limits in kernel order; present ones must rise strictly: red low < yellow low < yellow high < red high. */
export function compileLimits(rule: RuleDef, def: LimitsDef | undefined): Limits {
  const order: (keyof LimitsDef)[] = ["redLow", "yellowLow", "yellowHigh", "redHigh"];
  const values = order.map((key) => {
    const v = def?.[key];
    if (v === undefined || v === null) return NaN;
    if (typeof v !== "number" || !Number.isFinite(v)) throw invalid(rule, `${key} must be a finite number`);
    return v;
  }) as Limits;
  const present = values.filter((v) => !Number.isNaN(v));
  if (present.length === 0) throw invalid(rule, "at least one limit is required");
  for (let i = 1; i < present.length; i++) {
    if (!(present[i] > present[i - 1])) throw invalid(rule, "limits must rise: redLow < yellowLow < yellowHigh < redHigh");
  }
  return values;
}

function compileModifiers(rule: RuleDef, mods: ModifiersDef | undefined): Partial<ParamSet> {
  if (mods === undefined) return {};
  const out: Partial<ParamSet> = {
    forMs: duration(rule, "modifiers.for", mods.for, false),
    keepMs: duration(rule, "modifiers.keepFiringFor", mods.keepFiringFor, false),
  };
  if (mods.clearMargin !== undefined) {
    if (typeof mods.clearMargin !== "number" || !(mods.clearMargin >= 0) || !Number.isFinite(mods.clearMargin)) {
      throw invalid(rule, "modifiers.clearMargin must be a number >= 0");
    }
    out.margin = mods.clearMargin;
  }
  if (mods.nOfM !== undefined) {
    const [n, m] = mods.nOfM;
    if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n > m || m > MAX_NOFM) {
      throw invalid(rule, `modifiers.nOfM must be [n, m] with 1 <= n <= m <= ${MAX_NOFM}`);
    }
    out.n = n;
    out.m = m;
  }
  return out;
}

function checkUnit(rule: RuleDef, metric: string, ctx: CompileContext): void {
  const canonical = ctx.canonicalUnit(metric);
  if (canonical === undefined) throw new VarselError("unknown_metric", `rule ${rule.id}: unknown metric ${metric}`, { rule: rule.id, metric });
  if (rule.kind !== "score" && rule.unit !== undefined && normalizeUnit(rule.unit) !== normalizeUnit(canonical)) {
    throw new VarselError("unit_mismatch", `rule ${rule.id}: limits must be in ${canonical}, not ${rule.unit}`, {
      rule: rule.id,
      expected: canonical,
      got: rule.unit,
    });
  }
}

function compileMissing(rule: MissingRule): { limits: Limits; params: Partial<ParamSet> } {
  if ((rule.stale === undefined) === (rule.daily === undefined)) throw invalid(rule, "give exactly one of stale or daily");
  if (rule.stale !== undefined) {
    const yellow = rule.stale.yellow === undefined ? NaN : duration(rule, "stale.yellow", rule.stale.yellow, true) / 60000;
    const red = rule.stale.red === undefined ? NaN : duration(rule, "stale.red", rule.stale.red, true) / 60000;
    if (Number.isNaN(yellow) && Number.isNaN(red)) throw invalid(rule, "stale needs yellow and/or red");
    if (yellow >= red) throw invalid(rule, "stale.yellow must be shorter than stale.red");
    return { limits: [NaN, NaN, yellow, red], params: { mode: MISSING_INTERVAL } };
  }
  const daily = rule.daily!;
  const deadlineMs = typeof daily.deadline === "string" ? parseTimeOfDay(daily.deadline) : null;
  if (deadlineMs === null) throw invalid(rule, 'daily.deadline must be "HH:MM"');
  let weekdays = 0x7f;
  if (daily.weekdays !== undefined) {
    weekdays = 0;
    for (const day of daily.weekdays) {
      const bit = WEEKDAYS.indexOf(day);
      if (bit < 0) throw invalid(rule, `unknown weekday ${day}`);
      weekdays |= 1 << bit;
    }
    if (weekdays === 0) throw invalid(rule, "daily.weekdays must name at least one day");
  }
  const everyNDays = daily.everyNDays ?? 1;
  if (!Number.isInteger(everyNDays) || everyNDays < 1 || everyNDays > 255) throw invalid(rule, "daily.everyNDays must be 1..255");
  const redAfter = daily.redAfter;
  if (redAfter !== undefined && (!Number.isInteger(redAfter) || redAfter < 2)) throw invalid(rule, "daily.redAfter must be an integer >= 2");
  const enrolmentDay = daily.enrolmentDay ?? "skipped";
  if (enrolmentDay !== "counts" && enrolmentDay !== "skipped") throw invalid(rule, 'daily.enrolmentDay must be "counts" or "skipped"');
  return {
    limits: [NaN, NaN, 0, redAfter === undefined ? NaN : redAfter - 1],
    params: {
      mode: MISSING_DAILY,
      deadlineMs,
      graceMs: duration(rule, "daily.grace", daily.grace, false),
      weekdays,
      everyNDays,
      enrolmentDay: enrolmentDay === "counts" ? MISSING_ENROLMENT_DAY_COUNTS : MISSING_ENROLMENT_DAY_SKIPPED,
    },
  };
}

function compileScore(rule: ScoreRule, ctx: CompileContext): CompiledDefinition {
  if (rule.score !== "news2") throw invalid(rule, `unknown score ${String(rule.score)}`);
  const scale = rule.scale ?? 1;
  if (scale !== 1 && scale !== 2) throw invalid(rule, "scale must be 1 or 2");
  const inputs = ["resp_rate", "spo2", "bp_sys", "pulse", "temp", "consciousness"].map((m) => ctx.slotOf(m));
  const params: ParamSet = {
    ...DEFAULT_PARAMS,
    ...compileModifiers(rule, rule.modifiers),
    windowMs: duration(rule, "window", rule.window, true),
    mode: scale === 2 ? NEWS2_SCALE_2 : NEWS2_SCALE_1,
  };
  return {
    rule: {
      kind: KIND_SCORE,
      slot: ctx.slotOf("news2"),
      flags: rule.onOxygen === true ? RULE_ON_OXYGEN : 0,
      limits: compileLimits(rule, scoreLimits(rule)),
      params,
      anchor: ctx.now,
      scoreInputs: inputs,
    },
    links: inputs,
  };
}

/** The unit a rule's limits are checked against: the catalogue's, and "{score}" for the derived news2. */
export function ruleMetricUnit(metric: string): string | undefined {
  return metric === "news2" ? "{score}" : canonicalUnitOf(metric);
}

/** Compiles a whole rule set in order; a repeated rule id is invalid_threshold. */
export function compileRuleSet(rules: RuleDef[], ctx: CompileContext): CompiledDefinition[] {
  const ids = new Set<string>();
  return rules.map((def) => {
    if (ids.has(def.id)) throw new VarselError("invalid_threshold", `rule id ${def.id} appears twice`, { rule: def.id });
    ids.add(def.id);
    return compileRule(def, ctx);
  });
}

/** Compiles one definition for one patient; throws VarselError (invalid_threshold, unknown_metric, unit_mismatch). */
export function compileRule(rule: RuleDef, ctx: CompileContext): CompiledDefinition {
  if (typeof rule.id !== "string" || rule.id.length === 0) throw invalid(rule, "id is required");
  checkAlarmFlags(rule);
  if (rule.kind === "score") return compileScore(rule, ctx);
  checkUnit(rule, rule.metric, ctx);
  const slot = ctx.slotOf(rule.metric);
  const base = { slot, flags: 0, anchor: ctx.now };
  switch (rule.kind) {
    case "band":
      return one({ ...base, kind: KIND_BAND, limits: compileLimits(rule, rule.limits), params: params(rule) });
    case "baseline": {
      const modes = { absolute: BASELINE_ABSOLUTE, percent: BASELINE_PERCENT, points: BASELINE_POINTS };
      // Own keys only: "constructor" or "toString" must not pass as a mode.
      const mode = Object.hasOwn(modes, rule.mode) ? modes[rule.mode as keyof typeof modes] : undefined;
      if (mode === undefined) throw invalid(rule, "mode must be absolute, percent or points");
      const computed = rule.computed;
      if (computed !== undefined && (!Number.isInteger(computed.minCount) || computed.minCount < 1 || computed.minCount > 255)) {
        throw invalid(rule, "computed.minCount must be 1..255");
      }
      return one({
        ...base,
        kind: KIND_BASELINE,
        flags: computed === undefined ? 0 : RULE_COMPUTED_REF,
        limits: compileLimits(rule, rule.limits),
        params: params(rule, {
          mode,
          windowMs: computed === undefined ? 0 : duration(rule, "computed.window", computed.window, true),
          minCount: computed?.minCount ?? 0,
        }),
      });
    }
    case "delta":
      return one({
        ...base,
        kind: KIND_DELTA,
        limits: compileLimits(rule, rule.limits),
        params: params(rule, { windowMs: duration(rule, "window", rule.window, true) }),
      });
    case "rate": {
      if (rule.basis !== "slope" && rule.basis !== "forecast") throw invalid(rule, "basis must be slope or forecast");
      const horizonMs = duration(rule, "horizon", rule.horizon, rule.basis === "forecast");
      return one({
        ...base,
        kind: KIND_RATE,
        limits: compileLimits(rule, rule.limits),
        params: params(rule, {
          windowMs: duration(rule, "window", rule.window, true),
          horizonMs,
          mode: rule.basis === "forecast" ? RATE_FORECAST : RATE_SLOPE,
        }),
      });
    }
    case "missing": {
      const missing = compileMissing(rule);
      return one({ ...base, kind: KIND_MISSING, limits: missing.limits, params: { ...DEFAULT_PARAMS, ...missing.params } });
    }
    default:
      throw invalid(rule as RuleDef, `unknown kind ${String((rule as { kind: unknown }).kind)}`);
  }
}

function params(rule: Exclude<RuleDef, MissingRule | ScoreRule>, extra: Partial<ParamSet> = {}): ParamSet {
  return { ...DEFAULT_PARAMS, ...compileModifiers(rule, rule.modifiers), ...extra };
}

function one(rule: CompiledRule): CompiledDefinition {
  return { rule, links: [] };
}

/** The lifecycle's rule flags (definitions.ts AlarmFlags): nothing the kernel evaluates, checked all the same. */
function checkAlarmFlags(rule: RuleDef): void {
  if (rule.latching !== undefined && typeof rule.latching !== "boolean") throw invalid(rule, "latching must be true or false");
  if (rule.unsilenceable !== undefined && rule.unsilenceable !== "yellow" && rule.unsilenceable !== "red") throw invalid(rule, 'unsilenceable must be "yellow" or "red"');
}
