// Deterministic home-monitoring traffic for `npm run bench:durability`: patients on the
// heart-failure, COPD and CGM programmes, one simulated day of device sessions (one patient,
// one time, the session's metrics), each reading with a measurement id.
//
// The day runs from 20:00 to 20:00 local time (Europe/Copenhagen, UTC+1 in January), so it
// ends in the evening peak: the journal tail after the last snapshot (the "crash" happens at
// the end of the day) holds peak traffic, not the quiet night.
//
//   telehjerte (heart failure)  2–3 blood-pressure sessions a day (bp_sys, bp_dia, pulse);
//                               the morning one with the daily weighing (3 % forget it: the
//                               weight-missing rule fires at 13:00), 30 % weigh again at night
//   telekol (COPD)              2–4 sessions of spo2 + pulse; the morning one also temp + resp_rate
//   cgm (diabetes, sensor)      one glucose reading every 5 minutes (288 a day), uploaded one by one
//
// Values: a per-patient centre ± device noise kept inside the yellow limits, and with
// probability `outOfBand` an excursion past a yellow limit (a quarter of those past the red
// one). Weight drifts ± 0.3 kg with excursions of +1.2..2.5 kg (fluid retention: the 72 h
// delta rule). CGM is a random walk with meal rises, so it leaves 3.9–10 mmol/L as sensors do.
import { Rng } from "../lib/workload.js";
import type { Command } from "../../engine/durable/commands.js";
import type { PatientInput } from "../../engine/pipeline.js";
import type { ProgrammeId } from "../../engine/rules/programmes.js";

const MIN = 60_000;
const HOUR = 3_600_000;
/** Start of the simulated day: Wednesday 15 January 2025, 20:00 in Copenhagen (19:00 UTC). */
export const DAY_START = Date.UTC(2025, 0, 15, 19, 0);
const LOCAL_START_HOUR = 20;

export interface WorkloadOptions {
  patients: number;
  seed: number;
  /** Share of patients on CGM (288 readings a day each). */
  cgmShare: number;
  /** Share of heart-failure patients (the rest, after CGM, are COPD). */
  hfShare: number;
  /** Probability that a reading lies past a yellow limit (CGM excluded: its walk does that). */
  outOfBand: number;
}

// metric codes
export const METRIC_NAMES = ["weight", "bp_sys", "bp_dia", "pulse", "spo2", "temp", "resp_rate", "cgm"] as const;
const W = 0, SYS = 1, DIA = 2, PULSE = 3, SPO2 = 4, TEMP = 5, RESP = 6, CGM = 7;
/** [redLow, yellowLow, yellowHigh, redHigh, precision, noise, centre lo, centre hi] per metric (programme limits). */
const MODEL: Record<number, [number, number, number, number, number, number, number, number]> = {
  [SYS]: [90, 100, 160, 180, 1, 12, 115, 142],
  [DIA]: [50, 60, 95, 110, 1, 7, 68, 84],
  [PULSE]: [40, 50, 100, 110, 1, 9, 62, 82],
  [SPO2]: [88, 92, 101, 102, 1, 1.2, 94, 97],
  [TEMP]: [35, 36, 38, 39, 0.1, 0.35, 36.4, 36.9],
  [RESP]: [9, 12, 24, 29, 1, 3, 15, 19],
};

export interface Patient {
  id: string;
  programme: ProgrammeId;
  input: PatientInput;
}

/**
 * Sessions as columns, sorted by time. Session s holds readings [first[s], first[s+1]) of the
 * reading columns (metric code, value); all of a session's readings share its time.
 */
export interface Day {
  patients: Patient[];
  sessions: number;
  time: Float64Array;
  patient: Uint32Array;
  first: Uint32Array;
  metric: Uint8Array;
  value: Float64Array;
  readings: number;
  /** Readings per programme and per metric (for the description). */
  perProgramme: Record<string, { patients: number; readings: number }>;
}

const HF_TEAMS = 12, COPD_TEAMS = 10, MUNICIPALITIES = 98, GPS = 1800;

function round(x: number, prec: number): number {
  const r = Math.round(x / prec) * prec;
  return prec < 1 ? Number(r.toFixed(1)) : r;
}

/** A time of day (local hours, may be fractional) → ms in the simulated day. */
function at(hour: number): number {
  const h = (((hour - LOCAL_START_HOUR) % 24) + 24) % 24;
  return DAY_START + h * HOUR;
}

function normal(rng: Rng): number {
  // Irwin–Hall(4), scaled to variance 1: close enough to normal, cheap, bounded.
  return (rng.next() + rng.next() + rng.next() + rng.next() - 2) * Math.sqrt(3);
}

function clampHour(h: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, h));
}

export function generateDay(opt: WorkloadOptions): Day {
  const rng = new Rng(opt.seed);
  const patients: Patient[] = [];
  // growable session/reading buffers
  let sCap = opt.patients * 8, rCap = opt.patients * 16;
  let sTime = new Float64Array(sCap), sPat = new Uint32Array(sCap), sFirst = new Uint32Array(sCap + 1);
  let rMetric = new Uint8Array(rCap), rValue = new Float64Array(rCap);
  let ns = 0, nr = 0;
  const perProgramme: Day["perProgramme"] = {};
  const grow = () => {
    if (ns + 2 > sCap) {
      sCap *= 2;
      const t = new Float64Array(sCap); t.set(sTime); sTime = t;
      const p = new Uint32Array(sCap); p.set(sPat); sPat = p;
      const f = new Uint32Array(sCap + 1); f.set(sFirst); sFirst = f;
    }
    if (nr + 8 > rCap) {
      rCap *= 2;
      const m = new Uint8Array(rCap); m.set(rMetric); rMetric = m;
      const v = new Float64Array(rCap); v.set(rValue); rValue = v;
    }
  };
  const session = (p: number, time: number, reads: [number, number][]) => {
    grow();
    sTime[ns] = Math.round(time);
    sPat[ns] = p;
    sFirst[ns] = nr;
    ns++;
    for (const [m, v] of reads) {
      rMetric[nr] = m;
      rValue[nr] = v;
      nr++;
    }
  };

  for (let i = 0; i < opt.patients; i++) {
    // interleave programmes so any prefix of the ids has the same mix
    const u = rng.next();
    const programme: ProgrammeId = u < opt.cgmShare ? "cgm" : u < opt.cgmShare + (1 - opt.cgmShare) * opt.hfShare ? "telehjerte" : "telekol";
    const id = `pt-${String(i).padStart(6, "0")}`;
    const hospital = programme === "telekol" ? `hospital-lung-${i % COPD_TEAMS}` : `hospital-heart-${i % HF_TEAMS}`;
    const input: PatientInput = {
      programme,
      careTeams: [
        { team: hospital, role: "hospital" },
        { team: `municipality-${(i * 7) % MUNICIPALITIES}`, role: "municipality" },
        { team: `gp-${(i * 13) % GPS}`, role: "gp" },
      ],
      paused: false,
      references: {},
    };
    patients.push({ id, programme, input });
    const before = nr;

    // per-patient centres
    const centre: Record<number, number> = {};
    for (const m of [SYS, DIA, PULSE, SPO2, TEMP, RESP]) centre[m] = rng.range(MODEL[m][6], MODEL[m][7]);
    const weight = rng.range(55, 120);
    const value = (m: number): number => {
      if (m === W) {
        const v = rng.next() < opt.outOfBand ? weight + rng.range(1.2, 2.5) : weight + rng.noise(0.3);
        return round(v, 0.1);
      }
      const [rl, yl, yh, rh, prec, noise] = MODEL[m];
      if (rng.next() < opt.outOfBand) {
        const low = yh > 100 && m === SPO2 ? true : rng.next() < 0.5;
        const red = rng.next() < 0.25;
        const v = low ? (red ? rl - rng.range(prec, 4 * prec) : rng.range(rl, yl - prec)) : red ? rh + rng.range(prec, 4 * prec) : rng.range(yh + prec, rh);
        return round(Math.min(m === SPO2 ? 100 : Infinity, v), prec);
      }
      const lo = yl + prec, hi = Math.min(yh - prec, m === SPO2 ? 100 : Infinity);
      return round(Math.min(hi, Math.max(lo, centre[m] + rng.noise(noise))), prec);
    };

    if (programme === "telehjerte") {
      const n = rng.next() < 0.5 ? 2 : 3;
      const morning = clampHour(7.5 + normal(rng), 5, 12.5);
      const reads: [number, number][] = [];
      if (rng.next() >= 0.03) reads.push([W, value(W)]);
      reads.push([SYS, value(SYS)], [DIA, value(DIA)], [PULSE, value(PULSE)]);
      session(i, at(morning), reads);
      const evening = clampHour(19.5 + 1.5 * normal(rng), 16, 23.5);
      const ev: [number, number][] = [[SYS, value(SYS)], [DIA, value(DIA)], [PULSE, value(PULSE)]];
      if (rng.next() < 0.3) ev.unshift([W, value(W)]);
      session(i, at(evening), ev);
      if (n === 3) session(i, at(clampHour(13 + 1.5 * normal(rng), 10, 16)), [[SYS, value(SYS)], [DIA, value(DIA)], [PULSE, value(PULSE)]]);
    } else if (programme === "telekol") {
      const n = 2 + rng.int(3);
      session(i, at(clampHour(8.5 + 1.2 * normal(rng), 5, 12)), [[SPO2, value(SPO2)], [PULSE, value(PULSE)], [TEMP, value(TEMP)], [RESP, value(RESP)]]);
      session(i, at(clampHour(19.5 + 1.5 * normal(rng), 16, 23.5)), [[SPO2, value(SPO2)], [PULSE, value(PULSE)]]);
      for (let k = 2; k < n; k++) session(i, at(rng.range(10, 22)), [[SPO2, value(SPO2)], [PULSE, value(PULSE)]]);
    } else {
      // CGM: every 5 minutes, a random walk towards the patient's mean with three meal rises
      const mean = rng.range(6, 8.5);
      const meals = [rng.range(7, 9), rng.range(11.5, 13.5), rng.range(17.5, 19.5)];
      let g = mean + rng.noise(1);
      const offset = rng.next() * 5 * MIN;
      for (let k = 0; k < 288; k++) {
        const t = DAY_START + offset + k * 5 * MIN;
        const hour = (LOCAL_START_HOUR + (t - DAY_START) / HOUR) % 24;
        let rise = 0;
        for (const m of meals) if (hour >= m && hour < m + 0.75) rise += rng.range(0.3, 0.9);
        g += 0.12 * (mean - g) + rise + rng.noise(0.35);
        g = Math.min(22, Math.max(2.4, g));
        session(i, t, [[CGM, round(g, 0.1)]]);
      }
    }
    const pp = (perProgramme[programme] ??= { patients: 0, readings: 0 });
    pp.patients++;
    pp.readings += nr - before;
  }
  sFirst[ns] = nr;

  // sort sessions by time (stable by patient for equal times)
  const order = new Uint32Array(ns);
  for (let s = 0; s < ns; s++) order[s] = s;
  order.sort((a, b) => sTime[a] - sTime[b] || sPat[a] - sPat[b]);
  const time = new Float64Array(ns), patient = new Uint32Array(ns), first = new Uint32Array(ns + 1);
  const metric = new Uint8Array(nr), value = new Float64Array(nr);
  let r = 0;
  for (let k = 0; k < ns; k++) {
    const s = order[k];
    time[k] = sTime[s];
    patient[k] = sPat[s];
    first[k] = r;
    for (let j = sFirst[s]; j < sFirst[s + 1]; j++, r++) {
      metric[r] = rMetric[j];
      value[r] = rValue[j];
    }
  }
  first[ns] = r;
  return { patients, sessions: ns, time, patient, first, metric, value, readings: nr, perProgramme };
}

/** One reading as a device sends it (plain JSON shape, with a measurement id). */
export interface Item {
  patient: string;
  metric: string;
  value: number;
  time: number;
  id: string;
}

/** The readings of session `s`. */
export function sessionItems(day: Day, s: number, out: Item[] = []): Item[] {
  const p = day.patients[day.patient[s]].id;
  for (let r = day.first[s]; r < day.first[s + 1]; r++) {
    out.push({ patient: p, metric: METRIC_NAMES[day.metric[r]], value: day.value[r], time: day.time[s], id: `${p}-${r.toString(36)}` });
  }
  return out;
}

/** Raw readings as a request carries them: validated into an ingest command when issued (drive.ts), as the server does. */
export interface RawReadings {
  kind: "readings";
  items: Item[];
  channel: string;
}

/** A command (or raw readings) with the clock time it arrives at; `readings` = items it carries (0 for ticks). */
export interface Timed {
  now: number;
  command: Command | RawReadings;
  readings: number;
}

/** First session at or after time t. */
export function sessionAt(day: Day, t: number): number {
  let lo = 0, hi = day.sessions;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (day.time[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First session at which `readings` readings have been passed, starting from session `from`. */
export function sessionAfterReadings(day: Day, from: number, readings: number): number {
  const target = day.first[from] + readings;
  let lo = from, hi = day.sessions;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (day.first[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Sessions [from, to) as gateway batches: consecutive sessions until the batch holds at least
 * a random 100–1000 readings; each batch arrives a second after its last reading. A tick
 * follows a batch whenever the clock crossed a minute boundary since the last tick.
 */
export function gatewayBatches(day: Day, from: number, to: number, rng: Rng, clock: { tick: number }, min = 100, max = 1000): Timed[] {
  const out: Timed[] = [];
  let s = from;
  while (s < to) {
    const target = min + rng.int(max - min + 1);
    const items: Item[] = [];
    while (s < to && items.length < target) sessionItems(day, s++, items);
    const now = day.time[s - 1] + 1000;
    out.push({ now, command: { kind: "readings", items, channel: "bench" }, readings: items.length });
    if (Math.floor(now / MIN) > Math.floor(clock.tick / MIN)) {
      out.push({ now, command: { kind: "tick" }, readings: 0 });
      clock.tick = now;
    }
  }
  return out;
}

/**
 * Sessions [from, to) as the server receives them from devices: one command per session
 * (one patient, 1–4 readings), arriving 2 s after the measurement; a tick every `tickMs` of
 * simulated time (the server ticks every second).
 */
export function deviceUploads(day: Day, from: number, to: number, clock: { tick: number }, tickMs = MIN): Timed[] {
  const out: Timed[] = [];
  for (let s = from; s < to; s++) {
    const now = Math.max(day.time[s] + 2000, clock.tick);
    while (Math.floor(now / tickMs) > Math.floor(clock.tick / tickMs)) {
      clock.tick = (Math.floor(clock.tick / tickMs) + 1) * tickMs;
      out.push({ now: clock.tick, command: { kind: "tick" }, readings: 0 });
    }
    const items = sessionItems(day, s);
    out.push({ now, command: { kind: "readings", items, channel: "bench" }, readings: items.length });
  }
  return out;
}

/**
 * A burst after the day (a gateway re-sending its backlog after an outage): `count` device
 * uploads of random non-CGM patients' evening sessions, spread over `spanMs` after `start`,
 * times increasing. Used to fill the journal tail up to the snapshot cadence's command limit.
 */
export function backlogBurst(day: Day, start: number, count: number, spanMs: number, rng: Rng): Timed[] {
  const out: Timed[] = [];
  // the day's sessions of non-CGM patients, to copy (values and metrics) with new times and ids
  const pool: number[] = [];
  for (let s = day.sessions - 1; s >= 0 && pool.length < 20_000; s--) if (day.first[s + 1] - day.first[s] > 1) pool.push(s);
  for (let k = 0; k < count; k++) {
    const s = pool[rng.int(pool.length)];
    const time = start + Math.floor((k * spanMs) / count);
    const items = sessionItems(day, s).map((it, j) => ({ ...it, time, id: `${it.patient}-b${k.toString(36)}-${j}` }));
    out.push({ now: time + 2000, command: { kind: "readings", items, channel: "bench" }, readings: items.length });
  }
  return out;
}

export function patientCommands(day: Day): Command[] {
  return day.patients.map((p) => ({ kind: "patient", id: p.id, input: p.input }));
}
