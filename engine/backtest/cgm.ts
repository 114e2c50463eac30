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

export class CgmAccumulator {
  private readonly n: Float64Array;
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;
  private readonly inRange: Float64Array;
  private readonly b39: Float64Array;
  private readonly b30: Float64Array;
  private readonly a10: Float64Array;
  private readonly a139: Float64Array;
  private readonly last: Float64Array;
  /** Patients with at least one CGM reading. */
  readonly seen: Uint8Array;

  constructor(patients: number) {
    const f = () => new Float64Array(patients);
    this.n = f();
    this.sum = f();
    this.sumSq = f();
    this.inRange = f();
    this.b39 = f();
    this.b30 = f();
    this.a10 = f();
    this.a139 = f();
    this.last = f().fill(-Infinity);
    this.seen = new Uint8Array(patients);
  }

  add(p: number, time: number, v: number): void {
    if (time <= this.last[p]) return;
    this.last[p] = time;
    this.seen[p] = 1;
    this.n[p]++;
    this.sum[p] += v;
    this.sumSq[p] += v * v;
    if (v < 3.9) {
      this.b39[p]++;
      if (v < 3.0) this.b30[p]++;
    } else if (v > 10) {
      this.a10[p]++;
      if (v > 13.9) this.a139[p]++;
    } else this.inRange[p]++;
  }

  /** One patient's summary over a period of `periodMs`. */
  patient(p: number, periodMs: number, intervalMs: number): CgmSummary {
    return summary(this.n[p], this.sum[p], this.sumSq[p], [this.inRange[p], this.b39[p], this.b30[p], this.a10[p], this.a139[p]], periodMs, intervalMs);
  }

  /** The cohort's summary: every counted reading pooled; coverage over the patients with CGM data. */
  cohort(periodMs: number, intervalMs: number): CgmSummary | null {
    let patients = 0;
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    const counts = [0, 0, 0, 0, 0];
    for (let p = 0; p < this.n.length; p++) {
      if (this.seen[p] === 0) continue;
      patients++;
      n += this.n[p];
      sum += this.sum[p];
      sumSq += this.sumSq[p];
      counts[0] += this.inRange[p];
      counts[1] += this.b39[p];
      counts[2] += this.b30[p];
      counts[3] += this.a10[p];
      counts[4] += this.a139[p];
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
