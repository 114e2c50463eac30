// Missing data from the clock (docs/kernel.md, "Missing data"): stale data for interval
// schedules (CGM), missed daily deadlines for scheduled measurements (OpenTele BLUE alarm).
import { DAY_MS, MISSING_DAILY, MISSING_ENROLMENT_DAY_COUNTS, MISSING_MAX_DAYS } from "../../assembly/layout.js";
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

/**
 * The first day that can be missed: the day after the later of the last reading and the anchor,
 * or the anchor's day itself when the rule says it counts, no reading fell on it and the rule
 * was armed before that day's deadline (grace is lateness allowed, not time to start).
 */
function firstDay(rule: RuleState, slot: SlotState, tzOffsetMs: number): number {
  const anchorDay = localDay(rule.anchor, tzOffsetMs);
  const counts =
    rule.params.enrolmentDay === MISSING_ENROLMENT_DAY_COUNTS &&
    localDay(slot.lastTime, tzOffsetMs) < anchorDay &&
    rule.anchor < anchorDay * DAY_MS - tzOffsetMs + rule.params.deadlineMs;
  return counts ? anchorDay : localDay(Math.max(slot.lastTime, rule.anchor), tzOffsetMs) + 1;
}

/** How overdue the slot is at `now`: minutes since data (interval) or missed deadlines (daily). 0 when paused. */
export function overdue(rule: RuleState, slot: SlotState, now: number, tzOffsetMs: number): number {
  if (slot.paused) return 0;
  if (rule.params.mode !== MISSING_DAILY) return (now - Math.max(slot.lastTime, rule.anchor)) / MINUTE_MS;
  const today = localDay(now, tzOffsetMs);
  const anchorDay = localDay(rule.anchor, tzOffsetMs);
  const first = Math.max(firstDay(rule, slot, tzOffsetMs), today - MISSING_MAX_DAYS);
  let missed = 0;
  for (let day = first; day <= today; day++) {
    const deadline = day * DAY_MS - tzOffsetMs + rule.params.deadlineMs + rule.params.graceMs;
    if (deadline <= now && scheduled(rule, day, anchorDay)) missed++;
  }
  return missed;
}
