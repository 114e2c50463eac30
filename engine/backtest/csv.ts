// The report's per-patient table as CSV: one row per patient and rule set, the CGM summary
// repeated on each of the patient's rows (docs/backtest.md lists the columns). Programmes are
// joined by "+" ("telekol+telehjerte"), as thresholdVersion joins them.
import type { BacktestReport } from "./types.js";

export const PATIENT_CSV_COLUMNS = [
  "patient",
  "programmes",
  "rule_set",
  "readings",
  "alerts",
  "alerts_high",
  "alerts_medium",
  "red_days",
  "yellow_days",
  "hours_in_alert",
  "hours_red",
  "appeared",
  "disappeared",
  "cgm_readings",
  "cgm_time_in_range",
  "cgm_below_3_9",
  "cgm_below_3_0",
  "cgm_above_10",
  "cgm_above_13_9",
  "cgm_mean",
  "cgm_sd",
  "cgm_cv",
  "cgm_gmi",
  "cgm_coverage",
] as const;

export function patientCsv(report: BacktestReport): string {
  const lines = [PATIENT_CSV_COLUMNS.join(",")];
  for (const p of report.perPatient) {
    const c = p.cgm;
    const cgm = c === null ? Array(11).fill("") : [c.readings, c.timeInRange, c.below3_9, c.below3_0, c.above10, c.above13_9, c.mean, c.sd, c.cv, c.gmi, c.coverage];
    for (const [name, r] of Object.entries(p.ruleSets)) {
      const row = [p.id, p.programmes.join("+"), name, p.readings, r.alerts.all, r.alerts.high, r.alerts.medium, r.redDays, r.yellowDays, r.hoursInAlert, r.hoursRed, r.appeared ?? "", r.disappeared ?? "", ...cgm];
      lines.push(row.map(cell).join(","));
    }
  }
  return lines.join("\n") + "\n";
}

/** A CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ is neutralised (spreadsheet formulas). */
function cell(v: unknown): string {
  let s = v === null || v === undefined ? "" : String(v);
  if (typeof v === "string" && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
