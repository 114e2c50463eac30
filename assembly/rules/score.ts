// NEWS2 score rules (docs/kernel.md, "NEWS2 score"), evaluated from a score link at time t.
import { classifyHeld, codeLevel } from "../classify";
import {
  KIND_SCORE,
  NEWS2_SCALE_2,
  P_MARGIN,
  P_MODE,
  P_WINDOW_MS,
  R_AUX,
  R_DIR,
  R_FLAGS,
  R_KIND,
  R_LEVEL,
  RULE_ON_OXYGEN,
  S_LAST_TIME,
  S_LAST_VALUE,
  SCORE_INPUTS,
  TRIAGE_H,
  TRIAGE_HH,
  TRIAGE_L,
  TRIAGE_LL,
  TRIAGE_N,
} from "../layout";
import { gRuleCount, gRules, gScoreCount, gScores, gSlotCount, rulePtr, slotPtr } from "../memory";
import { paramOf, step } from "../persistence";

/** Points of input k (resp, spo2, sys, pulse, temp, consciousness); upper bounds inclusive. */
function points(k: i32, v: f64, scale2: bool, oxygen: bool): u32 {
  switch (k) {
    case 0:
      return v <= 8 ? 3 : v <= 11 ? 1 : v <= 20 ? 0 : v <= 24 ? 2 : 3;
    case 1:
      if (!scale2) return v <= 91 ? 3 : v <= 93 ? 2 : v <= 95 ? 1 : 0;
      if (v <= 83) return 3;
      if (v <= 85) return 2;
      if (v <= 87) return 1;
      if (v <= 92) return 0;
      return !oxygen ? 0 : v <= 94 ? 1 : v <= 96 ? 2 : 3;
    case 2:
      return v <= 90 ? 3 : v <= 100 ? 2 : v <= 110 ? 1 : v <= 219 ? 0 : 3;
    case 3:
      return v <= 40 ? 3 : v <= 50 ? 1 : v <= 90 ? 0 : v <= 110 ? 1 : v <= 130 ? 2 : 3;
    case 4:
      return v <= 35 ? 3 : v <= 36 ? 1 : v <= 38 ? 0 : v <= 39 ? 1 : 2;
    default:
      return v > 0 ? 3 : 0;
  }
}

/** Highest value of input k still on the low side of its 0-point row (consciousness has none). */
function lowTop(k: i32, scale2: bool): f64 {
  switch (k) {
    case 0: return 11;
    case 1: return scale2 ? 87 : 95;
    case 2: return 110;
    case 3: return 50;
    case 4: return 36;
    default: return -Infinity;
  }
}

/**
 * Triage of a reading v on `slot` that score rule `rid` (inputs record sc) consumes: its NEWS2
 * row — 0 points N, 1–2 L/H, 3 LL/HH, by the side of the 0-point row; 0 (not counted) for NaN
 * or a slot that is not an input.
 */
export function scoreTriage(rid: u32, sc: usize, slot: u32, v: f64): u32 {
  if (isNaN(v)) return 0;
  let k = 0;
  while (k < SCORE_INPUTS && load<u32>(sc + (<usize>k << 2)) != slot) k++;
  if (k == SCORE_INPUTS) return 0;
  const rp = rulePtr(rid);
  const scale2 = load<u8>(paramOf(rp), P_MODE) == NEWS2_SCALE_2;
  const p = points(k, v, scale2, (load<u8>(rp, R_FLAGS) & RULE_ON_OXYGEN) != 0);
  if (p == 0) return TRIAGE_N;
  const low = v <= lowTop(k, scale2);
  return p == 3 ? (low ? TRIAGE_LL : TRIAGE_HH) : low ? TRIAGE_L : TRIAGE_H;
}

/** Scores the rule `rid` at time t and steps it (nothing when it is not an enabled score rule). */
export function scoreEval(rid: u32, t: f64, reading: i32): void {
  if (rid >= gRuleCount) return;
  const rp = gRules + (<usize>rid << 6);
  if (load<u8>(rp, R_KIND) != KIND_SCORE) return;
  const pp = paramOf(rp);
  const from = t - load<f64>(pp, P_WINDOW_MS);
  const oxygen = (load<u8>(rp, R_FLAGS) & RULE_ON_OXYGEN) != 0;
  const scale2 = load<u8>(pp, P_MODE) == NEWS2_SCALE_2;
  const e = load<u32>(rp, R_AUX);
  const inputs = gScores + (<usize>e << 5);
  let sum: u32 = 0;
  let present: u32 = 0;
  let missing: u32 = 0;
  let single3: u32 = 0;
  for (let k = 0; k < SCORE_INPUTS; k++) {
    const sid = e < gScoreCount ? load<u32>(inputs + (<usize>k << 2)) : <u32>0xffffffff;
    if (sid < gSlotCount) {
      const sp = slotPtr(sid);
      const lt = load<f64>(sp, S_LAST_TIME);
      if (lt >= from && lt <= t) {
        const p = points(k, <f64>load<f32>(sp, S_LAST_VALUE), scale2, oxygen);
        if (p == 3) single3 = 1;
        sum += p;
        present++;
        continue;
      }
    }
    missing |= 1 << k;
  }
  const x: f64 = present == 0 ? NaN : <f64>(sum + (oxygen ? 2 : 0));
  let code = classifyHeld(rp, x, x, load<u8>(rp, R_LEVEL), load<u8>(rp, R_DIR), <f64>load<f32>(pp, P_MARGIN));
  if (codeLevel(code) == 0 && single3) code = TRIAGE_H; // NEWS2 low-medium trigger: (1, HIGH)
  step(rp, code, t, x, reading, missing | (single3 << 8));
}
