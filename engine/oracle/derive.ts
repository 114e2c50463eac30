// The derived value of each value rule kind (docs/kernel.md, "Rule kinds and their derived value").
// History entries are the slot's past readings (oldest first), never the reading being evaluated.
import { BASELINE_PERCENT, RATE_FORECAST, RULE_COMPUTED_REF } from "../../assembly/layout.js";
import type { HistoryEntry, RuleState, SlotState } from "./state.js";

export interface Derived {
  xLow: number;
  xHigh: number;
}

const MINUTE_MS = 60000;

function inWindow(history: HistoryEntry[], t: number, windowMs: number): HistoryEntry[] {
  return history.filter((e) => t - windowMs <= e.time && e.time < t);
}

/** Median of values (mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The reference a baseline rule compares with: the clinician's, else (if allowed) the recent median. NaN = reference needed. */
export function baselineReference(rule: RuleState, slot: SlotState, t: number): number {
  if (!Number.isNaN(slot.ref)) return slot.ref;
  if ((rule.flags & RULE_COMPUTED_REF) === 0) return NaN;
  const recent = inWindow(slot.history, t, rule.params.windowMs);
  if (recent.length === 0 || recent.length < rule.params.minCount) return NaN;
  return median(recent.map((e) => e.value));
}

/** Deviation from the reference: absolute difference, percentage points (same arithmetic), or percent. */
export function baselineDeviation(rule: RuleState, v: number, ref: number): number {
  if (rule.params.mode === BASELINE_PERCENT) return ref === 0 ? NaN : ((v - ref) / ref) * 100;
  return v - ref;
}

/** Change over the window: loss against the window's maximum, gain against its minimum. */
export function delta(rule: RuleState, slot: SlotState, v: number, t: number): Derived {
  const recent = inWindow(slot.history, t, rule.params.windowMs);
  if (recent.length === 0) return { xLow: NaN, xHigh: NaN };
  let min = Infinity;
  let max = -Infinity;
  for (const e of recent) {
    if (e.value < min) min = e.value;
    if (e.value > max) max = e.value;
  }
  return { xLow: v - max, xHigh: v - min };
}

/** Least-squares slope per minute over the window plus the current reading; or its forecast at the horizon. */
export function rate(rule: RuleState, slot: SlotState, v: number, t: number): Derived {
  const points = [...inWindow(slot.history, t, rule.params.windowMs), { time: t, value: v }];
  let n = 0;
  let sumT = 0;
  let sumV = 0;
  let sumTT = 0;
  let sumTV = 0;
  for (const p of points) {
    const tm = (p.time - t) / MINUTE_MS;
    n += 1;
    sumT += tm;
    sumV += p.value;
    sumTT += tm * tm;
    sumTV += tm * p.value;
  }
  const den = n * sumTT - sumT * sumT;
  if (n < 2 || den === 0) return { xLow: NaN, xHigh: NaN };
  const slope = (n * sumTV - sumT * sumV) / den;
  const x = rule.params.mode === RATE_FORECAST ? v + slope * (rule.params.horizonMs / MINUTE_MS) : slope;
  return { xLow: x, xHigh: x };
}
