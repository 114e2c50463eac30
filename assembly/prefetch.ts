// Software prefetch for evaluate(). wasm has no prefetch instruction, so these are plain loads
// whose values are folded into a checksum: run in tight loops a block or two ahead of the
// readings being applied, their cache and TLB misses overlap instead of queuing one by one
// behind each reading's work. A reading its slot's gate passes needs only the slot record; any
// other also needs the slot's rules (a second, dependent access), so that is a second stage.
import { NONE, S_FIRST_RULE, S_FLAGS, S_HIST_BASE, S_HIST_CAP, SLOT_RULES_SHIFT } from "./layout";
import { passes } from "./quiet";

/** Prefetch block: readings per stage. */
export const PF: u32 = 128;
// Keeps the touch loads observable so no optimizer drops them.
let gSink: u32 = 0;

/** Records a checksum of touched words (never read: it only keeps the loads alive). */
export function sinkStore(x: u32): void {
  gSink ^= x;
}

// The readings of the next block whose value misses their slot's gate (indices into the batch).
const LIST: usize = memory.data(<i32>(PF * 4), 16);
let gListCount: u32 = 0;

/**
 * Lists the readings in [from, to) whose value misses their slot's gate (their slot records are
 * already loaded): they will need their rules. Branch-free, as nearly all pass.
 */
export function listMisses(inSlot: usize, inValue: usize, slots: usize, from: u32, to: u32): void {
  let c: u32 = 0;
  for (let j = from; j < to; j++) {
    const sp = slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5);
    store<u32>(LIST + (<usize>c << 2), j);
    c += <u32>!passes(sp, load<f32>(inValue + (<usize>j << 2)));
  }
  gListCount = c;
}

// @ts-ignore: decorator
@inline
function firstRuleOf(inSlot: usize, slots: usize, j: u32): u32 {
  return load<u32>(slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5), S_FIRST_RULE);
}

/**
 * Loads the slot records of readings [from, to) and, interleaved so that all the misses
 * overlap, the first rule of each listed reading. Returns a checksum.
 */
export function touchAhead(inSlot: usize, slots: usize, rules: usize, from: u32, to: u32): u32 {
  let x: u32 = 0;
  const count = gListCount;
  let k: u32 = 0;
  for (let j = from; j < to; j++, k++) {
    x ^= firstRuleOf(inSlot, slots, j);
    if (k < count) {
      const fr = firstRuleOf(inSlot, slots, load<u32>(LIST + (<usize>k << 2)));
      x ^= load<u32>(rules + (<usize>select<u32>(fr, 0, fr != <u32>NONE) << 6));
    }
  }
  for (; k < count; k++) {
    const fr = firstRuleOf(inSlot, slots, load<u32>(LIST + (<usize>k << 2)));
    x ^= load<u32>(rules + (<usize>select<u32>(fr, 0, fr != <u32>NONE) << 6));
  }
  return x;
}

/**
 * For the listed readings (only when some slot has several rules or history): further rules,
 * guessed to follow the first one (a slot's rules are usually added together; a wrong guess
 * only wastes a load), and both ends of the history ring.
 */
export function touchMore(inSlot: usize, slots: usize, rules: usize, histT: usize, histV: usize): u32 {
  let x: u32 = 0;
  const count = gListCount;
  for (let k: u32 = 0; k < count; k++) {
    const sp = slots + (<usize>load<u32>(inSlot + (<usize>load<u32>(LIST + (<usize>k << 2)) << 2)) << 5);
    const fr = load<u32>(sp, S_FIRST_RULE);
    const rc = min<u32>(<u32>load<u8>(sp, S_FLAGS) >> SLOT_RULES_SHIFT, 4);
    for (let r: u32 = 1; r < rc; r++) x ^= load<u32>(rules + (<usize>(fr + r) << 6));
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
