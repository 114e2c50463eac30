// What a caller hands a backtest, as JSON (CLI files, HTTP bodies), checked before any replay:
// proposed rule sets (each rule compiled as a threshold update would be: invalid_threshold),
// markers (patient and time).
import { VarselError } from "../errors.js";
import { compileRuleSet, ruleMetricUnit } from "../rules/compile.js";
import type { RuleDef } from "../rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "../rules/programmes.js";
import type { Marker, RuleSetSpec } from "./types.js";

/**
 * Proposed rule sets from JSON: a rule list (the programme's new set, named `name`), one
 * `{name, programmes: {telekol: [...]}}`, or a list of those.
 */
export function proposalsFrom(doc: unknown, programme: ProgrammeId | undefined, name = "proposed"): RuleSetSpec[] {
  let specs: RuleSetSpec[];
  if (Array.isArray(doc) && doc.every((x) => isObject(x) && "kind" in x)) {
    if (programme === undefined) throw new VarselError("invalid_body", "a proposed rule list needs the programme it replaces");
    specs = [{ name, programmes: { [programme]: doc as RuleDef[] } }];
  } else if (Array.isArray(doc)) specs = doc.map(specOf);
  else specs = [specOf(doc)];
  for (const spec of specs) checkSpec(spec);
  return specs;
}

function specOf(x: unknown): RuleSetSpec {
  if (!isObject(x) || typeof x.name !== "string" || x.name === "" || !isObject(x.programmes)) {
    throw new VarselError("invalid_body", "a proposed rule set is {name, programmes: {<programme>: [rules]}}");
  }
  return { name: x.name, programmes: x.programmes as RuleSetSpec["programmes"] };
}

/** Every programme known and every rule list compiling (refused as a threshold update would be). */
export function checkSpec(spec: RuleSetSpec): void {
  for (const [id, rules] of Object.entries(spec.programmes ?? {})) {
    if (!Object.hasOwn(PROGRAMMES, id)) throw new VarselError("invalid_body", `unknown programme ${id}`, { programme: id });
    if (!Array.isArray(rules)) throw new VarselError("invalid_body", `rule set ${spec.name}: ${id} must be a list of rules`);
    compileRuleSet(rules, { now: 0, canonicalUnit: ruleMetricUnit, slotOf: () => 0 });
  }
}

/** Markers from JSON: [{patient, time (epoch ms or ISO 8601), label?}]. */
export function markersFrom(doc: unknown): Marker[] {
  if (!Array.isArray(doc)) throw new VarselError("invalid_body", "markers are a list of {patient, time, label?}");
  return doc.map((m, i) => {
    const time = isObject(m) ? (typeof m.time === "number" ? m.time : typeof m.time === "string" ? Date.parse(m.time) : NaN) : NaN;
    if (!isObject(m) || typeof m.patient !== "string" || !Number.isSafeInteger(time)) {
      throw new VarselError("invalid_body", `marker ${i}: needs a patient and a time (epoch ms or ISO 8601)`);
    }
    const marker: Marker = { patient: m.patient, time };
    if (typeof m.label === "string") marker.label = m.label;
    return marker;
  });
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
