// tick(now, tzOffsetMs): the clock (docs/kernel.md, "Clock"). Missing rules move to their level
// at now; value and score rules with for/keep settle. Transitions: x NaN, reading -1.
import {
  ERR_OUT_FULL,
  H_OUT_CAP,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_RATE,
  KIND_SCORE,
  P_M,
  R_T0,
  R_T1,
  R_T2,
  RULE_K_TICK,
} from "./layout";
import { gRuleCount, gRules, hget, sync } from "./memory";
import { gOutCount, outBegin } from "./out";
import { paramOf, settle } from "./persistence";
import { intervalAtRest, moveMissing } from "./rules/missing";

// Kinds settled by the clock, as a bit set.
const TIMED_KINDS: u32 = (1 << KIND_BAND) | (1 << KIND_BASELINE) | (1 << KIND_DELTA) | (1 << KIND_RATE) | (1 << KIND_SCORE);

/**
 * A rule settle() would leave as it is: no alert (level 0, dir none), no run of raw >= yellow or
 * red, no keep-firing timer, and no N of M (M 0). Its target is then 0 with dir none, the alert
 * it holds: settle() would write nothing. Most timed rules at most ticks (a CGM high held 15
 * minutes: in range most of the time).
 */
// @ts-ignore: decorator
@inline
function idle(rp: usize, hdr: u32): bool {
  return (hdr & 0xffff00) == 0 && isNaN(load<f64>(rp, R_T0)) && isNaN(load<f64>(rp, R_T1)) && isNaN(load<f64>(rp, R_T2)) && load<u8>(paramOf(rp), P_M) == 0;
}

/** Runs the clock over every rule in id order; returns the transition count or ERR_OUT_FULL. */
export function tick(now: f64, tz: f64): i32 {
  sync();
  if (<u64>gRuleCount * 2 > <u64>hget(H_OUT_CAP)) return ERR_OUT_FULL;
  outBegin();
  tickRules(0, gRuleCount, now, tz);
  return <i32>gOutCount;
}

/** The clock over rules [from, to) in id order (tick(), and a replay block's run: replay.ts). */
// @ts-ignore: decorator
@inline
export function tickRules(from: u32, to: u32, now: f64, tz: f64): void {
  const rules = gRules;
  for (let r: u32 = from; r < to; r++) {
    const rp = rules + (<usize>r << 6);
    const hdr = load<u32>(rp);
    const kind = hdr & 0xff;
    if (kind == KIND_MISSING) {
      if (!intervalAtRest(rp, hdr, now)) moveMissing(rp, now, tz, -1);
    }
    else if ((hdr >> 24) & RULE_K_TICK && kind < 8 && ((TIMED_KINDS >> kind) & 1) != 0 && !idle(rp, hdr)) settle(rp, now, NaN, -1, 0);
  }
}
