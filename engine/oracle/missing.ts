// Missing data from the clock (docs/kernel.md, "Missing data"): stale data for interval
// schedules (CGM), missed daily deadlines for scheduled measurements (OpenTele BLUE alarm).
import { DAY_MS, MISSING_DAILY, MISSING_MAX_DAYS } from "../../assembly/layout.js";
import type { RuleState, SlotState } from "./state.js";

const MINUTE_MS = 60000;

/** Local day number of a time. */
export function localDay(t: number, tzOffsetMs: number): number {
  return Math.floor((t + tzOffsetMs) / DAY_MS);
}

function scheduled(rule: RuleState, day: number, anchorDay: number): boolean {
  const weekday = (((day + 3) % 7) + 7) % 7;
  if ((rule.params.weekdays & (1 << weekday)) === 0) return false;
  const every = Math.max(1, rule.params.everyNDays);
  return (((day - anchorDay) % every) + every) % every === 0;
}

/** How overdue the slot is at `now`: minutes since data (interval) or missed deadlines (daily). 0 when paused. */
export function overdue(rule: RuleState, slot: SlotState, now: number, tzOffsetMs: number): number {
  if (slot.paused) return 0;
  const refT = Math.max(slot.lastTime, rule.anchor);
  if (rule.params.mode !== MISSING_DAILY) return (now - refT) / MINUTE_MS;
  const today = localDay(now, tzOffsetMs);
  const anchorDay = localDay(rule.anchor, tzOffsetMs);
  const first = Math.max(localDay(refT, tzOffsetMs) + 1, today - MISSING_MAX_DAYS);
  let missed = 0;
  for (let day = first; day <= today; day++) {
    const deadline = day * DAY_MS - tzOffsetMs + rule.params.deadlineMs + rule.params.graceMs;
    if (deadline <= now && scheduled(rule, day, anchorDay)) missed++;
  }
  return missed;
}
