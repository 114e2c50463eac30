// Missing-data rules (docs/kernel.md, "Missing data"): minutes since data (interval) or missed
// daily deadlines (daily), classified as xHigh with margin 0 and applied with moveTo.
import { classifyPlain, codeDir, codeLevel } from "../classify";
import {
  DAY_MS,
  MISSING_DAILY,
  MISSING_INTERVAL,
  MISSING_ENROLMENT_DAY_COUNTS,
  MISSING_MAX_DAYS,
  P_DEADLINE_MS,
  P_ENROLMENT_DAY,
  P_EVERY_N_DAYS,
  P_GRACE_MS,
  P_MODE,
  P_WEEKDAYS,
  R_SLOT,
  R_T0,
  I_FLAGS,
  S_LAST_TIME,
  SLOT_PAUSED,
  TRIAGE_N,
} from "../layout";
import { infoPtr, slotPtr } from "../memory";
import { moveTo, paramOf } from "../persistence";

const MINUTE: f64 = 60000;

// @ts-ignore: decorator
@inline
function localDay(t: f64, tz: f64): f64 {
  return Math.floor((t + tz) / DAY_MS);
}

/** Is local day d scheduled: weekday (Monday 0) in the mask and every n-th day from the anchor's. */
function scheduled(pp: usize, d: f64, anchorDay: f64): bool {
  const di = <i64>d;
  let wd = (di + 3) % 7;
  if (wd < 0) wd += 7;
  if (((<u32>load<u8>(pp, P_WEEKDAYS) >> <u32>wd) & 1) == 0) return false;
  const diff = d - anchorDay;
  if (!isFinite(diff)) return false;
  // everyNDays 0 counts as 1 (the oracle's reading; the doc leaves mod 0 undefined).
  const every = <i64>max<u32>(1, load<u8>(pp, P_EVERY_N_DAYS));
  return <i64>diff % every == 0;
}

/** Overdue measure at `now`: minutes since refT, or missed scheduled deadlines (0 when paused). */
export function overdue(rp: usize, sp: usize, cp: usize, now: f64, tz: f64): f64 {
  if (load<u8>(cp, I_FLAGS) & SLOT_PAUSED) return 0;
  const anchor = load<f64>(rp, R_T0);
  const refT = max<f64>(load<f64>(sp, S_LAST_TIME), anchor);
  const pp = paramOf(rp);
  if (load<u8>(pp, P_MODE) != MISSING_DAILY) return (now - refT) / MINUTE;
  const today = localDay(now, tz);
  const anchorDay = localDay(anchor, tz);
  // The first day that can be missed: the day after refT's, or the armed day itself when it
  // counts, had no reading and the rule was armed before its deadline.
  let first = localDay(refT, tz) + 1;
  if (
    load<u8>(pp, P_ENROLMENT_DAY) == MISSING_ENROLMENT_DAY_COUNTS &&
    localDay(load<f64>(sp, S_LAST_TIME), tz) < anchorDay &&
    anchor < anchorDay * DAY_MS - tz + load<f64>(pp, P_DEADLINE_MS)
  ) first = anchorDay;
  let missed: f64 = 0;
  for (let d = max<f64>(first, today - MISSING_MAX_DAYS); d <= today; d += 1) {
    const deadline = d * DAY_MS - tz + load<f64>(pp, P_DEADLINE_MS) + load<f64>(pp, P_GRACE_MS);
    if (deadline <= now && scheduled(pp, d, anchorDay)) missed += 1;
  }
  return missed;
}

/**
 * Would moveMissing() at `now` change nothing? For an interval (stale-data) rule holding no alert
 * whose overdue minutes classify plain N: it would move to the (0, none) it holds. Anything else
 * (an alert held, a daily rule) answers false and takes moveMissing().
 */
// @ts-ignore: decorator
@inline
export function intervalAtRest(rp: usize, hdr: u32, now: f64): bool {
  if ((hdr & 0xffff00) != 0 || load<u8>(paramOf(rp), P_MODE) != MISSING_INTERVAL) return false;
  const refT = max<f64>(load<f64>(slotPtr(load<u32>(rp, R_SLOT)), S_LAST_TIME), load<f64>(rp, R_T0));
  return classifyPlain(rp, NaN, (now - refT) / MINUTE) == TRIAGE_N;
}

/**
 * Moves a missing rule to its level at `now` (paused slot: level 0). Transitions carry the
 * overdue measure as x, on a reading and on tick alike (docs/kernel.md "Missing data").
 */
export function moveMissing(rp: usize, now: f64, tz: f64, reading: i32): void {
  const slot = load<u32>(rp, R_SLOT);
  const cp = infoPtr(slot);
  const x = overdue(rp, slotPtr(slot), cp, now, tz);
  const code = load<u8>(cp, I_FLAGS) & SLOT_PAUSED ? TRIAGE_N : classifyPlain(rp, NaN, x);
  moveTo(rp, codeLevel(code), codeDir(code), now, x, reading, 0);
}
