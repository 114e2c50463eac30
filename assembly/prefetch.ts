// Software prefetch for evaluate(). wasm has no prefetch instruction, so these are plain loads
// whose values are folded into a checksum: run in tight loops a block or two ahead of the
// readings being applied, their cache and TLB misses overlap instead of queuing one by one
// behind each reading's work. A reading its slot's gate passes needs only the slot record; any
// other also needs the slot's rules (a second, dependent access), so that is a second stage.
import { NONE, S_FIRST_RULE, S_FLAGS, S_HIST_BASE, S_HIST_CAP, SLOT_RULES_SHIFT } from "./layout";
import { passes } from "./quiet";

/** Prefetch block: readings per stage. */
export const PF: u32 = 256;
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
  let j = from;
  for (; j + 2 <= to; j += 2) {
    const sp0 = slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5);
    const sp1 = slots + (<usize>load<u32>(inSlot + (<usize>j << 2), 4) << 5);
    const miss0 = <u32>!passes(sp0, load<f32>(inValue + (<usize>j << 2)));
    const miss1 = <u32>!passes(sp1, load<f32>(inValue + (<usize>j << 2), 4));
    store<u32>(LIST + (<usize>c << 2), j);
    c += miss0;
    store<u32>(LIST + (<usize>c << 2), j + 1);
    c += miss1;
  }
  if (j < to) {
    store<u32>(LIST + (<usize>c << 2), j);
    c += <u32>!passes(slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5), load<f32>(inValue + (<usize>j << 2)));
  }
  gListCount = c;
}

// @ts-ignore: decorator
@inline
function firstRuleOf(inSlot: usize, slots: usize, j: u32): u32 {
  return load<u32>(slots + (<usize>load<u32>(inSlot + (<usize>j << 2)) << 5), S_FIRST_RULE);
}

/**
 * Loads the first rule of each listed reading, then the slot records of readings [from, to),
 * four per step: a light loop, so that many of its misses are in flight at once (the rule
 * loads go first and overlap with them). Returns a checksum.
 */
export function touchAhead(inSlot: usize, slots: usize, rules: usize, from: u32, to: u32): u32 {
  let x: u32 = 0;
  const count = gListCount;
  for (let k: u32 = 0; k < count; k++) {
    const fr = firstRuleOf(inSlot, slots, load<u32>(LIST + (<usize>k << 2)));
    x ^= load<u32>(rules + (<usize>select<u32>(fr, 0, fr != <u32>NONE) << 6));
  }
  let j = from;
  for (; j + 4 <= to; j += 4) {
    const p = inSlot + (<usize>j << 2);
    x ^= load<u32>(slots + (<usize>load<u32>(p) << 5), S_FIRST_RULE);
    x ^= load<u32>(slots + (<usize>load<u32>(p, 4) << 5), S_FIRST_RULE);
    x ^= load<u32>(slots + (<usize>load<u32>(p, 8) << 5), S_FIRST_RULE);
    x ^= load<u32>(slots + (<usize>load<u32>(p, 12) << 5), S_FIRST_RULE);
  }
  for (; j < to; j++) x ^= firstRuleOf(inSlot, slots, j);
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
