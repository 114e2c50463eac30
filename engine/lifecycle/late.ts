// Late data (issue 14.6): which transitions of an ingest batch describe the past. Pure: the
// clock is the caller's `now` (the journal entry's time on replay), so lateness replays exactly.
//
// Decisions (docs/http.md "Late and out-of-order data" explains them to integrators)
// - The reorder window is one request: the host sorts a request's readings by time before the
//   evaluator sees them (engine.ts), so a gateway's buffer is evaluated in the order it was
//   measured. A reading older than the last one of its metric from an earlier request stays
//   `out_of_order` (journaled and shown, not evaluated): holding readings back to wait for
//   stragglers would delay every alarm by the window, and evaluating them would rewrite the past.
// - `lateAfter` (default 15 min, VARSEL_LATE_AFTER): CGM transmitters send every 5 min and the
//   phone uploads at once; a reading older than three missed cycles — the stale-data yellow
//   limit of the CGM programme — was buffered by a gateway (Dexcom G7 and Libre sensors backfill
//   up to 24 h and more). A transition whose time is older than now − lateAfter is late ...
// - ... unless it is the last transition of its rule in the request, leaves the rule in alarm,
//   and the request holds a reading of its metric within lateAfter: the condition still held at
//   that present reading, so it is the present (a batch whose last readings are low raises an
//   urgent low now). An episode that began and ended in the past, a level the rule left again in
//   the same request, or one still held at a newest reading that is itself old (a gateway that
//   sends its 24 h in several requests, oldest first: an early one ends hours ago) is history.
//   When a later request's present reading finds such a late alert still firing, the lifecycle
//   makes it present (lifecycle.ts presentLate).
// - A missing-data rule is judged at every reading of a request as if that reading were the
//   newest (the kernel's semantics); only its last transition in the request is news. The ones
//   before it would announce stale data the request itself fills (a 24 h backfill without an open
//   stale-data alert would raise and resolve one), so the lifecycle skips them.
import type { AlertTransition } from "../engine.js";

/** What lateness needs of a request's readings: whose, which metric, when, and whether it was evaluated. */
export interface TimedReading {
  patient: string;
  metric: string;
  time: number;
  triage: string;
}

/** Not evaluated: these readings never moved a rule, so they say nothing of the present. */
const NOT_EVALUATED = new Set(["out_of_order", "duplicate"]);

/** True when the reading was evaluated and lies within lateAfter of now (a present reading). */
export function presentReading(r: TimedReading, cutoff: number): boolean {
  return r.time >= cutoff && !NOT_EVALUATED.has(r.triage);
}

const MIN = 60_000;
export const DEFAULT_LATE_AFTER_MS = 15 * MIN;
/** Bounds of lateAfter: at least a minute (clock skew of a live sender), at most a week. */
export const MIN_LATE_AFTER_MS = MIN;
export const MAX_LATE_AFTER_MS = 7 * 24 * 60 * MIN;

/** lateAfter with its default; throws RangeError out of bounds. */
export function lateAfterOf(ms: number | undefined): number {
  const v = ms ?? DEFAULT_LATE_AFTER_MS;
  if (typeof v !== "number" || !(v >= MIN_LATE_AFTER_MS && v <= MAX_LATE_AFTER_MS)) throw new RangeError("lateAfterMs must be a number of ms from a minute to a week");
  return v;
}

/**
 * Per transition of one request (in order): whether it describes the past (see the file header).
 * `readings`: the request's readings, for whether its metric (a score's: any of the patient's)
 * has a present one.
 */
export function lateFlags(transitions: readonly AlertTransition[], readings: readonly TimedReading[], now: number, lateAfterMs: number): boolean[] {
  const cutoff = now - lateAfterMs;
  const flags = transitions.map((t) => t.time < cutoff);
  if (!flags.includes(true)) return flags;
  const present = new Set<string>();
  for (const r of readings) {
    if (!presentReading(r, cutoff)) continue;
    present.add(`${r.patient}\u0000${r.metric}`);
    present.add(r.patient);
  }
  const metrics = new Set(readings.map((r) => r.metric));
  // The last transition of each rule: the present when it leaves the rule in alarm at a present reading.
  const seen = new Set<string>();
  for (let i = transitions.length - 1; i >= 0; i--) {
    const t = transitions[i];
    const k = `${t.patient}\u0000${t.rule}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const heldNow = metrics.has(t.metric) ? present.has(`${t.patient}\u0000${t.metric}`) : present.has(t.patient);
    if (t.to !== "none" && heldNow) flags[i] = false;
  }
  return flags;
}

/** Per transition: a missing-data rule's transition that a later one of the same rule in the request supersedes. */
export function supersededMissing(transitions: readonly AlertTransition[], isMissing: (patient: string, rule: string) => boolean): boolean[] {
  const last = new Map<string, number>();
  transitions.forEach((t, i) => last.set(`${t.patient}\u0000${t.rule}`, i));
  const kinds = new Map<string, boolean>();
  return transitions.map((t, i) => {
    const k = `${t.patient}\u0000${t.rule}`;
    if (last.get(k) === i) return false;
    let missing = kinds.get(k);
    if (missing === undefined) kinds.set(k, (missing = isMissing(t.patient, t.rule)));
    return missing;
  });
}
