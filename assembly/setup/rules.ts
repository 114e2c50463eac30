// Rules and score inputs: appended to their slot's list, then reconfigured in place.
// Each add returns the new index, or NONE (0xffffffff) when capacity or an argument is wrong; the
// host reserves capacity first, so NONE means a host bug.
import {
  H_MAX_RULES_PER_SLOT,
  H_PARAM_COUNT,
  H_RULE_CAP,
  H_RULE_COUNT,
  H_SCORE_CAP,
  H_SCORE_COUNT,
  H_SLOT_COUNT,
  KIND_MISSING,
  KIND_OFF,
  KIND_SCORE_LINK,
  NONE,
  R_AUX,
  R_FLAGS,
  R_KIND,
  R_L0,
  R_L1,
  R_L2,
  R_L3,
  R_MASK_R,
  R_MASK_Y,
  R_NEXT,
  R_PARAM,
  R_SLOT,
  R_T0,
  R_T1,
  R_T2,
  RULE_BYTES,
  RULE_HOST_FLAGS,
  I_FIRST_RULE,
  I_FLAGS,
  SLOT_RULES_SHIFT,
  SCORE_BYTES,
} from "../layout";
import { gScores, hget, hset, infoPtr, rulePtr, sync } from "../memory";
import { refreshGate } from "../quiet";
import { derivedFlags } from "./params";

const NO: u32 = <u32>NONE;

/** Appends a score-inputs record (slot ids, NONE when absent); returns its index. */
export function addScoreInputs(s0: u32, s1: u32, s2: u32, s3: u32, s4: u32, s5: u32): u32 {
  sync();
  const id = hget(H_SCORE_COUNT);
  if (id >= hget(H_SCORE_CAP)) return NO;
  const p = gScores + (<usize>id << 5);
  memory.fill(p, 0xff, SCORE_BYTES);
  store<u32>(p, s0, 0);
  store<u32>(p, s1, 4);
  store<u32>(p, s2, 8);
  store<u32>(p, s3, 12);
  store<u32>(p, s4, 16);
  store<u32>(p, s5, 20);
  hset(H_SCORE_COUNT, id + 1);
  return id;
}

/**
 * Appends a rule at the end of its slot's list: level 0, masks 0, timers NaN (missing: t0 =
 * anchor). aux: score rule -> score-inputs index, score link -> score rule id.
 */
export function addRule(kind: u32, slot: u32, param: u32, flags: u32, l0: f32, l1: f32, l2: f32, l3: f32, aux: u32, anchor: f64): u32 {
  sync();
  const id = hget(H_RULE_COUNT);
  if (id >= hget(H_RULE_CAP) || slot >= hget(H_SLOT_COUNT) || param >= hget(H_PARAM_COUNT) || kind > <u32>KIND_SCORE_LINK) return NO;
  const rp = rulePtr(id);
  memory.fill(rp, 0, RULE_BYTES);
  store<u8>(rp, kind, R_KIND);
  store<u8>(rp, (flags & RULE_HOST_FLAGS) | derivedFlags(param), R_FLAGS);
  store<u16>(rp, param, R_PARAM);
  store<u32>(rp, slot, R_SLOT);
  store<f32>(rp, l0, R_L0);
  store<f32>(rp, l1, R_L1);
  store<f32>(rp, l2, R_L2);
  store<f32>(rp, l3, R_L3);
  store<f64>(rp, kind == KIND_MISSING ? anchor : NaN, R_T0);
  store<f64>(rp, NaN, R_T1);
  store<f64>(rp, NaN, R_T2);
  store<u32>(rp, NO, R_NEXT);
  store<u32>(rp, aux, R_AUX);
  // Link at the end of the slot's list (insertion order is evaluation order).
  const cp = infoPtr(slot);
  let r = load<u32>(cp, I_FIRST_RULE);
  let count: u32 = 1;
  if (r == NO) store<u32>(cp, id, I_FIRST_RULE);
  else {
    count++;
    while (load<u32>(rulePtr(r), R_NEXT) != NO) {
      r = load<u32>(rulePtr(r), R_NEXT);
      count++;
    }
    store<u32>(rulePtr(r), id, R_NEXT);
  }
  const slotFlags = (<u32>load<u8>(cp, I_FLAGS) & ((1 << SLOT_RULES_SHIFT) - 1)) | (min<u32>(count, 15) << SLOT_RULES_SHIFT);
  store<u8>(cp, <u8>slotFlags, I_FLAGS);
  if (count > hget(H_MAX_RULES_PER_SLOT)) hset(H_MAX_RULES_PER_SLOT, count);
  hset(H_RULE_COUNT, id + 1);
  refreshGate(slot);
  return id;
}

/** Replaces a rule's four limits. Returns 0, or -1 for a bad rule. */
export function setRuleLimits(rule: u32, l0: f32, l1: f32, l2: f32, l3: f32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT)) return -1;
  const rp = rulePtr(rule);
  store<f32>(rp, l0, R_L0);
  store<f32>(rp, l1, R_L1);
  store<f32>(rp, l2, R_L2);
  store<f32>(rp, l3, R_L3);
  refreshGate(load<u32>(rp, R_SLOT));
  return 0;
}

/** Replaces a rule's param set; resets timers (not a missing rule's anchor) and masks, keeps level and raw. */
export function setRuleParam(rule: u32, param: u32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT) || param >= hget(H_PARAM_COUNT)) return -1;
  const rp = rulePtr(rule);
  store<u16>(rp, param, R_PARAM);
  store<u8>(rp, (load<u8>(rp, R_FLAGS) & RULE_HOST_FLAGS) | derivedFlags(param), R_FLAGS);
  clearPersistence(rp);
  refreshGate(load<u32>(rp, R_SLOT));
  return 0;
}

/** Empties a rule's N-of-M masks and timers (not a missing rule's anchor). */
export function clearPersistence(rp: usize): void {
  store<u16>(rp, 0, R_MASK_Y);
  store<u16>(rp, 0, R_MASK_R);
  if (load<u8>(rp, R_KIND) != KIND_MISSING) store<f64>(rp, NaN, R_T0);
  store<f64>(rp, NaN, R_T1);
  store<f64>(rp, NaN, R_T2);
}

/** Stops evaluating a rule (kind OFF); it stays in its slot's list with its alert state. */
export function disableRule(rule: u32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT)) return -1;
  const rp = rulePtr(rule);
  store<u8>(rp, KIND_OFF, R_KIND);
  refreshGate(load<u32>(rp, R_SLOT));
  return 0;
}
