// Home measurements follow the patient's day: the sessions of each local day, from the window's
// start on, in time order.
import { localMidnight } from "../time.js";
import { DAY } from "../time.js";
import type { Measurement, Window } from "../types.js";

/**
 * Calls `day(midnight)` for each local day from the one containing `window.from`, and yields its
 * measurements (sorted) at or after `window.from`, day after day, without end.
 */
export function* daily(window: Window, day: (midnight: number) => Measurement[]): Generator<Measurement> {
  for (let midnight = localMidnight(window.from); ; midnight = localMidnight(midnight + DAY + 3_600_000)) {
    const ms = day(midnight).sort((a, b) => a.time - b.time);
    for (const m of ms) if (m.time >= window.from) yield m;
  }
}

/** Rounds to `decimals` places (devices report fixed precision). */
export function round(value: number, decimals = 0): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
