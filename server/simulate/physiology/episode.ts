// A deterioration over days: nothing before its onset, a smooth rise to full severity, a plateau
// (the patient is ill, or waits to be treated), and a slower recovery.
import type { Random } from "../random.js";
import { DAY } from "../time.js";
import type { Window } from "../types.js";

export interface Episode {
  onset: number;
  rampMs: number;
  holdMs: number;
  recoverMs: number;
}

/**
 * An episode that develops inside the window: onset between `early` and `late` (fractions of
 * the simulated span, at most `spanCapDays` long; negative: it had begun before the window).
 */
export function episodeIn(window: Window, random: Random, shape: { early: number; late: number; rampDays: [number, number]; holdDays: [number, number]; recoverDays: number }): Episode {
  const span = Math.min(window.to - window.from, 4 * DAY);
  return {
    onset: window.from + span * random.between(shape.early, shape.late),
    rampMs: DAY * random.between(...shape.rampDays),
    holdMs: DAY * random.between(...shape.holdDays),
    recoverMs: DAY * shape.recoverDays,
  };
}

/** 0 (well) to 1 (fully ill) at time t; undefined episode: always 0. */
export function severity(e: Episode | undefined, t: number): number {
  if (e === undefined || t <= e.onset) return 0;
  const x = t - e.onset;
  if (x < e.rampMs) return smooth(x / e.rampMs);
  if (x < e.rampMs + e.holdMs) return 1;
  const back = (x - e.rampMs - e.holdMs) / e.recoverMs;
  return back >= 1 ? 0 : 1 - smooth(back);
}

function smooth(u: number): number {
  return u * u * (3 - 2 * u);
}
