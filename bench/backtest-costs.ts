// npx tsx bench/backtest-costs.ts [--days 3] [--patients 10000] [--cgm 1000] [--runs 5] [--set current|proposed]
//   [--cgm-rules cgm-low,cgm-high] [--only generator|columns|host|pass|kernel|floor [--replays k]]
// bench:backtest's cohort (bench/lib/cohort-year.ts) taken apart per cost centre, in CPU time
// (user + system of the process: a shared machine's wall time is mostly other tenants), the
// fastest of --runs runs each: the generator alone; the host's replay with every kernel call made
// a no-op (generation, counting, group and slot look-up, writing the kernel's input columns), and
// the least a host can do (generation, a slot look-up and the three columns written); the
// whole pass; and the kernel alone on the recorded calls (batches and replay blocks put in its
// memory untimed), per kernel (CGM, COPD, heart failure) and per call kind (evaluate, tick; a
// block is one call of both, counted as evaluate). Then the floor: the smallest wasm loop over
// the same readings (bench/floor/floor.ts: 4 limits per reading, one triage byte). Prints one JSON line. See bench/README.md "bench:backtest", cost centres.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { Backtest, kernelFor } from "../engine/backtest/backtest.js";
import type { ProgrammeRules } from "../engine/backtest/types.js";
import type { Evaluator } from "../engine/evaluator.js";
import type { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { METRIC_COUNT } from "../engine/metrics.js";
import { PROGRAMMES } from "../engine/rules/programmes.js";
import { Floor } from "./lib/floor.js";
import { putBatch, putBlock, recordCalls, runBlockToEnd, type Batch, type RecordedCall } from "./lib/recorded-calls.js";
import { cohort, DAY, FROM, RULE_SETS, stream } from "./lib/cohort-year.js";

const { values: opt } = parseArgs({
  options: {
    days: { type: "string", default: "3" },
    patients: { type: "string", default: "10000" },
    cgm: { type: "string", default: "1000" },
    runs: { type: "string", default: "5" },
    set: { type: "string", default: "current" },
    seed: { type: "string", default: "20260105" },
    chunk: { type: "string", default: "65536" },
    /** Keep only these CGM rules (comma-separated ids): the cost of each rule kind by difference. */
    "cgm-rules": { type: "string" },
    /**
     * One cost centre only (generator, host, pass, kernel, floor), --runs times, for an instruction
     * count: callgrind's total at --runs 2 less that at --runs 1 is one run of it.
     */
    only: { type: "string" },
    /** With --only kernel: set up --runs fresh kernels but replay the calls on the first --replays (callgrind: replays 6 less replays 1, same set-up). */
    replays: { type: "string" },
  },
  strict: true,
});
const cfg = { patients: Number(opt.patients), cgm: Number(opt.cgm), seed: Number(opt.seed), chunk: Number(opt.chunk) };
const days = Number(opt.days);
const runs = Number(opt.runs);
const chosen: ProgrammeRules = RULE_SETS.find((s) => s.name === opt.set)!.rules;
const keep = opt["cgm-rules"] === undefined ? undefined : new Set(opt["cgm-rules"].split(","));
const rules: ProgrammeRules = keep === undefined ? chosen : { ...chosen, cgm: (chosen.cgm ?? PROGRAMMES.cgm.rules).filter((r) => keep.has(r.id)) };
const patients = cohort(cfg);
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const best = (f: () => number): number => {
  let b = Infinity;
  for (let r = 0; r < runs; r++) {
    gc();
    b = Math.min(b, f());
  }
  return b;
};

const only = opt.only;
const replays = opt.replays === undefined ? runs : Number(opt.replays);
const want = (centre: string): boolean => only === undefined || only === centre;
let readings = 0;
const generatorNs = !want("generator") ? NaN : best(() => {
  const t0 = cpu();
  readings = stream(cfg, days, () => {});
  return cpu() - t0;
});

/**
 * The least a host can do per reading: the generator, then each reading's slot looked up in a
 * table and the three kernel columns written (no counting, no groups, no ticks).
 */
const columnsNs = !want("columns") ? NaN : best(() => {
  const table = new Int32Array(patients.length * METRIC_COUNT).map((_, i) => i);
  const slots = new Uint32Array(65_536);
  const times = new Float64Array(65_536);
  const values = new Float32Array(65_536);
  const t0 = cpu();
  stream(cfg, days, (c) => {
    const { n, patient, metric, time, value } = c;
    for (let i = 0; i < n; i++) {
      slots[i] = table[patient[i] * METRIC_COUNT + metric[i]];
      times[i] = time[i];
      values[i] = value[i];
    }
  });
  return cpu() - t0;
});

/** A backtest pass; `stub`: every kernel call a no-op returning 0 transitions. */
function passNs(stub: boolean): number {
  const factory = (n: number): Evaluator => {
    const k = kernelFor(n);
    if (stub) {
      // A group in replay blocks still stages them (blockViews, the views filled): host work.
      k.run = () => 0;
      k.runTick = () => 0;
      k.runBlock = () => 0;
      k.blockPending = () => false;
    }
    return k;
  };
  const bt = new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, factory);
  const t0 = cpu();
  stream(cfg, days, (c) => bt.push(c));
  const t1 = cpu();
  bt.finish();
  const t2 = cpu();
  if (stub) finishNs = Math.min(finishNs, t2 - t1);
  return t2 - t0;
}
/** The report (finish) with the kernel calls stubbed: a cost per pass, not per reading. */
let finishNs = Infinity;
const hostNs = want("host") ? best(() => passNs(true)) : NaN;
const passTotalNs = want("pass") ? best(() => passNs(false)) : NaN;

// The kernel alone: the calls of one pass recorded, then made again on fresh kernels.
const calls: RecordedCall[] = [];
const kinds: string[] = [];
if (want("kernel") || want("floor")) {
  const kernels: WasmKernel[] = [];
  const bt = new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, (n) => {
    const k = kernelFor(n);
    recordCalls(k, kernels.push(k) - 1, calls);
    return k;
  });
  stream(cfg, days, (c) => bt.push(c));
  bt.finish();
}
// The kernels in the order the backtest makes them (by first patient): COPD, heart failure, CGM.
for (const i of [0, 1, cfg.patients]) kinds.push(String(patients[i].programme));

const perKernel = (replay = true): { evalNs: number[]; tickNs: number[]; n: number[]; ticks: number[]; blocks: number[] } => {
  const fresh: WasmKernel[] = [];
  new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, (n) => {
    const k = kernelFor(n);
    fresh.push(k);
    return k;
  });
  const evalNs = [0, 0, 0];
  const tickNs = [0, 0, 0];
  const n = [0, 0, 0];
  const ticks = [0, 0, 0];
  const blocks = [0, 0, 0];
  for (const c of replay ? calls : []) {
    const k = fresh[c.kernel];
    if ("block" in c) {
      // A replay block evaluates and ticks its patients in one call: its whole time counts as
      // evaluate (its kernel's tick figures are then empty).
      const m = putBlock(k, c.block);
      const t0 = cpu();
      runBlockToEnd(k, c.block);
      evalNs[c.kernel] += cpu() - t0;
      n[c.kernel] += m;
      blocks[c.kernel]++;
      continue;
    }
    if (c.batch === undefined) {
      const t0 = cpu();
      k.runTick(c.now, c.tz);
      tickNs[c.kernel] += cpu() - t0;
      ticks[c.kernel]++;
      continue;
    }
    const m = putBatch(k, c.batch);
    const t0 = cpu();
    k.run(m, c.now, c.tz);
    evalNs[c.kernel] += cpu() - t0;
    n[c.kernel] += m;
  }
  return { evalNs, tickNs, n, ticks, blocks };
};
// Per cost centre the fastest run (each run sums many calls; cpuUsage has µs resolution).
let kernel = want("kernel") ? perKernel() : { evalNs: [NaN, NaN, NaN], tickNs: [NaN, NaN, NaN], n: [NaN, NaN, NaN], ticks: [NaN, NaN, NaN], blocks: [NaN, NaN, NaN] };
for (let r = 1; r < runs && want("kernel"); r++) {
  gc();
  const k = perKernel(r < replays);
  for (let i = 0; i < 3; i++) {
    kernel.evalNs[i] = Math.min(kernel.evalNs[i], k.evalNs[i]);
    kernel.tickNs[i] = Math.min(kernel.tickNs[i], k.tickNs[i]);
  }
}

// The floor on the recorded batches and blocks' readings: 4 limits per slot, one triage byte per
// reading (no state).
const recordedBatches: Batch[] = calls.flatMap((c) => ("block" in c ? [c.block.input] : c.batch === undefined ? [] : [c.batch]));
const floorNs = !want("floor") ? NaN : best(() => {
  const floor = Floor.load(patients.length * 6, Math.max(65_536, ...recordedBatches.map((b) => b.slots.length)));
  floor.setLimits(new Float32Array(patients.length * 24).map((_, i) => [3.1, 4.4, 10, 14.4][i & 3]));
  let ns = 0;
  for (const batch of recordedBatches) {
    const m = putBatch(floor, batch);
    const t0 = cpu();
    floor.run(m);
    ns += cpu() - t0;
  }
  return ns;
});

const cgmK = 2;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
if (readings === 0) readings = stream(cfg, days, () => {});
const out = {
  set: opt.set,
  cgm_rules: opt["cgm-rules"] ?? "all",
  days,
  readings,
  generator_ns: +(generatorNs / readings).toFixed(1),
  columns_ns: +(columnsNs / readings).toFixed(1),
  host_ns: +(hostNs / readings).toFixed(1),
  pass_ns: +(passTotalNs / readings).toFixed(1),
  finish_ms: +(finishNs / 1e6).toFixed(1),
  kernel_eval_ns: +(sum(kernel.evalNs) / readings).toFixed(1),
  kernel_tick_ns: +(sum(kernel.tickNs) / readings).toFixed(1),
  by_kernel: kinds.map((name, i) => ({
    name,
    readings: kernel.n[i],
    eval_ns: +(kernel.evalNs[i] / kernel.n[i]).toFixed(1),
    tick_ns_per_reading: +(kernel.tickNs[i] / kernel.n[i]).toFixed(1),
    ticks: kernel.ticks[i],
    blocks: kernel.blocks[i],
    tick_us: +(kernel.tickNs[i] / kernel.ticks[i] / 1000).toFixed(1),
  })),
  cgm_share: +(kernel.n[cgmK] / readings).toFixed(3),
  floor_ns: +(floorNs / readings).toFixed(1),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
