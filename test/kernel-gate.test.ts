// The quiet gate (docs/kernel.md, "The quiet gate"): a reading on a quiet slot is answered from
// the slot's hot record when its value lies inside the gate, two bfloat16 limits rounded inward.
// The main differential test draws limits from a half-unit grid that bfloat16 holds exactly, so
// here the limits are ones it cannot hold (one decimal, negative, above 256) and the values sit
// on them and one f32 step either side; the worlds are mostly single plain band rules (quiet
// slots) that reconfigure, raise and resolve. The kernel must answer exactly as the oracle.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KIND_BAND } from "../assembly/layout.js";
import { DEFAULT_PARAMS, type Limits, type ParamSet } from "../engine/evaluator.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { Oracle } from "../engine/oracle/oracle.js";
import type { Op, RuleSpec, World } from "./support/random-world.js";
import { expectKernelAsOracle, expectRestoreContinues, runOps, setUp } from "./support/run-world.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 1000);
const MIN = 60_000;

const f32 = Math.fround;
/** The next f32 above / below x (x finite, not 0). */
function nextUp(x: number): number {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  u[0] += x > 0 ? 1 : -1;
  return b[0];
}
function nextDown(x: number): number {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  u[0] += x > 0 ? -1 : 1;
  return b[0];
}

/** One-decimal numbers across signs and magnitudes, most of them not a bfloat16. */
const awkward = fc.oneof(
  fc.integer({ min: -3000, max: 3000 }).map((i) => i / 10),
  fc.integer({ min: 250, max: 70000 }),
  fc.integer({ min: -70000, max: -250 }),
);

const limitsArb: fc.Arbitrary<Limits> = fc
  .tuple(fc.uniqueArray(awkward, { minLength: 4, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
  .map(([vals, present]) => [...vals].sort((a, b) => a - b).map((v, i) => (present[i] ? v : NaN)) as Limits);

const paramsArb: fc.Arbitrary<ParamSet> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(DEFAULT_PARAMS) },
  { weight: 1, arbitrary: fc.constant({ ...DEFAULT_PARAMS, margin: 0.5 }) },
  { weight: 1, arbitrary: fc.constant({ ...DEFAULT_PARAMS, n: 2, m: 3 }) },
);

/** Values on, and one f32 step either side of, the world's limits; sometimes NaN or far away. */
function valueArb(limits: number[]): fc.Arbitrary<number> {
  const present = limits.filter((l) => !Number.isNaN(l)).map(f32);
  const near = present.flatMap((l) => (l === 0 ? [0] : [l, nextUp(l), nextDown(l)]));
  return fc.oneof(
    { weight: 8, arbitrary: near.length > 0 ? fc.constantFrom(...near) : awkward },
    { weight: 2, arbitrary: awkward },
    { weight: 1, arbitrary: fc.constant(NaN) },
  );
}

const gateWorldArb: fc.Arbitrary<World> = fc
  .record({
    slots: fc.array(fc.record({ histCap: fc.constantFrom(0, 0, 0, 2), ref: fc.constant(NaN), paused: fc.constant(false) }), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ slots }) =>
    fc
      .array(fc.record({ slot: fc.integer({ min: 0, max: slots.length - 1 }), limits: limitsArb, params: paramsArb }), { minLength: 1, maxLength: 5 })
      .chain((specs) => {
        const rules: RuleSpec[] = specs.map((r) => ({ kind: KIND_BAND, slot: r.slot, flags: 0, limits: r.limits, params: r.params, inputs: [] }));
        const extra = fc.array(limitsArb, { minLength: 1, maxLength: 3 });
        return extra.chain((later) => {
          const all = [...rules.flatMap((r) => r.limits), ...later.flat()];
          const reading = fc.record({ slot: fc.integer({ min: 0, max: slots.length - 1 }), offset: fc.constantFrom(0, MIN, 2 * MIN), value: valueArb(all) });
          const op: fc.Arbitrary<Op> = fc.oneof(
            { weight: 10, arbitrary: fc.record({ type: fc.constant("batch" as const), advance: fc.constantFrom(MIN, 5 * MIN), lag: fc.constant(0), readings: fc.array(reading, { minLength: 1, maxLength: 8 }) }) },
            { weight: 1, arbitrary: fc.record({ type: fc.constant("limits" as const), rule: fc.integer({ min: 0, max: rules.length - 1 }), limits: fc.constantFrom(...later) }) },
            { weight: 1, arbitrary: fc.record({ type: fc.constant("params" as const), rule: fc.integer({ min: 0, max: rules.length - 1 }), params: paramsArb }) },
            { weight: 1, arbitrary: fc.record({ type: fc.constant("disable" as const), rule: fc.integer({ min: 0, max: rules.length - 1 }) }) },
          );
          return fc.record({ slots: fc.constant(slots), rules: fc.constant(rules), tz: fc.constant(0), ops: fc.array(op, { minLength: 1, maxLength: 30 }) });
        });
      }),
  );

describe("the quiet gate", () => {
  it(`answers as the oracle on limits bfloat16 cannot hold (${RUNS} worlds)`, () => {
    fc.assert(
      fc.property(gateWorldArb, expectKernelAsOracle),
      { numRuns: RUNS },
    );
  });

  it("continues exactly after a snapshot restored into a fresh kernel", () => {
    fc.assert(
      fc.property(gateWorldArb, fc.nat(), expectRestoreContinues),
      { numRuns: Math.max(100, RUNS / 4) },
    );
  });

  it("a slot whose rule raised and resolved is quiet again: the same answers as the oracle, and alerts both ways", () => {
    // One plain band rule [90, 100, 160.3, 180.7]; 160.3 and 180.7 are not bfloat16 numbers.
    const world: World = {
      slots: [{ histCap: 0, ref: NaN, paused: false }],
      rules: [{ kind: KIND_BAND, slot: 0, flags: 0, limits: [90, 100, 160.3, 180.7], params: DEFAULT_PARAMS, inputs: [] }],
      tz: 0,
      ops: [160.3, nextUp(f32(160.3)), 150, 160.3, 180.7, nextUp(f32(180.7)), 120, nextDown(100), 100, NaN, 99].map(
        (value): Op => ({ type: "batch", advance: MIN, lag: 0, readings: [{ slot: 0, offset: 0, value }] }),
      ),
    };
    const oracle = new Oracle();
    const kernel = WasmKernel.load();
    setUp(world, oracle);
    setUp(world, kernel);
    const got = runOps(world, kernel);
    expect(got).toEqual(runOps(world, oracle));
    // N, H, N, N, H (on 180.7: yellow only), HH, N, L, N, not triaged, L
    expect(got.map((s) => s.triage![0])).toEqual([1, 3, 1, 1, 3, 5, 1, 2, 1, 0, 2]);
    expect(got.flatMap((s) => s.transitions.map((t) => t.kind))).toEqual([1, 4, 1, 2, 4, 1, 4, 1]);
  });
});
