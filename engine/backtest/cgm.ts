// CGM summary by the international consensus on time in ranges (Battelino et al., Diabetes Care
// 2019;42:1593): time in range 3.9–10.0 mmol/L (70–180 mg/dL, both limits in range), below 3.9
// (includes below 3.0), below 3.0, above 10.0 (includes above 13.9), above 13.9; mean, SD
// (sample), coefficient of variation (SD / mean, %), GMI (3.31 + 0.02392 × mean in mg/dL, %) and
// sensor coverage (readings × the sensor's interval over the period, at most 100 %). Shares are
// of the patient's readings. A reading at or before the patient's previous CGM reading is a
// duplicate or late and is not counted (the kernel does not evaluate it either).
import { MG_DL_PER_MMOL_L } from "../metrics.js";

export interface CgmSummary {
  readings: number;
  /** Percent of readings (null without readings). */
  timeInRange: number | null;
  below3_9: number | null;
  below3_0: number | null;
  above10: number | null;
  above13_9: number | null;
  mean: number | null;
  sd: number | null;
  /** Coefficient of variation, percent; ≤ 36 % is the consensus target for stable glucose. */
  cv: number | null;
  gmi: number | null;
  /** Percent of the period with sensor data. */
  coverage: number;
}

// Per patient, side by side in one array (one bounds check and base per reading, not nine).
const N = 0;
const SUM = 1;
const SUM_SQ = 2;
const IN_RANGE = 3;
const B39 = 4;
const B30 = 5;
const A10 = 6;
const A139 = 7;
const LAST = 8;
const STRIDE = 9;

export class CgmAccumulator {
  private readonly acc: Float64Array;
  /** Patients with at least one CGM reading. */
  readonly seen: Uint8Array;

  constructor(private readonly patients: number) {
    this.acc = new Float64Array(patients * STRIDE);
    for (let p = 0; p < patients; p++) this.acc[p * STRIDE + LAST] = -Infinity;
    this.seen = new Uint8Array(patients);
  }

  add(p: number, time: number, v: number): void {
    const a = this.acc;
    const o = p * STRIDE;
    if (time <= a[o + LAST]) return;
    a[o + LAST] = time;
    this.seen[p] = 1;
    a[o + N]++;
    a[o + SUM] += v;
    a[o + SUM_SQ] += v * v;
    if (v < 3.9) {
      a[o + B39]++;
      if (v < 3.0) a[o + B30]++;
    } else if (v > 10) {
      a[o + A10]++;
      if (v > 13.9) a[o + A139]++;
    } else a[o + IN_RANGE]++;
  }

  /** The sums as plain columns (a worker thread posts them). */
  columns(): { acc: Float64Array; seen: Uint8Array } {
    return { acc: this.acc, seen: this.seen };
  }

  /** Takes another accumulator's patients: its patient `local` is this one's `members[local]`. */
  take(c: { acc: Float64Array; seen: Uint8Array }, members: readonly number[]): void {
    members.forEach((p, local) => {
      this.acc.set(c.acc.subarray(local * STRIDE, (local + 1) * STRIDE), p * STRIDE);
      this.seen[p] = c.seen[local];
    });
  }

  /** One patient's summary over a period of `periodMs`. */
  patient(p: number, periodMs: number, intervalMs: number): CgmSummary {
    const a = this.acc;
    const o = p * STRIDE;
    return summary(a[o + N], a[o + SUM], a[o + SUM_SQ], [a[o + IN_RANGE], a[o + B39], a[o + B30], a[o + A10], a[o + A139]], periodMs, intervalMs);
  }

  /** The cohort's summary: every counted reading pooled; coverage over the patients with CGM data. */
  cohort(periodMs: number, intervalMs: number): CgmSummary | null {
    const a = this.acc;
    let patients = 0;
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    const counts = [0, 0, 0, 0, 0];
    for (let p = 0; p < this.patients; p++) {
      if (this.seen[p] === 0) continue;
      const o = p * STRIDE;
      patients++;
      n += a[o + N];
      sum += a[o + SUM];
      sumSq += a[o + SUM_SQ];
      counts[0] += a[o + IN_RANGE];
      counts[1] += a[o + B39];
      counts[2] += a[o + B30];
      counts[3] += a[o + A10];
      counts[4] += a[o + A139];
    }
    return patients === 0 ? null : summary(n, sum, sumSq, counts, periodMs * patients, intervalMs);
  }
}

function summary(n: number, sum: number, sumSq: number, counts: number[], periodMs: number, intervalMs: number): CgmSummary {
  const coverage = periodMs > 0 ? round(Math.min(100, (n * intervalMs * 100) / periodMs)) : 0;
  if (n === 0) return { readings: 0, timeInRange: null, below3_9: null, below3_0: null, above10: null, above13_9: null, mean: null, sd: null, cv: null, gmi: null, coverage };
  const pct = (k: number) => round((k * 100) / n);
  const mean = sum / n;
  // Sample SD from the sums; the clamp guards a tiny negative from rounding.
  const sd = n > 1 ? Math.sqrt(Math.max(0, (sumSq - (sum * sum) / n) / (n - 1))) : null;
  return {
    readings: n,
    timeInRange: pct(counts[0]),
    below3_9: pct(counts[1]),
    below3_0: pct(counts[2]),
    above10: pct(counts[3]),
    above13_9: pct(counts[4]),
    mean: round(mean),
    sd: sd === null ? null : round(sd),
    cv: sd === null ? null : round((sd * 100) / mean),
    gmi: round(3.31 + 0.02392 * mean * MG_DL_PER_MMOL_L),
    coverage,
  };
}

/** Two decimals: the consensus reports whole percents; more digits are noise. */
function round(x: number): number {
  return Math.round(x * 100) / 100;
}
