// A rule set's report from its episodes: alerts per patient-day by priority, red and yellow
// patient-days (Copenhagen days), time in alert (overlapping alerts counted once), per rule, the
// diff against the current set, and marker sensitivity with lead time (docs/backtest.md).
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../clock.js";
import type { EpisodeLog } from "./episodes.js";
import type { AlertItem, BacktestPatient, ByPriority, Marker, MarkerOutcome, MarkerSummary, PatientRuleSetRow, RuleSetReport } from "./types.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Local (Copenhagen) day numbers, the offset looked up once per hour. */
export class LocalDays {
  private readonly offsets = new Map<number, number>();
  constructor(private readonly timeZone = DEFAULT_TIME_ZONE) {}

  day(t: number): number {
    const hour = Math.floor(t / HOUR_MS);
    let offset = this.offsets.get(hour);
    if (offset === undefined) this.offsets.set(hour, (offset = utcOffsetMs(this.timeZone, t)));
    return Math.floor((t + offset) / DAY_MS);
  }
}

export interface ReportInput {
  name: string;
  log: EpisodeLog;
  transitions: number;
  ruleNames: readonly string[];
  patients: readonly BacktestPatient[];
  patientIndex: ReadonlyMap<string, number>;
  from: number;
  to: number;
  days: LocalDays;
  /** The current set's log, for a proposed set's diff. */
  current?: EpisodeLog;
  markers?: readonly Marker[];
  markerWindowMs: number;
  maxDiffItems: number;
}

export function periodDays(from: number, to: number, days: LocalDays): number {
  return to > from ? days.day(to - 1) - days.day(from) + 1 : 0;
}

export function ruleSetReport(input: ReportInput): { report: RuleSetReport; rows: PatientRuleSetRow[] } {
  const { log, patients, from, to, days } = input;
  const nDays = periodDays(from, to, days);
  const patientDays = patients.length * nDays;
  const rows: PatientRuleSetRow[] = patients.map(() => ({ alerts: { all: 0, high: 0, medium: 0 }, redDays: 0, yellowDays: 0, hoursInAlert: 0, hoursRed: 0 }));

  const alerts: ByPriority = { all: 0, high: 0, medium: 0 };
  const byRule = new Map<number, { alerts: ByPriority; hours: number }>();
  for (let i = 0; i < log.count; i++) {
    const p = log.patient.a[i];
    const high = log.peak.a[i] >= 2;
    count(alerts, high);
    count(rows[p].alerts, high);
    const r = log.rule.a[i];
    let entry = byRule.get(r);
    if (entry === undefined) byRule.set(r, (entry = { alerts: { all: 0, high: 0, medium: 0 }, hours: 0 }));
    count(entry.alerts, high);
    entry.hours += (log.end.a[i] - log.start.a[i]) / HOUR_MS;
  }

  // Segments by patient: time in alert (union) and the day marks.
  const segsOf = groupBy(log.segments, (j) => log.segPatient.a[j], patients.length);
  const dayFirst = days.day(from);
  const mark = new Uint8Array(nDays);
  let inAlertMs = 0;
  let redMs = 0;
  let redDays = 0;
  let yellowDays = 0;
  for (let p = 0; p < patients.length; p++) {
    const segs = segsOf[p];
    if (segs.length === 0) continue;
    mark.fill(0);
    const any: [number, number][] = [];
    const red: [number, number][] = [];
    for (const j of segs) {
      const s = Math.max(from, log.segStart.a[j]);
      const e = Math.min(to, log.segEnd.a[j]);
      if (e < s) continue;
      const level = log.segLevel.a[j];
      any.push([s, e]);
      if (level >= 2) red.push([s, e]);
      const last = e > s ? days.day(e - 1) : days.day(s);
      for (let d = days.day(s); d <= last; d++) {
        const k = d - dayFirst;
        if (k >= 0 && k < nDays && mark[k] < level) mark[k] = level;
      }
    }
    const row = rows[p];
    const anyMs = unionMs(any);
    const rMs = unionMs(red);
    row.hoursInAlert = round(anyMs / HOUR_MS);
    row.hoursRed = round(rMs / HOUR_MS);
    inAlertMs += anyMs;
    redMs += rMs;
    for (let k = 0; k < nDays; k++) {
      if (mark[k] >= 2) row.redDays++;
      else if (mark[k] === 1) row.yellowDays++;
    }
    redDays += row.redDays;
    yellowDays += row.yellowDays;
  }

  const patientMs = patients.length * (to - from);
  const report: RuleSetReport = {
    name: input.name,
    transitions: input.transitions,
    alerts,
    alertsPerPatientDay: { all: perDay(alerts.all, patientDays), high: perDay(alerts.high, patientDays), medium: perDay(alerts.medium, patientDays) },
    patientDays: { red: redDays, yellow: yellowDays, shareRed: share(redDays, patientDays), shareYellow: share(yellowDays, patientDays) },
    timeInAlert: { hours: round(inAlertMs / HOUR_MS), redHours: round(redMs / HOUR_MS), share: share(inAlertMs, patientMs), shareRed: share(redMs, patientMs) },
    byRule: [...byRule]
      .map(([r, v]) => ({ rule: input.ruleNames[r], alerts: v.alerts, hours: round(v.hours) }))
      .sort((a, b) => (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)),
  };
  if (input.current !== undefined) report.diff = diff(input.current, log, input, rows);
  if (input.markers !== undefined && input.markers.length > 0) report.markers = markerSummary(input, segsOf);
  return { report, rows };
}

function count(c: ByPriority, high: boolean): void {
  c.all++;
  if (high) c.high++;
  else c.medium++;
}

/** Indices 0..n-1 grouped by a key in 0..keys-1, each group in index order. */
function groupBy(n: number, key: (i: number) => number, keys: number): number[][] {
  const groups: number[][] = Array.from({ length: keys }, () => []);
  for (let i = 0; i < n; i++) groups[key(i)].push(i);
  return groups;
}

/** Total length of the union of intervals. */
function unionMs(intervals: [number, number][]): number {
  intervals.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let curS = -Infinity;
  let curE = -Infinity;
  for (const [s, e] of intervals) {
    if (s > curE) {
      if (curE > curS) total += curE - curS;
      curS = s;
      curE = e;
    } else if (e > curE) curE = e;
  }
  if (curE > curS) total += curE - curS;
  return total;
}

/**
 * Alerts of the proposed set against the current one. An alert is matched when an alert of the
 * same patient and rule overlaps it in time (raising a limit shortens or removes an episode, it
 * does not move it): unmatched current alerts disappeared, unmatched proposed ones appeared.
 */
function diff(current: EpisodeLog, proposed: EpisodeLog, input: ReportInput, rows: PatientRuleSetRow[]): NonNullable<RuleSetReport["diff"]> {
  const rank = nameRanks(input.ruleNames);
  const a = sortedEpisodes(current, rank);
  const b = sortedEpisodes(proposed, rank);
  const matchedA = new Uint8Array(current.count);
  const matchedB = new Uint8Array(proposed.count);
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i];
    const y = b[j];
    const c = compareKey(current, x, proposed, y, rank);
    if (c < 0) i++;
    else if (c > 0) j++;
    else {
      if (current.start.a[x] <= proposed.end.a[y] && proposed.start.a[y] <= current.end.a[x]) {
        matchedA[x] = 1;
        matchedB[y] = 1;
      }
      // The one ending first cannot overlap anything later in the other list.
      if (current.end.a[x] < proposed.end.a[y]) i++;
      else j++;
    }
  }
  const items: (AlertItem & { change: "appeared" | "disappeared" })[] = [];
  let appeared = 0;
  let disappeared = 0;
  for (const x of a) {
    if (matchedA[x] === 1) continue;
    disappeared++;
    const row = rows[current.patient.a[x]];
    row.disappeared = (row.disappeared ?? 0) + 1;
    if (items.length < input.maxDiffItems) items.push({ ...alertItem(current, x, input), change: "disappeared" });
  }
  for (const y of b) {
    if (matchedB[y] === 1) continue;
    appeared++;
    const row = rows[proposed.patient.a[y]];
    row.appeared = (row.appeared ?? 0) + 1;
    if (items.length < input.maxDiffItems) items.push({ ...alertItem(proposed, y, input), change: "appeared" });
  }
  for (const row of rows) {
    row.appeared ??= 0;
    row.disappeared ??= 0;
  }
  items.sort((p, q) => p.time - q.time || (p.patient < q.patient ? -1 : p.patient > q.patient ? 1 : 0) || (p.rule < q.rule ? -1 : 1));
  return { appeared, disappeared, items, truncated: appeared + disappeared > items.length };
}

/**
 * Per rule-name index, the name's place in name order. Episodes are keyed by name, not by index:
 * indices are handed out as rules first fire, which depends on the order patients were replayed
 * in (blocks, threads); a truncated list must not.
 */
function nameRanks(names: readonly string[]): Int32Array {
  const ranks = new Int32Array(names.length);
  names
    .map((name, i) => ({ name, i }))
    .sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0))
    .forEach((e, k) => (ranks[e.i] = k));
  return ranks;
}

/** By patient, then rule name (its rank). */
function compareKey(la: EpisodeLog, x: number, lb: EpisodeLog, y: number, rank: Int32Array): number {
  return la.patient.a[x] - lb.patient.a[y] || rank[la.rule.a[x]] - rank[lb.rule.a[y]];
}

function sortedEpisodes(log: EpisodeLog, rank: Int32Array): number[] {
  return Array.from({ length: log.count }, (_, i) => i).sort((x, y) => compareKey(log, x, log, y, rank) || log.start.a[x] - log.start.a[y]);
}

export function alertItem(log: EpisodeLog, i: number, input: Pick<ReportInput, "patients" | "ruleNames">): AlertItem {
  return {
    patient: input.patients[log.patient.a[i]].id,
    rule: input.ruleNames[log.rule.a[i]],
    time: log.start.a[i],
    end: log.end.a[i],
    open: log.cut.has(i),
    priority: log.peak.a[i] >= 2 ? "high" : "medium",
  };
}

/**
 * Per marker: the first alert open at some moment in [time − window, time] (raised at or before
 * the marker); lead time = marker − that alert's raise (or, for `high`, its first red moment).
 */
function markerSummary(input: ReportInput, segsOf: number[][]): MarkerSummary {
  const { log, markerWindowMs: window } = input;
  const episodesOf = groupBy(log.count, (i) => log.patient.a[i], input.patients.length);
  const outcomes: MarkerOutcome[] = [];
  const leads: number[] = [];
  let detectedHigh = 0;
  for (const m of input.markers!) {
    const p = input.patientIndex.get(m.patient);
    const lo = m.time - window;
    let first = -1;
    for (const i of p === undefined ? [] : episodesOf[p]) {
      if (log.start.a[i] <= m.time && log.end.a[i] >= lo && (first < 0 || log.start.a[i] < log.start.a[first])) first = i;
    }
    let red = false;
    for (const j of p === undefined ? [] : segsOf[p]) {
      if (log.segLevel.a[j] >= 2 && log.segStart.a[j] <= m.time && log.segEnd.a[j] >= lo) red = true;
    }
    if (red) detectedHigh++;
    const outcome: MarkerOutcome = { patient: m.patient, time: m.time, firstAlert: null, leadHours: null };
    if (m.label !== undefined) outcome.label = m.label;
    if (first >= 0) {
      const item = alertItem(log, first, input);
      outcome.firstAlert = { rule: item.rule, time: item.time, priority: item.priority };
      outcome.leadHours = round((m.time - item.time) / HOUR_MS);
      leads.push(outcome.leadHours);
    }
    outcomes.push(outcome);
  }
  const events = outcomes.length;
  leads.sort((x, y) => x - y);
  const mid = leads.length >> 1;
  return {
    events,
    detected: leads.length,
    sensitivity: events === 0 ? null : round4(leads.length / events),
    detectedHigh,
    sensitivityHigh: events === 0 ? null : round4(detectedHigh / events),
    leadHours: {
      median: leads.length === 0 ? null : round(leads.length % 2 ? leads[mid] : (leads[mid - 1] + leads[mid]) / 2),
      mean: leads.length === 0 ? null : round(leads.reduce((s, x) => s + x, 0) / leads.length),
      min: leads.length === 0 ? null : leads[0],
      max: leads.length === 0 ? null : leads[leads.length - 1],
    },
    windowHours: round(window / HOUR_MS),
    outcomes,
  };
}

function perDay(n: number, patientDays: number): number {
  return patientDays === 0 ? 0 : round4(n / patientDays);
}

function share(x: number, total: number): number {
  return total === 0 ? 0 : round4(x / total);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
