// The quiet gate (docs/kernel.md, "The quiet gate"). A slot is quiet when it has no history
// ring and its only rule is a band rule whose alert simply follows the plain classification
// (margin 0, no for / keep-firing / N of M), holding no alert and with raw 0 last. A reading
// whose value is plain N then changes nothing but lastTime/lastValue, so evaluate() answers it
// from the slot record alone. The gate holds the two numbers that decide "plain N"; a slot that
// is not quiet has a closed gate (low +Infinity, high -Infinity) that no value passes.
import {
  KIND_BAND,
  NONE,
  R_L0,
  R_L1,
  R_L2,
  R_L3,
  R_NEXT,
  R_RAW_LEVEL,
  RULE_K_NO_MARGIN,
  RULE_K_NO_PERSIST,
  S_FIRST_RULE,
  S_GATE_HIGH,
  S_GATE_LOW,
  S_HIST_CAP,
} from "./layout";
import { rulePtr } from "./memory";

// First word of a quiet rule: kind BAND, level 0, dir NONE, both derived flags (host flags ignored).
const QUIET_WORD: u32 = (KIND_BAND as u32) | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);
const QUIET_MASK: u32 = 0x00ffffff | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);

/** Does value v pass the gate of the slot at sp? NaN never does. */
// @ts-ignore: decorator
@inline
export function passes(sp: usize, v: f32): bool {
  return (v >= load<f32>(sp, S_GATE_LOW)) & (v <= load<f32>(sp, S_GATE_HIGH));
}

/** The larger of two limits, ignoring an absent (NaN) one; -Infinity when both are absent. */
// @ts-ignore: decorator
@inline
function innerLow(a: f32, b: f32): f32 {
  return isNaN(a) ? (isNaN(b) ? -Infinity : b) : isNaN(b) ? a : max<f32>(a, b);
}

/** The smaller of two limits, ignoring an absent (NaN) one; +Infinity when both are absent. */
// @ts-ignore: decorator
@inline
function innerHigh(a: f32, b: f32): f32 {
  return isNaN(a) ? (isNaN(b) ? Infinity : b) : isNaN(b) ? a : min<f32>(a, b);
}

/**
 * Recomputes the gate of the slot at sp from its rules (call after anything that may change
 * them or their alert state). A value v is plain N against l0..l3 exactly when
 * v >= max(l0, l1) and v <= min(l2, l3), over the limits present.
 */
export function refreshGate(sp: usize): void {
  const r = load<u32>(sp, S_FIRST_RULE);
  let low: f32 = Infinity;
  let high: f32 = -Infinity;
  if (r != <u32>NONE && load<u8>(sp, S_HIST_CAP) == 0) {
    const rp = rulePtr(r);
    if ((load<u32>(rp) & QUIET_MASK) == QUIET_WORD && load<u16>(rp, R_RAW_LEVEL) == 0 && load<u32>(rp, R_NEXT) == <u32>NONE) {
      low = innerLow(load<f32>(rp, R_L0), load<f32>(rp, R_L1));
      high = innerHigh(load<f32>(rp, R_L2), load<f32>(rp, R_L3));
    }
  }
  store<f32>(sp, low, S_GATE_LOW);
  store<f32>(sp, high, S_GATE_HIGH);
}
