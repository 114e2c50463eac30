// `varsel backtest`: replays a file of readings (NDJSON, JSON, CSV or a FHIR Bundle) through
// fresh wasm kernels under the current rule set and proposed ones (engine/backtest/), offline:
// no server, no store. Prints a summary per rule set; --json writes the report, --csv the
// per-patient table (docs/backtest.md).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { Backtest, periodOf } from "../../engine/backtest/backtest.js";
import { patientCsv } from "../../engine/backtest/csv.js";
import { ShardedBacktest } from "../../engine/backtest/sharded.js";
import { parseReadingsFile } from "../../engine/backtest/input.js";
import { markersFrom, proposalsFrom } from "../../engine/backtest/spec.js";
import type { BacktestPatient, BacktestReport } from "../../engine/backtest/types.js";
import { parseDuration } from "../../engine/rules/duration.js";
import { PROGRAMMES, type ProgrammeId } from "../../engine/rules/programmes.js";
import { SettingError } from "./settings.js";

interface BacktestValues {
  file: string;
  programme?: ProgrammeId;
  patients?: string;
  proposed: string[];
  markers?: string;
  markerWindow: number;
  from?: number;
  to?: number;
  step: number;
  json?: string;
  csv?: string;
  threads: number;
}

export function backtestCommand(): Command {
  return new Command("backtest")
    .description("replay a file of readings under the current rules and proposed ones; report alerts per patient-day, red/yellow days, time in alert, the alerts that appear or disappear, marker sensitivity and a CGM summary")
    .requiredOption("--file <path>", "readings: NDJSON, a JSON array, CSV (header patient,metric,value,time[,unit,id,device]) or a FHIR Bundle")
    .addOption(new Option("--programme <id>", "the programme of every patient in the file (else --patients)").choices(Object.keys(PROGRAMMES)))
    .option("--patients <path>", "JSON list of {id, programmes?, programme?, overrides?, references?}: the cohort (readings of others are skipped)")
    .addOption(new Option("--proposed <path...>", "a proposed rule set: a rule list replacing --programme's, or {name, programmes: {...}} (repeatable)").default([]))
    .option("--markers <path>", "JSON list of {patient, time, label?}: events the alerts should announce (e.g. admissions)")
    .addOption(new Option("--marker-window <d>", "how long before a marker an alert counts").argParser(duration).default(7 * 86_400_000, "7d"))
    .addOption(new Option("--from <time>", "start of the period, ISO 8601 (default: midnight before the first reading)").argParser(instant))
    .addOption(new Option("--to <time>", "end of the period, ISO 8601 (default: midnight after the last reading)").argParser(instant))
    .addOption(new Option("--step <d>", "virtual clock step for stale-data, for and keep-firing rules").argParser(duration).default(5 * 60_000, "5m"))
    .option("--json <path>", "write the report as JSON (- for stdout)")
    .option("--csv <path>", "write the per-patient table as CSV (- for stdout)")
    .addOption(new Option("--threads <n>", "replay on n worker threads, the cohort dealt out among them (same report; a large cohort finishes about n times sooner on n cores)").argParser(threads).default(1))
    .action(run);
}

async function run(o: BacktestValues): Promise<void> {
  if (o.programme === undefined && o.patients === undefined) throw new SettingError("backtest needs --programme or --patients");
  const batch = parseReadingsFile(readText(o.file), Date.now());
  for (const r of batch.rejected.slice(0, 5)) process.stderr.write(`varsel: ${o.file}: item ${r.index} refused (${r.code}): ${r.message}\n`);
  if (batch.rejected.length > 5) process.stderr.write(`varsel: ${o.file}: ${batch.rejected.length - 5} more items refused\n`);
  const patients: BacktestPatient[] =
    o.patients !== undefined
      ? (readJson(o.patients) as BacktestPatient[])
      : [...new Set(batch.readings.map((r) => r.patient))].map((id) => ({ id, programme: o.programme }));
  const proposed = o.proposed.flatMap((path) => proposalsFrom(readJson(path), o.programme, basename(path, extname(path))));
  const period = periodOf(batch.readings);
  const from = o.from ?? period?.from;
  const to = o.to ?? period?.to;
  if (from === undefined || to === undefined) throw new Error(`${o.file} holds no valid reading: give --from and --to`);
  const options = {
    patients,
    from,
    to,
    proposed,
    markers: o.markers === undefined ? undefined : markersFrom(readJson(o.markers)),
    markerWindowMs: o.markerWindow,
    tickStepMs: o.step,
  };
  let report: BacktestReport;
  if (o.threads > 1) {
    const bt = new ShardedBacktest(options, o.threads);
    await bt.pushReadings(batch.readings);
    report = await bt.finish();
  } else {
    const bt = new Backtest(options);
    bt.pushReadings(batch.readings);
    report = bt.finish();
  }
  if (o.json !== undefined) write(o.json, `${JSON.stringify(report)}\n`);
  if (o.csv !== undefined) write(o.csv, patientCsv(report));
  if (o.json !== "-" && o.csv !== "-") process.stdout.write(summary(report));
}

/** One line per rule set, then the CGM line. */
export function summary(r: BacktestReport): string {
  const lines = [
    `${r.patients} patients, ${r.period.days} days (${new Date(r.period.from).toISOString()} – ${new Date(r.period.to).toISOString()}), ${r.readings.replayed} readings (${r.readings.skipped} skipped)`,
  ];
  for (const s of r.ruleSets) {
    const diff = s.diff === undefined ? "" : `, +${s.diff.appeared} / −${s.diff.disappeared} alerts vs current`;
    const markers = s.markers === undefined ? "" : `, markers ${s.markers.detected}/${s.markers.events} (median lead ${s.markers.leadHours.median ?? "–"} h)`;
    lines.push(
      `${s.name}: ${s.alerts.all} alerts (${s.alerts.high} high, ${s.alerts.medium} medium), ${s.alertsPerPatientDay.all} per patient-day, red days ${pct(s.patientDays.shareRed)}, yellow days ${pct(s.patientDays.shareYellow)}, in alert ${pct(s.timeInAlert.share)}${diff}${markers}`,
    );
  }
  if (r.cgm !== null) lines.push(`cgm: ${r.cgm.readings} readings, in range ${r.cgm.timeInRange} %, below 3.9 ${r.cgm.below3_9} %, below 3.0 ${r.cgm.below3_0} %, above 10 ${r.cgm.above10} %, above 13.9 ${r.cgm.above13_9} %, CV ${r.cgm.cv} %, coverage ${r.cgm.coverage} %`);
  return `${lines.join("\n")}\n`;
}

function pct(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readText(path));
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${path} is not valid JSON`);
    throw err;
  }
}

function write(path: string, text: string): void {
  if (path === "-") process.stdout.write(text);
  else writeFileSync(path, text);
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError("a duration like 5m, 12h, 7d");
  return ms;
}

function instant(value: string): number {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) throw new InvalidArgumentError("an ISO 8601 time, e.g. 2026-01-05T00:00:00+01:00");
  return t;
}

function threads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError("a whole number of threads, 1 to 64");
  return n;
}
