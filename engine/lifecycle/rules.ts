// The limits a rule puts in force, as the lifecycle records them to say why an alert exists.
import type { RuleDef } from "../rules/definitions.js";
import { scoreLimits } from "../rules/compile.js";
import type { RuleContext } from "./types.js";

/** The limits a rule definition puts in force (a NEWS2 score without limits gets the compiler's defaults). */
export function limitsInForce(def: RuleDef): RuleContext["limits"] {
  if (def.kind === "missing") return { ...(def.stale ? { stale: { ...def.stale } } : {}), ...(def.daily ? { daily: { ...def.daily } } : {}) };
  if (def.kind === "score") return { ...scoreLimits(def) };
  return { ...def.limits };
}
