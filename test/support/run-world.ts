// Drives an evaluator through a random world and records everything it answers, so two
// evaluators (or one interrupted by a snapshot) can be compared op by op.
import { expect } from "vitest";
import type { Evaluator, Transition } from "../../engine/evaluator.js";
import { WasmKernel } from "../../engine/kernel/wasm-kernel.js";
import { Oracle } from "../../engine/oracle/oracle.js";
import { compiledRules, T0, type Op, type World } from "./random-world.js";

export interface Step {
  op: number;
  triage?: number[];
  transitions: Transition[];
}

/** Adds the world's slots and rules to an evaluator. */
export function setUp(world: World, ev: Evaluator): void {
  for (const slot of world.slots) ev.addSlot(slot);
  for (const rule of compiledRules(world)) ev.addRule(rule);
}

/** The clock before op `index`. */
export function clockAt(world: World, index: number): number {
  let now = T0;
  for (let i = 0; i < index; i++) now += advanceOf(world.ops[i]);
  return now;
}

function advanceOf(op: Op): number {
  return op.type === "batch" || op.type === "tick" ? op.advance : 0;
}

/** Applies ops [from, to) and returns what the evaluator answered to each. */
export function runOps(world: World, ev: Evaluator, from = 0, to = world.ops.length): Step[] {
  const steps: Step[] = [];
  let now = clockAt(world, from);
  for (let i = from; i < to; i++) {
    const op = world.ops[i];
    now += advanceOf(op);
    switch (op.type) {
      case "batch": {
        const times = op.readings.map((r) => now - op.lag + r.offset);
        const result = ev.evaluate(
          op.readings.map((r) => r.slot),
          times,
          op.readings.map((r) => r.value),
          now,
          world.tz,
        );
        steps.push({ op: i, triage: [...result.triage], transitions: result.transitions });
        break;
      }
      case "tick":
        steps.push({ op: i, transitions: ev.tick(now, world.tz) });
        break;
      case "ref":
        ev.setSlotRef(op.slot, op.value);
        break;
      case "pause":
        ev.setSlotPaused(op.slot, op.paused, now);
        break;
      case "limits":
        ev.setRuleLimits(op.rule, op.limits);
        break;
      case "params":
        ev.setRuleParams(op.rule, op.params);
        break;
      case "disable":
        ev.disableRule(op.rule);
        break;
    }
  }
  return steps;
}

/** The wasm kernel answers the world exactly as the oracle does. */
export function expectKernelAsOracle(world: World): void {
  const oracle = new Oracle();
  // evaluate() has two loops (prefetching for a large state, plain for a cached one): both, on every world.
  const kernel = WasmKernel.load();
  const prefetching = WasmKernel.load();
  prefetching.setCachedStateBytes(0);
  setUp(world, oracle);
  setUp(world, kernel);
  setUp(world, prefetching);
  const expected = runOps(world, oracle);
  expect(runOps(world, kernel)).toEqual(expected);
  expect(runOps(world, prefetching)).toEqual(expected);
}

/** A kernel snapshotted before op `cutSeed mod (ops + 1)` and restored into a fresh one answers as an uninterrupted run. */
export function expectRestoreContinues(world: World, cutSeed: number): void {
  const cut = cutSeed % (world.ops.length + 1);
  const straight = WasmKernel.load();
  setUp(world, straight);
  const expected = runOps(world, straight);
  const first = WasmKernel.load();
  setUp(world, first);
  const before = runOps(world, first, 0, cut);
  const after = runOps(world, WasmKernel.restore(first.snapshot()), cut);
  expect([...before, ...after]).toEqual(expected);
}
