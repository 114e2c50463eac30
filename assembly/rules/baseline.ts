// Baseline rules: deviation from the clinician's reference, else (flag COMPUTED_REF) from the
// median of the window when it holds at least minCount readings (docs/kernel.md).
import { BASELINE_PERCENT, I_HIST_BASE, I_HIST_CAP, I_REF, P_MIN_COUNT, P_MODE, P_WINDOW_MS, R_FLAGS, RULE_COMPUTED_REF } from "../layout";
import { gHistT, gHistV } from "../memory";
import { gWinCount, windowFrom } from "./window";

// Sort scratch for the median: at most 255 history entries (histCap is a u8).
const SCRATCH: usize = memory.data(256 * 8, 16);

/** The reference: the slot's, else the window median when allowed; NaN = reference needed. */
export function baselineRef(rp: usize, cp: usize, pp: usize, t: f64): f64 {
  const ref = <f64>load<f32>(cp, I_REF);
  if (!isNaN(ref)) return ref;
  if ((load<u8>(rp, R_FLAGS) & RULE_COMPUTED_REF) == 0) return NaN;
  const from = t - load<f64>(pp, P_WINDOW_MS);
  let j = windowFrom(cp, gHistT, from);
  const len = gWinCount;
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const base = <usize>load<u32>(cp, I_HIST_BASE);
  let count: u32 = 0;
  for (let k: u32 = 0; k < len; k++) {
    const e = base + <usize>j;
    if (load<f64>(gHistT + (e << 3)) < t) {
      // Insertion sort as we go: the window is small.
      const value = <f64>load<f32>(gHistV + (e << 2));
      let i = count;
      while (i > 0 && load<f64>(SCRATCH + ((<usize>i - 1) << 3)) > value) {
        store<f64>(SCRATCH + (<usize>i << 3), load<f64>(SCRATCH + ((<usize>i - 1) << 3)));
        i--;
      }
      store<f64>(SCRATCH + (<usize>i << 3), value);
      count++;
    }
    j = j + 1 == cap ? 0 : j + 1;
  }
  if (count == 0 || count < <u32>load<u8>(pp, P_MIN_COUNT)) return NaN;
  const mid = <usize>(count >> 1);
  const upper = load<f64>(SCRATCH + (mid << 3));
  if (count & 1) return upper;
  return (load<f64>(SCRATCH + ((mid - 1) << 3)) + upper) / 2;
}

/** Deviation of v from ref: absolute / points v - ref, percent (v - ref) / ref * 100 (ref 0: NaN). */
// @ts-ignore: decorator
@inline
export function baselineX(pp: usize, v: f64, ref: f64): f64 {
  if (load<u8>(pp, P_MODE) == BASELINE_PERCENT) return ref == 0 ? NaN : ((v - ref) / ref) * 100;
  return v - ref;
}
