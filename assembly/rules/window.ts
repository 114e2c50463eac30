// A slot's history ring (its fields are in the slot's cold record, cp), walked oldest -> newest (docs/kernel.md: "in window" means
// t - windowMs <= time < t; the ring never holds the reading being evaluated).
import { I_HIST_BASE, I_HIST_CAP, I_HIST_HEAD, I_HIST_LEN } from "../layout";

/** Ring entry index of the oldest entry (add k, wrap at cap). */
// @ts-ignore: decorator
@inline
export function oldest(cp: usize): u32 {
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const j = <u32>load<u8>(cp, I_HIST_HEAD) + cap - <u32>load<u8>(cp, I_HIST_LEN);
  return j >= cap ? j - cap : j;
}

/** The next ring position after j. */
// @ts-ignore: decorator
@inline
export function nextPos(cp: usize, j: u32): u32 {
  const n = j + 1;
  return n == <u32>load<u8>(cp, I_HIST_CAP) ? 0 : n;
}

/** Pool index of ring position j. */
// @ts-ignore: decorator
@inline
export function entry(cp: usize, j: u32): usize {
  return <usize>load<u32>(cp, I_HIST_BASE) + <usize>j;
}

/** Appends (t, v) to the ring (the caller checks histCap > 0). */
// @ts-ignore: decorator
@inline
export function append(cp: usize, histT: usize, histV: usize, cap: u32, t: f64, v: f32): void {
  const head = <u32>load<u8>(cp, I_HIST_HEAD);
  const e = <usize>load<u32>(cp, I_HIST_BASE) + <usize>head;
  store<f64>(histT + (e << 3), t);
  store<f32>(histV + (e << 2), v);
  const next = head + 1;
  store<u8>(cp, <u8>(next == cap ? 0 : next), I_HIST_HEAD);
  const len = <u32>load<u8>(cp, I_HIST_LEN);
  if (len < cap) store<u8>(cp, <u8>(len + 1), I_HIST_LEN);
}
