// The backfill phase's data (bench/server/backfill.ts): a gateway's buffered 24 h of CGM readings
// per patient (288, one every 5 min, oldest first, the last one a few minutes before the upload),
// deterministic per patient, and what the lifecycle must make of it. Shared by the generators,
// which send the traces, and the orchestrator, which checks the alarms against the truth.
//
// Kinds of patient (by index mod 100), chosen so that the truth is plain:
// - "present low" (2 %): the last 20 minutes fall to 2.6–2.9 mmol/L, below the urgent low (3.1):
//   the condition holds at the newest reading, so an urgent alarm now is right and must come;
// - past episodes (38 %): an urgent low, a high (red above 14.4 for more than 15 min) or a mild low
//   between 3 and 20 h ago, over within an hour; the last 3 h are flat in range;
// - the rest: in range all day.
// Only "present low" patients may be alarmed urgently (priority high, not late); for everyone
// else every alert of the upload describes the past (late, priority low).
import { rng } from "./common.js";

export const BACKFILL_READINGS = 288;
export const CGM_INTERVAL_MS = 5 * 60_000;

export type TraceKind = "present_low" | "past_urgent_low" | "past_high" | "past_mild_low" | "in_range";

export function traceKind(patient: number): TraceKind {
  const k = patient % 100;
  if (k < 2) return "present_low";
  if (k < 14) return "past_urgent_low";
  if (k < 26) return "past_high";
  if (k < 40) return "past_mild_low";
  return "in_range";
}

/** Patient i of the backfill: "c000042" (a prefix of its own: bystanders are "b…"). */
export const cgmPatientId = (i: number): string => `c${String(i).padStart(6, "0")}`;

/**
 * Fills `values` (mmol/L, 288) of patient i's buffered day, index 0 the oldest. Times are the
 * caller's: end − (287 − k) × 5 min. In range means 5.5–7.5 with a slow drift: no rule fires, the
 * 20-minute forecast of cgm-predicted-low stays far above 3.1.
 */
export function fillTrace(patient: number, values: Float64Array): void {
  const rand = rng(0x9e3779b9 ^ (patient * 2654435761));
  const base = 6.2 + rand() * 0.8;
  const phase = rand() * Math.PI * 2;
  for (let k = 0; k < BACKFILL_READINGS; k++) {
    values[k] = round1(base + 0.6 * Math.sin(phase + (k / BACKFILL_READINGS) * 2 * Math.PI) + (rand() - 0.5) * 0.2);
  }
  const kind = traceKind(patient);
  if (kind === "present_low") {
    // the last 5 readings (20 min): 4.6, 3.6, 2.9, 2.7, 2.6-ish
    const tail = [4.6, 3.6, 2.9, 2.7, 2.6];
    for (let j = 0; j < tail.length; j++) values[BACKFILL_READINGS - tail.length + j] = round1(tail[j] + rand() * 0.1);
    return;
  }
  if (kind === "in_range") return;
  // an episode starting 3–20 h before the end (36–240 readings back), lasting 4–10 readings
  const start = BACKFILL_READINGS - 36 - Math.floor(rand() * 204);
  const len = 4 + Math.floor(rand() * 7);
  const level = kind === "past_urgent_low" ? 2.6 : kind === "past_high" ? 16 : 3.8;
  for (let j = 0; j < len; j++) values[start + j] = round1(level + rand() * 0.3);
  // ramps in and out, so it looks like glucose (one reading half way)
  values[start - 1] = round1((values[start - 2] + level) / 2);
  values[start + len] = round1((values[start + len + 1] + level) / 2);
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Per priority and late flag: the alert events the backfill gave (server side tally, see server-child.ts). */
export interface AlarmTally {
  /** `raised` events by priority (high, medium, low). */
  raisedByPriority: Record<string, number>;
  /** Alert events with `late: true`, and `raised` ones among them. */
  lateEvents: number;
  lateRaised: number;
  /** All alert events of backfill patients. */
  alertEvents: number;
  /**
   * Urgent alarms: alert events that sound (raised, escalated, unsilenced; updated upgraded,
   * reopened or re_alerted) with priority high and not late, by patient index → rules.
   */
  urgent: Record<string, string[]>;
}

/** Does this alert event sound (docs/websocket.md, Alarm behaviour) — before priority and lateness? */
export function sounds(type: string, change: string | undefined): boolean {
  if (type === "raised" || type === "escalated" || type === "unsilenced") return true;
  return type === "updated" && (change === "upgraded" || change === "reopened" || change === "re_alerted");
}

/** The verdict on a backfill's urgent alarms against the traces. */
export function judgeAlarms(patients: number, urgent: Record<string, string[]>): { forPast: number; forPastExamples: string[]; presentMissed: number; presentExpected: number } {
  let forPast = 0;
  const forPastExamples: string[] = [];
  for (const [p, rules] of Object.entries(urgent)) {
    if (traceKind(Number(p)) === "present_low") continue;
    forPast += rules.length;
    if (forPastExamples.length < 5) forPastExamples.push(`${cgmPatientId(Number(p))} (${traceKind(Number(p))}): ${rules.join(", ")}`);
  }
  let presentExpected = 0;
  let presentMissed = 0;
  for (let p = 0; p < patients; p++) {
    if (traceKind(p) !== "present_low") continue;
    presentExpected++;
    if (urgent[String(p)] === undefined) presentMissed++;
  }
  return { forPast, forPastExamples, presentMissed, presentExpected };
}
