// Delta rules: loss against the window's maximum, gain against its minimum (docs/kernel.md).
import { I_HIST_LEN, P_WINDOW_MS } from "../layout";
import { gHistT, gHistV } from "../memory";
import { setX } from "./derived";
import { entry, nextPos, oldest } from "./window";

/** Sets xLow = v - max(window), xHigh = v - min(window); both NaN when the window is empty. */
export function delta(cp: usize, pp: usize, t: f64, v: f64): void {
  const from = t - load<f64>(pp, P_WINDOW_MS);
  const len = <u32>load<u8>(cp, I_HIST_LEN);
  let j = oldest(cp);
  let lo = Infinity;
  let hi = -Infinity;
  let count: u32 = 0;
  for (let k: u32 = 0; k < len; k++) {
    const e = entry(cp, j);
    const time = load<f64>(gHistT + (e << 3));
    if (from <= time && time < t) {
      const value = <f64>load<f32>(gHistV + (e << 2));
      if (value < lo) lo = value;
      if (value > hi) hi = value;
      count++;
    }
    j = nextPos(cp, j);
  }
  if (count == 0) setX(NaN, NaN);
  else setX(v - hi, v - lo);
}
