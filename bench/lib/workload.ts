// Deterministic workload for `npm run bench:kernel`: patients × 6 metrics, per-patient band
// limits jittered around clinical defaults, readings arriving as device uploads (one patient,
// 2–6 of its metrics, one time), patients in random order, about 1 % of readings out of band.
//
// The readings are generated once as columns (Uint32Array slots, Float64Array times,
// Float32Array values) and shared by every engine; the rules come in two variants:
//   band-only  every slot exactly one band rule, default params, no history
//   mixed      band on every slot (some with N-of-M / for / keep-firing / hysteresis params),
//              plus on weight a delta rule (72 h, gain 1 / 2 kg, history 16) and a daily
//              missing-measurement rule, plus on spo2 a baseline rule for a quarter of the
//              patients (half with a clinician reference, half with a computed median).
import {
  BASELINE_ABSOLUTE,
  DAY_MS,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  MISSING_DAILY,
  RULE_COMPUTED_REF,
} from "../../assembly/layout.js";
import { DEFAULT_PARAMS, type CompiledRule, type Evaluator, type Limits, type ParamSet } from "../../engine/evaluator.js";

export const METRICS = ["weight", "bp_sys", "bp_dia", "pulse", "spo2", "temp"] as const;
export const METRIC_COUNT = METRICS.length;
export const M_WEIGHT = 0;
export const M_BP_SYS = 1;
export const M_BP_DIA = 2;
export const M_PULSE = 3;
export const M_SPO2 = 4;
export const M_TEMP = 5;

export type Variant = "band" | "mixed";

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Small, fast, deterministic PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Triangular noise in (-w, w): the sum of two uniforms, centred. */
  noise(w: number): number {
    return (this.next() + this.next() - 1) * w;
  }
}

interface MetricModel {
  /** Device precision (values and limits are rounded to it). */
  prec: number;
  /** Clinical default limits [red-low, yellow-low, yellow-high, red-high] (NaN = none). */
  limits: Limits;
  /** Per-patient jitter of the limits (± this, rounded to prec). */
  jitter: number;
  /** Per-patient centre of the readings: uniform in this range. */
  center: [number, number];
  /** Half-width of the reading noise around the centre. */
  noise: number;
  /** Readings never go outside this physical range. */
  clamp: [number, number];
}

// Weight limits are relative to the patient's own weight (centre ± 5 / 8 kg).
const MODELS: MetricModel[] = [
  { prec: 0.1, limits: [-8, -5, 5, 8], jitter: 0, center: [55, 120], noise: 0.4, clamp: [30, 250] },
  { prec: 1, limits: [90, 100, 160, 180], jitter: 5, center: [115, 145], noise: 12, clamp: [50, 260] },
  { prec: 1, limits: [50, 60, 95, 110], jitter: 3, center: [70, 85], noise: 8, clamp: [30, 150] },
  { prec: 1, limits: [40, 50, 100, 120], jitter: 5, center: [62, 82], noise: 10, clamp: [25, 220] },
  { prec: 1, limits: [88, 92, NaN, NaN], jitter: 1, center: [94.5, 97.5], noise: 1.5, clamp: [60, 100] },
  { prec: 0.1, limits: [35, 36, 37.5, 38.5], jitter: 0.1, center: [36.4, 36.9], noise: 0.4, clamp: [32, 42] },
];

function roundTo(x: number, prec: number): number {
  return Math.round(x / prec) * prec;
}

export interface WorkloadOptions {
  patients: number;
  /** At least this many readings (whole uploads, so a few more). */
  readings: number;
  seed: number;
  /** Fraction of readings out of band (default 0.01). */
  outOfBand?: number;
  /** Time of the first upload, ms since the epoch. */
  start?: number;
  /** Readings per evaluate() call. */
  batch?: number;
}

export interface Batch {
  start: number;
  end: number;
  /** Host clock when the batch arrived (a second after its last reading). */
  now: number;
}

/** Per-patient choices of the mixed rule set. */
export const PF_BP_NOFM = 1; // bp band rules: 2 of the last 3 readings
export const PF_PULSE_FOR = 2; // pulse band rule: for 30 min
export const PF_SPO2_KEEP = 4; // spo2 band rule: keep firing 6 h, margin 1
export const PF_TEMP_HYST = 8; // temp band rule: margin 0.2
export const PF_SPO2_BASE_REF = 16; // spo2 baseline rule, clinician reference
export const PF_SPO2_BASE_COMPUTED = 32; // spo2 baseline rule, median of recent history

export interface Workload {
  patients: number;
  slots: number;
  seed: number;
  start: number;
  /** Band limits, 4 f32 per slot (slot = patient * 6 + metric). */
  limits: Float32Array;
  /** Clinician spo2 reference per patient (NaN when none). */
  spo2Ref: Float32Array;
  /** PF_* flags per patient (mixed variant). */
  profile: Uint8Array;
  /** Readings (columns, in arrival order). */
  n: number;
  uploads: number;
  inSlots: Uint32Array;
  inTimes: Float64Array;
  inValues: Float32Array;
  batches: Batch[];
}

export function generateWorkload(opt: WorkloadOptions): Workload {
  const patients = opt.patients;
  const slots = patients * METRIC_COUNT;
  const outOfBand = opt.outOfBand ?? 0.01;
  const start = opt.start ?? Date.UTC(2025, 0, 6, 6, 0, 0); // a Monday morning
  const batchSize = opt.batch ?? 65536;
  const rng = new Rng(opt.seed);

  // ---- per-slot limits and reading centres ----
  const limits = new Float32Array(slots * 4);
  const center = new Float32Array(slots);
  const spo2Ref = new Float32Array(patients).fill(NaN);
  const profile = new Uint8Array(patients);
  for (let p = 0; p < patients; p++) {
    for (let m = 0; m < METRIC_COUNT; m++) {
      const md = MODELS[m];
      const s = p * METRIC_COUNT + m;
      const c = roundTo(rng.range(md.center[0], md.center[1]), md.prec);
      center[s] = c;
      for (let k = 0; k < 4; k++) {
        const base = md.limits[k];
        let l = m === M_WEIGHT ? c + base : base + (md.jitter > 0 ? roundTo(rng.noise(md.jitter), md.prec) : 0);
        l = roundTo(l, md.prec);
        limits[s * 4 + k] = Number.isNaN(base) ? NaN : l;
      }
      // keep the limits ordered after jitter (l0 <= l1 <= l2 <= l3 where present)
      const o = s * 4;
      if (limits[o] > limits[o + 1]) limits[o] = limits[o + 1];
      if (limits[o + 3] < limits[o + 2]) limits[o + 3] = limits[o + 2];
    }
    let f = 0;
    if (rng.next() < 0.3) f |= PF_BP_NOFM;
    if (rng.next() < 0.2) f |= PF_PULSE_FOR;
    if (rng.next() < 0.2) f |= PF_SPO2_KEEP;
    if (rng.next() < 0.2) f |= PF_TEMP_HYST;
    const b = rng.next();
    if (b < 0.125) {
      f |= PF_SPO2_BASE_REF;
      spo2Ref[p] = Math.round(center[p * METRIC_COUNT + M_SPO2]);
    } else if (b < 0.25) f |= PF_SPO2_BASE_COMPUTED;
    profile[p] = f;
  }

  // ---- readings: uploads of one random patient, 2–6 of its metrics, one time ----
  const cap = opt.readings + METRIC_COUNT;
  const inSlots = new Uint32Array(cap);
  const inTimes = new Float64Array(cap);
  const inValues = new Float32Array(cap);
  // ~4 readings per upload over ~14 days → the clock moves ~1–1000 ms per upload at 10 M readings
  const meanStep = Math.max(2, Math.round((14 * DAY_MS) / (opt.readings / 4)));
  const perm = [0, 1, 2, 3, 4, 5];
  const chosen = [0, 0, 0, 0, 0, 0];
  let n = 0;
  let uploads = 0;
  let t = start;
  while (n < opt.readings) {
    t += 1 + rng.int(2 * meanStep - 1);
    const p = rng.int(patients);
    const k = 2 + rng.int(5); // 2..6 metrics
    // partial Fisher–Yates: the first k of perm are the chosen metrics
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(METRIC_COUNT - i);
      const x = perm[i];
      perm[i] = perm[j];
      perm[j] = x;
    }
    for (let i = 0; i < k; i++) chosen[i] = perm[i];
    sortSmall(chosen, k); // a device sends its metrics in a fixed order
    for (let i = 0; i < k; i++) {
      const m = chosen[i];
      const s = p * METRIC_COUNT + m;
      inSlots[n] = s;
      inTimes[n] = t;
      inValues[n] = readingValue(rng, MODELS[m], center[s], limits, s, outOfBand);
      n++;
    }
    uploads++;
  }

  const batches: Batch[] = [];
  for (let a = 0; a < n; a += batchSize) {
    const e = Math.min(n, a + batchSize);
    batches.push({ start: a, end: e, now: inTimes[e - 1] + 1000 });
  }
  return {
    patients,
    slots,
    seed: opt.seed,
    start,
    limits,
    spo2Ref,
    profile,
    n,
    uploads,
    inSlots: inSlots.subarray(0, n),
    inTimes: inTimes.subarray(0, n),
    inValues: inValues.subarray(0, n),
    batches,
  };
}

function sortSmall(a: number[], k: number): void {
  for (let i = 1; i < k; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > x) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}

function readingValue(
  rng: Rng,
  md: MetricModel,
  c: number,
  limits: Float32Array,
  s: number,
  outOfBand: number,
): number {
  const l0 = limits[s * 4];
  const l1 = limits[s * 4 + 1];
  const l2 = limits[s * 4 + 2];
  const l3 = limits[s * 4 + 3];
  if (rng.next() >= outOfBand) {
    // in band: centre + noise, rounded, kept inside [l1, l2] (a value on a limit is in band)
    let v = roundTo(c + rng.noise(md.noise), md.prec);
    v = Math.min(Math.max(v, md.clamp[0]), md.clamp[1]);
    v = Math.fround(v);
    if (v < l1) v = l1;
    if (v > l2) v = l2;
    return v;
  }
  // out of band: past a yellow limit, about a quarter of them past the red one too
  const low = Number.isNaN(l2) || (!Number.isNaN(l1) && rng.next() < 0.5);
  if (low) {
    const gap = Number.isNaN(l0) ? md.prec * 4 : l1 - l0;
    let v = Math.fround(Math.max(md.clamp[0], roundTo(l1 - md.prec - rng.next() * 1.3 * gap, md.prec)));
    if (!(v < l1)) v = Math.fround(l1 - md.prec);
    return v;
  }
  const gap = Number.isNaN(l3) ? md.prec * 4 : l3 - l2;
  let v = Math.fround(Math.min(md.clamp[1], roundTo(l2 + md.prec + rng.next() * 1.3 * gap, md.prec)));
  if (!(v > l2)) v = Math.fround(l2 + md.prec);
  return v;
}

// ---- rules ----

const p = (over: Partial<ParamSet>): ParamSet => Object.freeze({ ...DEFAULT_PARAMS, ...over });

/** The param sets of the mixed variant (shared objects: one per programme setting). */
export const PARAMS = {
  default: DEFAULT_PARAMS,
  nOfM: p({ n: 2, m: 3 }),
  for30m: p({ forMs: 30 * MINUTE }),
  keep6h: p({ keepMs: 6 * HOUR, margin: 1 }),
  hyst: p({ margin: 0.2 }),
  delta72h: p({ windowMs: 72 * HOUR }),
  baselineRef: p({ mode: BASELINE_ABSOLUTE }),
  baselineComputed: p({ mode: BASELINE_ABSOLUTE, windowMs: 7 * DAY_MS, minCount: 3 }),
  missingDaily: p({ mode: MISSING_DAILY, deadlineMs: 10 * HOUR, graceMs: 2 * HOUR }),
} as const;

export interface SetupCounts {
  slots: number;
  rules: number;
  histEntries: number;
}

/** Adds the workload's slots and rules to an evaluator. Slot ids must come out as
 *  patient * 6 + metric (slots are added in that order). */
export function setupEvaluator(ev: Evaluator, w: Workload, variant: Variant): SetupCounts {
  const mixed = variant === "mixed";
  let rules = 0;
  let histEntries = 0;
  for (let pt = 0; pt < w.patients; pt++) {
    const f = w.profile[pt];
    for (let m = 0; m < METRIC_COUNT; m++) {
      const s = pt * METRIC_COUNT + m;
      let histCap = 0;
      let ref = NaN;
      if (mixed) {
        if (m === M_WEIGHT) histCap = 16;
        if (m === M_SPO2 && f & PF_SPO2_BASE_COMPUTED) histCap = 8;
        if (m === M_SPO2 && f & PF_SPO2_BASE_REF) ref = w.spo2Ref[pt];
      }
      const id = ev.addSlot({ histCap, ref, paused: false });
      if (id !== s) throw new Error(`setupEvaluator: addSlot returned ${id}, expected ${s}`);
      histEntries += histCap;
    }
    for (let m = 0; m < METRIC_COUNT; m++) {
      const s = pt * METRIC_COUNT + m;
      const o = s * 4;
      const band: Limits = [w.limits[o], w.limits[o + 1], w.limits[o + 2], w.limits[o + 3]];
      let params: ParamSet = PARAMS.default;
      if (mixed) {
        if ((m === M_BP_SYS || m === M_BP_DIA) && f & PF_BP_NOFM) params = PARAMS.nOfM;
        if (m === M_PULSE && f & PF_PULSE_FOR) params = PARAMS.for30m;
        if (m === M_SPO2 && f & PF_SPO2_KEEP) params = PARAMS.keep6h;
        if (m === M_TEMP && f & PF_TEMP_HYST) params = PARAMS.hyst;
      }
      ev.addRule(rule(KIND_BAND, s, band, params));
      rules++;
      if (!mixed) continue;
      if (m === M_WEIGHT) {
        ev.addRule(rule(KIND_DELTA, s, [NaN, NaN, 1, 2], PARAMS.delta72h));
        const miss = rule(KIND_MISSING, s, [NaN, NaN, 0, 2], PARAMS.missingDaily);
        miss.anchor = w.start - DAY_MS;
        ev.addRule(miss);
        rules += 2;
      }
      if (m === M_SPO2 && f & (PF_SPO2_BASE_REF | PF_SPO2_BASE_COMPUTED)) {
        const computed = (f & PF_SPO2_BASE_COMPUTED) !== 0;
        const r = rule(KIND_BASELINE, s, [-6, -4, NaN, NaN], computed ? PARAMS.baselineComputed : PARAMS.baselineRef);
        if (computed) r.flags = RULE_COMPUTED_REF;
        ev.addRule(r);
        rules++;
      }
    }
  }
  return { slots: w.slots, rules, histEntries };
}

function rule(kind: number, slot: number, limits: Limits, params: ParamSet): CompiledRule {
  return { kind, slot, flags: 0, limits: [limits[0], limits[1], limits[2], limits[3]], params, anchor: 0 };
}

/** The same readings reordered by slot (stable: each slot's readings keep their time order),
 *  in batches of the same size, each batch's `now` a second after its latest reading. Not an
 *  arrival order: it shows what locality is worth (the best case for any engine). */
export function groupBySlot(w: Workload, batch = 65536): Workload {
  const start = new Uint32Array(w.slots + 1);
  for (let i = 0; i < w.n; i++) start[w.inSlots[i] + 1]++;
  for (let s = 0; s < w.slots; s++) start[s + 1] += start[s];
  const inSlots = new Uint32Array(w.n);
  const inTimes = new Float64Array(w.n);
  const inValues = new Float32Array(w.n);
  for (let i = 0; i < w.n; i++) {
    const j = start[w.inSlots[i]]++;
    inSlots[j] = w.inSlots[i];
    inTimes[j] = w.inTimes[i];
    inValues[j] = w.inValues[i];
  }
  const batches: Batch[] = [];
  for (let a = 0; a < w.n; a += batch) {
    const e = Math.min(w.n, a + batch);
    let latest = -Infinity;
    for (let i = a; i < e; i++) if (inTimes[i] > latest) latest = inTimes[i];
    batches.push({ start: a, end: e, now: latest + 1000 });
  }
  return { ...w, inSlots, inTimes, inValues, batches };
}
