// --demo: simulated patients that make the board worth looking at. Four per programme; most are
// stable, some sit near a limit, and one per programme deteriorates over the first minutes
// (COPD exacerbation, fluid retention, falling glucose, hypercapnia). Each has 72 hours of
// history, so the sparklines have a past; one CGM sensor stopped sending 40 minutes ago (missing
// data, blue). Live readings arrive in compressed time: each patient reports every 15 s.
// Kept apart from the server so that a fuller simulator can replace it.
import type { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { Metrics } from "./metrics.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import type { ProgrammeId } from "../engine/rules/programmes.js";

export const DEMO_TEAMS = ["hospital-lung", "hospital-heart", "municipality-aarhus", "gp-1234"];

/** One metric of a patient: history around `from`; live values move to `to` over `minutes`. */
interface Course {
  metric: string;
  from: number;
  to?: number;
  minutes?: number;
  /** Half the spread of the random scatter around the course. */
  noise: number;
  decimals?: number;
}

interface DemoPatient {
  id: string;
  programme: ProgrammeId;
  teams: string[];
  courses: Course[];
  /** Stopped sending this long before the start (a sensor that fell off). */
  silentForMs?: number;
  /** Per-patient threshold overrides (a clinician's choice for this patient). */
  overrides?: RuleDef[];
}

const LUNG = ["hospital-lung", "municipality-aarhus", "gp-1234"];
const HEART = ["hospital-heart", "municipality-aarhus", "gp-1234"];
const CGM = ["hospital-heart", "gp-1234"];
const NIV = ["hospital-lung", "municipality-aarhus"];

export const DEMO_PATIENTS: readonly DemoPatient[] = [
  // TeleKOL: SpO2 yellow < 92, red < 88; pulse 50–100 / 40–110; temperature 36–38; respiration 12–24.
  { id: "demo-kol-1", programme: "telekol", teams: LUNG, courses: [c("spo2", 95, 1, 0), c("pulse", 76, 4, 0), c("temp", 36.8, 0.2), c("resp_rate", 16, 1, 0)] },
  // Exacerbation: falling saturation, rising pulse, respiration and temperature over 6 minutes.
  { id: "demo-kol-2", programme: "telekol", teams: LUNG, courses: [c("spo2", 94, 0.5, 0, 85, 6), c("pulse", 86, 3, 0, 114, 6), c("temp", 37.1, 0.1, 1, 38.6, 6), c("resp_rate", 19, 1, 0, 27, 6)] },
  { id: "demo-kol-3", programme: "telekol", teams: LUNG, courses: [c("spo2", 94, 0.5, 0, 91.5, 0), c("pulse", 88, 3, 0, 97, 0), c("temp", 36.9, 0.2), c("resp_rate", 18, 1, 0)] },
  { id: "demo-kol-4", programme: "telekol", teams: LUNG, courses: [c("spo2", 96, 1, 0), c("pulse", 68, 4, 0), c("temp", 36.5, 0.2), c("resp_rate", 14, 1, 0)] },
  // TeleHjerte: weight change over 72 h yellow > +1 kg, red > +2 kg; systolic 100–160 / 90–180.
  // Fluid retention: +0.6 kg over three days, then +2.4 kg more over 8 minutes (compressed days).
  { id: "demo-hjerte-1", programme: "telehjerte", teams: HEART, courses: [c("weight", 84.2, 0.05, 1, 86.6, 8), c("bp_sys", 148, 4, 0, 168, 8), c("bp_dia", 88, 3, 0), c("pulse", 88, 3, 0, 104, 8)] },
  { id: "demo-hjerte-2", programme: "telehjerte", teams: HEART, courses: [c("weight", 76, 0.1, 1), c("bp_sys", 128, 5, 0), c("bp_dia", 78, 3, 0), c("pulse", 66, 3, 0)] },
  { id: "demo-hjerte-3", programme: "telehjerte", teams: HEART, courses: [c("weight", 68.5, 0.1, 1), c("bp_sys", 112, 3, 0, 98, 0), c("bp_dia", 66, 2, 0), c("pulse", 58, 3, 0)] },
  { id: "demo-hjerte-4", programme: "telehjerte", teams: HEART, courses: [c("weight", 92, 0.1, 1), c("bp_sys", 138, 5, 0), c("bp_dia", 84, 3, 0), c("pulse", 72, 4, 0)] },
  // CGM: low < 4.4 (red < 3.1), high > 10 for 15 min (red > 14.4), a forecast low, stale data after 15 / 30 min.
  { id: "demo-cgm-1", programme: "cgm", teams: CGM, courses: [c("cgm", 6.8, 0.05, 1)] },
  { id: "demo-cgm-2", programme: "cgm", teams: CGM, courses: [c("cgm", 6.4, 0.05, 1, 3.2, 10)] },
  // Its sensor fell off: stale data is armed at registration, so this patient's tighter stale limits
  // show missing data (blue) within minutes instead of the programme's 15 / 30.
  {
    id: "demo-cgm-3",
    programme: "cgm",
    teams: CGM,
    courses: [c("cgm", 7.5, 0.05, 1)],
    silentForMs: 40 * 60_000,
    overrides: [{ id: "cgm-stale", kind: "missing", metric: "cgm", stale: { yellow: "1m", red: "3m" } }],
  },
  { id: "demo-cgm-4", programme: "cgm", teams: CGM, courses: [c("cgm", 8.5, 0.05, 1, 11.4, 0)] },
  // Home ventilation: use < 4 h yellow (< 2 h red); leak > 24 / 40 L/min; AHI > 5 / 10; tcCO2 > 6.5 / 7.5 kPa.
  { id: "demo-niv-1", programme: "niv", teams: NIV, courses: [c("niv_usage", 7.5, 0.5, 1), c("niv_leak", 12, 2, 0), c("niv_ahi", 2.5, 0.5, 1), c("tcco2", 5.8, 0.1, 1)] },
  // Hypercapnia: rising transcutaneous CO2 and night-time desaturation, less use of the ventilator.
  { id: "demo-niv-2", programme: "niv", teams: NIV, courses: [c("niv_usage", 6, 0.3, 1, 3.2, 8), c("niv_leak", 16, 2, 0), c("tcco2", 6.0, 0.05, 1, 7.8, 8), c("spo2_t90", 6, 1, 0, 34, 8)] },
  { id: "demo-niv-3", programme: "niv", teams: NIV, courses: [c("niv_usage", 6.5, 0.4, 1), c("niv_leak", 18, 2, 0, 29, 0), c("niv_ahi", 4, 0.3, 1, 6.5, 0), c("tcco2", 6.0, 0.1, 1)] },
  { id: "demo-niv-4", programme: "niv", teams: NIV, courses: [c("niv_usage", 8, 0.4, 1), c("niv_leak", 10, 2, 0), c("niv_ahi", 1.5, 0.3, 1), c("tcco2", 5.5, 0.1, 1)] },
];

function c(metric: string, from: number, noise: number, decimals = 0, to?: number, minutes?: number): Course {
  return { metric, from, noise, decimals, to, minutes };
}

const HISTORY_MS = 72 * 3_600_000;
/** History points per metric: every 3 h (CGM: every 15 min over the last 6 h). */
const HISTORY_STEPS = 24;
const REPORT_GROUPS = 3;

/** The value of a course at `minutesLive` into the live feed (negative: history), with scatter. */
export function courseValue(course: Course, minutesLive: number, random: () => number): number {
  const to = course.to ?? course.from;
  const share = minutesLive <= 0 ? 0 : course.minutes === undefined || course.minutes === 0 ? 1 : Math.min(1, minutesLive / course.minutes);
  const value = course.from + (to - course.from) * share + (random() * 2 - 1) * course.noise;
  const scale = 10 ** (course.decimals ?? 0);
  return Math.round(value * scale) / scale;
}

type Item = { patient: string; metric: string; value: number; time: number; id: string };

/** 72 hours of the patient's past (CGM: 6 hours), oldest first, ending before `now`. */
function history(p: DemoPatient, now: number, random: () => number): Item[] {
  const items: Item[] = [];
  const end = now - (p.silentForMs ?? 60_000);
  for (const course of p.courses) {
    const span = course.metric === "cgm" ? 6 * 3_600_000 : HISTORY_MS;
    for (let i = HISTORY_STEPS - 1; i >= 0; i--) {
      const time = Math.round(end - (i * span) / HISTORY_STEPS);
      // A deteriorating weight creeps up over the three days (still under +1 kg).
      const creep = course.metric === "weight" && course.to !== undefined && course.to > course.from ? -0.6 * (i / HISTORY_STEPS) : 0;
      items.push({ patient: p.id, metric: course.metric, value: Math.round((courseValue(course, -1, random) + creep) * 10) / 10, time, id: `${p.id}-${course.metric}-${time}` });
    }
  }
  return items.sort((a, b) => a.time - b.time);
}

/**
 * Registers the demo patients, adds their history, and starts feeding live readings (counted as
 * channel `demo`); returns a stop function.
 */
export async function startDemo(durable: DurablePipeline, metrics: Metrics, everyMs = 5000): Promise<() => void> {
  const started = Date.now();
  const random = Math.random;
  const backfill: Item[] = [];
  for (const p of DEMO_PATIENTS) {
    const known = durable.pipeline.patient(p.id) !== undefined;
    const roles = ["hospital", "municipality", "gp"] as const;
    await durable.execute(
      {
        kind: "patient",
        id: p.id,
        input: { programme: p.programme, careTeams: p.teams.map((team, i) => ({ team, role: roles[Math.min(i, 2)] })), paused: false, references: {} },
      },
      { actor: "demo" },
    );
    if (known) continue; // a restart on a kept store has its history and overrides
    if (p.overrides) await durable.execute({ kind: "patient_thresholds", id: p.id, rules: p.overrides, author: "demo", reason: "demo patient" }, { actor: "demo" });
    backfill.push(...history(p, started, random));
  }
  if (backfill.length > 0) await ingest(durable, metrics, backfill.sort((a, b) => a.time - b.time));
  let step = 0;
  const feed = () => {
    const t = Date.now();
    const minutes = (t - started) / 60_000;
    const items: Item[] = [];
    DEMO_PATIENTS.forEach((p, i) => {
      if (p.silentForMs !== undefined || i % REPORT_GROUPS !== step % REPORT_GROUPS) return;
      for (const course of p.courses) items.push({ patient: p.id, metric: course.metric, value: courseValue(course, Math.max(minutes, 0.01), random), time: t, id: `${p.id}-${course.metric}-${t}` });
    });
    step++;
    void ingest(durable, metrics, items);
  };
  // Everyone reports once at the start, so the board is full from the first look.
  for (let g = 0; g < REPORT_GROUPS; g++) feed();
  const timer = setInterval(feed, everyMs);
  return () => clearInterval(timer);
}

function ingest(durable: DurablePipeline, metrics: Metrics, items: Item[]): Promise<unknown> {
  const t = Date.now();
  return durable
    .execute({ kind: "ingest", source: "readings", channel: "demo", batch: canonicalReadings(items, t) })
    .then((answer) => metrics.readingsIngested.inc({ channel: "demo" }, answer.accepted))
    .catch(() => undefined); // a store outage is logged by the engine; the demo just carries on
}
