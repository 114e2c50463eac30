// Slots: one patient x metric, with its history ring, its list of rules and its quiet gate;
// the clinician reference sits in its own array (docs/kernel.md, "Memory layout").
import {
  H_HIST_CAP,
  H_HIST_COUNT,
  H_SLOT_CAP,
  H_SLOT_COUNT,
  KIND_MISSING,
  NONE,
  R_KIND,
  R_NEXT,
  R_T0,
  S_FIRST_RULE,
  S_FLAGS,
  S_GATE_HIGH,
  S_GATE_LOW,
  S_HIST_BASE,
  S_HIST_CAP,
  S_LAST_TIME,
  S_LAST_VALUE,
  SLOT_BYTES,
  SLOT_PAUSED,
} from "../layout";
import { hget, hset, refPtr, rulePtr, slotPtr, sync } from "../memory";

const NO: u32 = <u32>NONE;

/** Appends a slot with a history ring of histCap (0..255) entries; returns its index. */
export function addSlot(histCap: u32): u32 {
  sync();
  const id = hget(H_SLOT_COUNT);
  const used = hget(H_HIST_COUNT);
  if (id >= hget(H_SLOT_CAP) || histCap > 255 || <u64>used + histCap > <u64>hget(H_HIST_CAP)) return NO;
  const sp = slotPtr(id);
  memory.fill(sp, 0, SLOT_BYTES);
  store<f64>(sp, -Infinity, S_LAST_TIME);
  store<f32>(sp, Infinity, S_GATE_LOW); // closed: no rule yet
  store<f32>(sp, -Infinity, S_GATE_HIGH);
  store<f32>(sp, NaN, S_LAST_VALUE);
  store<u32>(sp, NO, S_FIRST_RULE);
  store<u32>(sp, used, S_HIST_BASE);
  store<u8>(sp, histCap, S_HIST_CAP);
  store<f32>(refPtr(id), NaN);
  hset(H_HIST_COUNT, used + histCap);
  hset(H_SLOT_COUNT, id + 1);
  return id;
}

/** Sets a slot's clinician reference (NaN = none). Returns 0, or -1 for a bad slot. */
export function setSlotRef(slot: u32, ref: f32): i32 {
  sync();
  if (slot >= hget(H_SLOT_COUNT)) return -1;
  store<f32>(refPtr(slot), ref);
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
