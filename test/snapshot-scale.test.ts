// Restoring a snapshot must work at the scale of a region (100 000 patients: ~400 000 slots and
// ~550 000 rules); spreading such arrays into a call overflows the stack.
import { describe, expect, it } from "vitest";
import { Oracle } from "../engine/oracle/oracle.js";
import { PatientRegistry, type RegistryState } from "../engine/patients.js";

describe("registry snapshot import", () => {
  it("restores 600 000 slots and rules without overflowing the stack", () => {
    const n = 600_000;
    const state: RegistryState = {
      patients: [],
      slotOwners: Array.from({ length: n }, (_, i) => ({ patient: `p${i >> 2}`, metric: "pulse" })),
      ruleInfo: [],
    };
    const registry = new PatientRegistry(new Oracle());
    expect(() => registry.importState(state)).not.toThrow();
    expect(registry.slotOwner(n - 1)).toEqual({ patient: `p${(n - 1) >> 2}`, metric: "pulse" });
  });
});
