// When the virtual clock ticks for a group of patients. The kernel's tick visits every rule, so
// ticking 60 000 rules every few minutes for a year would cost more than the readings: a group
// ticks at a fixed step only when one of its rules needs it (stale data, `for`, keep-firing), and
// at the exact instants of its daily deadlines (deadline + grace, Copenhagen time). Extra ticks
// never change a daily rule's outcome (its level only moves at a deadline or a reading).
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../clock.js";
import type { RuleDef } from "../rules/definitions.js";
import { parseDuration, parseTimeOfDay } from "../rules/duration.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export class TickPlan {
  /** Deadline + grace, ms after local midnight, of every daily rule (distinct). */
  private readonly deadlines: number[];
  /** 0 when no rule needs the fixed step. */
  readonly stepMs: number;
  /** UTC offsets by hour: next() looks at several days either side, which a one-entry cache would miss every time. */
  private readonly offsets = new Map<number, number>();

  constructor(ruleSets: Iterable<readonly RuleDef[]>, stepMs: number, private readonly timeZone = DEFAULT_TIME_ZONE) {
    const deadlines = new Set<number>();
    let needsStep = false;
    for (const rules of ruleSets) {
      for (const rule of rules) {
        if (rule.kind === "missing") {
          if (rule.stale !== undefined) needsStep = true;
          if (rule.daily !== undefined) deadlines.add((parseTimeOfDay(rule.daily.deadline) ?? 0) + (parseDuration(rule.daily.grace ?? "0s") ?? 0));
        } else if (rule.modifiers?.for !== undefined || rule.modifiers?.keepFiringFor !== undefined) needsStep = true;
      }
    }
    this.deadlines = [...deadlines].sort((a, b) => a - b);
    this.stepMs = needsStep ? stepMs : 0;
  }

  /** The first tick instant strictly after `after` (Infinity when the plan never ticks). */
  next(after: number): number {
    let best = this.stepMs > 0 ? Math.floor(after / this.stepMs) * this.stepMs + this.stepMs : Infinity;
    if (this.deadlines.length === 0) return best;
    const day = Math.floor((after + this.offset(after)) / DAY_MS);
    // Deadline + grace may pass midnight: look a couple of local days either side.
    for (let d = day - 2; d <= day + 1; d++) {
      for (const offset of this.deadlines) {
        const at = this.deadlineAt(d, offset);
        if (at > after && at < best) best = at;
      }
    }
    return best;
  }

  /** The instant of local day d's deadline, with the offset in force at that instant (as the kernel's tick sees it). */
  private deadlineAt(day: number, offset: number): number {
    const guess = day * DAY_MS + offset - this.offset(day * DAY_MS + offset);
    return day * DAY_MS + offset - this.offset(guess);
  }

  private offset(at: number): number {
    const hour = Math.floor(at / HOUR_MS);
    let offset = this.offsets.get(hour);
    if (offset === undefined) this.offsets.set(hour, (offset = utcOffsetMs(this.timeZone, at)));
    return offset;
  }
}
