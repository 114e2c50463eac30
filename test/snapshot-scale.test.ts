// The registry's snapshot: compact columns plus each distinct definition once; compiled rules are
// recompiled on restore. A restored registry must be the same registry (same rules, slots, maps),
// and restoring must work at the scale of a region (100 000 patients: ~400 000 slots, ~550 000
// rules) — spreading such arrays into a call once overflowed the stack.
import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import type { Evaluator } from "../engine/evaluator.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { PatientRegistry, type PatientConfig } from "../engine/patients.js";
import type { RuleDef } from "../engine/rules/definitions.js";

const T0 = Date.UTC(2026, 0, 15, 8);
const packr = new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false });
const news2: RuleDef = { id: "news2", kind: "score", score: "news2", window: "1h" };
const tightPulse: RuleDef = { id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 105, redHigh: 125 } };

/** Patients on every programme, with overrides, a score rule (links), references, pauses and reconfigurations. */
function populated(evaluator: Evaluator = new Oracle()): PatientRegistry {
  const reg = new PatientRegistry(evaluator);
  const programmes = ["telehjerte", "telekol", "cgm", "niv"] as const;
  for (let i = 0; i < 200; i++) {
    const config: PatientConfig = { programme: programmes[i % 4], references: i % 5 === 0 ? { spo2: 94 } : {}, paused: i % 17 === 0 };
    if (i % 7 === 0) config.rules = [news2];
    reg.configure(`p${i}`, config, T0 + i);
  }
  // later changes: an override that keeps the shape (same rule number), one that removes a rule,
  // a score rule dropped (its links disabled) and a programme switch (rules renumbered)
  reg.configure("p0", { ...reg.config("p0"), rules: [news2, tightPulse] }, T0 + 1_000);
  reg.configure("p1", { ...reg.config("p1"), rules: [{ id: "spo2-missing", remove: true }] }, T0 + 2_000);
  reg.configure("p7", { ...reg.config("p7"), rules: [] }, T0 + 3_000);
  reg.configure("p2", { ...reg.config("p2"), programme: "telehjerte" }, T0 + 4_000);
  return reg;
}

function view(reg: PatientRegistry, patients: number) {
  const out: unknown[] = [];
  for (let i = 0; i < patients; i++) {
    const id = `p${i}`;
    const priv = (reg as unknown as { patients: Map<string, { slots: Map<string, number>; rules: Map<string, number>; links: Map<string, number[]> }> }).patients.get(id)!;
    out.push([id, reg.config(id), [...priv.slots], [...priv.rules], [...priv.links]]);
  }
  const rules = (reg as unknown as { ruleInfo: unknown[] }).ruleInfo.length;
  for (let r = 0; r < rules; r++) out.push(reg.rule(r));
  return out;
}

describe("registry snapshot", () => {
  it("restores the same registry: rules, compiled forms, slots and each patient's maps in order", () => {
    const reg = populated();
    const bytes = packr.pack(reg.exportState());
    const restored = new PatientRegistry(new Oracle());
    restored.importState(packr.unpack(bytes));
    // untouched (maps and rules still in the restored columns), it exports the same bytes
    expect(Buffer.compare(packr.pack(restored.exportState()), bytes)).toBe(0);
    expect(view(restored, 200)).toEqual(view(reg, 200));
    expect(restored.definition("p0", "pulse-band")).toEqual(tightPulse);
    expect(restored.definition("p1", "spo2-missing")).toBeUndefined();
    // and once every patient and rule was looked at, too
    expect(Buffer.compare(packr.pack(restored.exportState()), bytes)).toBe(0);
  });

  it("a restored registry changes on exactly as the original: same retired rules, same numbers, same state", () => {
    const kernel = WasmKernel.load();
    const reg = populated(kernel);
    const restored = new PatientRegistry(WasmKernel.restore(kernel.snapshot()));
    restored.importState(packr.unpack(packr.pack(reg.exportState())));
    const change = (r: PatientRegistry) => [
      r.configure("p4", { ...r.config("p4"), rules: [{ id: "weight-change", remove: true }, tightPulse] }, T0 + 9_000),
      r.configure("p8", { ...r.config("p8"), programme: "cgm" }, T0 + 9_000),
      r.configure("p300", { programme: "niv", rules: [news2] }, T0 + 9_000),
    ];
    const retired = change(restored);
    expect(retired).toEqual(change(reg));
    expect(retired[0]).toEqual(["weight-change"]);
    expect(restored.definition("p4", "pulse-band")).toEqual(tightPulse);
    expect(restored.definition("p4", "weight-change")).toBeUndefined();
    expect(Buffer.compare(packr.pack(restored.exportState()), packr.pack(reg.exportState()))).toBe(0);
    expect(view(restored, 200)).toEqual(view(reg, 200));
  });

  it("stores each distinct definition once, not once per rule", () => {
    const state = populated().exportState();
    const rules = state.ruleDefinition.byteLength / 4;
    expect(rules).toBeGreaterThan(1_000);
    expect(state.definitions.length).toBeLessThan(40);
  });

  it("restores 600 000 slots and rules without overflowing the stack", () => {
    const n = 600_000;
    const reg = populated();
    const small = reg.exportState();
    const ints = (f: (i: number) => number) => new Uint8Array(Int32Array.from({ length: n }, (_, i) => f(i)).buffer);
    // 150 000 patients of 4 pulse slots and 4 band rules each (synthetic columns)
    const state = {
      ...small,
      patients: Array.from({ length: n / 4 }, (_, i) => `q${i}`),
      configs: Array.from({ length: n / 4 }, () => ({})),
      definitions: [tightPulse],
      metrics: ["pulse", "spo2", "temp", "weight"],
      slotPatient: ints((i) => i >> 2),
      slotMetric: ints((i) => i & 3),
      rulePatient: ints((i) => i >> 2),
      ruleDefinition: ints(() => 0),
      ruleSlot: ints((i) => i),
      ruleTarget: ints(() => -1),
      ruleAnchor: new Uint8Array(new Float64Array(n).fill(T0).buffer),
      ruleFlags: new Uint8Array(n).fill(1),
    };
    const restored = new PatientRegistry(new Oracle());
    expect(() => restored.importState(state)).not.toThrow();
    expect(restored.slotOwner(n - 1)).toEqual({ patient: `q${(n - 1) >> 2}`, metric: "weight" });
    expect(restored.rule(n - 1)).toMatchObject({ patient: `q${(n - 1) >> 2}`, ruleId: "pulse-band", metric: "weight", link: false });
    expect(restored.rule(n - 1).compiled).toMatchObject({ slot: n - 1, anchor: T0, limits: [NaN, NaN, 105, 125] });
  });
});
