// Care-team routing and the escalation chain. Pure: the local-time offset is passed in.
//
// Routing: the first entry of the patient's chain that matches programme, priority and local
// hour, weekday and Danish holiday (engine/calendar/holidays.ts); when none matches, the first
// entry (an alert is never unrouted while a chain exists).
// Escalation: the next entry after the current one whose team has not been told yet, preferring
// one that matches now (programme, priority, hours); when none matches, the next such entry in
// chain order anyway, so escalation never stops while a team remains. When no team remains, the
// chain has ended: the lifecycle re-announces once to every team and stops.
import type { Priority } from "../alerts.js";
import { danishDay, OBSERVANCES } from "../calendar/holidays.js";
import { VarselError } from "../errors.js";
import { WEEKDAYS, type Weekday } from "../rules/definitions.js";
import type { HolidayRule, RoutedTo, RoutingEntry, RoutingHours, TeamRole } from "./types.js";

const ROLES: readonly TeamRole[] = ["hospital", "municipality", "gp"];
const PRIORITIES: readonly Priority[] = ["high", "medium", "low"];
const HOLIDAY_RULES: readonly HolidayRule[] = ["as_sunday", "include", "exclude", "only"];
const MINUTES_PER_DAY = 24 * 60;
const DAY_MS = 86_400_000;

/** Local minute of day, weekday (0 = Monday) and local date (days since 1970-01-01) of an instant. */
export interface LocalTime {
  minute: number;
  day: number;
  date: number;
}

/** The local time of `at` given the UTC offset in force then. */
export function localTime(at: number, offsetMs: number): LocalTime {
  const local = at + offsetMs;
  const d = new Date(local);
  return { minute: d.getUTCHours() * 60 + d.getUTCMinutes(), day: (d.getUTCDay() + 6) % 7, date: Math.floor(local / DAY_MS) };
}

function minuteOf(text: unknown, allow24: boolean): number | null {
  if (typeof text !== "string") return null;
  const m = /^(\d{2}):(\d{2})$/.exec(text);
  if (m === null) return null;
  const h = Number(m[1]), min = Number(m[2]);
  if (allow24 && h === 24 && min === 0) return MINUTES_PER_DAY;
  return h <= 23 && min <= 59 ? h * 60 + min : null;
}

/** True when the hours window covers the local time (see RoutingHours for the rules). */
export function coversHours(hours: RoutingHours, t: LocalTime): boolean {
  const today = windowOn(hours, t.date, t.day);
  if (today !== null) {
    if (today.from === today.to) return true;
    if (t.minute >= today.from && (today.from > today.to || t.minute < today.to)) return true;
  }
  // The morning part of a window spanning midnight belongs to yesterday's window, so yesterday's
  // weekday, holiday and half-day status decide it (skærtorsdag's night runs into langfredag).
  const yesterday = windowOn(hours, t.date - 1, (t.day + 6) % 7);
  return yesterday !== null && yesterday.from > yesterday.to && t.minute < yesterday.to;
}

/** The window (local minutes; to < from spans midnight, equal = all day) starting on a date, or null when the entry is off that day. */
function windowOn(hours: RoutingHours, date: number, day: number): { from: number; to: number } | null {
  const cal = danishDay(date);
  const holiday = cal.holiday !== undefined || (cal.observance !== undefined && hours.extraHolidays?.includes(cal.observance) === true);
  const onDay = (d: Weekday) => hours.days === undefined || hours.days.includes(d);
  if (!worksOn(hours.holidays ?? "as_sunday", holiday, onDay(WEEKDAYS[day]), onDay("sun"))) return null;
  const half = !holiday && cal.observance !== undefined && hours.halfDays?.on.includes(cal.observance) === true ? hours.halfDays : undefined;
  return {
    from: minuteOf(half?.from ?? hours.from, false)!,
    to: minuteOf(half?.to ?? hours.to, true)! % MINUTES_PER_DAY,
  };
}

/** True when the entry takes an alert of these programmes (any one listed) and priority at this local time. */
export function entryMatches(entry: RoutingEntry, programmes: readonly string[], priority: Priority, t: LocalTime): boolean {
  if (entry.programmes !== undefined && !programmes.some((p) => entry.programmes!.includes(p))) return false;
  if (entry.priorities !== undefined && !entry.priorities.includes(priority)) return false;
  return entry.hours === undefined || coversHours(entry.hours, t);
}

/** The entry an alert is routed to: the first match, else the first entry; null for an empty chain. */
export function route(chain: readonly RoutingEntry[], programmes: readonly string[], priority: Priority, t: LocalTime): RoutedTo | null {
  if (chain.length === 0) return null;
  const i = chain.findIndex((e) => entryMatches(e, programmes, priority, t));
  const entry = i >= 0 ? i : 0;
  return { team: chain[entry].team, role: chain[entry].role, entry };
}

/** The next entry to escalate to after `current`, skipping teams already told; null when the chain has ended. */
export function nextInChain(
  chain: readonly RoutingEntry[],
  current: number,
  notified: readonly string[],
  programmes: readonly string[],
  priority: Priority,
  t: LocalTime,
): RoutedTo | null {
  const candidates: number[] = [];
  for (let i = current + 1; i < chain.length; i++) if (!notified.includes(chain[i].team)) candidates.push(i);
  if (candidates.length === 0) return null;
  const entry = candidates.find((i) => entryMatches(chain[i], programmes, priority, t)) ?? candidates[0];
  return { team: chain[entry].team, role: chain[entry].role, entry };
}

/** The distinct teams of a chain, in chain order. */
export function teamsOf(chain: readonly RoutingEntry[]): string[] {
  return [...new Set(chain.map((e) => e.team))];
}

/** Checks a care chain; throws `invalid_routing` naming the first bad entry. */
export function validateChain(chain: readonly RoutingEntry[]): void {
  if (!Array.isArray(chain)) throw new VarselError("invalid_routing", "careTeams must be an array");
  chain.forEach((e, i) => {
    const bad = (why: string): never => {
      throw new VarselError("invalid_routing", `care team entry ${i}: ${why}`, { entry: i });
    };
    if (typeof e !== "object" || e === null) bad("must be an object");
    if (typeof e.team !== "string" || e.team === "") bad("team is required");
    if (!ROLES.includes(e.role)) bad(`role must be one of ${ROLES.join(", ")}`);
    if (e.programmes !== undefined && (!Array.isArray(e.programmes) || e.programmes.some((p: unknown) => typeof p !== "string"))) {
      bad("programmes must be a list of programme ids");
    }
    if (e.priorities !== undefined && (!Array.isArray(e.priorities) || e.priorities.some((p: Priority) => !PRIORITIES.includes(p)))) {
      bad(`priorities must be a list of ${PRIORITIES.join(", ")}`);
    }
    if (e.hours !== undefined) validateHours(e.hours, bad);
  });
}

/** Whether a window runs on a day: `days` (weekday, sunday) combined with the holiday rule. */
function worksOn(rule: HolidayRule, holiday: boolean, weekday: boolean, sunday: boolean): boolean {
  if (!holiday) return weekday && rule !== "only";
  switch (rule) {
    case "as_sunday": return sunday;
    case "include": return true;
    case "exclude": return false;
    case "only": return weekday;
  }
}

function validateHours(h: RoutingHours, bad: (why: string) => never): void {
  if (typeof h !== "object" || h === null) bad("hours must be an object");
  if (minuteOf(h.from, false) === null) bad('hours.from must be "HH:MM"');
  if (minuteOf(h.to, true) === null) bad('hours.to must be "HH:MM"');
  if (h.days !== undefined && !isListOf(h.days, WEEKDAYS)) bad(`hours.days must be a list of ${WEEKDAYS.join(", ")}, each once`);
  if (h.holidays !== undefined && !HOLIDAY_RULES.includes(h.holidays)) bad(`hours.holidays must be one of ${HOLIDAY_RULES.join(", ")}`);
  if (h.extraHolidays !== undefined && !isListOf(h.extraHolidays, OBSERVANCES)) bad(`hours.extraHolidays must be a list of ${OBSERVANCES.join(", ")}, each once`);
  if (h.halfDays !== undefined) {
    const half = h.halfDays;
    if (typeof half !== "object" || half === null) bad("hours.halfDays must be an object");
    if (!isListOf(half.on, OBSERVANCES) || half.on.length === 0) bad(`hours.halfDays.on must be a non-empty list of ${OBSERVANCES.join(", ")}, each once`);
    if (half.from === undefined && half.to === undefined) bad("hours.halfDays needs from or to");
    if (half.from !== undefined && minuteOf(half.from, false) === null) bad('hours.halfDays.from must be "HH:MM"');
    if (half.to !== undefined && minuteOf(half.to, true) === null) bad('hours.halfDays.to must be "HH:MM"');
    const both = half.on.find((o) => h.extraHolidays?.includes(o));
    if (both !== undefined) bad(`hours: ${both} cannot be both a holiday (extraHolidays) and a half day`);
  }
}

/** A list of allowed values, each at most once (so never longer than `allowed`). */
function isListOf<T>(value: unknown, allowed: readonly T[]): value is T[] {
  return Array.isArray(value) && value.every((v, i) => allowed.includes(v) && value.indexOf(v) === i);
}
