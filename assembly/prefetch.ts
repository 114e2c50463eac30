// Software prefetch for evaluate(). wasm has no prefetch instruction, so these are plain loads
// whose values are folded into a checksum: run in light loops a few blocks ahead of the
// readings being applied, their cache and TLB misses overlap instead of queuing one by one
// behind each reading's work. A reading its slot's gate passes needs only the hot slot record,
// which listing the readings that miss the gate (two blocks ahead) brings in; a separate pass
// touching hot records three blocks ahead measured no faster, so there is none. Any other
// reading needs the cold record, then the rules: dependent accesses, so they go in stages, for
// the listed readings only.
import { I_FIRST_RULE, I_FLAGS, I_HIST_BASE, I_HIST_CAP, NONE, S_GATE, SLOT_RULES_SHIFT } from "./layout";
import { passes } from "./quiet";

/** Prefetch block: readings per stage. */
export const PF: u32 = 256;
// Keeps the touch loads observable so no optimizer drops them.
let gSink: u32 = 0;

/** Records a checksum of touched words (never read: it only keeps the loads alive). */
export function sinkStore(x: u32): void {
  gSink ^= x;
}

// Two lists (by block number & 1) of the readings whose value missed their slot's gate, as
// indices into the batch; the list of block q is made two blocks ahead and used for two.
const LISTS: usize = memory.data(<i32>(2 * PF * 4), 16);
const COUNTS: usize = memory.data(8, 8);

// @ts-ignore: decorator
@inline
function listAt(q: u32): usize {
  return LISTS + <usize>((q & 1) * PF * 4);
}

// @ts-ignore: decorator
@inline
function countAt(q: u32): u32 {
  return load<u32>(COUNTS + (<usize>(q & 1) << 2));
}

// @ts-ignore: decorator
@inline
function slotOf(inSlot: usize, j: u32): usize {
  return <usize>load<u32>(inSlot + (<usize>j << 2));
}

/**
 * Makes block q's list: the readings in [from, to) whose value misses the gate. Its loads of
 * their hot records are the hot records' prefetch. Branch-free, as nearly all pass.
 */
export function listMisses(inSlot: usize, inValue: usize, slots: usize, q: u32, from: u32, to: u32): void {
  const list = listAt(q);
  let c: u32 = 0;
  let j = from;
  // Four at a time: the four gates side by side, both bounds widened from bfloat16 to f32 by
  // shifts, compared with the four values at once; a set bit in `miss` is a reading to list.
  for (; j + 4 <= to; j += 4) {
    const p = inSlot + (<usize>j << 2);
    let gates = i32x4.splat(load<u32>(slots + (<usize>load<u32>(p) << 4), S_GATE));
    gates = i32x4.replace_lane(gates, 1, load<u32>(slots + (<usize>load<u32>(p, 4) << 4), S_GATE));
    gates = i32x4.replace_lane(gates, 2, load<u32>(slots + (<usize>load<u32>(p, 8) << 4), S_GATE));
    gates = i32x4.replace_lane(gates, 3, load<u32>(slots + (<usize>load<u32>(p, 12) << 4), S_GATE));
    const values = v128.load(inValue + (<usize>j << 2));
    const low = i32x4.shl(gates, 16);
    const high = v128.and(gates, i32x4.splat(<i32>0xffff0000));
    const inside = v128.and(f32x4.ge(values, low), f32x4.le(values, high));
    let miss = (~i32x4.bitmask(inside)) & 0xf;
    while (miss != 0) {
      store<u32>(list + (<usize>c << 2), j + ctz<u32>(miss));
      c++;
      miss &= miss - 1;
    }
  }
  for (; j < to; j++) {
    store<u32>(list + (<usize>c << 2), j);
    c += <u32>!passes(load<u32>(slots + (slotOf(inSlot, j) << 4), S_GATE), load<f32>(inValue + (<usize>j << 2)));
  }
  store<u32>(COUNTS + (<usize>(q & 1) << 2), c);
}

/** Loads the cold records of block q's listed readings. */
export function touchInfo(inSlot: usize, info: usize, q: u32): u32 {
  const list = listAt(q);
  const count = countAt(q);
  let x: u32 = 0;
  for (let k: u32 = 0; k < count; k++) x ^= load<u32>(info + (slotOf(inSlot, load<u32>(list + (<usize>k << 2))) << 4));
  return x;
}

/** Loads the first rule of block q's listed readings (their cold records already loaded). */
export function touchRules(inSlot: usize, info: usize, rules: usize, q: u32): u32 {
  const list = listAt(q);
  const count = countAt(q);
  let x: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    const fr = load<u32>(info + (slotOf(inSlot, load<u32>(list + (<usize>k << 2))) << 4), I_FIRST_RULE);
    x ^= load<u32>(rules + (<usize>select<u32>(fr, 0, fr != <u32>NONE) << 6));
  }
  return x;
}

/**
 * One step ahead of block q: the rules of block q + 1's listed readings and the cold records of
 * block q + 2's, in light loops, so that their misses are in flight together.
 */
export function touchAhead(inSlot: usize, info: usize, rules: usize, q: u32): u32 {
  return touchRules(inSlot, info, rules, q + 1) ^ touchInfo(inSlot, info, q + 2);
}

/**
 * For block q's listed readings (only when some slot has several rules or history): further
 * rules, guessed to follow the first one (a slot's rules are usually added together; a wrong
 * guess only wastes a load), and both ends of the history ring.
 */
export function touchMore(inSlot: usize, info: usize, rules: usize, histT: usize, histV: usize, q: u32): u32 {
  const list = listAt(q);
  const count = countAt(q);
  let x: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    const cp = info + (slotOf(inSlot, load<u32>(list + (<usize>k << 2))) << 4);
    const fr = load<u32>(cp, I_FIRST_RULE);
    if (fr == <u32>NONE) continue;
    const rc = min<u32>(<u32>load<u8>(cp, I_FLAGS) >> SLOT_RULES_SHIFT, 4);
    for (let r: u32 = 1; r < rc; r++) x ^= load<u32>(rules + (<usize>(fr + r) << 6));
    const cap = <u32>load<u8>(cp, I_HIST_CAP);
    if (cap != 0) {
      const first = <usize>load<u32>(cp, I_HIST_BASE);
      const last = first + <usize>cap - 1;
      x ^= load<u32>(histT + (first << 3)) ^ load<u32>(histT + (last << 3));
      x ^= load<u32>(histV + (first << 2)) ^ load<u32>(histV + (last << 2));
    }
  }
  return x;
}
