// Care-team routing and the escalation chain. Pure: the local-time offset is passed in.
//
// Routing: the first entry of the patient's chain that matches programme, priority and local
// hour; when none matches, the first entry (an alert is never unrouted while a chain exists).
// Escalation: the next entry after the current one whose team has not been told yet, preferring
// one that matches now (programme, priority, hours); when none matches, the next such entry in
// chain order anyway, so escalation never stops while a team remains. When no team remains, the
// chain has ended: the lifecycle re-announces once to every team and stops.
import type { Priority } from "../alerts.js";
import { VarselError } from "../errors.js";
import { WEEKDAYS, type Weekday } from "../rules/definitions.js";
import type { RoutedTo, RoutingEntry, RoutingHours, TeamRole } from "./types.js";

const ROLES: readonly TeamRole[] = ["hospital", "municipality", "gp"];
const PRIORITIES: readonly Priority[] = ["high", "medium", "low"];
const MINUTES_PER_DAY = 24 * 60;

/** Local minute of day and weekday (0 = Monday) of an instant. */
export interface LocalTime {
  minute: number;
  day: number;
}

/** The local time of `at` given the UTC offset in force then. */
export function localTime(at: number, offsetMs: number): LocalTime {
  const d = new Date(at + offsetMs);
  return { minute: d.getUTCHours() * 60 + d.getUTCMinutes(), day: (d.getUTCDay() + 6) % 7 };
}

function minuteOf(text: string, allow24: boolean): number | null {
  const m = /^(\d{2}):(\d{2})$/.exec(text);
  if (m === null) return null;
  const h = Number(m[1]), min = Number(m[2]);
  if (allow24 && h === 24 && min === 0) return MINUTES_PER_DAY;
  return h <= 23 && min <= 59 ? h * 60 + min : null;
}

/** True when the hours window covers the local time (see RoutingHours for the rules). */
export function coversHours(hours: RoutingHours, t: LocalTime): boolean {
  const from = minuteOf(hours.from, false)!;
  const to = minuteOf(hours.to, true)! % MINUTES_PER_DAY;
  const onDay = (day: number) => hours.days === undefined || hours.days.includes(WEEKDAYS[day]);
  if (from === to) return onDay(t.day);
  if (from < to) return onDay(t.day) && t.minute >= from && t.minute < to;
  // Spans midnight: the evening part belongs to today, the morning part to yesterday's window.
  if (t.minute >= from) return onDay(t.day);
  return t.minute < to && onDay((t.day + 6) % 7);
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
    if (e.hours !== undefined) {
      if (minuteOf(e.hours.from, false) === null) bad('hours.from must be "HH:MM"');
      if (minuteOf(e.hours.to, true) === null) bad('hours.to must be "HH:MM"');
      if (e.hours.days !== undefined && (!Array.isArray(e.hours.days) || e.hours.days.some((d: Weekday) => !WEEKDAYS.includes(d)))) {
        bad(`hours.days must be a list of ${WEEKDAYS.join(", ")}`);
      }
    }
  });
}
