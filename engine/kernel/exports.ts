// The wasm kernel's exports as the host sees them (assembly/index.ts). u32 results arrive as
// signed numbers: use `>>> 0` before comparing with NONE.

export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  reserve(slots: number, rules: number, hist: number, params: number, scores: number, batch: number, out: number): number;
  addParamSet(
    forMs: number, keepMs: number, windowMs: number, horizonMs: number, deadlineMs: number, graceMs: number,
    margin: number, n: number, m: number, mode: number, minCount: number, weekdays: number, everyNDays: number,
    enrolmentDay: number,
  ): number;
  addSlot(histCap: number): number;
  setSlotRef(slot: number, ref: number): number;
  setSlotPaused(slot: number, paused: number, now: number): number;
  addScoreInputs(s0: number, s1: number, s2: number, s3: number, s4: number, s5: number): number;
  addRule(kind: number, slot: number, param: number, flags: number, l0: number, l1: number, l2: number, l3: number, aux: number, anchor: number): number;
  setRuleLimits(rule: number, l0: number, l1: number, l2: number, l3: number): number;
  setRuleParam(rule: number, param: number): number;
  disableRule(rule: number): number;
  retractLast(slot: number, t: number): number;
  resetRule(rule: number): number;
  evaluate(n: number, now: number, tzOffsetMs: number): number;
  tick(now: number, tzOffsetMs: number): number;
  setCachedStateBytes(bytes: number): number;
  reserveBlock(ticks: number, runs: number): number;
  blockAt(part: number): number;
  replayBlock(n: number, m: number, p: number): number;
  replayResume(): number;
  replayPending(): number;
}
