// Building the state: param sets, slots, rules, score inputs and their reconfiguration.
// Each returns the new index, or NONE (0xffffffff) when capacity or an argument is wrong; the
// host reserves capacity first, so NONE means a host bug.
import {
  H_HIST_CAP,
  H_HIST_COUNT,
  H_MAX_RULES_PER_SLOT,
  H_PARAM_CAP,
  H_PARAM_COUNT,
  H_RULE_CAP,
  H_RULE_COUNT,
  H_SCORE_CAP,
  H_SCORE_COUNT,
  H_SLOT_CAP,
  H_SLOT_COUNT,
  KIND_MISSING,
  KIND_OFF,
  KIND_SCORE_LINK,
  NONE,
  P_DEADLINE_MS,
  P_EVERY_N_DAYS,
  P_FOR_MS,
  P_GRACE_MS,
  P_HORIZON_MS,
  P_KEEP_MS,
  P_M,
  P_MARGIN,
  P_MIN_COUNT,
  P_MODE,
  P_N,
  P_WEEKDAYS,
  P_WINDOW_MS,
  PARAM_BYTES,
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
  RULE_K_NO_MARGIN,
  RULE_K_NO_PERSIST,
  RULE_K_TICK,
  S_FIRST_RULE,
  S_FLAGS,
  S_HIST_BASE,
  S_HIST_CAP,
  S_LAST_TIME,
  S_LAST_VALUE,
  S_REF,
  S_RULE_COUNT,
  SCORE_BYTES,
  SLOT_BYTES,
  SLOT_PAUSED,
} from "./layout";
import { gParams, gRules, gScores, gSlots, hget, hset, sync } from "./memory";

const NO: u32 = <u32>NONE;

// @ts-ignore: decorator
@inline
function slotPtr(s: u32): usize {
  return gSlots + (<usize>s << 5);
}

// @ts-ignore: decorator
@inline
function rulePtr(r: u32): usize {
  return gRules + (<usize>r << 6);
}

/** Kernel flag bits derived from a param set (see RULE_K_* in layout.ts). */
function derivedFlags(param: u32): u32 {
  const pp = gParams + (<usize>param << 6);
  const forMs = load<f64>(pp, P_FOR_MS);
  const keepMs = load<f64>(pp, P_KEEP_MS);
  let f: u32 = 0;
  if (load<f32>(pp, P_MARGIN) == 0) f |= RULE_K_NO_MARGIN;
  if (forMs == 0 && keepMs == 0 && load<u8>(pp, P_M) == 0) f |= RULE_K_NO_PERSIST;
  if (forMs > 0 || keepMs > 0) f |= RULE_K_TICK;
  return f;
}

/** Appends a param set; returns its index. */
export function addParamSet(
  forMs: f64, keepMs: f64, windowMs: f64, horizonMs: f64, deadlineMs: f64, graceMs: f64,
  margin: f32, n: u32, m: u32, mode: u32, minCount: u32, weekdays: u32, everyNDays: u32,
): u32 {
  sync();
  const id = hget(H_PARAM_COUNT);
  if (id >= hget(H_PARAM_CAP) || id > 0xffff) return NO;
  const pp = gParams + (<usize>id << 6);
  memory.fill(pp, 0, PARAM_BYTES);
  store<f64>(pp, forMs, P_FOR_MS);
  store<f64>(pp, keepMs, P_KEEP_MS);
  store<f64>(pp, windowMs, P_WINDOW_MS);
  store<f64>(pp, horizonMs, P_HORIZON_MS);
  store<f64>(pp, deadlineMs, P_DEADLINE_MS);
  store<f64>(pp, graceMs, P_GRACE_MS);
  store<f32>(pp, margin, P_MARGIN);
  store<u8>(pp, n, P_N);
  store<u8>(pp, m, P_M);
  store<u8>(pp, mode, P_MODE);
  store<u8>(pp, minCount, P_MIN_COUNT);
  store<u8>(pp, weekdays, P_WEEKDAYS);
  store<u8>(pp, everyNDays, P_EVERY_N_DAYS);
  hset(H_PARAM_COUNT, id + 1);
  return id;
}

/** Appends a slot with a history ring of histCap (0..255) entries; returns its index. */
export function addSlot(histCap: u32): u32 {
  sync();
  const id = hget(H_SLOT_COUNT);
  const used = hget(H_HIST_COUNT);
  if (id >= hget(H_SLOT_CAP) || histCap > 255 || <u64>used + histCap > <u64>hget(H_HIST_CAP)) return NO;
  const sp = slotPtr(id);
  memory.fill(sp, 0, SLOT_BYTES);
  store<f64>(sp, -Infinity, S_LAST_TIME);
  store<f32>(sp, NaN, S_LAST_VALUE);
  store<f32>(sp, NaN, S_REF);
  store<u32>(sp, NO, S_FIRST_RULE);
  store<u32>(sp, used, S_HIST_BASE);
  store<u8>(sp, histCap, S_HIST_CAP);
  hset(H_HIST_COUNT, used + histCap);
  hset(H_SLOT_COUNT, id + 1);
  return id;
}

/** Sets a slot's clinician reference (NaN = none). Returns 0, or -1 for a bad slot. */
export function setSlotRef(slot: u32, ref: f32): i32 {
  sync();
  if (slot >= hget(H_SLOT_COUNT)) return -1;
  store<f32>(slotPtr(slot), ref, S_REF);
  return 0;
}

/** Pauses or unpauses a slot; unpausing a paused slot re-arms its missing rules at now. */
export function setSlotPaused(slot: u32, paused: bool, now: f64): i32 {
  sync();
  if (slot >= hget(H_SLOT_COUNT)) return -1;
  const sp = slotPtr(slot);
  const flags = <u32>load<u8>(sp, S_FLAGS);
  const was = (flags & SLOT_PAUSED) != 0;
  store<u8>(sp, paused ? flags | SLOT_PAUSED : flags & ~SLOT_PAUSED, S_FLAGS);
  if (was && !paused) {
    for (let r = load<u32>(sp, S_FIRST_RULE); r != NO; r = load<u32>(rulePtr(r), R_NEXT)) {
      if (load<u8>(rulePtr(r), R_KIND) == KIND_MISSING) store<f64>(rulePtr(r), now, R_T0);
    }
  }
  return 0;
}

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
  const sp = slotPtr(slot);
  let r = load<u32>(sp, S_FIRST_RULE);
  if (r == NO) store<u32>(sp, id, S_FIRST_RULE);
  else {
    while (load<u32>(rulePtr(r), R_NEXT) != NO) r = load<u32>(rulePtr(r), R_NEXT);
    store<u32>(rulePtr(r), id, R_NEXT);
  }
  const count = <u32>load<u16>(sp, S_RULE_COUNT) + 1;
  store<u16>(sp, <u16>count, S_RULE_COUNT);
  if (count > hget(H_MAX_RULES_PER_SLOT)) hset(H_MAX_RULES_PER_SLOT, count);
  hset(H_RULE_COUNT, id + 1);
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
  return 0;
}

/** Replaces a rule's param set; resets timers (not a missing rule's anchor) and masks, keeps level and raw. */
export function setRuleParam(rule: u32, param: u32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT) || param >= hget(H_PARAM_COUNT)) return -1;
  const rp = rulePtr(rule);
  store<u16>(rp, param, R_PARAM);
  store<u8>(rp, (load<u8>(rp, R_FLAGS) & RULE_HOST_FLAGS) | derivedFlags(param), R_FLAGS);
  store<u16>(rp, 0, R_MASK_Y);
  store<u16>(rp, 0, R_MASK_R);
  if (load<u8>(rp, R_KIND) != KIND_MISSING) store<f64>(rp, NaN, R_T0);
  store<f64>(rp, NaN, R_T1);
  store<f64>(rp, NaN, R_T2);
  return 0;
}

/** Stops evaluating a rule (kind OFF); it stays in its slot's list with its alert state. */
export function disableRule(rule: u32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT)) return -1;
  store<u8>(rulePtr(rule), KIND_OFF, R_KIND);
  return 0;
}
