// Transition records (docs/kernel.md, "Memory layout": transitions). evaluate()/tick() check the
// worst case against the capacity up front, so emit() never checks.
import { H_OFF_OUT, TR_DETAIL, TR_DIR, TR_FROM, TR_KIND, TR_READING, TR_RULE, TR_TIME, TR_TO, TR_X } from "./layout";
import { gRules, hget } from "./memory";

let gOut: usize = 0;
export let gOutCount: u32 = 0;

/** Starts a call's output at the beginning of the transition region. */
export function outBegin(): void {
  gOut = hget(H_OFF_OUT);
  gOutCount = 0;
}

/** Appends one transition of the rule at `rp`. */
export function emit(rp: usize, kind: u32, from: u32, to: u32, dir: u32, time: f64, x: f64, reading: i32, detail: u32): void {
  const p = gOut + (<usize>gOutCount << 5);
  store<u32>(p, <u32>((rp - gRules) >> 6), TR_RULE);
  store<u8>(p, kind, TR_KIND);
  store<u8>(p, from, TR_FROM);
  store<u8>(p, to, TR_TO);
  store<u8>(p, dir, TR_DIR);
  store<f64>(p, time, TR_TIME);
  store<f64>(p, x, TR_X);
  store<i32>(p, reading, TR_READING);
  store<u32>(p, detail, TR_DETAIL);
  gOutCount++;
}
