// When a virtual clock must tick on its way from one instant to another (engine/virtual-clock.ts).
// The kernel stamps a clock-raised alert with the tick's time, so a tick must fall exactly where
// something becomes due: every whole minute (stale data, escalation, silences: due on the minute
// for minute-granular settings), and every daily deadline + grace of a missing rule, computed in
// local time as the kernel computes it, whatever its seconds. A tick where nothing is due changes
// nothing and is not journaled, so extra ticks cost CPU only.
import { DAY_MS } from "../assembly/layout.js";
import type { Pipeline } from "./pipeline.js";
import type { MissingRule, RuleDef } from "./rules/definitions.js";
import { parseDuration, parseTimeOfDay } from "./rules/duration.js";
import { PROGRAMMES, type ProgrammeId } from "./rules/programmes.js";
import { utcOffsetMs } from "./clock.js";

/** The regular step of a virtual advance, by default (the system clock ticks every second). */
export const VIRTUAL_STEP_MS = 60_000;
/** The finest and coarsest step a caller may ask for. */
export const VIRTUAL_STEP_RANGE_MS = { min: 1_000, max: 3_600_000 } as const;

/**
 * Milliseconds after local midnight at which a daily missing rule is overdue (deadline + grace),
 * for every such rule among `rules`; rules of other kinds or shapes are skipped.
 */
export function dailyDueOffsets(rules: Iterable<RuleDef | { id: string; remove: true }>): Set<number> {
  const offsets = new Set<number>();
  for (const rule of rules) {
    if (!("kind" in rule) || rule.kind !== "missing") continue;
    const daily = (rule as MissingRule).daily;
    if (daily === undefined || typeof daily.deadline !== "string") continue;
    const deadline = parseTimeOfDay(daily.deadline);
    const grace = daily.grace === undefined ? 0 : typeof daily.grace === "string" ? parseDuration(daily.grace) : null;
    if (deadline !== null && grace !== null) offsets.add(deadline + grace);
  }
  return offsets;
}

/**
 * The daily due offsets of every rule that can judge a patient now: the programmes' current
 * rules and every patient's overrides (a superset: a removed rule only adds a tick).
 */
export function pipelineDueOffsets(pipeline: Pipeline): Set<number> {
  const rules: (RuleDef | { id: string; remove: true })[] = [];
  for (const id of Object.keys(PROGRAMMES) as ProgrammeId[]) rules.push(...pipeline.thresholds.programmeRules(id));
  for (const [, versions] of pipeline.thresholds.exportState().patients) rules.push(...(versions.at(-1)?.rules ?? []));
  return dailyDueOffsets(rules);
}

/**
 * The instants in (from, to] a virtual advance ticks at, ascending and each once: every multiple
 * of `stepMs`, every local-day instant of `offsets` in `timeZone`, and `to` itself. Lazy: a
 * year of minutes is never held at once.
 */
export function* tickInstants(from: number, to: number, offsets: Iterable<number>, timeZone: string, stepMs = VIRTUAL_STEP_MS): Generator<number> {
  const due = dueInstants(from, to, [...offsets], timeZone);
  due.push(to);
  let step = (Math.floor(from / stepMs) + 1) * stepMs;
  let last = from;
  for (const d of due) {
    for (; step <= d; step += stepMs) if (step > last) yield (last = step);
    if (d > last) yield (last = d);
  }
}

/** The instants in (from, to] at which a daily rule of these offsets falls due, ascending. */
function dueInstants(from: number, to: number, offsets: number[], timeZone: string): number[] {
  const at = new Set<number>();
  if (offsets.length === 0) return [];
  // The kernel's deadline of local day d, judged at `now`: d·DAY − offset(now) + due. Either
  // offset of the day (it changes at most once a day) may be the one in force when it is due.
  const firstDay = Math.floor((from + utcOffsetMs(timeZone, from)) / DAY_MS) - 1;
  const lastDay = Math.floor((to + utcOffsetMs(timeZone, to)) / DAY_MS) + 1;
  for (let day = firstDay; day <= lastDay; day++) {
    const start = day * DAY_MS;
    const offsetsOfDay = new Set([utcOffsetMs(timeZone, start), utcOffsetMs(timeZone, start + DAY_MS)]);
    for (const due of offsets) {
      for (const offset of offsetsOfDay) {
        const t = start - offset + due;
        if (t > from && t <= to) at.add(t);
      }
    }
  }
  return [...at].sort((a, b) => a - b);
}
