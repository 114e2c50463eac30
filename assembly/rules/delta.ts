// Delta rules: loss against the window's maximum, gain against its minimum (docs/kernel.md).
import { P_WINDOW_MS, S_HIST_LEN } from "../layout";
import { gHistT, gHistV } from "../memory";
import { setX } from "./derived";
import { entry, nextPos, oldest } from "./window";

/** Sets xLow = v - max(window), xHigh = v - min(window); both NaN when the window is empty. */
export function delta(sp: usize, pp: usize, t: f64, v: f64): void {
  const from = t - load<f64>(pp, P_WINDOW_MS);
  const len = <u32>load<u8>(sp, S_HIST_LEN);
  let j = oldest(sp);
  let lo = Infinity;
  let hi = -Infinity;
  let count: u32 = 0;
  for (let k: u32 = 0; k < len; k++) {
    const e = entry(sp, j);
    const time = load<f64>(gHistT + (e << 3));
    if (from <= time && time < t) {
      const value = <f64>load<f32>(gHistV + (e << 2));
      if (value < lo) lo = value;
      if (value > hi) hi = value;
      count++;
    }
    j = nextPos(sp, j);
  }
  if (count == 0) setX(NaN, NaN);
  else setX(v - hi, v - lo);
}
