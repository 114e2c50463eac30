// Simulated time: durations as typed on the command line, and the patient's local clock
// (Copenhagen), which sets when people measure, eat and sleep.
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../../engine/clock.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const UNITS: Record<string, number> = { s: 1000, m: MINUTE, h: HOUR, d: DAY };

/** "1d", "12h", "30m", "90s", "1.5h" → ms; undefined when not one of those. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(text.trim());
  if (m === null) return undefined;
  const ms = Math.round(Number(m[1]) * UNITS[m[2]]);
  return ms > 0 ? ms : undefined;
}

/** The start of the local day that contains `t` (epoch ms). */
export function localMidnight(t: number): number {
  const offset = utcOffsetMs(DEFAULT_TIME_ZONE, t);
  return t - ((((t + offset) % DAY) + DAY) % DAY);
}

/** `hours` (local, decimal: 7.5 = 07:30) on the local day that starts at `midnight`. */
export function atLocal(midnight: number, hours: number): number {
  return Math.round(midnight + hours * HOUR);
}

/** Local hour of day, decimal (0 ≤ h < 24). */
export function localHour(t: number): number {
  return (t - localMidnight(t)) / HOUR;
}
