// The header and the region layout (docs/kernel.md, "Memory layout"). Every region is 64-byte
// aligned (rules sit on one cache line each); offsets in the header are absolute addresses.
import {
  ERR_NO_MEMORY,
  H_BATCH_CAP,
  H_BLOCK_RUN_CAP,
  H_BLOCK_TICK_CAP,
  H_END,
  H_HEAP_BASE,
  H_HIST_CAP,
  H_HIST_COUNT,
  H_MAGIC,
  H_OFF_HIST_T,
  H_OFF_HIST_V,
  H_OFF_IN_SLOT,
  H_OFF_IN_TIME,
  H_OFF_IN_VALUE,
  H_OFF_OUT,
  H_OFF_PARAMS,
  H_OFF_INFO,
  H_OFF_RULES,
  H_OFF_SCORES,
  H_OFF_SLOTS,
  H_OFF_TRIAGE,
  H_OUT_CAP,
  H_PARAM_CAP,
  H_RULE_CAP,
  H_RULE_COUNT,
  H_SCORE_CAP,
  H_SCORE_COUNT,
  H_SLOT_CAP,
  H_SLOT_COUNT,
  H_STATE_END,
  H_VERSION,
  HEADER_BYTES,
  LAYOUT_MAGIC,
  LAYOUT_VERSION,
  PARAM_BYTES,
  RULE_BYTES,
  RUN_BYTES,
  SCORE_BYTES,
  SLOT_BYTES,
  SLOT_INFO_BYTES,
  TR_BYTES,
} from "./layout";

// Region bases, re-read from the header on entry to every export (sync), so a restored memory
// image or a relocation by reserve() is picked up without trusting wasm globals.
export let gParams: usize = 0;
export let gSlots: usize = 0;
export let gInfo: usize = 0;
export let gRules: usize = 0;
export let gScores: usize = 0;
export let gHistT: usize = 0;
export let gHistV: usize = 0;
export let gSlotCount: u32 = 0;
export let gRuleCount: u32 = 0;
export let gScoreCount: u32 = 0;

// @ts-ignore: decorator
@inline
export function base(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

// @ts-ignore: decorator
@inline
export function hget(field: usize): u32 {
  return load<u32>(base() + field);
}

// @ts-ignore: decorator
@inline
export function hset(field: usize, value: u32): void {
  store<u32>(base() + field, value);
}

// @ts-ignore: decorator
@inline
function align64(x: u64): u64 {
  return (x + 63) & ~(<u64>63);
}

/** Address of slot s's hot record. */
// @ts-ignore: decorator
@inline
export function slotPtr(s: u32): usize {
  return gSlots + (<usize>s << 4);
}

/** Address of slot s's cold record (slot info). */
// @ts-ignore: decorator
@inline
export function infoPtr(s: u32): usize {
  return gInfo + (<usize>s << 4);
}

/** Address of rule record r. */
// @ts-ignore: decorator
@inline
export function rulePtr(r: u32): usize {
  return gRules + (<usize>r << 6);
}

/** Loads the region bases and counts from the header into globals. */
export function sync(): void {
  const b = base();
  gParams = load<u32>(b + H_OFF_PARAMS);
  gSlots = load<u32>(b + H_OFF_SLOTS);
  gInfo = load<u32>(b + H_OFF_INFO);
  gRules = load<u32>(b + H_OFF_RULES);
  gScores = load<u32>(b + H_OFF_SCORES);
  gHistT = load<u32>(b + H_OFF_HIST_T);
  gHistV = load<u32>(b + H_OFF_HIST_V);
  gSlotCount = load<u32>(b + H_SLOT_COUNT);
  gRuleCount = load<u32>(b + H_RULE_COUNT);
  gScoreCount = load<u32>(b + H_SCORE_COUNT);
}

/** Where the header lives (heap base rounded up to 64). */
export function heapBase(): u32 {
  return <u32>base();
}

// @ts-ignore: decorator
@inline
function maxU32(a: u32, b: u32): u32 {
  return a > b ? a : b;
}

/** Moves `bytes` from the old to the new region offset (never backwards: capacities only grow). */
function move(field: usize, to: u64, bytes: u64): void {
  const from = hget(field);
  if (<u64>from != to && bytes > 0) memory.copy(<usize>to, from, <usize>bytes);
  hset(field, <u32>to);
}

/**
 * Grows the capacities to at least the given ones (never shrinks) with one memory.grow, moving
 * the regions last-first (state and input columns; triage and transition output are not kept).
 * The first call writes the header. Returns 0, or ERR_NO_MEMORY with nothing changed.
 */
export function reserve(slots: u32, rules: u32, hist: u32, params: u32, scores: u32, batch: u32, out: u32): i32 {
  const b = base();
  const fresh = load<u32>(b + H_MAGIC) != LAYOUT_MAGIC;
  if (fresh) {
    const need = <i32>((b + HEADER_BYTES + 0xffff) >>> 16);
    if (need > memory.size() && memory.grow(need - memory.size()) < 0) return ERR_NO_MEMORY;
    memory.fill(b, 0, HEADER_BYTES);
    const first = <u32>(b + HEADER_BYTES);
    // All regions start empty right after the header.
    store<u32>(b + H_OFF_PARAMS, first);
    store<u32>(b + H_OFF_SLOTS, first);
    store<u32>(b + H_OFF_INFO, first);
    store<u32>(b + H_OFF_RULES, first);
    store<u32>(b + H_OFF_SCORES, first);
    store<u32>(b + H_OFF_HIST_T, first);
    store<u32>(b + H_OFF_HIST_V, first);
    store<u32>(b + H_STATE_END, first);
    store<u32>(b + H_OFF_IN_SLOT, first);
    store<u32>(b + H_OFF_IN_TIME, first);
    store<u32>(b + H_OFF_IN_VALUE, first);
    store<u32>(b + H_HEAP_BASE, <u32>b);
  }
  const pCap = maxU32(params, hget(H_PARAM_CAP));
  const sCap = maxU32(slots, hget(H_SLOT_CAP));
  const rCap = maxU32(rules, hget(H_RULE_CAP));
  const cCap = maxU32(scores, hget(H_SCORE_CAP));
  const hCap = maxU32(hist, hget(H_HIST_CAP));
  const bCap = maxU32(batch, hget(H_BATCH_CAP));
  const oCap = maxU32(out, hget(H_OUT_CAP));

  const oParams = <u64>(b + HEADER_BYTES);
  const oSlots = align64(oParams + <u64>pCap * PARAM_BYTES);
  const oInfo = align64(oSlots + <u64>sCap * SLOT_BYTES);
  const oRules = align64(oInfo + <u64>sCap * SLOT_INFO_BYTES);
  const oScores = align64(oRules + <u64>rCap * RULE_BYTES);
  const oHistT = align64(oScores + <u64>cCap * SCORE_BYTES);
  const oHistV = align64(oHistT + <u64>hCap * 8);
  const stateEnd = oHistV + <u64>hCap * 4;
  const oInSlot = align64(stateEnd);
  const oInTime = align64(oInSlot + <u64>bCap * 4);
  const oInValue = align64(oInTime + <u64>bCap * 8);
  const oTriage = align64(oInValue + <u64>bCap * 4);
  const oOut = align64(oTriage + <u64>bCap);
  const end = blockEnd(align64(oOut + <u64>oCap * TR_BYTES), sCap, bCap, hget(H_BLOCK_TICK_CAP), hget(H_BLOCK_RUN_CAP));
  if (end > 0xffff0000) return ERR_NO_MEMORY;

  const pages = <i32>((end + 0xffff) >> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return ERR_NO_MEMORY;

  // Last region first, so a region never lands on one not yet moved. The input columns are
  // kept (a host may grow the output between filling them and running); triage and
  // transitions are per-call output and are not.
  const oldBatch = <u64>hget(H_BATCH_CAP);
  move(H_OFF_IN_VALUE, oInValue, oldBatch * 4);
  move(H_OFF_IN_TIME, oInTime, oldBatch * 8);
  move(H_OFF_IN_SLOT, oInSlot, oldBatch * 4);
  move(H_OFF_HIST_V, oHistV, <u64>hget(H_HIST_COUNT) * 4);
  move(H_OFF_HIST_T, oHistT, <u64>hget(H_HIST_COUNT) * 8);
  move(H_OFF_SCORES, oScores, <u64>hget(H_SCORE_COUNT) * SCORE_BYTES);
  move(H_OFF_RULES, oRules, <u64>hget(H_RULE_COUNT) * RULE_BYTES);
  move(H_OFF_INFO, oInfo, <u64>hget(H_SLOT_COUNT) * SLOT_INFO_BYTES);
  move(H_OFF_SLOTS, oSlots, <u64>hget(H_SLOT_COUNT) * SLOT_BYTES);
  hset(H_OFF_PARAMS, <u32>oParams);

  hset(H_PARAM_CAP, pCap);
  hset(H_SLOT_CAP, sCap);
  hset(H_RULE_CAP, rCap);
  hset(H_SCORE_CAP, cCap);
  hset(H_HIST_CAP, hCap);
  hset(H_BATCH_CAP, bCap);
  hset(H_OUT_CAP, oCap);
  hset(H_STATE_END, <u32>stateEnd);
  hset(H_OFF_TRIAGE, <u32>oTriage);
  hset(H_OFF_OUT, <u32>oOut);
  hset(H_END, <u32>end);
  if (fresh) {
    hset(H_MAGIC, LAYOUT_MAGIC);
    hset(H_VERSION, LAYOUT_VERSION);
  }
  sync();
  return 0;
}

// ---- the replay block region (docs/kernel.md, "Replay blocks") ----
// After the transition region, only when a host asked for it (reserveBlock); all of it per-call
// input (reserve() does not keep it): each slot's run (u32 × slot capacity), where each interval
// starts in the input columns (u32 × (ticks + 1)), the tick instants (f64 pairs: time, UTC
// offset), the intervals' clocks (f64 pairs: now, UTC offset; ticks + 1), the runs (RUN_BYTES
// each), then the readings sorted by run (slot u32, time f64, value f32, interval u32; × batch
// capacity). Its offsets follow from the header's capacities: no header field of its own.

/** The block region's parts, by index (BLOCK_*), for the layout's current capacities. */
function blockPart(part: u32, at: u64, sCap: u32, bCap: u32, tCap: u32, rCap: u32): u64 {
  const slotRun = at;
  const starts = align64(slotRun + <u64>sCap * 4);
  const ticks = align64(starts + (<u64>tCap + 1) * 4);
  const nows = align64(ticks + <u64>tCap * 16);
  const runs = align64(nows + (<u64>tCap + 1) * 16);
  const sSlot = align64(runs + <u64>rCap * RUN_BYTES);
  const sTime = align64(sSlot + <u64>bCap * 4);
  const sValue = align64(sTime + <u64>bCap * 8);
  const sInterval = align64(sValue + <u64>bCap * 4);
  const end = sInterval + <u64>bCap * 4;
  switch (part) {
    case 0: return slotRun;
    case 1: return starts;
    case 2: return ticks;
    case 3: return nows;
    case 4: return runs;
    case 5: return sSlot;
    case 6: return sTime;
    case 7: return sValue;
    case 8: return sInterval;
    default: return end;
  }
}

/** End of the block region starting at `at` (no region while both block capacities are 0). */
function blockEnd(at: u64, sCap: u32, bCap: u32, tCap: u32, rCap: u32): u64 {
  return (tCap | rCap) == 0 ? at : blockPart(9, at, sCap, bCap, tCap, rCap);
}

/** Address of block part `part` (0 slot runs, 1 interval starts, 2 ticks, 3 clocks, 4 runs, 5–8 sorted slot, time, value, interval). */
export function blockAt(part: u32): usize {
  const at = align64(<u64>hget(H_OFF_OUT) + <u64>hget(H_OUT_CAP) * TR_BYTES);
  return <usize>blockPart(part, at, hget(H_SLOT_CAP), hget(H_BATCH_CAP), hget(H_BLOCK_TICK_CAP), hget(H_BLOCK_RUN_CAP));
}

/**
 * Grows the block capacities to at least `ticks` tick instants and `runs` runs (never shrinks),
 * laying the regions out again as reserve() does. Returns 0 or ERR_NO_MEMORY (nothing changed).
 */
export function reserveBlock(ticks: u32, runs: u32): i32 {
  if (load<u32>(base() + H_MAGIC) != LAYOUT_MAGIC) return ERR_NO_MEMORY; // reserve() first
  const oldT = hget(H_BLOCK_TICK_CAP);
  const oldR = hget(H_BLOCK_RUN_CAP);
  hset(H_BLOCK_TICK_CAP, maxU32(ticks, oldT));
  hset(H_BLOCK_RUN_CAP, maxU32(runs, oldR));
  const rc = reserve(0, 0, 0, 0, 0, 0, 0);
  if (rc < 0) {
    hset(H_BLOCK_TICK_CAP, oldT);
    hset(H_BLOCK_RUN_CAP, oldR);
  }
  return rc;
}
