// Patients of the same programmes without overrides share one compiled rule list
// (PatientRegistry's templates): each patient still gets exactly what compiling its own rules
// would give — its own slots, the rules in force when it is configured, armed at its own `now` —
// also after a programme's rules change. A wasm kernel with nothing else on it is the evaluator.
import { describe, expect, it } from "vitest";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { PatientRegistry } from "../engine/patients.js";
import { compileRuleSet, ruleMetricUnit } from "../engine/rules/compile.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { effectiveRules, PROGRAMMES, programmeSets, type ProgrammeId } from "../engine/rules/programmes.js";

const T0 = Date.UTC(2026, 0, 5, 8);

/** What a patient's compiled rules would be if compiled for it alone, on the slots it has. */
function compiledAlone(registry: PatientRegistry, patient: string, programmes: ProgrammeId[], rulesOf: (id: ProgrammeId) => RuleDef[], now: number) {
  const definitions = effectiveRules(programmeSets(programmes, rulesOf)).map((e) => e.rule);
  const ctx = { now, canonicalUnit: ruleMetricUnit, slotOf: (m: string) => registry.existingSlot(patient, m)! };
  return compileRuleSet(definitions, ctx).map((c) => c.rule);
}

function compiledOf(registry: PatientRegistry, patient: string, ruleIds: string[]) {
  return ruleIds.map((id) => registry.rule(registry.ruleIndex(patient, id)!).compiled);
}

describe("shared compiled rule lists", () => {
  it("give every patient its own slots, the rules in force and its own arming time", () => {
    let kol = PROGRAMMES.telekol.rules;
    const rulesOf = (id: ProgrammeId) => (id === "telekol" ? kol : PROGRAMMES[id].rules);
    const registry = new PatientRegistry(WasmKernel.load(), rulesOf);
    const check = (patient: string, programmes: ProgrammeId[], now: number) => {
      const expected = compiledAlone(registry, patient, programmes, rulesOf, now);
      const ids = effectiveRules(programmeSets(programmes, rulesOf)).map((e) => e.rule.id);
      expect(compiledOf(registry, patient, ids)).toEqual(expected);
      return expected;
    };
    registry.configure("a", { programmes: ["telekol", "telehjerte"] }, T0);
    registry.configure("b", { programmes: ["telekol", "telehjerte"] }, T0);
    const a = check("a", ["telekol", "telehjerte"], T0);
    const b = check("b", ["telekol", "telehjerte"], T0);
    // Same rules on other slots.
    expect(new Set(a.map((r) => r.slot)).size).toBeGreaterThan(1);
    for (const r of b) expect(a.map((x) => x.slot)).not.toContain(r.slot);
    // Another arming time: the missing rules' anchor follows it.
    registry.configure("c", { programmes: ["telekol", "telehjerte"] }, T0 + 60_000);
    expect(check("c", ["telekol", "telehjerte"], T0 + 60_000).some((r) => r.anchor === T0 + 60_000)).toBe(true);
    // The programme's rules change: the next patient gets the new ones.
    kol = kol.map((r) => (r.id === "spo2-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowLow: 90 } } : r));
    registry.configure("d", { programmes: ["telekol", "telehjerte"] }, T0 + 60_000);
    const d = check("d", ["telekol", "telehjerte"], T0 + 60_000);
    const spo2 = effectiveRules(programmeSets(["telekol", "telehjerte"], rulesOf)).findIndex((e) => e.rule.id === "spo2-band");
    expect(d[spo2].limits[1]).toBe(90);
  });
});
