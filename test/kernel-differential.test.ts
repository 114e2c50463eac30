// The oracle is the specification: on random rule sets and random streams the wasm kernel must
// answer exactly the same triage codes and transitions, in the same order (docs/kernel.md).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Oracle } from "../engine/oracle/oracle.js";
import { expectKernelAsOracle, expectRestoreContinues, runOps, setUp } from "./support/run-world.js";
import { cgmWorldArb, compiledRules, dailyWorldArb, worldArb, type Op, type World } from "./support/random-world.js";
import { KIND_SCORE, SCORE_SET_MS, TR_RAISE } from "../assembly/layout.js";
import type { CompiledRule, Transition } from "../engine/evaluator.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 1000);

/** Score transitions of a batch that held two or more readings of the score's inputs within one set window. */
function setTransitions(op: Op, rules: CompiledRule[], transitions: Transition[]): number {
  if (op.type !== "batch") return 0;
  return transitions.filter((t) => {
    const rule = rules[t.rule];
    if (rule.kind !== KIND_SCORE) return false;
    const offsets = op.readings.filter((r) => rule.scoreInputs!.includes(r.slot)).map((r) => r.offset);
    return offsets.length >= 2 && Math.max(...offsets) - Math.min(...offsets) <= SCORE_SET_MS;
  }).length;
}

/** A batch of late data: its oldest reading more than a day before the clock (random-world.ts, backfillArb). */
function isBackfill(op: Op): boolean {
  return op.type === "batch" && op.lag >= 24 * 3_600_000 && op.readings.length >= 2;
}

describe("wasm kernel against the oracle", () => {
  it(`answers the same triage and transitions on ${RUNS} random worlds`, () => {
    fc.assert(
      fc.property(worldArb, expectKernelAsOracle),
      { numRuns: RUNS },
    );
  });

  it(`answers the same on ${RUNS} worlds of daily missing rules (whether the armed day counts), also across a snapshot`, () => {
    fc.assert(
      fc.property(dailyWorldArb, fc.nat(), (world, cut) => {
        expectKernelAsOracle(world);
        expectRestoreContinues(world, cut);
      }),
      { numRuns: RUNS },
    );
  });

  it(`answers the same on ${RUNS} CGM-shaped worlds (rules at rest, idle ticks, the forecast window), also across a snapshot`, () => {
    let raised = 0;
    fc.assert(
      fc.property(cgmWorldArb, fc.nat(), (world, cut) => {
        expectKernelAsOracle(world);
        expectRestoreContinues(world, cut);
        const oracle = new Oracle();
        setUp(world, oracle);
        for (const step of runOps(world, oracle)) raised += step.transitions.filter((t) => t.kind === TR_RAISE).length;
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: the rules leave rest and come back (about one raise per world or more).
    expect(raised).toBeGreaterThan(RUNS / 2);
  });

  it("continues exactly after a snapshot restored into a fresh kernel", () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), expectRestoreContinues),
      { numRuns: Math.max(100, RUNS / 4) },
    );
  });

  it("the generator reaches every rule kind and every transition kind, scores observation sets and moves rules on a day's backfill (the test is not vacuous)", () => {
    const kinds = new Set<number>();
    const triage = new Set<number>();
    let scoredSets = 0;
    let backfills = 0;
    fc.assert(
      fc.property(worldArb, (world) => {
        const oracle = new Oracle();
        setUp(world, oracle);
        const compiled = compiledRules(world);
        for (const step of runOps(world, oracle)) {
          step.transitions.forEach((t) => kinds.add(t.kind));
          if (step.triage !== undefined) scoredSets += setTransitions(world.ops[step.op], compiled, step.transitions);
          if (isBackfill(world.ops[step.op]) && step.transitions.length > 0) backfills++;
          step.triage?.forEach((c) => triage.add(c));
        }
      }),
      { numRuns: 800, seed: 42 },
    );
    expect([...kinds].sort()).toEqual([1, 2, 3, 4]);
    expect(scoredSets).toBeGreaterThan(20);
    expect(backfills).toBeGreaterThan(10);
    expect([...triage].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("the generator reaches worlds where daily.enrolmentDay changes the answer (counted armed days are compared)", () => {
    const answers = (world: World) => {
      const oracle = new Oracle();
      setUp(world, oracle);
      return runOps(world, oracle).map((s) => s.transitions);
    };
    let differing = 0;
    fc.assert(
      fc.property(dailyWorldArb, (world) => {
        const flipped = { ...world, rules: world.rules.map((r) => ({ ...r, params: { ...r.params, enrolmentDay: 1 - r.params.enrolmentDay } })) };
        if (JSON.stringify(answers(world)) !== JSON.stringify(answers(flipped))) differing++;
      }),
      { numRuns: 300, seed: 42 },
    );
    expect(differing).toBeGreaterThan(30);
  });
});
