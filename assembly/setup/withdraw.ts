// Withdrawing a reading (docs/kernel.md, "Withdrawing a reading"): the host takes a slot's latest
// reading back out (FHIR entered-in-error, DELETE /v1/measurements/{id}) and resets the rules
// whose alert that reading alone raised. Only the latest reading can be taken back exactly: a
// later reading has already been judged with it in the history.
import {
  DIR_NONE,
  H_RULE_COUNT,
  H_SLOT_COUNT,
  I_HIST_CAP,
  I_HIST_HEAD,
  I_HIST_LEN,
  R_DIR,
  R_LEVEL,
  R_RAW_DIR,
  R_RAW_LEVEL,
  R_SLOT,
  S_LAST_TIME,
  S_LAST_VALUE,
} from "../layout";
import { gHistT, gHistV, hget, infoPtr, rulePtr, slotPtr, sync } from "../memory";
import { refreshGate } from "../quiet";
import { entry } from "../rules/window";
import { clearPersistence } from "./rules";

/**
 * Takes slot s's latest reading (time t) back: its history entry is dropped and the slot's last
 * time and value return to the reading before it. When the ring cannot tell (no ring, or a full
 * one-entry ring), the last time becomes the largest time below t and the value NaN: a corrected
 * resend at t is in order, an older reading stays out of order. Returns 1 when taken back, 0 when
 * t is not the slot's latest reading, -1 for a bad slot.
 */
export function retractLast(s: u32, t: f64): i32 {
  sync();
  if (s >= hget(H_SLOT_COUNT)) return -1;
  const sp = slotPtr(s);
  if (load<f64>(sp, S_LAST_TIME) != t) return 0;
  const cp = infoPtr(s);
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const len = <u32>load<u8>(cp, I_HIST_LEN);
  let lastTime: f64 = t > 0 ? reinterpret<f64>(reinterpret<u64>(t) - 1) : -Infinity;
  let lastValue: f32 = NaN;
  if (cap != 0 && len != 0) {
    const head = <u32>load<u8>(cp, I_HIST_HEAD);
    const newest = head == 0 ? cap - 1 : head - 1;
    store<u8>(cp, <u8>newest, I_HIST_HEAD);
    store<u8>(cp, <u8>(len - 1), I_HIST_LEN);
    if (len > 1) {
      const e = entry(cp, newest == 0 ? cap - 1 : newest - 1);
      lastTime = load<f64>(gHistT + (e << 3));
      lastValue = load<f32>(gHistV + (e << 2));
    } else if (len < cap) {
      lastTime = -Infinity; // the ring never dropped an entry: there was no reading before
    }
  }
  store<f64>(sp, lastTime, S_LAST_TIME);
  store<f32>(sp, lastValue, S_LAST_VALUE);
  return 1;
}

/** Puts a rule back to no alert with empty timers and N-of-M masks (a missing rule keeps its anchor). Returns 0, or -1 for a bad rule. */
export function resetRule(rule: u32): i32 {
  sync();
  if (rule >= hget(H_RULE_COUNT)) return -1;
  const rp = rulePtr(rule);
  store<u8>(rp, 0, R_LEVEL);
  store<u8>(rp, DIR_NONE, R_DIR);
  store<u8>(rp, 0, R_RAW_LEVEL);
  store<u8>(rp, DIR_NONE, R_RAW_DIR);
  clearPersistence(rp);
  refreshGate(load<u32>(rp, R_SLOT));
  return 0;
}
