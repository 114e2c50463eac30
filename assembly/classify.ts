// Classification (docs/kernel.md, "Classification"). A result is carried as its triage code
// (N, L, H, LL, HH), which encodes (level, dir) without a second return value.
import {
  DIR_HIGH,
  DIR_LOW,
  DIR_NONE,
  R_L0,
  R_L1,
  R_L2,
  R_L3,
  TRIAGE_H,
  TRIAGE_HH,
  TRIAGE_L,
  TRIAGE_LL,
  TRIAGE_N,
} from "./layout";

/** Plain classification (level 0, margin 0) against a rule's f32 limits. Strict compares. */
// @ts-ignore: decorator
@inline
export function classifyPlain(rp: usize, xLow: f64, xHigh: f64): u32 {
  // Branch-free, lowest precedence first: H, L, HH, LL (the last true one wins).
  let c: u32 = select<u32>(TRIAGE_H, TRIAGE_N, xHigh > <f64>load<f32>(rp, R_L2));
  c = select<u32>(TRIAGE_L, c, xLow < <f64>load<f32>(rp, R_L1));
  c = select<u32>(TRIAGE_HH, c, xHigh > <f64>load<f32>(rp, R_L3));
  return select<u32>(TRIAGE_LL, c, xLow < <f64>load<f32>(rp, R_L0));
}

/** Classification with hysteresis: the held level's limits move toward normal by `margin`. */
export function classifyHeld(rp: usize, xLow: f64, xHigh: f64, level: u32, dir: u32, margin: f64): u32 {
  const rl = <f64>load<f32>(rp, R_L0) + (level == 2 && dir == DIR_LOW ? margin : 0);
  const yl = <f64>load<f32>(rp, R_L1) + (level >= 1 && dir == DIR_LOW ? margin : 0);
  const yh = <f64>load<f32>(rp, R_L2) - (level >= 1 && dir == DIR_HIGH ? margin : 0);
  const rh = <f64>load<f32>(rp, R_L3) - (level == 2 && dir == DIR_HIGH ? margin : 0);
  if (xLow < rl) return TRIAGE_LL;
  if (xHigh > rh) return TRIAGE_HH;
  if (xLow < yl) return TRIAGE_L;
  if (xHigh > yh) return TRIAGE_H;
  return TRIAGE_N;
}

/** Level of a classification code: N 0, L/H 1, LL/HH 2. */
// @ts-ignore: decorator
@inline
export function codeLevel(code: u32): u32 {
  return code >> 1;
}

/** Direction of a classification code: N none, L/LL low, H/HH high. */
// @ts-ignore: decorator
@inline
export function codeDir(code: u32): u32 {
  return select<u32>(DIR_NONE, (code & 1) + 1, code == TRIAGE_N);
}

/** The code of (level, dir); level > 0 with dir NONE never comes from a classification. */
// @ts-ignore: decorator
@inline
export function codeOf(level: u32, dir: u32): u32 {
  return level == 0 ? TRIAGE_N : (level << 1) | <u32>(dir == DIR_HIGH);
}

// Severity rank per triage code, 3 bits each: NOT_TRIAGED 0, N 1, L 3, H 3, LL 4, HH 4, REF_NEEDED 2.
const RANKS: u32 = (0 << 0) | (1 << 3) | (3 << 6) | (3 << 9) | (4 << 12) | (4 << 15) | (2 << 18);

/** Severity of a triage code (LL = HH > L = H > REF_NEEDED > N > not counted). */
// @ts-ignore: decorator
@inline
export function rank(code: u32): u32 {
  return (RANKS >> (code * 3)) & 7;
}
