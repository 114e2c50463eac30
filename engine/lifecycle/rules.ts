// The rule lookup the lifecycle uses to say why an alert exists (rule kind, threshold version,
// limits in force). Thresholds are versioned elsewhere; this builds a lookup from the patient
// configurations the caller already keeps (the same PatientConfig given to Engine.configurePatient).
import type { RuleDef } from "../rules/definitions.js";
import { scoreLimits } from "../rules/compile.js";
import { effectiveRules, PROGRAMMES } from "../rules/programmes.js";
import type { PatientConfig } from "../patients.js";
import type { RuleContext, RuleLookup } from "./types.js";

/** A patient's configuration and the version of its thresholds. */
export interface VersionedConfig {
  config: PatientConfig;
  thresholdVersion?: string | number;
}

/** The limits a rule definition puts in force (a NEWS2 score without limits gets the compiler's defaults). */
export function limitsInForce(def: RuleDef): RuleContext["limits"] {
  if (def.kind === "missing") return { ...(def.stale ? { stale: { ...def.stale } } : {}), ...(def.daily ? { daily: { ...def.daily } } : {}) };
  if (def.kind === "score") return { ...scoreLimits(def) };
  return { ...def.limits };
}

/** A lookup over patient configurations: programme defaults with the patient's overrides, memoised per config object. */
export function ruleLookupFromConfigs(get: (patient: string) => VersionedConfig | undefined): RuleLookup {
  const cache = new WeakMap<PatientConfig, Map<string, RuleDef>>();
  return (patient, rule) => {
    const v = get(patient);
    if (v === undefined) return undefined;
    let defs = cache.get(v.config);
    if (defs === undefined) {
      const programme = v.config.programme === undefined ? undefined : PROGRAMMES[v.config.programme];
      defs = new Map(effectiveRules(programme, v.config.rules).map((d) => [d.id, d]));
      cache.set(v.config, defs);
    }
    const def = defs.get(rule);
    if (def === undefined) return undefined;
    const ctx: RuleContext = { kind: def.kind, limits: limitsInForce(def) };
    if (v.thresholdVersion !== undefined) ctx.thresholdVersion = v.thresholdVersion;
    return ctx;
  };
}
