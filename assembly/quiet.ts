// The quiet gate (docs/kernel.md, "The quiet gate"). A slot is quiet when it has no history
// ring and its only rule is a band rule whose alert simply follows the plain classification
// (margin 0, no for / keep-firing / N of M), holding no alert and with raw 0 last. A reading
// whose value is plain N then changes nothing but lastTime/lastValue, so evaluate() answers it
// from the 16-byte hot record alone. The gate is two bfloat16 numbers, the inner limits rounded
// inward: a value inside them is certainly inside every present limit; any other value (or
// NaN) takes the general path, which classifies exactly. A slot that is not quiet has a closed
// gate (low +Infinity, high -Infinity) that no value passes.
import {
  GATE_CLOSED,
  I_FIRST_RULE,
  I_HIST_CAP,
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
  S_GATE,
} from "./layout";
import { infoPtr, rulePtr, slotPtr } from "./memory";

// First word of a plain band rule: kind BAND with both derived flags (raw = plain classification,
// the alert follows raw); the mask ignores level, dir and the host flags.
export const PLAIN_BAND: u32 = (KIND_BAND as u32) | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);
export const PLAIN_BAND_MASK: u32 = 0xff | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);
// A quiet one also has level 0 and dir NONE (host flags still ignored).
const QUIET_MASK: u32 = PLAIN_BAND_MASK | 0x00ffff00;
const BF16_NEG_INF: u32 = 0xff80;
const BF16_POS_INF: u32 = 0x7f80;

/** Does value v pass a gate (bfloat16 low limit in the low half, high in the high half)? NaN never does. */
// @ts-ignore: decorator
@inline
export function passes(gate: u32, v: f32): bool {
  return (v >= reinterpret<f32>(gate << 16)) & (v <= reinterpret<f32>(gate & 0xffff0000));
}

/** The smallest bfloat16 >= x (its bits); NaN (no limit) gives -Infinity. */
function bf16Up(x: f32): u32 {
  if (isNaN(x)) return BF16_NEG_INF;
  const b = reinterpret<u32>(x);
  const t = b >> 16;
  // Dropping the low bits moves a positive number down and a negative one up.
  return (b & 0xffff) == 0 || x < 0 ? t : t + 1;
}

/** The largest bfloat16 <= x (its bits); NaN (no limit) gives +Infinity. */
function bf16Down(x: f32): u32 {
  if (isNaN(x)) return BF16_POS_INF;
  const b = reinterpret<u32>(x);
  const t = b >> 16;
  return (b & 0xffff) == 0 || x > 0 ? t : t + 1;
}

/** The larger of two limits, ignoring an absent (NaN) one. */
// @ts-ignore: decorator
@inline
function innerLow(a: f32, b: f32): f32 {
  return isNaN(a) ? b : isNaN(b) ? a : max<f32>(a, b);
}

/** The smaller of two limits, ignoring an absent (NaN) one. */
// @ts-ignore: decorator
@inline
function innerHigh(a: f32, b: f32): f32 {
  return isNaN(a) ? b : isNaN(b) ? a : min<f32>(a, b);
}

/**
 * Recomputes slot s's gate from its rules (call after anything that may change them or their
 * alert state). A value v is plain N against l0..l3 exactly when v >= max(l0, l1) and
 * v <= min(l2, l3), over the limits present; the gate holds those two, rounded inward.
 */
export function refreshGate(s: u32): void {
  const cp = infoPtr(s);
  const r = load<u32>(cp, I_FIRST_RULE);
  let gate = <u32>GATE_CLOSED;
  if (r != <u32>NONE && load<u8>(cp, I_HIST_CAP) == 0) {
    const rp = rulePtr(r);
    if ((load<u32>(rp) & QUIET_MASK) == PLAIN_BAND && load<u16>(rp, R_RAW_LEVEL) == 0 && load<u32>(rp, R_NEXT) == <u32>NONE) {
      const low = bf16Up(innerLow(load<f32>(rp, R_L0), load<f32>(rp, R_L1)));
      const high = bf16Down(innerHigh(load<f32>(rp, R_L2), load<f32>(rp, R_L3)));
      gate = low | (high << 16);
    }
  }
  store<u32>(slotPtr(s), gate, S_GATE);
}
