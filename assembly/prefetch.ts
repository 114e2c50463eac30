// Software prefetch for evaluate(). wasm has no prefetch instruction, so these are plain loads
// whose values are folded into a checksum: run in tight loops a block or two ahead of the
// readings being applied, their cache and TLB misses overlap instead of queuing one by one
// behind each reading's work (a slot record, then its rule: two dependent random accesses).
import { NONE, S_FIRST_RULE, S_HIST_BASE, S_HIST_CAP, S_RULE_COUNT } from "./layout";

/** Prefetch block: readings per stage. */
export const PF: u32 = 32;
// Keeps the touch loads observable so no optimizer drops them.
let gSink: u32 = 0;

/** Records a checksum of touched words (never read: it only keeps the loads alive). */
export function sinkStore(x: u32): void {
  gSink ^= x;
}

/** Stage 1: loads the slot records of readings [from, to); returns a checksum. */
export function touchSlots(inSlot: usize, slots: usize, from: u32, to: u32): u32 {
  let x: u32 = 0;
  for (let j = from; j < to; j++) x ^= load<u32>(slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5), S_FIRST_RULE);
  return x;
}

/** Stage 2: loads the first rule of readings [from, to) (their slots were loaded in stage 1). */
export function touchRules(inSlot: usize, slots: usize, rules: usize, from: u32, to: u32): u32 {
  let x: u32 = 0;
  for (let j = from; j < to; j++) {
    const fr = load<u32>(slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5), S_FIRST_RULE);
    x ^= load<u32>(rules + (<usize>select<u32>(fr, 0, fr != <u32>NONE) << 6));
  }
  return x;
}

/**
 * Stage 3 (only when some slot has several rules or history): loads further rules, guessed to
 * follow the first one (a slot's rules are usually added together; a wrong guess only wastes a
 * load), and both ends of the history ring.
 */
export function touchMore(inSlot: usize, slots: usize, rules: usize, histT: usize, histV: usize, from: u32, to: u32): u32 {
  let x: u32 = 0;
  for (let j = from; j < to; j++) {
    const sp = slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5);
    const count = min<u32>(load<u16>(sp, S_RULE_COUNT), 4);
    const fr = load<u32>(sp, S_FIRST_RULE);
    for (let k: u32 = 1; k < count; k++) x ^= load<u32>(rules + (<usize>(fr + k) << 6));
    const cap = <u32>load<u8>(sp, S_HIST_CAP);
    if (cap != 0) {
      const first = <usize>load<u32>(sp, S_HIST_BASE);
      const last = first + <usize>cap - 1;
      x ^= load<u32>(histT + (first << 3)) ^ load<u32>(histT + (last << 3));
      x ^= load<u32>(histV + (first << 2)) ^ load<u32>(histV + (last << 2));
    }
  }
  return x;
}
