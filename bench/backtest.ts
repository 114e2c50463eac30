// npm run bench:backtest [-- --quick] — a synthetic cohort-year through the backtest
// (engine/backtest/): 10 000 COPD and heart-failure patients × 5 readings a day plus 1 000 CGM
// patients × 288 readings a day, 365 days (≈ 123 M readings), generated on the fly in time order
// and streamed in chunks (never held whole), under the current rule set and a proposed one. The
// TypeScript oracle replays a prefix of the same stream in the same run (the whole year would take
// minutes); its report must equal the kernel's on that prefix. Each pass runs twice: on one thread
// (the per-core figures) and sharded over --threads worker threads (default: the machine's cores;
// its report must equal the one-thread report; cohort_year_s is its wall time). Prints a table,
// then as the last line one JSON object. See bench/README.md.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { isDeepStrictEqual } from "node:util";
import { availableParallelism } from "node:os";
import { Backtest, kernelFor } from "../engine/backtest/backtest.js";
import { ShardedBacktest } from "../engine/backtest/sharded.js";
import type { BacktestReport, ProgrammeRules } from "../engine/backtest/types.js";
import type { Evaluator } from "../engine/evaluator.js";
import type { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { chunks, cohort, DAY, FROM, RULE_SETS, stream } from "./lib/cohort-year.js";
import { putBatch, putBlock, recordCalls, runBlockToEnd, type RecordedCall } from "./lib/recorded-calls.js";
import { fmtCount, fmtRate, fmtRatio, sig, summarize } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    threads: { type: "string" }, // the sharded pass's worker threads (default: the machine's cores; 1: none)
    patients: { type: "string" }, // COPD + heart-failure patients
    cgm: { type: "string" }, // CGM patients
    days: { type: "string" },
    "oracle-days": { type: "string" },
    "kernel-days": { type: "string" },
    seed: { type: "string" },
  },
  strict: true,
});
const quick = opt.quick === true;
const num = (s: string | undefined, d: number): number => (s === undefined ? d : Number(s.replace(/_/g, "")));
const cfg = {
  patients: num(opt.patients, quick ? 2_000 : 10_000),
  cgm: num(opt.cgm, quick ? 200 : 1_000),
  days: num(opt.days, quick ? 30 : 365),
  oracleDays: num(opt["oracle-days"], quick ? 1 : 2),
  kernelDays: num(opt["kernel-days"], quick ? 7 : 7),
  runs: num(opt.runs, quick ? 3 : 3),
  threads: num(opt.threads, availableParallelism()),
  seed: num(opt.seed, 20260105),
};

const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");

const patients = cohort(cfg);



// ---- the kernel's own share ----
/**
 * The backtest's kernels (the same capacities as its own), timing their calls in CPU time (the
 * process's user + system, which Linux counts to the microsecond from its nanosecond run time:
 * on a shared machine a call's wall time is mostly other tenants) and, when `calls` is given,
 * recording them. Three kinds of call: evaluate (run) and tick (runTick) for a group in time
 * order, and replay blocks (runBlock, then resumeBlock while pending) for a group whose state
 * outgrows the cache: a block evaluates and ticks its patients in one call, so its time is not
 * split.
 */
class TimedKernels {
  readonly kernels: WasmKernel[] = [];
  runNs = 0;
  tickNs = 0;
  blockNs = 0;
  /** Readings evaluated, in run() and in blocks. */
  readings = 0;
  ticks = 0;
  /** Replay blocks and the tick instants in them (each ticks every patient of its group). */
  blocks = 0;
  blockTicks = 0;
  /** Per kernel (one per combination of programmes): CPU ns in its calls and its readings. */
  readonly byKernel: { ns: number; readings: number }[] = [];
  constructor(private readonly calls?: RecordedCall[]) {}

  readonly factory = (patients: number): Evaluator => {
    const k = kernelFor(patients);
    const index = this.kernels.push(k) - 1;
    const own = (this.byKernel[index] = { ns: 0, readings: 0 });
    const run = k.run.bind(k);
    const runTick = k.runTick.bind(k);
    const runBlock = k.runBlock.bind(k);
    const resumeBlock = k.resumeBlock.bind(k);
    k.run = (n, now, tz) => {
      this.readings += n;
      own.readings += n;
      return this.timed(own, "runNs", () => run(n, now, tz));
    };
    k.runTick = (now, tz) => {
      this.ticks++;
      return this.timed(own, "tickNs", () => runTick(now, tz));
    };
    k.runBlock = (n, m, p) => {
      this.readings += n;
      own.readings += n;
      this.blocks++;
      this.blockTicks += m;
      return this.timed(own, "blockNs", () => runBlock(n, m, p));
    };
    k.resumeBlock = () => this.timed(own, "blockNs", resumeBlock);
    // Outside the timing wrappers: copying a call is not the kernel's time.
    if (this.calls !== undefined) recordCalls(k, index, this.calls);
    return k;
  };

  /** Makes a kernel call, its CPU ns added to `field` and to its kernel's. */
  private timed(own: { ns: number }, field: "runNs" | "tickNs" | "blockNs", call: () => number): number {
    const t0 = process.cpuUsage();
    const count = call();
    const ns = cpuNs(t0);
    this[field] += ns;
    own.ns += ns;
    return count;
  }
}

/** CPU ns since `since`, less what reading the clock itself costs (CPU_CLOCK_NS). */
function cpuNs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) * 1000 - CPU_CLOCK_NS;
}

/** What a pair of process.cpuUsage() calls adds to a timed call (two system calls), measured once. */
const CPU_CLOCK_NS = ((): number => {
  const n = 20_000;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) process.cpuUsage(process.cpuUsage());
  const d = process.cpuUsage(c0);
  return ((d.user + d.system) * 1000) / n / 2;
})();

/**
 * The kernel alone: the calls a replay of `days` days made, made again on fresh kernels of the
 * same cohort (set up the same way) with each batch or block put in their memory first (not
 * timed): the kernel calls only, no host code between them. ns per reading, evaluate, tick and
 * replay blocks apart.
 */
function kernelOnly(rules: ProgrammeRules, days: number): {
  runNsPerReading: number;
  tickNsPerReading: number;
  blockNsPerReading: number;
  readings: number;
  ticks: number;
  blocks: number;
  blockTicks: number;
  cgmNs: number;
  sessionNs: number;
} {
  const calls: RecordedCall[] = [];
  const recording = new TimedKernels(calls);
  const bt = new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, recording.factory);
  stream(cfg, days, (c) => bt.push(c));
  bt.finish();
  const fresh = new TimedKernels();
  new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, fresh.factory);
  gc();
  for (const call of calls) {
    const k = fresh.kernels[call.kernel];
    if ("block" in call) {
      putBlock(k, call.block);
      runBlockToEnd(k, call.block);
    } else if (call.batch === undefined) k.runTick(call.now, call.tz);
    else k.run(putBatch(k, call.batch), call.now, call.tz);
  }
  // The CGM patients' kernel (the last combination) apart from the COPD and heart-failure ones (all of its calls per reading).
  const cgm = fresh.byKernel.at(-1)!;
  const sessions = fresh.byKernel.slice(0, -1).reduce((a, b) => ({ ns: a.ns + b.ns, readings: a.readings + b.readings }), { ns: 0, readings: 0 });
  return {
    runNsPerReading: fresh.runNs / fresh.readings,
    tickNsPerReading: fresh.tickNs / fresh.readings,
    blockNsPerReading: fresh.blockNs / fresh.readings,
    readings: fresh.readings,
    ticks: fresh.ticks,
    blocks: fresh.blocks,
    blockTicks: fresh.blockTicks,
    cgmNs: cgm.ns / cgm.readings,
    sessionNs: sessions.ns / sessions.readings,
  };
}

// ---- passes ----
interface Pass {
  seconds: number;
  /** CPU time of the process (user + system) over the pass: the figure that survives a shared, busy machine. */
  cpuSeconds: number;
  setupSeconds: number;
  readings: number;
  report: BacktestReport;
  /** CPU time inside the kernel's calls (evaluate, tick and replay blocks), when its kernels were timed. */
  kernelSeconds: number;
}

/** One rule set over `days` days: set-up (configuring the cohort) then the streamed replay and the report, wall clock. */
function pass(rules: ProgrammeRules, days: number, evaluator?: () => Evaluator): Pass {
  const timed = evaluator === undefined ? new TimedKernels() : undefined;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bt = new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, evaluator ?? timed!.factory);
  const t1 = performance.now();
  const readings = stream(cfg, days, (c) => bt.push(c));
  const report = bt.finish();
  const t2 = performance.now();
  const cpu = process.cpuUsage(c0);
  const kernelSeconds = timed === undefined ? NaN : (timed.runNs + timed.tickNs + timed.blockNs) / 1e9;
  return { seconds: (t2 - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, setupSeconds: (t1 - t0) / 1000, readings, report, kernelSeconds };
}

/**
 * One rule set over `days` days on cfg.threads worker threads (engine/backtest/sharded.ts): the
 * same stream routed to the shards, their outcomes merged into one report; wall clock, and CPU
 * of the whole process (every thread).
 */
async function shardedPass(rules: ProgrammeRules, days: number): Promise<Omit<Pass, "kernelSeconds">> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bt = new ShardedBacktest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, cfg.threads);
  const t1 = performance.now();
  let readings = 0;
  for (const c of chunks(cfg, days)) {
    readings += c.n;
    await bt.push(c);
  }
  const report = await bt.finish();
  const t2 = performance.now();
  const cpu = process.cpuUsage(c0);
  return { seconds: (t2 - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, setupSeconds: (t1 - t0) / 1000, readings, report };
}

/** The generator alone (what the replay's figure includes besides the replay): wall and CPU seconds. */
function generatorPass(days: number): { seconds: number; cpuSeconds: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let sum = 0;
  stream(cfg, days, (c) => (sum += c.n));
  const cpu = process.cpuUsage(c0);
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  const expected = (cfg.patients * 4.5 * 0.95 + cfg.cgm * 288) * cfg.days; // roughly: the gaps and skipped sessions
  log(`cohort: ${cfg.patients} COPD/heart-failure + ${cfg.cgm} CGM patients × ${cfg.days} days (≈ ${fmtCount(Math.round(expected))} readings), ${cfg.runs} runs per rule set`);
  type Figures = { rps: number[]; cpuRps: number[]; seconds: number[]; setup: number[]; kernelNs: number[]; readings: number; report?: BacktestReport; sharded: number[]; shardedCpu: number[]; shardedSame: boolean };
  const figures: Record<string, Figures> = {};
  let peakRss = 0;
  const rss = () => (peakRss = Math.max(peakRss, process.resourceUsage().maxRSS / 1024));
  for (let run = 0; run < cfg.runs; run++) {
    for (const set of RULE_SETS) {
      gc();
      const p = pass(set.rules, cfg.days);
      const f = (figures[set.name] ??= { rps: [], cpuRps: [], seconds: [], setup: [], kernelNs: [], readings: p.readings, sharded: [], shardedCpu: [], shardedSame: true });
      f.rps.push(p.readings / p.seconds);
      f.cpuRps.push(p.readings / p.cpuSeconds);
      f.seconds.push(p.seconds);
      f.setup.push(p.setupSeconds);
      f.kernelNs.push((p.kernelSeconds * 1e9) / p.readings);
      f.report = p.report;
      rss();
      log(
        `run ${run + 1} ${set.name}: ${fmtCount(p.readings)} readings in ${p.seconds.toFixed(2)} s (set-up ${p.setupSeconds.toFixed(2)} s) = ${fmtRate(p.readings / p.seconds)} (CPU ${p.cpuSeconds.toFixed(2)} s: ${fmtRate(p.readings / p.cpuSeconds)}; inside the kernel ${p.kernelSeconds.toFixed(2)} s)`,
      );
      if (cfg.threads > 1) {
        gc();
        const q = await shardedPass(set.rules, cfg.days);
        f.sharded.push(q.seconds);
        f.shardedCpu.push(q.cpuSeconds);
        f.shardedSame &&= isDeepStrictEqual(q.report, p.report);
        rss();
        log(`run ${run + 1} ${set.name} on ${cfg.threads} threads: ${q.seconds.toFixed(2)} s (set-up ${q.setupSeconds.toFixed(2)} s) = ${fmtRate(q.readings / q.seconds)} (CPU ${q.cpuSeconds.toFixed(2)} s of all threads); report ${isDeepStrictEqual(q.report, p.report) ? "equal" : "DIFFERS"}`);
      }
    }
  }
  gc();
  const gens = Array.from({ length: cfg.runs }, () => generatorPass(cfg.days));
  const genSeconds = summarize(gens.map((g) => g.seconds)).median;
  const genNs = (summarize(gens.map((g) => g.cpuSeconds)).median * 1e9) / figures.current.readings;

  // The kernel alone on the calls of the first --kernel-days days (the least disturbed run counts).
  log(`kernel only: the calls of the first ${cfg.kernelDays} day(s) again on fresh kernels, both rule sets`);
  const kernel: Record<string, { run: number; tick: number; block: number; readings: number; ticks: number; blocks: number; blockTicks: number; cgm: number; sessions: number }> = {};
  for (let run = 0; run < cfg.runs; run++) {
    for (const set of RULE_SETS) {
      gc();
      const k = kernelOnly(set.rules, cfg.kernelDays);
      const prev = kernel[set.name];
      const total = k.runNsPerReading + k.tickNsPerReading + k.blockNsPerReading;
      if (prev === undefined || total < prev.run + prev.tick + prev.block) {
        kernel[set.name] = { run: k.runNsPerReading, tick: k.tickNsPerReading, block: k.blockNsPerReading, readings: k.readings, ticks: k.ticks, blocks: k.blocks, blockTicks: k.blockTicks, cgm: k.cgmNs, sessions: k.sessionNs };
      }
      rss();
    }
  }

  // The oracle on a prefix; the kernel on the same prefix for the ratio and the cross-check.
  log(`oracle: the first ${cfg.oracleDays} day(s), both rule sets`);
  const oracle: Record<string, { rps: number[]; cpuRps: number[]; kernelRps: number[]; kernelCpuRps: number[]; same: boolean; readings: number }> = {};
  for (let run = 0; run < cfg.runs; run++) {
    for (const set of RULE_SETS) {
      gc();
      const k = pass(set.rules, cfg.oracleDays);
      gc();
      const o = pass(set.rules, cfg.oracleDays, () => new Oracle());
      const f = (oracle[set.name] ??= { rps: [], cpuRps: [], kernelRps: [], kernelCpuRps: [], same: true, readings: o.readings });
      f.rps.push(o.readings / o.seconds);
      f.cpuRps.push(o.readings / o.cpuSeconds);
      f.kernelRps.push(k.readings / k.seconds);
      f.kernelCpuRps.push(k.readings / k.cpuSeconds);
      f.same &&= isDeepStrictEqual(k.report, o.report);
      rss();
    }
  }

  // Every figure beside the oracle's (same rule set, CPU time: what a shared machine leaves comparable).
  const rows: string[][] = [];
  const med = (xs: number[]) => summarize(xs).median;
  for (const set of RULE_SETS) {
    const f = figures[set.name];
    const o = oracle[set.name];
    const k = kernel[set.name];
    const oCpu = med(o.cpuRps);
    const row = (what: string, readings: number, wallRps: number, cpuRps: number, wall: string, note: string) => [
      set.name,
      what,
      fmtCount(readings),
      fmtRate(wallRps),
      fmtRate(cpuRps),
      `${(1e9 / cpuRps).toFixed(0)} ns`,
      fmtRatio(cpuRps / oCpu),
      wall,
      note,
    ];
    const kernelNs = med(f.kernelNs);
    rows.push(row(`backtest, wasm kernel (${cfg.days} d)`, f.readings, med(f.rps), med(f.cpuRps), `${med(f.seconds).toFixed(2)} s`, `${f.report!.ruleSets[0].alerts.all} alerts`));
    if (cfg.threads > 1) rows.push(row(`backtest, ${cfg.threads} threads (${cfg.days} d)`, f.readings, f.readings / med(f.sharded), f.readings / med(f.shardedCpu), `${med(f.sharded).toFixed(2)} s`, `${fmtRatio(med(f.seconds) / med(f.sharded))} the one-thread wall; report ${f.shardedSame ? "equal" : "DIFFERS"}`));
    rows.push(row("  of which: inside kernel calls", f.readings, NaN, 1e9 / kernelNs, "", "CPU time in evaluate + tick + replay blocks"));
    rows.push(row("  of which: generator", f.readings, f.readings / genSeconds, 1e9 / genNs, "", "synthetic readings"));
    rows.push(
      row(
        `kernel only (${cfg.kernelDays} d, batches in wasm memory)`,
        k.readings,
        NaN,
        1e9 / (k.run + k.tick + k.block),
        "",
        `evaluate ${k.run.toFixed(1)} + tick ${k.tick.toFixed(1)} + blocks ${k.block.toFixed(1)} ns (${fmtCount(k.ticks)} ticks; ${fmtCount(k.blocks)} blocks of ${fmtCount(k.blockTicks)} tick instants in all); CGM ${k.cgm.toFixed(0)} ns, COPD/HF ${k.sessions.toFixed(0)} ns`,
      ),
    );
    rows.push(row(`backtest, wasm kernel (${cfg.oracleDays} d prefix)`, o.readings, med(o.kernelRps), med(o.kernelCpuRps), "", "set-up weighs on a short prefix"));
    rows.push(row(`oracle (${cfg.oracleDays} d prefix)`, o.readings, med(o.rps), oCpu, "", o.same ? "same report as the kernel" : "REPORT DIFFERS"));
  }
  process.stdout.write(
    `\n${renderTable(["rule set", "what", "readings", "readings/s (wall)", "readings/s (CPU)", "CPU per reading", "÷ oracle (CPU)", "wall (median)", ""], rows, ["l", "l", "r", "r", "r", "r", "r", "r", "l"])}\n`,
  );

  const cur = figures.current;
  const backtestRps = summarize(RULE_SETS.map((s) => med(figures[s.name].rps))).min;
  const cpuRps = summarize(RULE_SETS.map((s) => med(figures[s.name].cpuRps))).min;
  const oracleRps = summarize(RULE_SETS.map((s) => med(oracle[s.name].rps))).median;
  const oracleCpuRps = summarize(RULE_SETS.map((s) => med(oracle[s.name].cpuRps))).median;
  const kernelInReplayNs = Math.max(...RULE_SETS.map((s) => med(figures[s.name].kernelNs)));
  const kernelOnlyNs = Math.max(...RULE_SETS.map((s) => kernel[s.name].run + kernel[s.name].tick + kernel[s.name].block));
  const kernelOnlyEvalNs = Math.max(...RULE_SETS.map((s) => kernel[s.name].run));
  const kernelOnlyBlockNs = Math.max(...RULE_SETS.map((s) => kernel[s.name].block));
  const kernelCgmNs = Math.max(...RULE_SETS.map((s) => kernel[s.name].cgm));
  const kernelSessionNs = Math.max(...RULE_SETS.map((s) => kernel[s.name].sessions));
  const cohortYearSingle = Math.max(...RULE_SETS.map((s) => med(figures[s.name].seconds)));
  const sharded = cfg.threads > 1;
  const cohortYear = sharded ? Math.max(...RULE_SETS.map((s) => med(figures[s.name].sharded))) : cohortYearSingle;
  const setup = med(cur.setup);
  const checksOk = RULE_SETS.every((s) => oracle[s.name].same && figures[s.name].shardedSame);
  const full = cfg.patients === 10_000 && cfg.cgm === 1_000 && cfg.days === 365;
  const goals = {
    rps_20m: backtestRps >= 20e6,
    cohort_year_under_15s: full ? cohortYear < 15 : null,
    rss_bounded_mb: Math.round(peakRss),
  };
  const rep = cur.report!;
  process.stdout.write(
    [
      `readings per pass: ${fmtCount(cur.readings)} (${cfg.patients} + ${cfg.cgm} patients × ${cfg.days} days); generator alone ${genSeconds.toFixed(2)} s of each pass (median), ${genNs.toFixed(0)} ns CPU per reading`,
      `backtest_rps (slower rule set's median, wall clock incl. set-up ${setup.toFixed(2)} s and generation): ${fmtRate(backtestRps)} — goal ≥ 20 M/s: ${goals.rps_20m ? "met" : "not met"}`,
      `wall time per rule set (median, slower set): ${cohortYear.toFixed(2)} s${sharded ? ` on ${cfg.threads} threads (one thread: ${cohortYearSingle.toFixed(2)} s, ${fmtRatio(cohortYearSingle / cohortYear)})` : ""}${full ? ` — goal < 15 s: ${goals.cohort_year_under_15s ? "met" : "not met"}` : " (not the full cohort-year)"}`,
      `on CPU time (user + system; what a busy, shared machine leaves comparable): ${fmtRate(cpuRps)} = ${(1e9 / cpuRps).toFixed(0)} ns per reading; oracle ${fmtRate(oracleCpuRps)} = ${(1e9 / oracleCpuRps).toFixed(0)} ns; kernel ÷ oracle ${fmtRatio(cpuRps / oracleCpuRps)}`,
      `the floor: inside kernel calls ${kernelInReplayNs.toFixed(1)} ns per reading in the replay; the kernel alone ${kernelOnlyNs.toFixed(1)} ns (evaluate ${kernelOnlyEvalNs.toFixed(1)} ns, replay blocks ${kernelOnlyBlockNs.toFixed(1)} ns) = ${fmtRate(1e9 / kernelOnlyNs)} on one core (a CGM reading ${kernelCgmNs.toFixed(0)} ns: four rules incl. a forecast and a stale-data rule; a COPD/HF reading ${kernelSessionNs.toFixed(0)} ns); 20 M/s leaves 50 ns per reading for everything`,
      `oracle: ${fmtRate(oracleRps)} wall; kernel ÷ oracle ${fmtRatio(backtestRps / oracleRps)} wall; reports on the prefix ${RULE_SETS.every((s) => oracle[s.name].same) ? "equal" : "DIFFER"}${sharded ? `; threads' reports ${RULE_SETS.every((s) => figures[s.name].shardedSame) ? "equal" : "DIFFER"}` : ""}`,
      `peak RSS ${Math.round(peakRss)} MB (the readings are never held: ${fmtCount(cur.readings)} readings would be ${Math.round((cur.readings * 21) / 1e6)} MB as columns)`,
      `current set: ${rep.ruleSets[0].alerts.all} alerts, ${rep.ruleSets[0].alertsPerPatientDay.all} per patient-day, red days ${rep.ruleSets[0].patientDays.shareRed}, CGM in range ${rep.cgm?.timeInRange ?? "–"} %`,
      "",
    ].join("\n"),
  );
  process.stdout.write(
    `${JSON.stringify({
      backtest_rps: sig(backtestRps),
      oracle_rps: sig(oracleRps),
      cohort_year_s: sig(cohortYear),
      cohort_year_s_one_thread: sig(cohortYearSingle),
      threads: cfg.threads,
      peak_rss_mb: Math.round(peakRss),
      kernel_over_oracle: sig(backtestRps / oracleRps),
      backtest_cpu_rps: sig(cpuRps),
      oracle_cpu_rps: sig(oracleCpuRps),
      kernel_over_oracle_cpu: sig(cpuRps / oracleCpuRps),
      cpu_ns_per_reading: sig(1e9 / cpuRps),
      kernel_ns_per_reading: sig(kernelInReplayNs),
      kernel_only_ns_per_reading: sig(kernelOnlyNs),
      kernel_only_rps: sig(1e9 / kernelOnlyNs),
      kernel_only_cgm_ns: sig(kernelCgmNs),
      kernel_only_session_ns: sig(kernelSessionNs),
      generator_ns_per_reading: sig(genNs),
      rps_by_rule_set: Object.fromEntries(RULE_SETS.map((s) => [s.name, sig(med(figures[s.name].rps))])),
      setup_s: sig(setup),
      generator_s: sig(genSeconds),
      readings: cur.readings,
      oracle_readings: oracle.current.readings,
      patients: patients.length,
      days: cfg.days,
      runs: cfg.runs,
      quick,
      checks_ok: checksOk,
      goals,
    })}\n`,
  );
}

await main();
