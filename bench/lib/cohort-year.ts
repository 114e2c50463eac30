// The synthetic cohort-year of bench:backtest (bench/README.md): the cohort, the two rule sets
// and the stream of readings, generated on the fly in time order (never held whole). Shared by
// bench/backtest.ts and bench/backtest-costs.ts (the per-cost-centre measurement).
import { emptyChunk, type ReadingChunk } from "../../engine/backtest/backtest.js";
import type { BacktestPatient, ProgrammeRules } from "../../engine/backtest/types.js";
import { metricByKey } from "../../engine/metrics.js";
import type { RuleDef } from "../../engine/rules/definitions.js";
import { PROGRAMMES } from "../../engine/rules/programmes.js";

export interface CohortConfig {
  /** COPD + heart-failure patients (half each). */
  patients: number;
  /** CGM patients. */
  cgm: number;
  seed: number;
  /** Readings per chunk handed to the sink (default 65 536). */
  chunk?: number;
}

const MIN = 60_000;
export const DAY = 86_400_000;
const WINDOW = 5 * MIN;
/** Where a window's measuring sessions start (ms into it): its CGM readings come before. */
const SESSIONS_AT = 250_000;
/** Monday 2026-01-05 00:00 Copenhagen. */
export const FROM = Date.UTC(2026, 0, 4, 23);

/** The cohort: COPD and heart-failure patients alternately, then the CGM patients. */
export function cohort(cfg: CohortConfig): BacktestPatient[] {
  const patients: BacktestPatient[] = [];
  for (let i = 0; i < cfg.patients; i++) patients.push({ id: `${i % 2 === 0 ? "kol" : "hf"}-${i}`, programme: i % 2 === 0 ? "telekol" : "telehjerte" });
  for (let i = 0; i < cfg.cgm; i++) patients.push({ id: `cgm-${i}`, programme: "cgm" });
  return patients;
}

/** A plausible proposal: wider TeleKOL pulse and SpO2 bands, a slower weight alarm, CGM highs held 30 minutes. */
function proposal(): ProgrammeRules {
  const edit = (rules: RuleDef[], id: string, f: (r: RuleDef) => RuleDef) => rules.map((r) => (r.id === id ? f(r) : r));
  let kol = edit(PROGRAMMES.telekol.rules, "pulse-band", (r) => (r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r));
  kol = edit(kol, "spo2-band", (r) => (r.kind === "band" ? { ...r, limits: { ...r.limits, yellowLow: 91 } } : r));
  const hf = edit(PROGRAMMES.telehjerte.rules, "weight-change", (r) => (r.kind === "delta" ? { ...r, limits: { ...r.limits, yellowHigh: 1.5 } } : r));
  const cgm = edit(PROGRAMMES.cgm.rules, "cgm-high", (r) => (r.kind === "band" ? { ...r, modifiers: { ...r.modifiers, for: "30m" } } : r));
  return { telekol: kol, telehjerte: hf, cgm };
}
export const RULE_SETS: { name: string; rules: ProgrammeRules }[] = [
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
 * returns) covering days [0, days); returns how many readings. See chunks().
 */
export function stream(cfg: CohortConfig, days: number, sink: (chunk: ReadingChunk) => void): number {
  let total = 0;
  for (const chunk of chunks(cfg, days)) {
    total += chunk.n;
    sink(chunk);
  }
  return total;
}

/**
 * The chunks of readings covering days [0, days), one at a time (the same chunk object each
 * time, refilled: a consumer must be done with it before asking for the next), in time order.
 * Per window: every CGM patient once (spread over the window's first 250 s; a sensor gap now
 * and then), then the measuring sessions that fall in the window
 * (morning: 4 readings, evening: 1; a day skipped now and then). Values: random walks and noise
 * with excursions past the limits.
 */
export function* chunks(cfg: CohortConfig, days: number): Generator<ReadingChunk, void, undefined> {
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
  const cap = cfg.chunk ?? 65_536;
  const chunk = emptyChunk(cap);
  const { patient, metric, time, value } = chunk;

  const cgmWindow = (ws: number, n: number): number => cgmReadings(ws, n, nCgm, nSession, rng, gapUntil, trend, glucose, chunk);

  const sessionWindow = (sessions: number[], ws: number, n: number): number => {
    let t = ws + SESSIONS_AT; // after every CGM reading of the window, and 1 ms apart: the stream stays in time order
    for (let k = 0; k < sessions.length; k++) {
      const q = sessions[k];
      if (rnd(rng) < 0.05) continue; // not measured today
      const evening = q < 0;
      const p = evening ? -1 - q : q;
      const m = p % 2 === 0 ? KOL : HF;
      let v0: number, v1 = 0, v2 = 0, v3 = 0;
      if (m === KOL) {
        v0 = Math.min(100, roundPos(94 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 16 : 5)));
        v1 = roundPos(80 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 70 : 25));
        v2 = roundPos((36.9 + (rnd(rng) - 0.5) * (rnd(rng) < 0.03 ? 5 : 1)) * 10) / 10;
        v3 = roundPos(17 + (rnd(rng) - 0.5) * (rnd(rng) < 0.03 ? 25 : 6));
      } else {
        weight[p] += (rnd(rng) - 0.5) * 0.6;
        v0 = roundPos(weight[p] * 10) / 10;
        v1 = roundPos(130 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 120 : 40));
        v2 = roundPos(80 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 70 : 20));
        v3 = roundPos(75 + (rnd(rng) - 0.5) * (rnd(rng) < 0.05 ? 90 : 25));
      }
      const count = evening ? 1 : 4;
      for (let j = 0; j < count; j++) {
        patient[n] = p;
        metric[n] = m[j];
        time[n] = t;
        value[n] = j === 0 ? v0 : j === 1 ? v1 : j === 2 ? v2 : v3;
        n++;
      }
      t++;
    }
    return n;
  };

  let n = 0;
  for (let d = 0; d < days; d++) {
    const dayStart = FROM + d * DAY; // Copenhagen winter time; the summer hour shifts local times, harmlessly
    for (let w = 0; w < windowsPerDay; w++) {
      const sessions = byWindow[w];
      if (n + nCgm + 5 * sessions.length > cap) {
        chunk.n = n;
        yield chunk;
        n = 0;
      }
      const ws = dayStart + w * WINDOW;
      n = cgmWindow(ws, n);
      n = sessionWindow(sessions, ws, n);
    }
  }
  chunk.n = n;
  if (n > 0) yield chunk;
}

/**
 * A window's CGM readings from column position n; returns the next position. A function of its
 * own with everything it touches passed in (no closure): this loop makes 86 % of the readings.
 * rnd() inlined on a local state (the same sequence).
 */
function cgmReadings(ws: number, n: number, nCgm: number, nSession: number, rng: Uint32Array, gapUntil: Float64Array, trend: Float64Array, glucose: Float64Array, chunk: ReadingChunk): number {
  const { patient, metric, time, value } = chunk;
  const spacing = Math.min(300, Math.floor(SESSIONS_AT / Math.max(1, nCgm)));
  let s = rng[0];
  for (let c = 0; c < nCgm; c++) {
    const t = ws + c * spacing;
    if (t < gapUntil[c]) continue;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    if ((s >>> 0) / 4294967296 < 0.0005) {
      rng[0] = s;
      gapUntil[c] = t + (10 + rnd(rng) * 80) * MIN;
      s = rng[0];
    }
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    // A drifting trend (meals, insulin) around a mean of 8: roughly 60–75 % in range.
    const tr = trend[c] * 0.9 + ((s >>> 0) / 4294967296 - 0.5) * 0.1;
    trend[c] = tr;
    const g0 = glucose[c];
    let g = g0 + tr + (8 - g0) * 0.01;
    if (g < 2.2) g = 2.2;
    else if (g > 22) g = 22;
    glucose[c] = g;
    patient[n] = nSession + c;
    metric[n] = CGM;
    time[n] = t;
    value[n] = roundPos(g * 10) / 10;
    n++;
  }
  rng[0] = s;
  return n;
}

/**
 * Math.round for the positive values made here (all ≥ 1): floor(x + 0.5) is the same number
 * (x + 0.5 is exact, or rounds within [2^k, 2^k + 0.5) whose floor is Math.round's 2^k). Math.round
 * measured ~25 ns a call on this machine's Node (not inlined as a rounding instruction), Math.floor ~1.
 */
function roundPos(x: number): number {
  return Math.floor(x + 0.5);
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
