// Random inputs for an AlertLifecycle (property tests): transitions, acks and retirements of a
// few (patient, rule) pairs.
import fc from "fast-check";
import type { AlertLevel } from "../../engine/lifecycle/index.js";

export type LifecycleInput =
  | { kind: "transition"; pair: number; transition: "raise" | "upgrade" | "downgrade" | "resolve"; level: AlertLevel; dt: number }
  | { kind: "ack"; pair: number; dt: number }
  | { kind: "retire"; pair: number; dt: number };

// two rules of one patient on the same metric (inhibition between them), and another patient
export const pairs = [
  { patient: "p1", rule: "r1" },
  { patient: "p1", rule: "r2" },
  { patient: "p2", rule: "r1" },
];
export const pair = fc.nat(pairs.length - 1);
export const dt = fc.integer({ min: 0, max: 20 * 60_000 });
/** Weighted: transitions 6, acks 2, retirements 1 (for fc.oneof, beside others). */
export const lifecycleInputs: fc.WeightedArbitrary<LifecycleInput>[] = [
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("transition" as const), pair, transition: fc.constantFrom("raise" as const, "upgrade" as const, "downgrade" as const, "resolve" as const), level: fc.constantFrom<AlertLevel>("yellow", "red"), dt }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("ack" as const), pair, dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("retire" as const), pair, dt }) },
];
