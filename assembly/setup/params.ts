// Param sets: appended once, shared by many rules, never changed (docs/kernel.md, params).
import {
  H_PARAM_CAP,
  H_PARAM_COUNT,
  NONE,
  P_DEADLINE_MS,
  P_ENROLMENT_DAY,
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
  RULE_K_NO_MARGIN,
  RULE_K_NO_PERSIST,
  RULE_K_TICK,
} from "../layout";
import { gParams, hget, hset, sync } from "../memory";

const NO: u32 = <u32>NONE;

/** Kernel flag bits derived from a param set (see RULE_K_* in layout.ts). */
export function derivedFlags(param: u32): u32 {
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
  enrolmentDay: u32,
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
  store<u8>(pp, enrolmentDay, P_ENROLMENT_DAY);
  hset(H_PARAM_COUNT, id + 1);
  return id;
}
