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
// - ... unless it is the last transition of its rule in the request and leaves the rule in
//   alarm: the condition still held at the rule's newest reading, so it is the present (a batch
//   whose last readings are low raises an urgent low now). An episode that began and ended in the
//   past, or a level the rule left again in the same request, is history.
// - A missing-data rule is judged at every reading of a request as if that reading were the
//   newest (the kernel's semantics); only its last transition in the request is news. The ones
//   before it would announce stale data the request itself fills (a 24 h backfill without an open
//   stale-data alert would raise and resolve one), so the lifecycle skips them.
import type { AlertTransition } from "../engine.js";

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

/** Per transition of one request (in order): whether it describes the past (see the file header). */
export function lateFlags(transitions: readonly AlertTransition[], now: number, lateAfterMs: number): boolean[] {
  const cutoff = now - lateAfterMs;
  const flags = transitions.map((t) => t.time < cutoff);
  if (!flags.includes(true)) return flags;
  // The last transition of each rule: the present when it leaves the rule in alarm.
  const seen = new Set<string>();
  for (let i = transitions.length - 1; i >= 0; i--) {
    const t = transitions[i];
    const k = `${t.patient}\u0000${t.rule}`;
    if (seen.has(k)) continue;
    seen.add(k);
    if (t.to !== "none") flags[i] = false;
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
