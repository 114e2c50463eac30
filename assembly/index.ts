// The kernel's exports (docs/kernel.md). No managed allocations and no imports: every byte of
// state lives in raw linear memory from heapBase(), laid out by reserve() and described by the
// header, so the host reads offsets from there and a snapshot is one byte range.
//
//   heapBase()                           address of the header
//   reserve(slots, rules, hist, params, scores, batch, out)  grow capacities; 0 or ERR_NO_MEMORY
//   addParamSet(forMs, keepMs, windowMs, horizonMs, deadlineMs, graceMs, margin, n, m, mode,
//               minCount, weekdays, everyNDays, enrolmentDay) -> param id
//   addSlot(histCap) -> slot id;  setSlotRef(slot, ref);  setSlotPaused(slot, paused, now)
//   addScoreInputs(s0..s5) -> entry;  addRule(kind, slot, param, flags, l0..l3, aux, anchor) -> rule id
//   setRuleLimits(rule, l0..l3);  setRuleParam(rule, param);  disableRule(rule)
//   retractLast(slot, t) -> 1 taken back / 0 not the latest;  resetRule(rule)
//   evaluate(n, now, tzOffsetMs) / tick(now, tzOffsetMs) -> transitions written, or ERR_*
//   setCachedStateBytes(bytes): state size up to which evaluate() skips its prefetch passes
//   reserveBlock(ticks, runs); blockAt(part) -> address of a block part; replayBlock(n, m, p) /
//   replayResume() -> transitions written, or ERR_*; replayPending() -> 1 while a block has runs
//   left (replay.ts: a backtest's blocks)
// Adds return NONE (0xffffffff) and setters -1 on a bad index or a full region.
export { blockAt, heapBase, reserve, reserveBlock } from "./memory";
export { addParamSet } from "./setup/params";
export { addSlot, setSlotPaused, setSlotRef } from "./setup/slots";
export { addRule, addScoreInputs, disableRule, setRuleLimits, setRuleParam } from "./setup/rules";
export { resetRule, retractLast } from "./setup/withdraw";
export { evaluate, setCachedStateBytes } from "./evaluate";
export { tick } from "./tick";
export { replayBlock, replayPending, replayResume } from "./replay";
