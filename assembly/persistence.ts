// Persistence and keep-firing (docs/kernel.md, "Persistence and keep-firing"): step, settle and
// moveTo, plus stepDirect, the same step for rules whose alert simply follows raw.
import { codeDir, codeLevel } from "./classify";
import {
  DIR_NONE,
  MASK_MAX,
  P_FOR_MS,
  P_KEEP_MS,
  P_M,
  P_N,
  R_DIR,
  R_LEVEL,
  R_MASK_R,
  R_MASK_Y,
  R_PARAM,
  R_RAW_DIR,
  R_RAW_LEVEL,
  R_T0,
  R_T1,
  R_T2,
  TR_DOWNGRADE,
  TR_RAISE,
  TR_RESOLVE,
  TR_UPGRADE,
} from "./layout";
import { gParams } from "./memory";
import { emit } from "./out";

/** Param record of a rule. */
// @ts-ignore: decorator
@inline
export function paramOf(rp: usize): usize {
  return gParams + (<usize>load<u16>(rp, R_PARAM) << 6);
}

/** Starts or ends the runs of raw >= yellow (t0) and raw >= red (t1); writes only on change. */
// @ts-ignore: decorator
@inline
function runs(rp: usize, level: u32, t: f64): void {
  const y = load<f64>(rp, R_T0);
  if (level >= 1) {
    if (isNaN(y)) store<f64>(rp, t, R_T0);
  } else if (!isNaN(y)) store<f64>(rp, NaN, R_T0);
  const r = load<f64>(rp, R_T1);
  if (level >= 2) {
    if (isNaN(r)) store<f64>(rp, t, R_T1);
  } else if (!isNaN(r)) store<f64>(rp, NaN, R_T1);
}

/** One observation with raw classification `code` at time t (the general path). */
export function step(rp: usize, code: u32, t: f64, x: f64, reading: i32, detail: u32): void {
  const level = codeLevel(code);
  const pp = paramOf(rp);
  runs(rp, level, t);
  const m = min<u32>(load<u8>(pp, P_M), MASK_MAX);
  if (m > 0) {
    const keep: u32 = (1 << m) - 1;
    store<u16>(rp, ((<u32>load<u16>(rp, R_MASK_Y) << 1) | <u32>(level >= 1)) & keep, R_MASK_Y);
    store<u16>(rp, ((<u32>load<u16>(rp, R_MASK_R) << 1) | <u32>(level >= 2)) & keep, R_MASK_R);
  }
  store<u8>(rp, level, R_RAW_LEVEL);
  store<u8>(rp, codeDir(code), R_RAW_DIR);
  settle(rp, t, x, reading, detail);
}

/**
 * step() for a slot rule with forMs = keepMs = 0 and M = 0: its runs start at or before t (slot
 * times only increase), so ok(k) is "raw >= k" and the alert follows raw; belowSince stays NaN.
 */
// @ts-ignore: decorator
@inline
export function stepDirect(rp: usize, hdr: u32, code: u32, t: f64, x: f64, reading: i32): void {
  const level = codeLevel(code);
  const dir = codeDir(code);
  runs(rp, level, t);
  const raw = level | (dir << 8);
  if (<u32>load<u16>(rp, R_RAW_LEVEL) != raw) store<u16>(rp, <u16>raw, R_RAW_LEVEL);
  if (level != ((hdr >> 8) & 0xff) || dir != ((hdr >> 16) & 0xff)) moveTo(rp, level, dir, t, x, reading, 0);
}

/** Has raw level k held long enough (for / N of M) at `now`? */
// @ts-ignore: decorator
@inline
function ok(rp: usize, pp: usize, since: f64, mask: u32, now: f64): bool {
  const forMs = load<f64>(pp, P_FOR_MS);
  const held = !isNaN(since) && now - since >= forMs;
  if (load<u8>(pp, P_M) == 0) return held;
  return popcnt<u32>(mask) >= <u32>load<u8>(pp, P_N) && (forMs == 0 || held);
}

/** Moves the alert to the level its persisted condition supports, honouring keep-firing. */
export function settle(rp: usize, now: f64, x: f64, reading: i32, detail: u32): void {
  const pp = paramOf(rp);
  const target: u32 = ok(rp, pp, load<f64>(rp, R_T1), load<u16>(rp, R_MASK_R), now)
    ? 2
    : ok(rp, pp, load<f64>(rp, R_T0), load<u16>(rp, R_MASK_Y), now) ? 1 : 0;
  const level = <u32>load<u8>(rp, R_LEVEL);
  const dir = <u32>load<u8>(rp, R_DIR);
  const tdir: u32 = target == 0 ? DIR_NONE : load<u8>(rp, R_RAW_LEVEL) >= 1 ? <u32>load<u8>(rp, R_RAW_DIR) : dir;
  if (target == level && tdir == dir) {
    if (!isNaN(load<f64>(rp, R_T2))) store<f64>(rp, NaN, R_T2);
    return;
  }
  const weaker = target < level || (target == level && tdir != dir);
  const keepMs = load<f64>(pp, P_KEEP_MS);
  if (weaker && keepMs > 0) {
    let below = load<f64>(rp, R_T2);
    if (isNaN(below)) {
      below = now;
      store<f64>(rp, now, R_T2);
    }
    if (now - below < keepMs) return; // keep firing
  }
  store<f64>(rp, NaN, R_T2);
  moveTo(rp, target, tdir, now, x, reading, detail);
}

/** The only place transitions are written. A move to the alert already held writes nothing. */
export function moveTo(rp: usize, target: u32, tdir: u32, time: f64, x: f64, reading: i32, detail: u32): void {
  let level = <u32>load<u8>(rp, R_LEVEL);
  const dir = <u32>load<u8>(rp, R_DIR);
  if (target == level && tdir == dir) return;
  if (level > 0 && (target == 0 || tdir != dir)) {
    emit(rp, TR_RESOLVE, level, 0, dir, time, x, reading, detail);
    level = 0;
  }
  if (target > 0) {
    const kind = level == 0 ? TR_RAISE : target > level ? TR_UPGRADE : TR_DOWNGRADE;
    emit(rp, kind, level, target, tdir, time, x, reading, detail);
  }
  store<u8>(rp, <u8>target, R_LEVEL);
  store<u8>(rp, <u8>(target == 0 ? DIR_NONE : tdir), R_DIR);
}
