// Delta rules: loss against the window's maximum, gain against its minimum (docs/kernel.md).
import { I_HIST_BASE, I_HIST_CAP, P_WINDOW_MS } from "../layout";
import { gHistT, gHistV } from "../memory";
import { setX } from "./derived";
import { gWinCount, windowFrom } from "./window";

/** Sets xLow = v - max(window), xHigh = v - min(window); both NaN when the window is empty. */
export function delta(cp: usize, pp: usize, t: f64, v: f64): void {
  const from = t - load<f64>(pp, P_WINDOW_MS);
  let j = windowFrom(cp, gHistT, from);
  const len = gWinCount;
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const base = <usize>load<u32>(cp, I_HIST_BASE);
  let lo = Infinity;
  let hi = -Infinity;
  let count: u32 = 0;
  for (let k: u32 = 0; k < len; k++) {
    const e = base + <usize>j;
    if (load<f64>(gHistT + (e << 3)) < t) {
      const value = <f64>load<f32>(gHistV + (e << 2));
      if (value < lo) lo = value;
      if (value > hi) hi = value;
      count++;
    }
    j = j + 1 == cap ? 0 : j + 1;
  }
  if (count == 0) setX(NaN, NaN);
  else setX(v - hi, v - lo);
}
