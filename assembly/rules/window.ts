// A slot's history ring (its fields are in the slot's cold record, cp), walked oldest -> newest (docs/kernel.md: "in window" means
// t - windowMs <= time < t; the ring never holds the reading being evaluated).
import { I_HIST_BASE, I_HIST_CAP, I_HIST_HEAD, I_HIST_LEN } from "../layout";

/** Pool index of ring position j. */
// @ts-ignore: decorator
@inline
export function entry(cp: usize, j: u32): usize {
  return <usize>load<u32>(cp, I_HIST_BASE) + <usize>j;
}

/** Entries in the window found by the last windowFrom(). */
export let gWinCount: u32 = 0;

/**
 * The ring position of the oldest entry with time >= from; their count in gWinCount. Ring times
 * strictly increase (an entry is a reading applied after the slot's last one; retractLast drops
 * the newest), so the entries at or after `from` are the newest ones: scanned newest first, the
 * scan stops at the first older one instead of visiting the whole ring. The caller still walks
 * them oldest -> newest, in the order (and arithmetic) of docs/kernel.md.
 */
export function windowFrom(cp: usize, histT: usize, from: f64): u32 {
  const cap = <u32>load<u8>(cp, I_HIST_CAP);
  const len = <u32>load<u8>(cp, I_HIST_LEN);
  const base = <usize>load<u32>(cp, I_HIST_BASE);
  let j = <u32>load<u8>(cp, I_HIST_HEAD);
  let k: u32 = 0;
  while (k < len) {
    const p = (j == 0 ? cap : j) - 1;
    if (!(load<f64>(histT + ((base + <usize>p) << 3)) >= from)) break;
    j = p;
    k++;
  }
  gWinCount = k;
  return j;
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
