// evaluate(n, now, tzOffsetMs): the readings of the input columns, in order (docs/kernel.md,
// "Readings"). All bounds are checked once per batch; the loop itself trusts its indices.
import { classifyPlain, rank } from "./classify";
import {
  CACHED_STATE_BYTES,
  ERR_BAD_SLOT,
  ERR_BATCH_TOO_LARGE,
  ERR_OUT_FULL,
  H_BATCH_CAP,
  H_HIST_COUNT,
  H_MAX_RULES_PER_SLOT,
  H_OFF_IN_SLOT,
  H_OFF_IN_TIME,
  H_OFF_IN_VALUE,
  H_OFF_TRIAGE,
  H_OUT_CAP,
  KIND_BAND,
  KIND_MISSING,
  KIND_OFF,
  NONE,
  P_M,
  R_T0,
  R_T1,
  R_T2,
  RULE_K_NO_PERSIST,
  R_NEXT,
  R_RAW_LEVEL,
  RULE_BYTES,
  I_FIRST_RULE,
  I_FLAGS,
  I_HIST_CAP,
  S_GATE,
  S_LAST_TIME,
  S_LAST_VALUE,
  SLOT_RULES_SHIFT,
  TRIAGE_DUPLICATE,
  TRIAGE_N,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_OUT_OF_ORDER,
} from "./layout";
import { gHistT, gHistV, gInfo, gRuleCount, gRules, gSlotCount, gSlots, hget, infoPtr, slotPtr, sync } from "./memory";
import { gOutCount, outBegin } from "./out";
import { paramOf, stepDirect } from "./persistence";
import { listMisses, PF, sinkStore, touchAhead, touchInfo, touchMore, touchRules } from "./prefetch";
import { passes, PLAIN_BAND, PLAIN_BAND_MASK, refreshGate } from "./quiet";
import { setsBefore, setsBegin, setsEnd } from "./rules/score-set";
import { intervalAtRest } from "./rules/missing";
import { append } from "./rules/window";
import { evalRule } from "./value";

/** Hot + cold slot record. */
const SLOT_STATE_BYTES: u64 = 32;
/** At or below this much state (slots, rules, history in use) evaluate() skips its prefetch passes. */
let gCachedStateBytes: u64 = CACHED_STATE_BYTES;

/** Sets that bound (tests force either path with it: 0 always prefetches, 0xffffffff never). Returns 0. */
export function setCachedStateBytes(bytes: u32): i32 {
  gCachedStateBytes = <u64>bytes;
  return 0;
}


/** Largest slot index in the first n entries of the slot column (SIMD when built with it). */
export function maxSlot(col: usize, n: u32): u32 {
  let m: u32 = 0;
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = i32x4.max_u(acc, v128.load(col + (<usize>i << 2)));
    m = max<u32>(
      max<u32>(<u32>i32x4.extract_lane(acc, 0), <u32>i32x4.extract_lane(acc, 1)),
      max<u32>(<u32>i32x4.extract_lane(acc, 2), <u32>i32x4.extract_lane(acc, 3)),
    );
  }
  for (; i < n; i++) m = max<u32>(m, load<u32>(col + (<usize>i << 2)));
  return m;
}

// Batch context for the rare paths, so the hot loop keeps fewer values live.
let gNow: f64 = 0;
let gTz: f64 = 0;

/** A band rule's step off the quiet path (kept out of line: it is rare). */
function stepBand(rp: usize, hdr: u32, code: u32, t: f64, v: f64, reading: u32): void {
  stepDirect(rp, hdr, code, t, v, <i32>reading);
}

/** Any other rule (kept out of line). */
function otherRule(rp: usize, hdr: u32, cp: usize, t: f64, v: f64, reading: u32): u32 {
  return evalRule(rp, hdr, cp, t, v, <i32>reading, gNow, gTz);
}

/**
 * A value rule at rest: no alert (level 0, dir none), raw 0 last, no run of raw >= yellow or red,
 * no keep-firing timer, no N of M. A band rule at rest met by a plain-N reading stays exactly so:
 * its level-0 classification is the plain one whatever its margin, its runs stay empty, and
 * settle() finds the target (0, none) it holds (docs/kernel.md, "Rules at rest").
 */
// @ts-ignore: decorator
@inline
function atRest(rp: usize, hdr: u32): bool {
  return (
    ((hdr & 0xffff00) | <u32>load<u16>(rp, R_RAW_LEVEL)) == 0 &&
    isNaN(load<f64>(rp, R_T0)) &&
    isNaN(load<f64>(rp, R_T1)) &&
    isNaN(load<f64>(rp, R_T2)) &&
    ((hdr >> 24) & RULE_K_NO_PERSIST || load<u8>(paramOf(rp), P_M) == 0)
  );
}

/** Triage of reading (t, v) over the rules from r on, applying each; (rank << 8) | code packed. */
// @ts-ignore: decorator
@inline
function applyRules(rules: usize, cp: usize, r: u32, t: f64, v: f64, i: u32): u32 {
  let best: u32 = TRIAGE_NOT_TRIAGED;
  do {
    const rp = rules + (<usize>r << 6);
    const hdr = load<u32>(rp);
    let code: u32 = 0;
    if ((hdr & PLAIN_BAND_MASK) == PLAIN_BAND) {
      code = classifyPlain(rp, v, v);
      // A quiet rule (no alert, raw 0, hence no runs) and a normal reading: nothing changes.
      if (((code ^ TRIAGE_N) | (hdr & 0xffff00) | <u32>load<u16>(rp, R_RAW_LEVEL)) != 0) stepBand(rp, hdr, code, t, v, i);
      code = select<u32>(code, 0, v == v);
    } else if ((hdr & 0xff) == KIND_BAND && atRest(rp, hdr) && (code = classifyPlain(rp, v, v)) == TRIAGE_N) {
      // Any other band rule at rest and a plain-N reading: step() would change nothing.
      code = select<u32>(code, 0, v == v);
    } else if ((hdr & 0xff) == KIND_MISSING && intervalAtRest(rp, hdr, gNow)) {
      code = 0; // a fresh reading on a stale-data rule holding no alert: nothing to move
    } else if ((hdr & 0xff) != KIND_OFF) {
      code = otherRule(rp, hdr, cp, t, v, i);
    }
    const packed = (rank(code) << 8) | code;
    best = select<u32>(packed, best, packed >> 8 > best >> 8); // on a tie the first rule wins
    r = load<u32>(rp, R_NEXT);
  } while (r != <u32>NONE);
  return best;
}

/**
 * A reading its slot's gate did not pass (docs/kernel.md, "Readings" steps 3 and 4): every rule
 * of the slot, the history ring, then the gate again (a slot with one rule may have become quiet
 * or stopped being so). Returns the triage code.
 */
function general(s: u32, t: f64, v: f32, i: u32): u32 {
  const cp = infoPtr(s);
  const r = load<u32>(cp, I_FIRST_RULE);
  const code = r == <u32>NONE ? TRIAGE_NOT_TRIAGED : applyRules(gRules, cp, r, t, <f64>v, i) & 0xff;
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  if (cap != 0) append(cp, gHistT, gHistV, cap, t, v);
  if (<u32>load<u8>(cp, I_FLAGS) >> SLOT_RULES_SHIFT == 1) refreshGate(s);
  return code;
}

/**
 * Reading i = (slot s, t, v), any case (docs/kernel.md, "Readings"); returns its triage code.
 * Step 0, the score sets the reading closes, is only here: a quiet-path reading's slot has no
 * score link, so it never closes one.
 */
function applyOne(s: u32, t: f64, v: f32, i: u32): u32 {
  setsBefore(s, t);
  const sp = slotPtr(s);
  const lastTime = load<f64>(sp, S_LAST_TIME);
  if (t < lastTime) return TRIAGE_OUT_OF_ORDER;
  if (t == lastTime) return TRIAGE_DUPLICATE;
  store<f64>(sp, t, S_LAST_TIME);
  store<f32>(sp, v, S_LAST_VALUE);
  return passes(load<u32>(sp, S_GATE), v) ? TRIAGE_N : general(s, t, v, i);
}

/**
 * Readings [from, end) of the input columns, triage written. The common case in a loop with no
 * call in it (a call would make the compiler keep the loop's values on the stack): a later
 * reading inside a quiet slot's gate is plain N and changes nothing but lastTime and lastValue.
 * Anything else leaves the loop for one reading.
 */
// @ts-ignore: decorator
@inline
function applyRange(from: u32, end: u32, inSlot: usize, inTime: usize, inValue: usize, triage: usize, slots: usize): void {
  let i = from;
  while (i < end) {
    for (; i < end; i++) {
      const sp = slots + (<usize>load<u32>(inSlot + (<usize>i << 2)) << 4);
      const t = load<f64>(inTime + (<usize>i << 3));
      const v = load<f32>(inValue + (<usize>i << 2));
      if (!(t > load<f64>(sp, S_LAST_TIME)) || !passes(load<u32>(sp, S_GATE), v)) break;
      store<f64>(sp, t, S_LAST_TIME);
      store<f32>(sp, v, S_LAST_VALUE);
      store<u8>(triage + <usize>i, TRIAGE_N);
    }
    if (i == end) break;
    store<u8>(triage + <usize>i, <u8>applyOne(load<u32>(inSlot + (<usize>i << 2)), load<f64>(inTime + (<usize>i << 3)), load<f32>(inValue + (<usize>i << 2)), i));
    i++;
  }
}

/**
 * Applies the first n readings of the input columns; writes triage[n] and transitions.
 * Returns the transition count, or ERR_BATCH_TOO_LARGE / ERR_BAD_SLOT / ERR_OUT_FULL with
 * nothing applied.
 */
export function evaluate(n: u32, now: f64, tz: f64): i32 {
  sync();
  if (n > hget(H_BATCH_CAP)) return ERR_BATCH_TOO_LARGE;
  const inSlot = <usize>hget(H_OFF_IN_SLOT);
  if (n > 0 && maxSlot(inSlot, n) >= gSlotCount) return ERR_BAD_SLOT;
  if (<u64>n * <u64>hget(H_MAX_RULES_PER_SLOT) * 2 > <u64>hget(H_OUT_CAP)) return ERR_OUT_FULL;
  outBegin();
  setsBegin();
  gNow = now;
  gTz = tz;
  const inTime = <usize>hget(H_OFF_IN_TIME);
  const inValue = <usize>hget(H_OFF_IN_VALUE);
  const triage = <usize>hget(H_OFF_TRIAGE);
  const slots = gSlots;
  const info = gInfo;
  const rules = gRules;
  const histT = gHistT;
  const histV = gHistV;
  // A state that stays in the cache (a backtest's CGM group: 1 000 slots, 4 000 rules) gains
  // nothing from the prefetch passes below, only their cost: one plain pass.
  if (<u64>gSlotCount * SLOT_STATE_BYTES + <u64>gRuleCount * <u64>RULE_BYTES + <u64>hget(H_HIST_COUNT) * 12 <= gCachedStateBytes) {
    applyRange(0, n, inSlot, inTime, inValue, triage, slots);
    setsEnd();
    return <i32>gOutCount;
  }
  // Software prefetch in blocks of PF readings (q = block number): the readings whose value
  // misses the gate are listed two blocks ahead (which loads every hot slot record of that
  // block); for them the cold record two blocks ahead and the rules (and history) one block
  // ahead. See prefetch.ts.
  const more = hget(H_HIST_COUNT) != 0 || hget(H_MAX_RULES_PER_SLOT) > 1;
  listMisses(inSlot, inValue, slots, 0, 0, min<u32>(PF, n));
  listMisses(inSlot, inValue, slots, 1, min<u32>(PF, n), min<u32>(2 * PF, n));
  let sink = touchInfo(inSlot, info, 0) ^ touchInfo(inSlot, info, 1) ^ touchRules(inSlot, info, rules, 0);
  if (more) sink ^= touchMore(inSlot, info, rules, histT, histV, 0);
  for (let b: u32 = 0, q: u32 = 0; b < n; b += PF, q++) {
    listMisses(inSlot, inValue, slots, q + 2, min<u32>(b + 2 * PF, n), min<u32>(b + 3 * PF, n));
    sink ^= touchAhead(inSlot, info, rules, q);
    if (more) sink ^= touchMore(inSlot, info, rules, histT, histV, q + 1);
    const end = min<u32>(b + PF, n);
    applyRange(b, end, inSlot, inTime, inValue, triage, slots);
  }
  sinkStore(sink);
  setsEnd();
  return <i32>gOutCount;
}

/**
 * Readings [from, end) of the given columns (slots already checked below the slot count) at
 * clock `now`, triage written at their indices; for a replay block's segment (replay.ts).
 * Pending score sets are the caller's (setsBegin / setsEnd), as for evaluate().
 */
export function applySegment(from: u32, end: u32, inSlot: usize, inTime: usize, inValue: usize, now: f64, tz: f64): void {
  gNow = now;
  gTz = tz;
  applyRange(from, end, inSlot, inTime, inValue, <usize>hget(H_OFF_TRIAGE), gSlots);
}
