// The kernel's exports (docs/kernel.md). No managed allocations: every byte of state lives in
// raw linear memory from heapBase(), laid out by reserve() and described by the header.
export { heapBase, reserve } from "./memory";
export {
  addParamSet,
  addRule,
  addScoreInputs,
  addSlot,
  disableRule,
  setRuleLimits,
  setRuleParam,
  setSlotPaused,
  setSlotRef,
} from "./setup";
export { evaluate } from "./evaluate";
export { tick } from "./tick";
