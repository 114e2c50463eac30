// npm run bench:backtest [-- --quick] — a synthetic cohort-year through the backtest
// (engine/backtest/): 10 000 COPD and heart-failure patients × 5 readings a day plus 1 000 CGM
// patients × 288 readings a day, 365 days (≈ 123 M readings), generated on the fly in time order
// and streamed in chunks (never held whole), under the current rule set and a proposed one. The
// TypeScript oracle replays a prefix of the same stream in the same run (the whole year would take
// minutes); its report must equal the kernel's on that prefix. Prints a table, then as the last
// line one JSON object. See bench/README.md.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { isDeepStrictEqual } from "node:util";
import { Backtest, emptyChunk, type ReadingChunk } from "../engine/backtest/backtest.js";
import type { BacktestPatient, BacktestReport, ProgrammeRules } from "../engine/backtest/types.js";
import type { Evaluator } from "../engine/evaluator.js";
import { metricByKey } from "../engine/metrics.js";
import { Oracle } from "../engine/oracle/oracle.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { PROGRAMMES } from "../engine/rules/programmes.js";
import { fmtCount, fmtRate, fmtRatio, sig, summarize } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    patients: { type: "string" }, // COPD + heart-failure patients
    cgm: { type: "string" }, // CGM patients
    days: { type: "string" },
    "oracle-days": { type: "string" },
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
  runs: num(opt.runs, quick ? 3 : 3),
  seed: num(opt.seed, 20260105),
};

const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");

const MIN = 60_000;
const DAY = 86_400_000;
const WINDOW = 5 * MIN;
/** Monday 2026-01-05 00:00 Copenhagen. */
const FROM = Date.UTC(2026, 0, 4, 23);
const TO = FROM + cfg.days * DAY;

// ---- the cohort and the rule sets ----
const patients: BacktestPatient[] = [];
for (let i = 0; i < cfg.patients; i++) patients.push({ id: `${i % 2 === 0 ? "kol" : "hf"}-${i}`, programme: i % 2 === 0 ? "telekol" : "telehjerte" });
for (let i = 0; i < cfg.cgm; i++) patients.push({ id: `cgm-${i}`, programme: "cgm" });

/** A plausible proposal: wider TeleKOL pulse and SpO2 bands, a slower weight alarm, CGM highs held 30 minutes. */
function proposal(): ProgrammeRules {
  const edit = (rules: RuleDef[], id: string, f: (r: RuleDef) => RuleDef) => rules.map((r) => (r.id === id ? f(r) : r));
  let kol = edit(PROGRAMMES.telekol.rules, "pulse-band", (r) => (r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r));
  kol = edit(kol, "spo2-band", (r) => (r.kind === "band" ? { ...r, limits: { ...r.limits, yellowLow: 91 } } : r));
  const hf = edit(PROGRAMMES.telehjerte.rules, "weight-change", (r) => (r.kind === "delta" ? { ...r, limits: { ...r.limits, yellowHigh: 1.5 } } : r));
  const cgm = edit(PROGRAMMES.cgm.rules, "cgm-high", (r) => (r.kind === "band" ? { ...r, modifiers: { ...r.modifiers, for: "30m" } } : r));
  return { telekol: kol, telehjerte: hf, cgm };
}
const RULE_SETS: { name: string; rules: ProgrammeRules }[] = [
  { name: "current", rules: {} },
  { name: "proposed", rules: proposal() },
];

// ---- the stream: 5-minute windows in time order ----
const M = (key: string) => metricByKey(key)!.index;
const KOL = [M("spo2"), M("pulse"), M("temp"), M("resp_rate")];
const HF = [M("weight"), M("bp_sys"), M("bp_dia"), M("pulse")];
const CGM = M("cgm");

/**
 * Calls `sink` with chunks of readings (reused: the sink must be done with a chunk when it
 * returns) covering days [0, days). Per window: every CGM patient once (p × 300 ms into the
 * window; a sensor gap now and then), then the measuring sessions that fall in the window
 * (morning: 4 readings, evening: 1; a day skipped now and then). Values: random walks and noise
 * with excursions past the limits.
 */
function stream(days: number, sink: (chunk: ReadingChunk) => void): number {
  const rng = new Uint32Array([cfg.seed >>> 0 || 1]);
  const nSession = cfg.patients;
  const nCgm = cfg.cgm;
  const glucose = new Float64Array(nCgm).fill(7);
  const trend = new Float64Array(nCgm);
  const gapUntil = new Float64Array(nCgm);
  const weight = new Float64Array(nSession).map(() => 70 + rnd(rng) * 40);
  const windowsPerDay = DAY / WINDOW;
  // Each session patient's morning (06:00–10:00) and evening (18:00–21:00) windows.
  const byWindow: number[][] = Array.from({ length: windowsPerDay }, () => []);
  for (let p = 0; p < nSession; p++) {
    byWindow[72 + Math.floor(rnd(rng) * 48)].push(p);
    byWindow[216 + Math.floor(rnd(rng) * 36)].push(-1 - p);
  }
  const cap = 65_536;
  const chunk = emptyChunk(cap);
  const { patient, metric, time, value } = chunk;
  let n = 0;
  let total = 0;
  for (let d = 0; d < days; d++) {
    const dayStart = FROM + d * DAY; // Copenhagen winter time; the summer hour shifts local times, harmlessly
    for (let w = 0; w < windowsPerDay; w++) {
      const sessions = byWindow[w];
      if (n + nCgm + 5 * sessions.length > cap) {
        chunk.n = n;
        sink(chunk);
        total += n;
        n = 0;
      }
      const ws = dayStart + w * WINDOW;
      for (let c = 0; c < nCgm; c++) {
        const t = ws + c * 300;
        if (t < gapUntil[c]) continue;
        if (rnd(rng) < 0.0005) gapUntil[c] = t + (10 + rnd(rng) * 80) * MIN;
        // A drifting trend (meals, insulin) around a mean of 8: roughly 60–75 % in range.
        const tr = trend[c] * 0.9 + (rnd(rng) - 0.5) * 0.1;
        trend[c] = tr;
        let g = glucose[c] + tr + (8 - glucose[c]) * 0.01;
        if (g < 2.2) g = 2.2;
        else if (g > 22) g = 22;
        glucose[c] = g;
        patient[n] = nSession + c;
        metric[n] = CGM;
        time[n] = t;
        value[n] = Math.round(g * 10) / 10;
        n++;
      }
      let t = ws + 299_800;
      for (let k = 0; k < sessions.length; k++) {
        const q = sessions[k];
        if (rnd(rng) < 0.05) continue; // not measured today
        const evening = q < 0;
        const p = evening ? -1 - q : q;
        const m = p % 2 === 0 ? KOL : HF;
        let v0: number, v1 = 0, v2 = 0, v3 = 0;
        if (m === KOL) {
          v0 = Math.min(100, Math.round(94 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 16 : 5)));
          v1 = Math.round(80 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 70 : 25));
          v2 = Math.round((36.9 + (rnd(rng) - 0.5) * (rnd(rng) < 0.03 ? 5 : 1)) * 10) / 10;
          v3 = Math.round(17 + (rnd(rng) - 0.5) * (rnd(rng) < 0.03 ? 25 : 6));
        } else {
          weight[p] += (rnd(rng) - 0.5) * 0.6;
          v0 = Math.round(weight[p] * 10) / 10;
          v1 = Math.round(130 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 120 : 40));
          v2 = Math.round(80 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 70 : 20));
          v3 = Math.round(75 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 90 : 25));
        }
        const count = evening ? 1 : 4;
        const vs = [v0, v1, v2, v3];
        for (let j = 0; j < count; j++) {
          patient[n] = p;
          metric[n] = m[j];
          time[n] = t;
          value[n] = vs[j];
          n++;
        }
        t++;
      }
    }
  }
  chunk.n = n;
  if (n > 0) sink(chunk);
  return total + n;
}

/** xorshift32 on a one-element state: cheap next to the replay. */
function rnd(state: Uint32Array): number {
  let s = state[0];
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  state[0] = s;
  return (s >>> 0) / 4294967296;
}

// ---- passes ----
interface Pass {
  seconds: number;
  /** CPU time of the process (user + system) over the pass: the figure that survives a shared, busy machine. */
  cpuSeconds: number;
  setupSeconds: number;
  readings: number;
  report: BacktestReport;
}

/** One rule set over `days` days: set-up (configuring the cohort) then the streamed replay and the report, wall clock. */
function pass(rules: ProgrammeRules, days: number, evaluator?: () => Evaluator): Pass {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bt = new Backtest({ patients, from: FROM, to: FROM + days * DAY, current: rules }, evaluator);
  const t1 = performance.now();
  const readings = stream(days, (c) => bt.push(c));
  const report = bt.finish();
  const t2 = performance.now();
  const cpu = process.cpuUsage(c0);
  return { seconds: (t2 - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, setupSeconds: (t1 - t0) / 1000, readings, report };
}

/** The generator alone (what the replay's figure includes besides the replay). */
function generatorPass(days: number): number {
  const t0 = performance.now();
  let sum = 0;
  stream(days, (c) => (sum += c.n));
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const expected = (cfg.patients * 4.5 * 0.95 + cfg.cgm * 288) * cfg.days; // roughly: the gaps and skipped sessions
  log(`cohort: ${cfg.patients} COPD/heart-failure + ${cfg.cgm} CGM patients × ${cfg.days} days (≈ ${fmtCount(Math.round(expected))} readings), ${cfg.runs} runs per rule set`);
  const rows: string[][] = [];
  const figures: Record<string, { rps: number[]; cpuRps: number[]; seconds: number[]; setup: number[]; readings: number; report?: BacktestReport }> = {};
  let peakRss = 0;
  for (let run = 0; run < cfg.runs; run++) {
    for (const set of RULE_SETS) {
      gc();
      const p = pass(set.rules, cfg.days);
      const f = (figures[set.name] ??= { rps: [], cpuRps: [], seconds: [], setup: [], readings: p.readings });
      f.rps.push(p.readings / p.seconds);
      f.cpuRps.push(p.readings / p.cpuSeconds);
      f.seconds.push(p.seconds);
      f.setup.push(p.setupSeconds);
      f.report = p.report;
      peakRss = Math.max(peakRss, process.resourceUsage().maxRSS / 1024);
      log(`run ${run + 1} ${set.name}: ${fmtCount(p.readings)} readings in ${p.seconds.toFixed(2)} s (set-up ${p.setupSeconds.toFixed(2)} s) = ${fmtRate(p.readings / p.seconds)} (CPU ${p.cpuSeconds.toFixed(2)} s: ${fmtRate(p.readings / p.cpuSeconds)})`);
    }
  }
  gc();
  const genSeconds = summarize(Array.from({ length: cfg.runs }, () => generatorPass(cfg.days))).median;

  // The oracle on a prefix; the kernel on the same prefix for the ratio and the cross-check.
  log(`oracle: the first ${cfg.oracleDays} day(s), both rule sets`);
  const oracle: Record<string, { rps: number[]; kernelRps: number[]; same: boolean; readings: number }> = {};
  for (let run = 0; run < cfg.runs; run++) {
    for (const set of RULE_SETS) {
      gc();
      const k = pass(set.rules, cfg.oracleDays);
      gc();
      const o = pass(set.rules, cfg.oracleDays, () => new Oracle());
      const f = (oracle[set.name] ??= { rps: [], kernelRps: [], same: true, readings: o.readings });
      f.rps.push(o.readings / o.seconds);
      f.kernelRps.push(k.readings / k.seconds);
      f.same &&= isDeepStrictEqual(k.report, o.report);
      peakRss = Math.max(peakRss, process.resourceUsage().maxRSS / 1024);
    }
  }

  for (const set of RULE_SETS) {
    const f = figures[set.name];
    const o = oracle[set.name];
    const rps = summarize(f.rps);
    const orps = summarize(o.rps);
    const krps = summarize(o.kernelRps);
    const r = f.report!.ruleSets[0];
    rows.push([set.name, "wasm kernel", fmtCount(f.readings), fmtRate(rps.min), fmtRate(rps.median), fmtRate(rps.max), `${summarize(f.seconds).median.toFixed(2)} s`, fmtRatio(rps.median / orps.median), `${r.alerts.all}`]);
    rows.push([set.name, `oracle (${cfg.oracleDays} d prefix)`, fmtCount(o.readings), fmtRate(orps.min), fmtRate(orps.median), fmtRate(orps.max), "–", "1×", o.same ? "same report" : "REPORT DIFFERS"]);
    rows.push([set.name, `wasm kernel (same prefix)`, fmtCount(o.readings), fmtRate(krps.min), fmtRate(krps.median), fmtRate(krps.max), "–", fmtRatio(krps.median / orps.median), ""]);
  }
  process.stdout.write(`\n${renderTable(["rule set", "engine", "readings", "min", "median", "max", "wall (median)", "÷ oracle", "alerts"], rows, ["l", "l", "r", "r", "r", "r", "r", "r", "l"])}\n`);

  const cur = figures.current;
  const backtestRps = summarize(RULE_SETS.map((s) => summarize(figures[s.name].rps).median)).min;
  const cpuRps = summarize(RULE_SETS.map((s) => summarize(figures[s.name].cpuRps).median)).min;
  const oracleRps = summarize(RULE_SETS.map((s) => summarize(oracle[s.name].rps).median)).median;
  const cohortYear = Math.max(...RULE_SETS.map((s) => summarize(figures[s.name].seconds).median));
  const setup = summarize(cur.setup).median;
  const checksOk = RULE_SETS.every((s) => oracle[s.name].same);
  const full = cfg.patients === 10_000 && cfg.cgm === 1_000 && cfg.days === 365;
  const goals = {
    rps_20m: backtestRps >= 20e6,
    cohort_year_under_15s: full ? cohortYear < 15 : null,
    rss_bounded_mb: Math.round(peakRss),
  };
  const rep = cur.report!;
  process.stdout.write(
    [
      `readings per pass: ${fmtCount(cur.readings)} (${cfg.patients} + ${cfg.cgm} patients × ${cfg.days} days); generator alone ${genSeconds.toFixed(2)} s of each pass (median)`,
      `backtest_rps (slower rule set's median, wall clock incl. set-up ${setup.toFixed(2)} s and generation): ${fmtRate(backtestRps)} — goal ≥ 20 M/s: ${goals.rps_20m ? "met" : "not met"}`,
      `wall time per rule set (median, slower set): ${cohortYear.toFixed(2)} s${full ? ` — goal < 15 s: ${goals.cohort_year_under_15s ? "met" : "not met"}` : " (not the full cohort-year)"}`,
      `replay without generation ≈ ${fmtRate(cur.readings / Math.max(1e-9, summarize(cur.seconds).median - genSeconds))}`,
      `on CPU time (user + system; what a busy, shared machine leaves comparable): ${fmtRate(cpuRps)}`,
      `oracle: ${fmtRate(oracleRps)}; kernel ÷ oracle ${fmtRatio(backtestRps / oracleRps)}; reports on the prefix ${checksOk ? "equal" : "DIFFER"}`,
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
      peak_rss_mb: Math.round(peakRss),
      kernel_over_oracle: sig(backtestRps / oracleRps),
      backtest_cpu_rps: sig(cpuRps),
      rps_by_rule_set: Object.fromEntries(RULE_SETS.map((s) => [s.name, sig(summarize(figures[s.name].rps).median)])),
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
