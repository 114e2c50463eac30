// Slots: one patient x metric, a hot record (time, value, quiet gate) and a cold one (rules,
// history ring, reference, flags); see docs/kernel.md, "Memory layout".
import {
  GATE_CLOSED,
  H_HIST_CAP,
  H_HIST_COUNT,
  H_SLOT_CAP,
  H_SLOT_COUNT,
  I_FIRST_RULE,
  I_FLAGS,
  I_HIST_BASE,
  I_HIST_CAP,
  I_REF,
  KIND_MISSING,
  NONE,
  R_KIND,
  R_NEXT,
  R_T0,
  S_GATE,
  S_LAST_TIME,
  S_LAST_VALUE,
  SLOT_INFO_BYTES,
  SLOT_PAUSED,
} from "../layout";
import { hget, hset, infoPtr, rulePtr, slotPtr, sync } from "../memory";

const NO: u32 = <u32>NONE;

/** Appends a slot with a history ring of histCap (0..255) entries; returns its index. */
export function addSlot(histCap: u32): u32 {
  sync();
  const id = hget(H_SLOT_COUNT);
  const used = hget(H_HIST_COUNT);
  if (id >= hget(H_SLOT_CAP) || histCap > 255 || <u64>used + histCap > <u64>hget(H_HIST_CAP)) return NO;
  const sp = slotPtr(id);
  store<f64>(sp, -Infinity, S_LAST_TIME);
  store<f32>(sp, NaN, S_LAST_VALUE);
  store<u32>(sp, <u32>GATE_CLOSED, S_GATE); // no rule yet
  const cp = infoPtr(id);
  memory.fill(cp, 0, SLOT_INFO_BYTES);
  store<u32>(cp, NO, I_FIRST_RULE);
  store<u32>(cp, used, I_HIST_BASE);
  store<f32>(cp, NaN, I_REF);
  store<u8>(cp, histCap, I_HIST_CAP);
  hset(H_HIST_COUNT, used + histCap);
  hset(H_SLOT_COUNT, id + 1);
  return id;
}

/** Sets a slot's clinician reference (NaN = none). Returns 0, or -1 for a bad slot. */
export function setSlotRef(slot: u32, ref: f32): i32 {
  sync();
  if (slot >= hget(H_SLOT_COUNT)) return -1;
  store<f32>(infoPtr(slot), ref, I_REF);
  return 0;
}

/** Pauses or unpauses a slot; unpausing a paused slot re-arms its missing rules at now. */
export function setSlotPaused(slot: u32, paused: bool, now: f64): i32 {
  sync();
  if (slot >= hget(H_SLOT_COUNT)) return -1;
  const cp = infoPtr(slot);
  const flags = <u32>load<u8>(cp, I_FLAGS);
  const was = (flags & SLOT_PAUSED) != 0;
  store<u8>(cp, paused ? flags | SLOT_PAUSED : flags & ~SLOT_PAUSED, I_FLAGS);
  if (was && !paused) {
    for (let r = load<u32>(cp, I_FIRST_RULE); r != NO; r = load<u32>(rulePtr(r), R_NEXT)) {
      if (load<u8>(rulePtr(r), R_KIND) == KIND_MISSING) store<f64>(rulePtr(r), now, R_T0);
    }
  }
  return 0;
}
