// evaluate(n, now, tzOffsetMs): the readings of the input columns, in order (docs/kernel.md,
// "Readings"). All bounds are checked once per batch; the loop itself trusts its indices.
import { classifyPlain, rank } from "./classify";
import {
  ERR_BAD_SLOT,
  ERR_BATCH_TOO_LARGE,
  ERR_OUT_FULL,
  H_BATCH_CAP,
  H_MAX_RULES_PER_SLOT,
  H_OFF_IN_SLOT,
  H_OFF_IN_TIME,
  H_OFF_IN_VALUE,
  H_OFF_TRIAGE,
  H_OUT_CAP,
  KIND_BAND,
  KIND_OFF,
  NONE,
  R_NEXT,
  RULE_K_NO_MARGIN,
  RULE_K_NO_PERSIST,
  S_FIRST_RULE,
  S_HIST_CAP,
  S_LAST_TIME,
  S_LAST_VALUE,
  TRIAGE_DUPLICATE,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_OUT_OF_ORDER,
} from "./layout";
import { gHistT, gHistV, gRules, gSlotCount, gSlots, hget, sync } from "./memory";
import { gOutCount, outBegin } from "./out";
import { stepDirect } from "./persistence";
import { append } from "./rules/window";
import { evalRule } from "./value";

// A band rule with both bits set: raw = plain classification, alert follows raw.
const FAST: u32 = (KIND_BAND as u32) | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);
const FAST_MASK: u32 = 0xff | ((RULE_K_NO_MARGIN | RULE_K_NO_PERSIST) << 24);

/** Largest slot index in the first n entries of the slot column (SIMD when built with it). */
function maxSlot(col: usize, n: u32): u32 {
  let m: u32 = 0;
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = i32x4.max_u(acc, v128.load(col + (<usize>i << 2)));
    m = max<u32>(
      max<u32>(<u32>i32x4.extract_lane(acc, 0), <u32>i32x4.extract_lane(acc, 1)),
      max<u32>(<u32>i32x4.extract_lane(acc, 2), <u32>i32x4.extract_lane(acc, 3)),
    );
  }
  for (; i < n; i++) m = max<u32>(m, load<u32>(col + (<usize>i << 2)));
  return m;
}

/**
 * Applies the first n readings of the input columns; writes triage[n] and transitions.
 * Returns the transition count, or ERR_BATCH_TOO_LARGE / ERR_BAD_SLOT / ERR_OUT_FULL with
 * nothing applied.
 */
export function evaluate(n: u32, now: f64, tz: f64): i32 {
  sync();
  if (n > hget(H_BATCH_CAP)) return ERR_BATCH_TOO_LARGE;
  const inSlot = <usize>hget(H_OFF_IN_SLOT);
  if (n > 0 && maxSlot(inSlot, n) >= gSlotCount) return ERR_BAD_SLOT;
  if (<u64>n * <u64>hget(H_MAX_RULES_PER_SLOT) * 2 > <u64>hget(H_OUT_CAP)) return ERR_OUT_FULL;
  outBegin();
  const inTime = <usize>hget(H_OFF_IN_TIME);
  const inValue = <usize>hget(H_OFF_IN_VALUE);
  const triage = <usize>hget(H_OFF_TRIAGE);
  const slots = gSlots;
  const rules = gRules;
  const histT = gHistT;
  const histV = gHistV;
  for (let i: u32 = 0; i < n; i++) {
    const sp = slots + (<usize>load<u32>(inSlot + (<usize>i << 2)) << 5);
    const t = load<f64>(inTime + (<usize>i << 3));
    const last = load<f64>(sp, S_LAST_TIME);
    if (t < last) {
      store<u8>(triage + <usize>i, TRIAGE_OUT_OF_ORDER);
      continue;
    }
    if (t == last) {
      store<u8>(triage + <usize>i, TRIAGE_DUPLICATE);
      continue;
    }
    const vf = load<f32>(inValue + (<usize>i << 2));
    const v = <f64>vf;
    store<f64>(sp, t, S_LAST_TIME);
    store<f32>(sp, vf, S_LAST_VALUE);
    let best: u32 = TRIAGE_NOT_TRIAGED;
    let bestRank: u32 = 0;
    let r = load<u32>(sp, S_FIRST_RULE);
    while (r != <u32>NONE) {
      const rp = rules + (<usize>r << 6);
      const hdr = load<u32>(rp);
      let code: u32 = 0;
      if ((hdr & FAST_MASK) == FAST) {
        code = classifyPlain(rp, v, v);
        stepDirect(rp, hdr, code, t, v, <i32>i);
        if (isNaN(v)) code = 0;
      } else if ((hdr & 0xff) != KIND_OFF) {
        code = evalRule(rp, hdr, sp, t, v, <i32>i, now, tz);
      }
      const rk = rank(code);
      if (rk > bestRank) {
        bestRank = rk;
        best = code;
      }
      r = load<u32>(rp, R_NEXT);
    }
    store<u8>(triage + <usize>i, <u8>best);
    const cap = <u32>load<u8>(sp, S_HIST_CAP);
    if (cap != 0) append(sp, histT, histV, cap, t, vf);
  }
  return <i32>gOutCount;
}
