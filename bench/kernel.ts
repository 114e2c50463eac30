// npm run bench:kernel [-- --quick] — the same generated workload through (a) the wasm kernel,
// (b) the TypeScript oracle, (c) json-rules-engine 7 with the same band rules and (d) the floor
// loop (the smallest band check in wasm: the practical limit of this machine, measured in the
// same run). Prints a table, then as the last line one JSON object. See bench/README.md.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { TRIAGE_N } from "../assembly/layout.js";
import type { Evaluator } from "../engine/evaluator.js";
import { Floor } from "./lib/floor.js";
import { makeJreEngine, runJre } from "./lib/jre.js";
import { fmtCount, fmtRate, fmtRatio, sig, summarize, type Summary } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";
import { generateWorkload, groupBySlot, METRIC_COUNT, setupEvaluator, type Batch, type Variant, type Workload } from "./lib/workload.js";

// ---- options ----
const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    patients: { type: "string" },
    readings: { type: "string" },
    "oracle-readings": { type: "string" },
    "jre-readings": { type: "string" },
    batch: { type: "string" },
    seed: { type: "string" },
    only: { type: "string" }, // comma list of: kernel,floor,oracle,jre
    grouped: { type: "boolean", default: false }, // also kernel + floor on readings grouped by slot
  },
  strict: true,
});
const quick = opt.quick === true;
const num = (s: string | undefined, d: number): number => (s === undefined ? d : Number(s.replace(/_/g, "")));
const cfg = {
  patients: num(opt.patients, quick ? 50_000 : 100_000),
  readings: num(opt.readings, quick ? 1_000_000 : 10_000_000),
  oracleReadings: num(opt["oracle-readings"], quick ? 50_000 : 500_000),
  jreReadings: num(opt["jre-readings"], quick ? 4_000 : 20_000),
  runs: num(opt.runs, 5),
  batch: num(opt.batch, 65_536),
  seed: num(opt.seed, 20250106),
};
const only = new Set((opt.only ?? "kernel,floor,oracle,jre").split(",").map((s) => s.trim()));
const TZ = 3_600_000; // Europe/Copenhagen in winter

// ---- helpers ----
const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");
/** Before a timed pass: a full GC, then a short pause so concurrent sweeping is done. */
async function settle(): Promise<void> {
  gc();
  await pause();
}
function pause(ms = 25): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The wasm kernel's fast path (engine/kernel/wasm-kernel.ts). */
interface KernelFast extends Evaluator {
  inputColumns(n: number): { slots: Uint32Array; times: Float64Array; values: Float32Array };
  run(n: number, now: number, tzOffsetMs: number): number;
  readTransitions(count: number): unknown;
  triage(n: number): Uint8Array;
  stats(): { slots: number; rules: number; histEntries: number; stateBytes: number; snapshotBytes: number; slotBytes: number; ruleBytes: number; histBytes: number };
}
type KernelCtor = { load(): KernelFast };
type OracleCtor = new () => Evaluator;

async function loadKernel(): Promise<KernelCtor> {
  const mod = await import("../engine/kernel/wasm-kernel.js");
  return mod.WasmKernel as unknown as KernelCtor;
}
async function loadOracle(): Promise<OracleCtor> {
  const mod = await import("../engine/oracle/oracle.js");
  return mod.Oracle as OracleCtor;
}

/** Readings [start, end) cut into batches of `size` (each batch's `now` a second after its last reading). */
function segmentBatches(w: Workload, start: number, end: number, size: number): Batch[] {
  const out: Batch[] = [];
  for (let a = start; a < end; a += size) {
    const e = Math.min(end, a + size);
    out.push({ start: a, end: e, now: w.inTimes[e - 1] + 1000 });
  }
  return out;
}

function mismatches(a: Uint8Array, b: Uint8Array, n: number): number {
  let bad = 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) bad++;
  return bad;
}

// ---- the engines, each one timed pass over its readings ----

interface Pass {
  seconds: number;
  readings: number;
  transitions: number;
}

/** Kernel fast path: copy each batch into the input columns, run, read the transitions. The
 *  copy and the transition read are counted: they are the real ingest path. Setup (a fresh
 *  kernel with the workload's slots and rules) is not. */
function kernelPass(k: KernelFast, w: Workload, triageOut?: Uint8Array): Pass {
  const { inSlots, inTimes, inValues, batches } = w;
  let transitions = 0;
  const t0 = performance.now();
  for (let bi = 0; bi < batches.length; bi++) {
    const b = batches[bi];
    const n = b.end - b.start;
    const cols = k.inputColumns(n);
    cols.slots.set(inSlots.subarray(b.start, b.end));
    cols.times.set(inTimes.subarray(b.start, b.end));
    cols.values.set(inValues.subarray(b.start, b.end));
    const count = k.run(n, b.now, TZ);
    if (count < 0) throw new Error(`kernel run returned ${count}`);
    if (count > 0) k.readTransitions(count);
    transitions += count;
    if (triageOut && b.start < triageOut.length) triageOut.set(k.triage(Math.min(n, triageOut.length - b.start)), b.start);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, readings: w.n, transitions };
}

function floorPass(f: Floor, w: Workload, triageOut?: Uint8Array): Pass {
  const { inSlots, inTimes, inValues, batches } = w;
  const t0 = performance.now();
  for (let bi = 0; bi < batches.length; bi++) {
    const b = batches[bi];
    const n = b.end - b.start;
    const cols = f.inputColumns(n);
    cols.slots.set(inSlots.subarray(b.start, b.end));
    cols.times.set(inTimes.subarray(b.start, b.end));
    cols.values.set(inValues.subarray(b.start, b.end));
    f.run(n);
    if (triageOut) triageOut.set(f.triage(n), b.start);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, readings: w.n, transitions: 0 };
}

/** Any Evaluator through the interface (`evaluate` per batch, triage + transition objects back). */
function evaluatorPass(ev: Evaluator, w: Workload, batches: Batch[], triageOut?: Uint8Array): Pass {
  const { inSlots, inTimes, inValues } = w;
  let transitions = 0;
  let readings = 0;
  const t0 = performance.now();
  for (const b of batches) {
    const r = ev.evaluate(inSlots.subarray(b.start, b.end), inTimes.subarray(b.start, b.end), inValues.subarray(b.start, b.end), b.now, TZ);
    transitions += r.transitions.length;
    readings += b.end - b.start;
    if (triageOut) triageOut.set(r.triage, b.start);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, readings, transitions };
}

async function jrePass(w: Workload, count: number, triageOut?: Uint8Array): Promise<Pass> {
  const engine = makeJreEngine();
  const out = triageOut ?? new Uint8Array(count);
  const t0 = performance.now();
  await runJre(engine, w.inSlots, w.inValues, w.limits, 0, count, out);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, readings: count, transitions: 0 };
}

// ---- main ----

interface Row {
  key: string;
  engine: string;
  workload: string;
  readings: number;
  /** "" all readings, else how the subset was taken. */
  subset: string;
  rps: number[];
  transitions: number;
}

async function main(): Promise<void> {
  const tStart = performance.now();
  log(
    `${quick ? "quick" : "full"}: ${cfg.patients} patients × ${METRIC_COUNT} metrics, ≥${cfg.readings} readings, ` +
      `${cfg.runs} runs, batch ${cfg.batch}, seed ${cfg.seed}`,
  );
  let t = performance.now();
  const w = generateWorkload({ patients: cfg.patients, readings: cfg.readings, seed: cfg.seed, batch: cfg.batch });
  log(`workload: ${w.n} readings in ${w.uploads} uploads, ${w.batches.length} batches (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  // The oracle runs on consecutive slices of the stream, one instance per variant carrying its
  // state on: slice 0 is the warm-up (and is cross-checked), slice r the r-th timed run.
  const oracleN = Math.min(cfg.oracleReadings, Math.floor(w.n / (cfg.runs + 1)));
  const jreN = Math.min(cfg.jreReadings, w.n);

  const Kernel = only.has("kernel") ? await loadKernel() : null;
  const OracleC = only.has("oracle") ? await loadOracle() : null;

  const rows: Row[] = [];
  const row = (key: string, engine: string, workload: string, readings: number, subset: string): Row => {
    const r: Row = { key, engine, workload, readings, subset, rps: [], transitions: 0 };
    rows.push(r);
    return r;
  };
  const rKernel = Kernel ? row("kernel", "wasm kernel", "band-only", w.n, "") : null;
  const rKernelMixed = Kernel ? row("kernel_mixed", "wasm kernel", "mixed", w.n, "") : null;
  const rFloor = only.has("floor") ? row("floor", "floor loop (wasm)", "band-only", w.n, "") : null;
  const wg = opt.grouped ? groupBySlot(w, cfg.batch) : null;
  const rKernelGrouped = Kernel && wg ? row("kernel_grouped", "wasm kernel", "band-only, grouped by slot", w.n, "") : null;
  const rFloorGrouped = only.has("floor") && wg ? row("floor_grouped", "floor loop (wasm)", "band-only, grouped by slot", w.n, "") : null;
  const rOracle = OracleC ? row("oracle", "oracle (TS)", "band-only", oracleN, "slices") : null;
  const rOracleMixed = OracleC ? row("oracle_mixed", "oracle (TS)", "mixed", oracleN, "slices") : null;
  const rJre = only.has("jre") ? row("jre", "json-rules-engine 7", "band-only", jreN, jreN < w.n ? "prefix" : "") : null;

  const floor = Floor.load(w.slots, cfg.batch);
  floor.setLimits(w.limits);
  const oracleSlice = (r: number): Batch[] => segmentBatches(w, r * oracleN, (r + 1) * oracleN, cfg.batch);

  const freshKernel = (variant: Variant): KernelFast => {
    const k = Kernel!.load();
    setupEvaluator(k, w, variant);
    return k;
  };
  const oracles: Partial<Record<Variant, Evaluator>> = {};
  const freshOracle = (variant: Variant): Evaluator => {
    const o = new OracleC!();
    setupEvaluator(o, w, variant);
    return o;
  };
  const kernelStats: { band?: ReturnType<KernelFast["stats"]>; mixed?: ReturnType<KernelFast["stats"]> } = {};
  const setupSeconds = { kernel: NaN, oracle: NaN };

  const checks: Record<string, number> = {};
  const record = (r: Row | null, p: Pass): void => {
    if (!r) return;
    r.rps.push(p.readings / p.seconds);
    r.transitions = p.transitions;
  };
  const runLog = (phase: string, run: number, t0: number, keys: (Row | null)[]): void => {
    const rs = keys.filter((r): r is Row => r !== null);
    if (rs.length === 0) return;
    log(
      `${phase} run ${run + 1}/${cfg.runs} (${((performance.now() - t0) / 1000).toFixed(1)} s): ` +
        rs.map((r) => `${r.key} ${fmtRate(r.rps[r.rps.length - 1])}`).join(", "),
    );
  };

  // Two phases, wasm first: the oracle's and json-rules-engine's large JS heaps (and their
  // garbage collection) would otherwise sit in the cache and on the second core while the
  // kernel and the floor are timed. Within a phase the engines are interleaved run by run so
  // machine noise spreads over all of them. Every phase starts with an untimed warm-up pass per
  // engine (JIT / wasm tier-up), which also cross-checks triage codes.

  // ---- phase 1: wasm kernel and floor loop ----
  t = performance.now();
  const floorTriage = new Uint8Array(w.n);
  floorPass(floor, w, floorTriage);
  let outOfBand = 0;
  for (let i = 0; i < w.n; i++) if (floorTriage[i] !== TRIAGE_N) outOfBand++;
  const outOfBandFraction = outOfBand / w.n;
  let kernelMixedTriage: Uint8Array | null = null;
  if (Kernel) {
    const ts = performance.now();
    let kb: KernelFast | null = freshKernel("band");
    setupSeconds.kernel = (performance.now() - ts) / 1000;
    const kt = new Uint8Array(w.n);
    const pb = kernelPass(kb, w, kt);
    checks.kernel_band_vs_floor_triage = mismatches(kt, floorTriage, w.n);
    kernelStats.band = kb.stats();
    kb = null;
    log(`check: kernel band-only ${pb.transitions} transitions, triage mismatches vs floor: ${checks.kernel_band_vs_floor_triage}`);
    let km: KernelFast | null = freshKernel("mixed");
    kernelMixedTriage = new Uint8Array(oracleN);
    const pm = kernelPass(km, w, kernelMixedTriage);
    kernelStats.mixed = km.stats();
    km = null;
    log(`check: kernel mixed ${pm.transitions} transitions`);
  }
  log(`phase 1 warm-up done (${((performance.now() - t) / 1000).toFixed(1)} s); out of band ${(outOfBandFraction * 100).toFixed(2)} %`);
  for (let run = 0; run < cfg.runs; run++) {
    t = performance.now();
    if (Kernel) {
      for (const [variant, r] of [["band", rKernel], ["mixed", rKernelMixed]] as const) {
        let k: KernelFast | null = freshKernel(variant);
        await settle();
        record(r, kernelPass(k, w));
        k = null;
      }
    }
    if (rFloor) {
      await settle();
      record(rFloor, floorPass(floor, w));
    }
    if (wg) {
      if (rKernelGrouped) {
        let k: KernelFast | null = freshKernel("band");
        await settle();
        record(rKernelGrouped, kernelPass(k, wg));
        k = null;
      }
      if (rFloorGrouped) {
        await settle();
        record(rFloorGrouped, floorPass(floor, wg));
      }
    }
    runLog("phase 1", run, t, [rKernel, rKernelMixed, rFloor, rKernelGrouped, rFloorGrouped]);
  }

  // ---- phase 2: oracle and json-rules-engine ----
  t = performance.now();
  if (OracleC) {
    const ts = performance.now();
    const ob = (oracles.band = freshOracle("band"));
    setupSeconds.oracle = (performance.now() - ts) / 1000;
    const ot = new Uint8Array(oracleN);
    evaluatorPass(ob, w, oracleSlice(0), ot);
    checks.oracle_band_vs_floor_triage = mismatches(ot, floorTriage, oracleN);
    const om = (oracles.mixed = freshOracle("mixed"));
    const pm = evaluatorPass(om, w, oracleSlice(0), ot);
    if (kernelMixedTriage) checks.oracle_mixed_vs_kernel_mixed_triage = mismatches(ot, kernelMixedTriage, oracleN);
    log(
      `check: oracle band vs floor ${checks.oracle_band_vs_floor_triage}, mixed vs kernel ` +
        `${checks.oracle_mixed_vs_kernel_mixed_triage ?? "–"} (${pm.transitions} mixed transitions in ${oracleN} readings)`,
    );
  }
  if (rJre) {
    const jt = new Uint8Array(jreN);
    await jrePass(w, jreN, jt);
    checks.jre_vs_floor_triage = mismatches(jt, floorTriage, jreN);
    log(`check: json-rules-engine vs floor ${checks.jre_vs_floor_triage}`);
  }
  if (OracleC || rJre) log(`phase 2 warm-up done (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  for (let run = 0; run < cfg.runs; run++) {
    t = performance.now();
    if (OracleC) {
      // no forced GC here: collecting their own garbage is part of these engines' cost
      for (const [variant, r] of [["band", rOracle], ["mixed", rOracleMixed]] as const) {
        await pause();
        record(r, evaluatorPass(oracles[variant]!, w, oracleSlice(run + 1)));
      }
    }
    if (rJre) {
      await pause();
      record(rJre, await jrePass(w, jreN));
    }
    runLog("phase 2", run, t, [rOracle, rOracleMixed, rJre]);
  }

  // ---- report ----
  const S: Record<string, Summary> = {};
  for (const r of rows) S[r.key] = summarize(r.rps);
  const med = (key: string): number => S[key]?.median ?? NaN;
  const kernelOverOracle = med("kernel") / med("oracle");
  const kernelMixedOverOracleMixed = med("kernel_mixed") / med("oracle_mixed");
  const kernelOverJre = med("kernel") / med("jre");
  const kernelOverFloor = med("kernel") / med("floor");

  const bytesPerSlot = (s: ReturnType<KernelFast["stats"]> | undefined) =>
    s ? { state: (s.slotBytes + s.ruleBytes) / s.slots, hist: s.histBytes / s.slots, rulesPerSlot: s.rules / s.slots, histEntries: s.histEntries, stateBytes: s.stateBytes, snapshotBytes: s.snapshotBytes } : null;
  const bBand = bytesPerSlot(kernelStats.band);
  const bMixed = bytesPerSlot(kernelStats.mixed);

  const header = ["engine", "workload", "readings", "min", "median", "max", "kernel ÷ this", "transitions"];
  const body = rows.map((r) => {
    const s = S[r.key];
    const vsKey = r.workload === "mixed" ? "kernel_mixed" : r.key.endsWith("_grouped") ? "kernel_grouped" : "kernel";
    const ratio = r.key === vsKey ? "1" : fmtRatio(med(vsKey) / s.median);
    return [r.engine, r.workload, fmtCount(r.readings) + (r.subset ? ` (${r.subset})` : ""), fmtRate(s.min), fmtRate(s.median), fmtRate(s.max), ratio, String(r.transitions)];
  });
  const out: string[] = [];
  out.push(
    `varsel kernel benchmark (${quick ? "--quick" : "full"}): ${w.patients} patients × ${METRIC_COUNT} metrics = ${w.slots} slots; ` +
      `${w.n} readings in ${w.uploads} uploads (${(w.n / w.uploads).toFixed(2)} per upload, patients in random order); ` +
      `${(outOfBandFraction * 100).toFixed(2)} % out of band; batches of ${cfg.batch}; readings/s over ${cfg.runs} runs (min / median / max), one core.`,
  );
  out.push("");
  out.push(renderTable(header, body, ["l", "l", "r", "r", "r", "r", "r", "r"]));
  out.push("");
  out.push(
    `"kernel ÷ this": the kernel's median on the same workload (band-only, mixed or grouped) over this row's median. ` +
      `Kernel and floor: every run all readings, the kernel a fresh instance each run (setup not timed). ` +
      `Oracle (slices): one instance per variant fed consecutive slices of the same stream, one slice per run (slice 0 = warm-up). ` +
      `json-rules-engine (prefix): the first readings of the stream, every run.` +
      (wg ? ` Grouped by slot (--grouped): the same readings reordered slot by slot, each slot's in time order — not an arrival order, the locality bound.` : ""),
  );
  out.push("");
  // null when an engine the goal needs was left out (--only)
  const atLeast = (x: number, min: number): boolean | null => (Number.isNaN(x) ? null : x >= min);
  const goal = (ok: boolean | null): string => (ok === null ? "n/a" : ok ? "met" : "NOT met");
  const goals = {
    kernel_over_oracle: atLeast(kernelOverOracle, 3),
    kernel_over_jre: atLeast(kernelOverJre, 100),
    kernel_rps_50m: atLeast(med("kernel"), 50e6),
    kernel_within_2x_floor: atLeast(kernelOverFloor, 0.5),
    state_bytes_le_128: bMixed === null ? null : bMixed.state <= 128,
  };
  const gRows: string[][] = [
    ["kernel ÷ oracle, band-only", fmtRatio(kernelOverOracle), "≥ 3×", goal(goals.kernel_over_oracle)],
    ["kernel ÷ oracle, mixed", fmtRatio(kernelMixedOverOracleMixed), "(≥ 3×)", goal(atLeast(kernelMixedOverOracleMixed, 3))],
    ["kernel ÷ json-rules-engine, band-only", fmtRatio(kernelOverJre), "≥ 100×", goal(goals.kernel_over_jre)],
    ["kernel band-only, one core", fmtRate(med("kernel")), "≥ 50 M/s", goal(goals.kernel_rps_50m)],
    ["kernel ÷ floor, band-only", fmtRatio(kernelOverFloor), "≥ 0.5× (within 2×)", goal(goals.kernel_within_2x_floor)],
  ];
  if (bBand && bMixed) {
    gRows.push([`state per slot, mixed (slot 16 + 16 B + ${bMixed.rulesPerSlot.toFixed(3)} rules × 64 B)`, `${bMixed.state.toFixed(1)} B`, "≤ 128 B", goal(goals.state_bytes_le_128)]);
    gRows.push([`state per slot, band-only (slot + ${bBand.rulesPerSlot.toFixed(3)} rules)`, `${bBand.state.toFixed(1)} B`, "≤ 128 B", goal(bBand.state <= 128)]);
    gRows.push([`history per slot, mixed (${bMixed.histEntries} entries × 12 B, separate)`, `${bMixed.hist.toFixed(1)} B`, "", ""]);
    gRows.push(["kernel state region incl. spare capacity (stateEnd − heapBase), mixed", `${(bMixed.stateBytes / 1e6).toFixed(1)} MB`, "", ""]);
    gRows.push(["kernel snapshot (used records only), mixed", `${(bMixed.snapshotBytes / 1e6).toFixed(1)} MB`, "", ""]);
  }
  out.push(renderTable(["goal (medians)", "value", "goal", ""], gRows, ["l", "r", "l", "l"]));
  const badChecks = Object.entries(checks).filter(([, v]) => v !== 0);
  out.push("");
  out.push(
    `cross-checks (triage codes, warm-up pass): ${Object.entries(checks).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}` +
      (badChecks.length ? "  ← MISMATCH" : "  (all agree)"),
  );
  out.push(
    `setup (not timed), band-only: kernel ${setupSeconds.kernel.toFixed(2)} s, oracle ${setupSeconds.oracle.toFixed(2)} s; total wall ${((performance.now() - tStart) / 1000).toFixed(1)} s`,
  );

  const json: Record<string, unknown> = {
    kernel_rps: sig(med("kernel")),
    kernel_rps_min: sig(S.kernel?.min ?? NaN),
    kernel_rps_max: sig(S.kernel?.max ?? NaN),
    kernel_mixed_rps: sig(med("kernel_mixed")),
    kernel_mixed_rps_min: sig(S.kernel_mixed?.min ?? NaN),
    kernel_mixed_rps_max: sig(S.kernel_mixed?.max ?? NaN),
    oracle_rps: sig(med("oracle")),
    oracle_mixed_rps: sig(med("oracle_mixed")),
    jre_rps: sig(med("jre")),
    floor_rps: sig(med("floor")),
    floor_rps_min: sig(S.floor?.min ?? NaN),
    floor_rps_max: sig(S.floor?.max ?? NaN),
    ...(wg ? { kernel_grouped_rps: sig(med("kernel_grouped")), floor_grouped_rps: sig(med("floor_grouped")) } : {}),
    state_bytes_per_slot: bMixed ? sig(bMixed.state) : null,
    state_bytes_per_slot_band: bBand ? sig(bBand.state) : null,
    snapshot_bytes_mixed: bMixed ? bMixed.snapshotBytes : null,
    history_bytes_per_slot: bMixed ? sig(bMixed.hist) : null,
    kernel_over_oracle: sig(kernelOverOracle, 3),
    kernel_mixed_over_oracle_mixed: sig(kernelMixedOverOracleMixed, 3),
    kernel_over_jre: sig(kernelOverJre, 3),
    kernel_over_floor: sig(kernelOverFloor, 3),
    runs: cfg.runs,
    readings: w.n,
    oracle_readings: oracleN,
    jre_readings: jreN,
    patients: w.patients,
    slots: w.slots,
    out_of_band: sig(outOfBandFraction, 3),
    batch: cfg.batch,
    quick,
    checks_ok: badChecks.length === 0,
    goals,
  };
  // NaN is not JSON: missing engines come out as null
  const line = JSON.stringify(json, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
  process.stdout.write(out.join("\n") + "\n\n" + line + "\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
