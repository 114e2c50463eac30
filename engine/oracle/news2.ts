// NEWS2 (Royal College of Physicians, 2017) parameter scores (docs/kernel.md, "NEWS2 score").
// Upper bounds are inclusive as in the RCP chart; a value between two rows falls in the upper row.
import { NEWS2_SCALE_2, TRIAGE_H, TRIAGE_HH, TRIAGE_L, TRIAGE_LL, TRIAGE_N } from "../../assembly/layout.js";

/** Input order of a score rule's slots; bit i of the missing mask is input i. */
export const NEWS2_INPUTS = ["resp_rate", "spo2", "bp_sys", "pulse", "temp", "consciousness"] as const;

type Band = [upTo: number, points: number];

const RESP: Band[] = [[8, 3], [11, 1], [20, 0], [24, 2], [Infinity, 3]];
const SPO2_SCALE_1: Band[] = [[91, 3], [93, 2], [95, 1], [Infinity, 0]];
const SPO2_SCALE_2_LOW: Band[] = [[83, 3], [85, 2], [87, 1], [92, 0]];
const SPO2_SCALE_2_ON_OXYGEN: Band[] = [[94, 1], [96, 2], [Infinity, 3]];
const SYSTOLIC: Band[] = [[90, 3], [100, 2], [110, 1], [219, 0], [Infinity, 3]];
const PULSE: Band[] = [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2], [Infinity, 3]];
const TEMPERATURE: Band[] = [[35, 3], [36, 1], [38, 0], [39, 1], [Infinity, 2]];

function points(bands: Band[], value: number): number {
  for (const [upTo, score] of bands) if (value <= upTo) return score;
  return 0;
}

function spo2Points(value: number, scale: number, onOxygen: boolean): number {
  if (scale !== NEWS2_SCALE_2) return points(SPO2_SCALE_1, value);
  if (value <= 92) return points(SPO2_SCALE_2_LOW, value);
  return onOxygen ? points(SPO2_SCALE_2_ON_OXYGEN, value) : 0;
}

/** Points of one parameter (index into NEWS2_INPUTS). */
export function parameterPoints(input: number, value: number, scale: number, onOxygen: boolean): number {
  switch (input) {
    case 0: return points(RESP, value);
    case 1: return spo2Points(value, scale, onOxygen);
    case 2: return points(SYSTOLIC, value);
    case 3: return points(PULSE, value);
    case 4: return points(TEMPERATURE, value);
    default: return value > 0 ? 3 : 0;
  }
}

/** Highest value of each input still on the low side of its 0-point row (consciousness has none). */
function lowTop(input: number, scale: number): number {
  return [11, scale === NEWS2_SCALE_2 ? 87 : 95, 110, 50, 36, -Infinity][input];
}

/**
 * The triage of a reading a score consumes: its parameter's NEWS2 row — 0 points N, 1–2 points
 * L or H, 3 points LL or HH, low or high by the side of the 0-point row it lies on. null (not
 * counted) for a NaN value.
 */
export function parameterTriage(input: number, value: number, scale: number, onOxygen: boolean): number | null {
  if (Number.isNaN(value)) return null;
  const p = parameterPoints(input, value, scale, onOxygen);
  if (p === 0) return TRIAGE_N;
  const low = value <= lowTop(input, scale);
  return p === 3 ? (low ? TRIAGE_LL : TRIAGE_HH) : low ? TRIAGE_L : TRIAGE_H;
}

export interface News2Result {
  /** Sum over present parameters (+2 on oxygen); NaN when no parameter is present. */
  score: number;
  /** Bit i set: input i (NEWS2_INPUTS order) had no reading in the window. */
  missingMask: number;
  /** Some parameter scored 3 on its own (the low-medium trigger). */
  single3: boolean;
}

/** Scores the present parameters; `values[i]` is NaN when input i is absent. */
export function news2(values: number[], scale: number, onOxygen: boolean): News2Result {
  let score = 0;
  let present = 0;
  let missingMask = 0;
  let single3 = false;
  for (let i = 0; i < NEWS2_INPUTS.length; i++) {
    if (Number.isNaN(values[i])) {
      missingMask |= 1 << i;
      continue;
    }
    const p = parameterPoints(i, values[i], scale, onOxygen);
    if (p === 3) single3 = true;
    score += p;
    present++;
  }
  if (present === 0) return { score: NaN, missingMask, single3: false };
  return { score: score + (onOxygen ? 2 : 0), missingMask, single3 };
}
