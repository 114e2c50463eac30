// Band classification shared by every value rule (docs/kernel.md, "Classification").
import { DIR_HIGH, DIR_LOW, DIR_NONE } from "../../assembly/layout.js";
import type { Limits } from "../evaluator.js";

export interface Raw {
  level: number;
  dir: number;
}

export const NO_ALERT: Raw = Object.freeze({ level: 0, dir: DIR_NONE });

/**
 * Classifies derived values against f32 limits, strictly (a value on a limit is inside).
 * The limits of the level currently held are moved toward normal by `margin` (hysteresis).
 */
export function classify(xLow: number, xHigh: number, limits: Limits, level: number, dir: number, margin: number): Raw {
  const [l0, l1, l2, l3] = limits;
  const redLow = l0 + (level === 2 && dir === DIR_LOW ? margin : 0);
  const yellowLow = l1 + (level >= 1 && dir === DIR_LOW ? margin : 0);
  const yellowHigh = l2 - (level >= 1 && dir === DIR_HIGH ? margin : 0);
  const redHigh = l3 - (level === 2 && dir === DIR_HIGH ? margin : 0);
  if (xLow < redLow) return { level: 2, dir: DIR_LOW };
  if (xHigh > redHigh) return { level: 2, dir: DIR_HIGH };
  if (xLow < yellowLow) return { level: 1, dir: DIR_LOW };
  if (xHigh > yellowHigh) return { level: 1, dir: DIR_HIGH };
  return NO_ALERT;
}
