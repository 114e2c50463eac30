// Rate rules: least-squares slope (unit/min) over the window plus the current reading, or the
// value it forecasts at the horizon (docs/kernel.md). Sums run oldest -> newest, then current.
import { I_HIST_BASE, I_HIST_CAP, P_HORIZON_MS, P_MODE, P_WINDOW_MS, RATE_FORECAST } from "../layout";
import { gHistT, gHistV } from "../memory";
import { setX } from "./derived";
import { gWinCount, windowFrom } from "./window";

const MINUTE: f64 = 60000;

/** Sets xLow = xHigh = slope or forecast; NaN with fewer than 2 points or a zero denominator. */
export function rate(cp: usize, pp: usize, t: f64, v: f64): void {
  const from = t - load<f64>(pp, P_WINDOW_MS);
  let j = windowFrom(cp, gHistT, from);
  const len = gWinCount;
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const base = <usize>load<u32>(cp, I_HIST_BASE);
  let n: f64 = 0;
  let st: f64 = 0;
  let sv: f64 = 0;
  let stt: f64 = 0;
  let stv: f64 = 0;
  for (let k: u32 = 0; k < len; k++) {
    const e = base + <usize>j;
    const time = load<f64>(gHistT + (e << 3));
    if (time < t) {
      const tm = (time - t) / MINUTE;
      const value = <f64>load<f32>(gHistV + (e << 2));
      n += 1;
      st += tm;
      sv += value;
      stt += tm * tm;
      stv += tm * value;
    }
    j = j + 1 == cap ? 0 : j + 1;
  }
  const tc = (t - t) / MINUTE; // the current reading, same arithmetic as the others
  n += 1;
  st += tc;
  sv += v;
  stt += tc * tc;
  stv += tc * v;
  const den = n * stt - st * st;
  if (n < 2 || den == 0) {
    setX(NaN, NaN);
    return;
  }
  const slope = (n * stv - st * sv) / den;
  const x = load<u8>(pp, P_MODE) == RATE_FORECAST ? v + slope * (load<f64>(pp, P_HORIZON_MS) / MINUTE) : slope;
  setX(x, x);
}
