// replayBlock(n, m, p): a backtest's block of readings, patient by patient (docs/kernel.md,
// "Replay blocks"). A block holds m tick instants of a group's virtual clock and the readings
// that arrived between them, in the input columns in arrival order: interval k (arrival
// [start k, start k+1)) is evaluated after ticks 0..k-1, before tick k, at the interval's clock
// `now`. The kernel sorts the readings by run (a patient: the host maps each slot to its run)
// and replays run by run, each with its own rules [ruleFrom, ruleTo) ticked at every instant.
// Rules of different patients share no state, so each rule sees the same readings and ticks in
// the same order as evaluate()/tick() over the whole group would give it, while one patient's
// state stays in the cache for the whole block. (NEWS2 sets: the same when each interval is in
// time order and links are enabled with their score; docs/kernel.md says why.)
import {
  BLOCK_INTERVAL_STARTS,
  BLOCK_NOWS,
  BLOCK_RUNS,
  BLOCK_SLOT_RUNS,
  BLOCK_SORTED_INTERVAL,
  BLOCK_SORTED_SLOT,
  BLOCK_SORTED_TIME,
  BLOCK_SORTED_VALUE,
  BLOCK_TICKS,
  ERR_BAD_BLOCK,
  ERR_BAD_SLOT,
  ERR_BATCH_TOO_LARGE,
  ERR_OUT_FULL,
  H_BATCH_CAP,
  H_BLOCK_RUN_CAP,
  H_BLOCK_TICK_CAP,
  H_MAX_RULES_PER_SLOT,
  H_OFF_IN_SLOT,
  H_OFF_IN_TIME,
  H_OFF_IN_VALUE,
  H_OUT_CAP,
  R_SLOT,
  RUN_BYTES,
} from "./layout";
import { applySegment, maxSlot } from "./evaluate";
import { blockAt, gRuleCount, gSlotCount, hget, rulePtr, sync } from "./memory";
import { gOutCount, outBegin } from "./out";
import { setsBegin, setsEnd } from "./rules/score-set";
import { tickRules } from "./tick";

// Where a block stands between calls (a call stops when the transition region is full).
let gM: u32 = 0;
let gP: u32 = 0;
let gRun: u32 = 0;
let gI: u32 = 0;
let gJ: u32 = 0;
let gPending: bool = false;

/**
 * Checks the block (every precondition before the first reading is applied), sorts its readings
 * by run, then replays it from its first run. Returns the transition count written (the host
 * reads them, then calls replayResume() while replayPending()), or ERR_BATCH_TOO_LARGE (a count
 * over its capacity), ERR_BAD_SLOT, ERR_BAD_BLOCK (interval starts decreasing or past n, a slot
 * mapped to no run, runs' rules not cutting [0, rule count) in order, a rule on a slot of another
 * run) or ERR_OUT_FULL (the region cannot hold
 * one segment or one tick of a run), with nothing applied.
 */
export function replayBlock(n: u32, m: u32, p: u32): i32 {
  sync();
  gPending = false;
  if (n > hget(H_BATCH_CAP) || m > hget(H_BLOCK_TICK_CAP) || p > hget(H_BLOCK_RUN_CAP)) return ERR_BATCH_TOO_LARGE;
  const inSlot = <usize>hget(H_OFF_IN_SLOT);
  if (n > 0 && maxSlot(inSlot, n) >= gSlotCount) return ERR_BAD_SLOT;
  const widest = sortBlock(n, m, p);
  if (widest < 0) return ERR_BAD_BLOCK;
  const outCap = <u64>hget(H_OUT_CAP);
  if (<u64>longestSegment(p) * <u64>hget(H_MAX_RULES_PER_SLOT) * 2 > outCap || <u64>widest * 2 > outCap) return ERR_OUT_FULL;
  gM = m;
  gP = p;
  gRun = 0;
  gI = 0;
  gJ = 0;
  gPending = p > 0;
  return step();
}

/** Goes on with the block where the last call stopped; 0 when nothing is pending. */
export function replayResume(): i32 {
  sync();
  return gPending ? step() : 0;
}

/** 1 while the last block has runs left to replay. */
export function replayPending(): i32 {
  return gPending ? 1 : 0;
}

/**
 * Checks the interval starts and the runs, and counting-sorts the input columns by run into the
 * block's sorted columns (stable: arrival order within a run), each reading tagged with its
 * interval; runs get their [start, end). Returns the widest run's rule count, or -1 when
 * malformed (only the block region written then).
 */
function sortBlock(n: u32, m: u32, p: u32): i32 {
  const starts = blockAt(BLOCK_INTERVAL_STARTS);
  const slotRun = blockAt(BLOCK_SLOT_RUNS);
  const runs = blockAt(BLOCK_RUNS);
  let prev: u32 = 0;
  for (let k: u32 = 0; k <= m; k++) {
    const s = load<u32>(starts + (<usize>k << 2));
    if (s < prev || s > n || (k == 0 && s != 0)) return -1;
    prev = s;
  }
  // The runs' rules: [0, rule count) cut in order, each rule on a slot of its own run (else a
  // rule would be ticked with another patient's, or never).
  if (p == 0 && (n > 0 || (m > 0 && gRuleCount > 0))) return -1;
  let prevRuleTo: u32 = 0;
  let widest: u32 = 0;
  for (let r: u32 = 0; r < p; r++) {
    const q = runs + <usize>r * RUN_BYTES;
    const rf = load<u32>(q, 8);
    const rt = load<u32>(q, 12);
    if (rf != prevRuleTo || rt < rf || rt > gRuleCount) return -1;
    for (let id = rf; id < rt; id++) {
      if (load<u32>(slotRun + (<usize>load<u32>(rulePtr(id), R_SLOT) << 2)) != r) return -1;
    }
    prevRuleTo = rt;
    widest = max<u32>(widest, rt - rf);
    store<u32>(q, 0); // the run's count, then its start
  }
  if (p > 0 && prevRuleTo != gRuleCount) return -1;
  const inSlot = <usize>hget(H_OFF_IN_SLOT);
  const inTime = <usize>hget(H_OFF_IN_TIME);
  const inValue = <usize>hget(H_OFF_IN_VALUE);
  for (let i: u32 = 0; i < n; i++) {
    const o = load<u32>(slotRun + (<usize>load<u32>(inSlot + (<usize>i << 2)) << 2));
    if (o >= p) return -1;
    const q = runs + <usize>o * RUN_BYTES;
    store<u32>(q, load<u32>(q) + 1);
  }
  let at: u32 = 0;
  for (let r: u32 = 0; r < p; r++) {
    const q = runs + <usize>r * RUN_BYTES;
    const count = load<u32>(q);
    store<u32>(q, at);
    store<u32>(q, at, 4); // the cursor below: the run's end once every reading is placed
    at += count;
  }
  const sSlot = blockAt(BLOCK_SORTED_SLOT);
  const sTime = blockAt(BLOCK_SORTED_TIME);
  const sValue = blockAt(BLOCK_SORTED_VALUE);
  const sInterval = blockAt(BLOCK_SORTED_INTERVAL);
  let k: u32 = 0;
  let next = m > 0 ? load<u32>(starts + 4) : n;
  for (let i: u32 = 0; i < n; i++) {
    while (i >= next) {
      k++;
      next = k < m ? load<u32>(starts + (<usize>(k + 1) << 2)) : n;
    }
    const s = load<u32>(inSlot + (<usize>i << 2));
    const q = runs + <usize>load<u32>(slotRun + (<usize>s << 2)) * RUN_BYTES;
    const d = <usize>load<u32>(q, 4);
    store<u32>(q, <u32>d + 1, 4);
    store<u32>(sSlot + (d << 2), s);
    store<f64>(sTime + (d << 3), load<f64>(inTime + (<usize>i << 3)));
    store<f32>(sValue + (d << 2), load<f32>(inValue + (<usize>i << 2)));
    store<u32>(sInterval + (d << 2), k);
  }
  return <i32>widest;
}

/** The most readings of one run in one interval (a segment: one evaluate() call's share). */
function longestSegment(p: u32): u32 {
  const runs = blockAt(BLOCK_RUNS);
  const sInterval = blockAt(BLOCK_SORTED_INTERVAL);
  let longest: u32 = 0;
  for (let r: u32 = 0; r < p; r++) {
    const q = runs + <usize>r * RUN_BYTES;
    const end = load<u32>(q, 4);
    let i = load<u32>(q);
    while (i < end) {
      const k = load<u32>(sInterval + (<usize>i << 2));
      let e = i + 1;
      while (e < end && load<u32>(sInterval + (<usize>e << 2)) == k) e++;
      longest = max<u32>(longest, e - i);
      i = e;
    }
  }
  return longest;
}

/**
 * Runs from the saved position until the block ends or the next segment or tick might not fit
 * in what is left of the transition region (a run's worst case: 2 transitions per rule per
 * reading, as evaluate() counts, and per tick).
 */
function step(): i32 {
  outBegin();
  const outCap = <u64>hget(H_OUT_CAP);
  const perReading = <u64>hget(H_MAX_RULES_PER_SLOT) * 2;
  const runs = blockAt(BLOCK_RUNS);
  const iv = blockAt(BLOCK_SORTED_INTERVAL);
  const ticks = blockAt(BLOCK_TICKS);
  const nows = blockAt(BLOCK_NOWS);
  const sSlot = blockAt(BLOCK_SORTED_SLOT);
  const sTime = blockAt(BLOCK_SORTED_TIME);
  const sValue = blockAt(BLOCK_SORTED_VALUE);
  const m = gM;
  while (gRun < gP) {
    const q = runs + <usize>gRun * RUN_BYTES;
    const end = load<u32>(q, 4);
    const rf = load<u32>(q, 8);
    const rt = load<u32>(q, 12);
    const tickNeed = <u64>(rt - rf) * 2;
    let i = gI;
    let j = gJ;
    for (;;) {
      // Reading i's interval; past the run's readings, the ticks left.
      const k = i < end ? load<u32>(iv + (<usize>i << 2)) : m;
      if (j < k) {
        if (<u64>gOutCount + tickNeed > outCap) return pause(i, j);
        const tp = ticks + (<usize>j << 4);
        tickRules(rf, rt, load<f64>(tp), load<f64>(tp, 8));
        j++;
        continue;
      }
      if (i >= end) break;
      let e = i + 1;
      while (e < end && load<u32>(iv + (<usize>e << 2)) == k) e++;
      if (<u64>gOutCount + <u64>(e - i) * perReading > outCap) return pause(i, j);
      const np = nows + (<usize>k << 4);
      // A segment is one evaluate() call's share of this patient: its score sets end with it.
      setsBegin();
      applySegment(i, e, sSlot, sTime, sValue, load<f64>(np), load<f64>(np, 8));
      setsEnd();
      i = e;
    }
    gRun++;
    gI = gRun < gP ? load<u32>(runs + <usize>gRun * RUN_BYTES) : 0;
    gJ = 0;
  }
  gPending = false;
  return <i32>gOutCount;
}

function pause(i: u32, j: u32): i32 {
  gI = i;
  gJ = j;
  return <i32>gOutCount;
}
