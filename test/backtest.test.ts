// Backtest (issue 15.1–2): the report's alerts equal a direct replay of the same readings through
// the live pipeline (one reading per ingest at its own time, ticks at the same instants); a
// proposal that only raises a limit shows exactly the alerts that disappear; the report and the
// CGM summary on hand-computed tables.
import { describe, expect, it } from "vitest";
import { Backtest } from "../engine/backtest/backtest.js";
import { parseReadingsFile } from "../engine/backtest/input.js";
import { patientCsv } from "../engine/backtest/csv.js";
import { TickPlan } from "../engine/backtest/tick-plan.js";
import type { AlertItem, BacktestPatient, ProgrammeRules } from "../engine/backtest/types.js";
import { canonicalReadings, type CanonicalReading } from "../engine/ingest/canonical.js";
import type { AlertEvent } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { effectiveRules, PROGRAMMES, programmesOf } from "../engine/rules/programmes.js";
import { Random } from "../server/simulate/random.js";

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Monday 2026-01-05 00:00 in Copenhagen (CET). */
const FROM = Date.UTC(2026, 0, 4, 23);
const STEP = 5 * MIN;

interface Raw {
  patient: string;
  metric: string;
  value: number;
  time: number;
}

/** A mixed cohort over `days`: daily vitals with skipped days and excursions; CGM every 5 min with gaps. */
function cohort(days: number, seed: number): { patients: BacktestPatient[]; readings: CanonicalReading[] } {
  const random = Random.seeded(seed);
  const r = () => random.next();
  const patients: BacktestPatient[] = [];
  const raw: Raw[] = [];
  const around = (centre: number, spread: number, wild: number) => Math.round((centre + (r() - 0.5) * 2 * (r() < 0.2 ? wild : spread)) * 10) / 10;
  for (let i = 0; i < 5; i++) {
    const id = `kol-${i}`;
    patients.push({ id, programme: "telekol" });
    for (let d = 0; d < days; d++) {
      if (r() < 0.3) continue; // a day without measuring
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
        const time = FROM + d * DAY + Math.floor(r() * 20 * 60) * MIN + 2 * HOUR;
        raw.push({ patient: id, metric: "spo2", value: Math.min(100, Math.round(around(94, 2, 8))), time });
        raw.push({ patient: id, metric: "pulse", value: Math.round(around(85, 10, 35)), time });
        raw.push({ patient: id, metric: "temp", value: around(37, 0.5, 2), time });
      }
    }
  }
  for (let i = 0; i < 4; i++) {
    const id = `hf-${i}`;
    patients.push({ id, programme: "telehjerte", overrides: i === 0 ? [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 95, redHigh: 115 } }] : undefined });
    let weight = 80 + i * 5;
    for (let d = 0; d < days; d++) {
      if (r() < 0.25) continue;
      const time = FROM + d * DAY + 7 * HOUR + Math.floor(r() * 8 * 60) * MIN;
      weight += (r() - 0.3) * 2; // gaining: fluid retention now and then
      raw.push({ patient: id, metric: "weight", value: Math.round(weight * 10) / 10, time });
      raw.push({ patient: id, metric: "bp_sys", value: Math.round(around(130, 15, 50)), time: time + MIN });
      raw.push({ patient: id, metric: "bp_dia", value: Math.round(around(80, 8, 25)), time: time + MIN });
      raw.push({ patient: id, metric: "pulse", value: Math.round(around(80, 10, 40)), time: time + MIN });
    }
  }
  for (let i = 0; i < 3; i++) {
    const id = `cgm-${i}`;
    patients.push({ id, programme: "cgm" });
    let g = 7;
    let gapUntil = 0;
    for (let t = FROM + 3 * MIN; t < FROM + days * DAY; t += 5 * MIN) {
      if (t < gapUntil) continue;
      if (r() < 0.003) gapUntil = t + (10 + r() * 60) * MIN; // sensor gaps: stale data
      g = Math.max(2.2, Math.min(22, g + (r() - 0.5) * 1.4 + (8 - g) * 0.02));
      raw.push({ patient: id, metric: "cgm", value: Math.round(g * 10) / 10, time: t });
    }
  }
  patients.push({ id: "quiet", programme: "telekol" }); // never measures: missing-data alerts only
  raw.sort((a, b) => a.time - b.time);
  const batch = canonicalReadings(raw, FROM + 400 * DAY);
  expect(batch.rejected).toEqual([]);
  return { patients, readings: batch.readings };
}

/**
 * The same readings through the live pipeline, one pipeline per combination of programmes (each
 * with the tick plan of its rules), one reading per ingest at its own time, nothing latching
 * (nobody acks in a replay): the alerts from the lifecycle's events.
 */
function directReplay(patients: BacktestPatient[], readings: CanonicalReading[], rules: ProgrammeRules, to: number): AlertItem[] {
  const out: AlertItem[] = [];
  const keyOf = (p: BacktestPatient) => programmesOf(p).sort().join("+");
  for (const combination of new Set(patients.map(keyOf))) {
    const members = patients.filter((p) => keyOf(p) === combination);
    const pipeline = new Pipeline({ lifecycle: { latching: {} } });
    const programmes = programmesOf(members[0]).sort();
    for (const programme of programmes) {
      const proposed = rules[programme];
      if (proposed !== undefined) pipeline.setProgrammeThresholds(programme, proposed, "test", "proposal", FROM);
    }
    const bases = programmes.map((id) => ({ ...PROGRAMMES[id], rules: rules[id] ?? PROGRAMMES[id].rules }));
    for (const p of members) {
      pipeline.upsertPatient(p.id, { programmes: programmesOf(p), careTeams: [], paused: false, references: {} }, FROM);
      if (p.overrides !== undefined) pipeline.setPatientThresholds(p.id, p.overrides, "test", "override", FROM);
    }
    const plan = new TickPlan(members.map((p) => effectiveRules(bases, p.overrides).map((e) => e.rule)), STEP);
    const open = new Map<string, AlertItem>();
    const take = () => {
      for (const e of pipeline.lifecycle.takeEvents()) {
        if (e.type !== "raised" && e.type !== "updated" && e.type !== "resolved") continue;
        const a = (e as AlertEvent).alert;
        if (e.type === "raised") {
          const item: AlertItem = { patient: a.patient, rule: a.rule, time: a.conditionSince, end: to, open: true, priority: "medium" };
          open.set(a.id, item);
          out.push(item);
        }
        const item = open.get(a.id)!;
        item.priority = a.peakLevel === "red" ? "high" : "medium";
        if (e.type === "resolved") {
          item.end = e.at;
          item.open = false;
        }
      }
    };
    take();
    let next = plan.next(FROM);
    const tickUntil = (time: number) => {
      while (next <= time && next <= to) {
        pipeline.tick(next);
        take();
        next = plan.next(next);
      }
    };
    const ids = new Set(members.map((p) => p.id));
    for (const r of readings) {
      if (!ids.has(r.patient)) continue;
      tickUntil(r.time);
      const answer = pipeline.ingest({ items: 1, readings: [{ ...r, index: 0 }], rejected: [], invalidations: [] }, { channel: "test" }, r.time).answer;
      expect(answer.accepted).toBe(1);
      take();
    }
    tickUntil(to);
  }
  return out;
}

const key = (a: AlertItem) => `${a.patient} ${a.rule} ${a.time} ${a.end} ${a.open} ${a.priority}`;
const sorted = (items: AlertItem[]) => items.map(key).sort();

/** A proposal: TeleKOL's pulse yellow-high 100 → 105, everything else as it is. */
function raisedPulseLimit(): RuleDef[] {
  return PROGRAMMES.telekol.rules.map((r) => (r.id === "pulse-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r));
}

describe("backtest", () => {
  const days = 8;
  const to = FROM + days * DAY;
  const { patients, readings } = cohort(days, 7);
  const proposal: ProgrammeRules = {
    telekol: raisedPulseLimit(),
    cgm: PROGRAMMES.cgm.rules.map((r) => (r.id === "cgm-stale" ? { ...r, stale: { yellow: "20m", red: "45m" } } : r)),
  };

  function run(chunk: number) {
    const bt = new Backtest({ patients, from: FROM, to, proposed: [{ name: "proposal", programmes: proposal }], tickStepMs: STEP });
    for (let i = 0; i < readings.length; i += chunk) bt.pushReadings(readings.slice(i, i + chunk));
    return { bt, report: bt.finish() };
  }

  it("reports the alerts a direct replay of the same readings through the pipeline raises, under each rule set", () => {
    const { bt, report } = run(1000);
    const current = bt.alerts("current");
    // Something to compare: every kind of rule in the cohort fired.
    const rules = new Set(current.map((a) => a.rule));
    for (const rule of ["spo2-band", "pulse-band", "spo2-missing", "weight-change", "weight-missing", "cgm-low", "cgm-high", "cgm-stale"]) expect(rules).toContain(rule);
    expect(current.some((a) => a.priority === "high")).toBe(true);
    expect(sorted(current)).toEqual(sorted(directReplay(patients, readings, {}, to)));
    expect(sorted(bt.alerts("proposal"))).toEqual(sorted(directReplay(patients, readings, proposal, to)));
    expect(report.readings).toEqual({ replayed: readings.length, skipped: 0, late: 0 });
    expect(report.ruleSets.map((s) => s.alerts.all)).toEqual([current.length, bt.alerts("proposal").length]);
  });

  it("gives the same report however the readings are cut into chunks", () => {
    const a = run(1).report;
    const b = run(100_000).report;
    expect(b).toEqual(a);
  });

  it("judges each patient of a shared compiled rule list as it judges the patient alone", () => {
    // Patients of a programme without overrides share the rules compiled once (PatientRegistry's
    // templates); alone in a backtest, a patient's rules are compiled for it only. hf-0's override
    // (no weight-change rule) must stay its own; the proposal shares TeleHjerte's list with the current set.
    const run = (cohortOf: BacktestPatient[]) => {
      const bt = new Backtest({ patients: cohortOf, from: FROM, to, proposed: [{ name: "proposal", programmes: proposal }], tickStepMs: STEP });
      bt.pushReadings(readings.filter((r) => cohortOf.some((p) => p.id === r.patient)));
      const rows = bt.finish().perPatient;
      return { alerts: [...bt.alerts("current"), ...bt.alerts("proposal")], rows };
    };
    const cohortOf = patients.map((p) => (p.id === "hf-0" ? { ...p, overrides: [...p.overrides!, { id: "weight-change", remove: true as const }] } : p));
    const together = run(cohortOf);
    expect(together.alerts.length).toBeGreaterThan(0);
    expect(together.alerts.some((a) => a.rule === "weight-change" && a.patient.startsWith("hf-"))).toBe(true);
    for (const [i, p] of cohortOf.entries()) {
      const alone = run([p]);
      expect(alone.alerts).toEqual(together.alerts.filter((a) => a.patient === p.id));
      expect(alone.rows[0]).toEqual(together.rows[i]);
    }
  });

  it("shows exactly the alerts that disappear when a proposal only raises a limit", () => {
    const bt = new Backtest({ patients, from: FROM, to, proposed: [{ name: "pulse-105", programmes: { telekol: raisedPulseLimit() } }], tickStepMs: STEP });
    bt.pushReadings(readings);
    const report = bt.finish();
    const diff = report.ruleSets[1].diff!;
    // The current set's pulse alerts of TeleKOL patients whose readings never passed the new limit.
    const pulse = (p: string) => readings.filter((r) => r.patient === p && r.metric === "pulse");
    const expected = bt
      .alerts("current")
      .filter((a) => a.rule === "pulse-band" && a.patient.startsWith("kol-"))
      .filter((a) => pulse(a.patient).every((r) => r.time < a.time || r.time >= a.end || r.value <= 105));
    expect(expected.length).toBeGreaterThan(0);
    expect(diff.appeared).toBe(0);
    expect(diff.disappeared).toBe(expected.length);
    expect(diff.items.map((i) => `${i.change} ${key(i)}`).sort()).toEqual(expected.map((a) => `disappeared ${key(a)}`).sort());
    // Every other alert is the same alert.
    const others = (items: AlertItem[]) => sorted(items.filter((a) => !(a.rule === "pulse-band" && a.patient.startsWith("kol-"))));
    expect(others(bt.alerts("pulse-105"))).toEqual(others(bt.alerts("current")));
  });

  it("judges a patient on several programmes by the merged rule set, whatever the order of its programmes", () => {
    // Two TeleKOL + TeleHjerte patients (the programmes in either order: one evaluator) beside
    // one-programme patients, measuring what both programmes watch.
    const random = Random.seeded(11);
    const both: BacktestPatient[] = [
      { id: "both-0", programmes: ["telekol", "telehjerte"] },
      { id: "both-1", programmes: ["telehjerte", "telekol"], overrides: [{ id: "spo2-missing", remove: true }] },
      { id: "kol-only", programme: "telekol" },
      { id: "hf-only", programmes: ["telehjerte"] },
    ];
    const raw: Raw[] = [];
    for (const p of both) {
      let weight = 80;
      for (let d = 0; d < days; d++) {
        if (random.next() < 0.2) continue;
        const time = FROM + d * DAY + 8 * HOUR + Math.floor(random.next() * 300) * MIN;
        weight += (random.next() - 0.3) * 2;
        raw.push({ patient: p.id, metric: "spo2", value: Math.round(88 + random.next() * 10), time });
        raw.push({ patient: p.id, metric: "pulse", value: Math.round(70 + random.next() * 50), time });
        raw.push({ patient: p.id, metric: "weight", value: Math.round(weight * 10) / 10, time: time + MIN });
        raw.push({ patient: p.id, metric: "bp_sys", value: Math.round(100 + random.next() * 80), time: time + MIN });
      }
    }
    raw.sort((a, b) => a.time - b.time);
    const rs = canonicalReadings(raw, FROM + 400 * DAY).readings;
    const proposals: ProgrammeRules = { telekol: raisedPulseLimit() };
    const bt = new Backtest({ patients: both, from: FROM, to, proposed: [{ name: "proposal", programmes: proposals }], tickStepMs: STEP });
    bt.pushReadings(rs);
    const report = bt.finish();
    const rulesOf = (p: string) => new Set(bt.alerts("current").filter((a) => a.patient === p).map((a) => a.rule));
    // Rules of both programmes fired for the patients on both; one programme's only for the others.
    for (const p of ["both-0", "both-1"]) for (const rule of ["spo2-band", "weight-change"]) expect(rulesOf(p)).toContain(rule);
    expect(rulesOf("kol-only")).not.toContain("weight-change");
    expect(rulesOf("hf-only")).not.toContain("spo2-band");
    expect(rulesOf("both-1")).not.toContain("spo2-missing");
    expect(sorted(bt.alerts("current"))).toEqual(sorted(directReplay(both, rs, {}, to)));
    expect(sorted(bt.alerts("proposal"))).toEqual(sorted(directReplay(both, rs, proposals, to)));
    expect(report.perPatient.map((p) => p.programmes)).toEqual([["telekol", "telehjerte"], ["telehjerte", "telekol"], ["telekol"], ["telehjerte"]]);
    expect(patientCsv(report).split("\n")[1]).toMatch(/^both-0,telekol\+telehjerte,current,/);
  });

  it("counts alerts, patient-days, time in alert and marker lead times as a hand-computed table says", () => {
    // One rule, no programme: pulse yellow above 100, red above 110.
    const rule: RuleDef = { id: "p", kind: "band", metric: "pulse", limits: { yellowHigh: 100, redHigh: 110 } };
    const cohortOf: BacktestPatient[] = [{ id: "a", overrides: [rule] }, { id: "b", overrides: [rule] }];
    const at = (day: number, hours: number) => FROM + day * DAY + hours * HOUR;
    const bt = new Backtest({
      patients: cohortOf,
      from: FROM,
      to: FROM + 3 * DAY,
      markers: [
        { patient: "a", time: at(0, 4), label: "admission" },
        { patient: "b", time: at(1, 12) },
      ],
      markerWindowMs: DAY,
    });
    const reading = (time: number, value: number): CanonicalReading => ({ index: 0, patient: "a", metric: "pulse", value, time });
    bt.pushReadings([
      reading(at(0, 1), 105), // yellow raise
      reading(at(0, 2), 115), // red
      reading(at(0, 3), 90), // resolve: 2 h in alert, day 0 red
      reading(at(1, 10), 104), // yellow raise, open to the end: 38 h, days 1 and 2 yellow
    ]);
    const report = bt.finish();
    const s = report.ruleSets[0];
    expect(report.period.days).toBe(3);
    expect(report.patientDays).toBe(6);
    expect(s.alerts).toEqual({ all: 2, high: 1, medium: 1 });
    expect(s.alertsPerPatientDay).toEqual({ all: 0.3333, high: 0.1667, medium: 0.1667 });
    expect(s.patientDays).toEqual({ red: 1, yellow: 2, shareRed: 0.1667, shareYellow: 0.3333 });
    expect(s.timeInAlert).toEqual({ hours: 40, redHours: 1, share: round4(40 / 144), shareRed: round4(1 / 144) });
    expect(s.byRule).toEqual([{ rule: "p", alerts: { all: 2, high: 1, medium: 1 }, hours: 40 }]);
    expect(bt.alerts("current").map((a) => [a.time, a.end, a.open, a.priority])).toEqual([
      [at(0, 1), at(0, 3), false, "high"],
      [at(1, 10), FROM + 3 * DAY, true, "medium"],
    ]);
    expect(s.markers).toMatchObject({
      events: 2,
      detected: 1,
      sensitivity: 0.5,
      detectedHigh: 1,
      leadHours: { median: 3, mean: 3, min: 3, max: 3 },
      outcomes: [
        { patient: "a", label: "admission", firstAlert: { rule: "p", time: at(0, 1), priority: "high" }, leadHours: 3 },
        { patient: "b", firstAlert: null, leadHours: null },
      ],
    });
    expect(report.perPatient[0].ruleSets.current).toEqual({ alerts: { all: 2, high: 1, medium: 1 }, redDays: 1, yellowDays: 2, hoursInAlert: 40, hoursRed: 1 });
    expect(patientCsv(report).split("\n").slice(0, 2)).toEqual([
      "patient,programmes,rule_set,readings,alerts,alerts_high,alerts_medium,red_days,yellow_days,hours_in_alert,hours_red,appeared,disappeared,cgm_readings,cgm_time_in_range,cgm_below_3_9,cgm_below_3_0,cgm_above_10,cgm_above_13_9,cgm_mean,cgm_sd,cgm_cv,cgm_gmi,cgm_coverage",
      "a,,current,4,2,1,1,1,2,40,1,,,,,,,,,,,,,",
    ]);
  });

  it("summarises CGM by the consensus ranges on a hand-computed table", () => {
    const values = [2.8, 3.5, 3.9, 5.0, 10.0, 10.1, 14.0, 7.0];
    const bt = new Backtest({ patients: [{ id: "g" }], from: FROM, to: FROM + HOUR });
    const rs: CanonicalReading[] = values.map((value, i) => ({ index: i, patient: "g", metric: "cgm", value, time: FROM + i * 5 * MIN }));
    rs.push({ index: 8, patient: "g", metric: "cgm", value: 20, time: FROM + 7 * 5 * MIN }); // a duplicate time: not counted
    bt.pushReadings(rs);
    const { cgm, perPatient } = bt.finish();
    // n 8; mean 56.3 / 8 = 7.0375; sample SD from the squares (sum 507.31): sqrt((507.31 − 56.3²/8) / 7) = 3.9839.
    const expected = {
      readings: 8,
      timeInRange: 50, // 3.9, 5.0, 10.0, 7.0: both limits in range
      below3_9: 25,
      below3_0: 12.5,
      above10: 25,
      above13_9: 12.5,
      mean: 7.04,
      sd: 3.98,
      cv: 56.61, // 3.9839 / 7.0375
      gmi: 6.34, // 3.31 + 0.02392 × 7.0375 × 18.016
      coverage: 66.67, // 8 × 5 min of 60
    };
    expect(perPatient[0].cgm).toEqual(expected);
    expect(cgm).toEqual(expected);
  });

  it("reads NDJSON, CSV and FHIR files into the same readings, refusing bad rows with their code", () => {
    const t = "2026-01-05T08:00:00Z";
    const ndjson = `{"patient":"a","metric":"pulse","value":88,"time":"${t}"}\nnot json\n{"patient":"a","metric":"spo2","value":91,"time":"${t}"}\n`;
    const csv = `patient,metric,value,time\na,pulse,88,${t}\na,pulse,"eighty",${t}\na,spo2,91,${Date.parse(t)}\n`;
    const fhir = JSON.stringify({
      resourceType: "Bundle",
      type: "collection",
      entry: [
        { resource: { resourceType: "Observation", status: "final", subject: { reference: "Patient/a" }, effectiveDateTime: t, code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] }, valueQuantity: { value: 88, unit: "/min", system: "http://unitsofmeasure.org", code: "/min" } } },
        { resource: { resourceType: "Observation", status: "final", subject: { reference: "Patient/a" }, effectiveDateTime: t, code: { coding: [{ system: "http://loinc.org", code: "59408-5" }] }, valueQuantity: { value: 91, unit: "%", system: "http://unitsofmeasure.org", code: "%" } } },
      ],
    });
    const now = Date.parse(t) + DAY;
    const shape = (b: ReturnType<typeof parseReadingsFile>) => b.readings.map((r) => [r.patient, r.metric, r.value, r.time]);
    const n = parseReadingsFile(ndjson, now);
    const c = parseReadingsFile(csv, now);
    const f = parseReadingsFile(fhir, now);
    expect(shape(n)).toEqual([["a", "pulse", 88, Date.parse(t)], ["a", "spo2", 91, Date.parse(t)]]);
    expect(shape(c)).toEqual(shape(n));
    expect(shape(f)).toEqual(shape(n));
    expect(n.rejected.map((r) => [r.index, r.code])).toEqual([[1, "invalid_field"]]); // a line that is not JSON
    expect(c.rejected.map((r) => [r.index, r.code])).toEqual([[1, "not_a_number"]]);
  });
});

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
