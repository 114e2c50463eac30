// A snapshot packs the alerts after its capture, in slices, while later groups change them
// (AlertLifecycle.holdAlerts, engine/durable/snapshot-packer.ts): the lifecycle copies a held
// alert before its first change. Differential: whatever happens after the hold, the held alerts
// read through `before` are exactly a deep copy of the alerts taken at the hold.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AlertTransition, EvaluatedReading } from "../engine/engine.js";
import { AlertLifecycle, type Alert } from "../engine/lifecycle/index.js";
import { dt, lifecycleInputs, pair, pairs, type LifecycleInput } from "./support/lifecycle-inputs.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0);
const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);

type Op =
  | LifecycleInput
  | { kind: "withdraw"; pair: number; back: number; dt: number }
  | { kind: "silence"; pair: number; minutes: number; dt: number }
  | { kind: "unsilence"; dt: number }
  | { kind: "tick"; dt: number }
  | { kind: "chain"; patient: number; teams: number; dt: number }
  /** A gateway's buffer: a raise two hours old (late), then a present reading that finds it still firing (late.ts, presentLate). */
  | { kind: "late"; pair: number; level: "yellow" | "red"; dt: number }
  | { kind: "present"; pair: number; dt: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  ...(lifecycleInputs as fc.WeightedArbitrary<Op>[]),
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), pair, back: fc.nat(4), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("silence" as const), pair, minutes: fc.integer({ min: 1, max: 90 }), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unsilence" as const), dt }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 3 * 3_600_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("chain" as const), patient: fc.nat(1), teams: fc.integer({ min: 1, max: 3 }), dt }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("late" as const), pair, level: fc.constantFrom("yellow" as const, "red" as const), dt }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("present" as const), pair, dt }) },
);

/** A lifecycle driven by ops; `hold` is called before op number `at` (and `release` at `releaseAt`, if any). */
function drive(ops: Op[], at: number, releaseAt: number | undefined) {
  const lc = new AlertLifecycle({ rules: () => ({ kind: "band" }), latching: { levels: ["red"] }, defaultCareTeams: [{ team: "t0", role: "hospital" }] });
  let now = T0;
  let reading = 0;
  const silences: string[] = [];
  let held: { hold: ReturnType<AlertLifecycle["holdAlerts"]>; expected: Alert[] } | undefined;
  for (const [i, x] of ops.entries()) {
    if (i === at) held = { hold: lc.holdAlerts(), expected: structuredClone(lc.exportState().alerts) };
    if (held !== undefined && i === releaseAt) lc.releaseAlerts(held.hold);
    now += x.dt;
    const alertOf = (p: number) => lc.snapshot().alerts.find((a) => a.patient === pairs[p].patient && a.rule === pairs[p].rule);
    try {
      switch (x.kind) {
        case "transition": {
          const { patient, rule } = pairs[x.pair];
          const current = alertOf(x.pair);
          const from = current === undefined ? "none" : current.level;
          const to = x.transition === "resolve" ? "none" : x.level;
          const t: AlertTransition = {
            patient, rule, metric: "pulse", kind: x.transition, from, to, direction: "high", priority: (to === "none" ? from : to) === "red" ? "high" : "medium",
            interpretation: to === "red" ? "HH" : to === "yellow" ? "H" : "N", time: now, value: 1, reading: 0,
          } as AlertTransition;
          const r = { index: 0, id: `m${++reading}`, patient, metric: "pulse", value: 1, time: now } as unknown as EvaluatedReading;
          lc.apply([t], now, [r]);
          break;
        }
        case "ack": {
          const a = alertOf(x.pair);
          if (a !== undefined) lc.ack(a.id, "nurse", undefined, now);
          break;
        }
        case "retire":
          lc.retire(pairs[x.pair].patient, pairs[x.pair].rule, now);
          break;
        case "withdraw":
          lc.withdrawReading(pairs[x.pair].patient, `m${reading - x.back}`, now);
          break;
        case "silence":
          silences.push(lc.addSilence({ patient: pairs[x.pair].patient, until: now + x.minutes * 60_000, reason: "visit", author: "nurse" }, now).id);
          break;
        case "unsilence": {
          const id = silences.pop();
          if (id !== undefined) lc.removeSilence(id, "nurse", now);
          break;
        }
        case "tick":
          lc.tick(now);
          break;
        case "late": {
          const { patient, rule } = pairs[x.pair];
          const current = alertOf(x.pair);
          const time = now - 2 * 3_600_000;
          const t = {
            patient, rule, metric: "pulse", kind: "raise", from: current === undefined ? "none" : current.level, to: x.level, direction: "high",
            priority: x.level === "red" ? "high" : "medium", interpretation: x.level === "red" ? "HH" : "H", time, value: 1, reading: 0,
          } as AlertTransition;
          const r = { index: 0, id: `m${++reading}`, patient, metric: "pulse", value: 1, time, triage: "H" } as unknown as EvaluatedReading;
          lc.ingest({ readings: [r], rejected: [], transitions: [t] }, now);
          break;
        }
        case "present": {
          const r = { index: 0, id: `m${++reading}`, patient: pairs[x.pair].patient, metric: "pulse", value: 1, time: now, triage: "H" } as unknown as EvaluatedReading;
          lc.ingest({ readings: [r], rejected: [], transitions: [] }, now);
          break;
        }
        case "chain":
          lc.setPatient(`p${x.patient + 1}`, { careTeams: Array.from({ length: x.teams }, (_, k) => ({ team: `t${(k + x.dt) % 4}`, role: "hospital" as const })) }, now);
          break;
      }
    } catch {
      // a refused op (e.g. ack of an alert not open) changes nothing
    }
    lc.takeEvents();
  }
  return { lc, held };
}

describe("alerts held by a snapshot while it is packed", () => {
  it("read through the hold, are exactly the alerts at the hold, whatever happens after", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 2, maxLength: 60, size: "max" }), fc.nat(), (ops, k) => {
        const at = k % ops.length;
        const { lc, held } = drive(ops, at, undefined);
        const { hold, expected } = held!;
        expect(hold.alerts.map((a) => hold.before.get(a) ?? a)).toEqual(expected);
        // the live alerts went on (a hold changes nothing of the lifecycle's own state)
        const again = drive(ops, ops.length, undefined).lc;
        expect(lc.exportState().alerts).toEqual(again.exportState().alerts);
      }),
      { numRuns: RUNS },
    );
  });

  it("copies nothing once released", () => {
    const ops: Op[] = [
      { kind: "transition", pair: 0, transition: "raise", level: "red", dt: 0 },
      { kind: "transition", pair: 2, transition: "raise", level: "yellow", dt: 60_000 },
      { kind: "transition", pair: 0, transition: "downgrade", level: "yellow", dt: 60_000 },
      { kind: "ack", pair: 2, dt: 60_000 },
    ];
    const kept = drive(ops, 2, undefined).held!.hold;
    expect(kept.before.size).toBe(2);
    const released = drive(ops, 2, 3).held!.hold;
    expect(released.before.size).toBe(1);
  });
});
