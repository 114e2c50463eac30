// The backfill and reconnect-storm phases in bench:server's output (issue 16.5, 16.6): rows of
// the main table, rows of the goals table (each figure beside its goal), notes, checks that
// fail the run (wrong results, never speed) and the JSON keys.
import { fmtMs, fmtRate, sig, summarize } from "../lib/stats.js";
import type { BackfillOptions, BackfillRun } from "./backfill.js";
import type { StormOptions, StormRun } from "./storm.js";

const FULL_BACKFILL_PATIENTS = 100_000;
const FULL_STORM_SOCKETS = 5_000;

export interface PhaseReport {
  rows: string[][];
  goalRows: string[][];
  notes: string[];
  problems: string[];
  checks: Record<string, boolean | null>;
  goals: Record<string, boolean | null>;
  json: Record<string, unknown>;
}

export function phaseReport(backfill: BackfillRun[], storm: StormRun[], bo: BackfillOptions, so: StormOptions): PhaseReport {
  const med = (xs: number[]): number => summarize(xs).median;
  const n = (x: number, d = 4): number | null => (Number.isFinite(x) ? sig(x, d) : null);
  const blank = ["", "", "", "", ""];
  const rate3 = (xs: number[]): string[] => [fmtRate(med(xs)), fmtRate(summarize(xs).min), fmtRate(summarize(xs).max)];
  const ms3 = (xs: number[]): string[] => [fmtMs(med(xs)), fmtMs(summarize(xs).min), fmtMs(summarize(xs).max)];
  const s3 = (xs: number[]): string[] => [med(xs), summarize(xs).min, summarize(xs).max].map((x) => (Number.isFinite(x) ? `${x.toFixed(2)} s` : "–"));
  const mb = (x: number): string => `${x.toFixed(0)} MB`;
  const rows: string[][] = [];
  const notes: string[] = [];
  const T = (t: string): string => (t === "uws" ? "uWS" : "ws");

  const bfRps = med(backfill.map((r) => r.rps));
  const bfP99 = med(backfill.map((r) => r.bystander.p99));
  if (backfill.length > 0) {
    const side = [med(backfill.map((r) => r.serverCores)).toFixed(2), med(backfill.map((r) => r.serverElu)).toFixed(2), med(backfill.map((r) => r.genCores)).toFixed(2), "–", mb(Math.max(...backfill.map((r) => r.rssPeakMb)))];
    rows.push([`backfill, ${bo.patients} CGM patients × 288`, T(bo.transport), "readings/s accepted (whole upload)", ...rate3(backfill.map((r) => r.rps)), ...side]);
    rows.push(["", "", "per server core (readings / server CPU-s)", ...rate3(backfill.map((r) => r.rps / r.serverCores)), ...blank]);
    rows.push(["", "", "bystander ingest→alert p50", ...ms3(backfill.map((r) => r.bystander.p50)), ...blank]);
    rows.push(["", "", "bystander ingest→alert p99", ...ms3(backfill.map((r) => r.bystander.p99)), ...blank]);
    rows.push(["", "", "bystander ingest→alert max", ...ms3(backfill.map((r) => r.bystander.max)), ...blank]);
    rows.push(["", "", "gateway frame ack p99 (send→ingest_result)", ...ms3(backfill.map((r) => r.frameAck.p99)), ...blank]);
    rows.push(["", "", "server event-loop delay max", ...ms3(backfill.map((r) => r.loopDelayMaxMs)), ...blank]);
    const last = backfill[backfill.length - 1];
    const byPriority = ["high", "medium", "low"].map((p) => `${p} ${last.alarms.raisedByPriority[p] ?? 0}`).join(", ");
    notes.push(
      `Backfill: ${bo.patients} CGM patients (programme cgm: cgm-low, cgm-high, cgm-predicted-low, cgm-stale) over ${bo.teams} teams, each patient's 24 h (288 readings, 5 min apart, newest 0–4 min old) in one frame with ${bo.patientsPerFrame} patient(s) per frame, oldest first, ` +
        `${bo.sockets} gateway sockets (each its own token) in ${bo.gens} processes, ${bo.window} frame(s) in flight per socket, a frame answered overloaded sent again after retryAfterMs; readings/s = readings accepted ÷ (last ingest_result − first send). ` +
        `Bystanders: ${bo.bystanders} live telehjerte patients, each on its own gateway socket and token, one reading of now every ${bo.bystanderTickMs} ms in turn, pulse alternating 110 / 75 (every reading an alert transition); ` +
        `latency = a clinician socket's receipt − reading time. Server RSS = peak, sampled every 20 ms.`,
    );
    notes.push(
      `Backfill alerts (last run): raised by priority ${byPriority}; late events ${last.alarms.lateEvents} (raised late ${last.alarms.lateRaised}) of ${last.alarms.alertEvents} alert events; ` +
        `urgent alarms (priority high, not late, sounding) for ${Object.keys(last.alarms.urgent).length} patients, ${last.presentExpected} of them low now; urgent alarms for events already past: ${last.urgentForPast} (must be 0); ` +
        `patients low now without an urgent alarm: ${last.presentMissed} (must be 0). Load average (1 min) over the runs: ${backfill.map((r) => `${r.loadAvg[0].toFixed(1)}→${r.loadAvg[1].toFixed(1)}`).join(", ")}.`,
    );
  }
  const stCatch = med(storm.map((r) => r.catchupS));
  if (storm.length > 0) {
    const side = [med(storm.map((r) => r.serverCores)).toFixed(2), med(storm.map((r) => r.serverElu)).toFixed(2), "–", "–", mb(Math.max(...storm.map((r) => r.rssPeakMb)))];
    rows.push([`reconnect storm, ${so.sockets} sockets`, T(so.transport), "reconnect → last socket caught up", ...s3(storm.map((r) => r.catchupS)), ...side]);
    rows.push(["", "", "server CPU, cut → all caught up", ...s3(storm.map((r) => r.serverCpuS)), ...blank]);
    rows.push(["", "", "reconnect → caught up p50", ...ms3(storm.map((r) => r.catchup.p50)), ...blank]);
    rows.push(["", "", "reconnect → caught up p99", ...ms3(storm.map((r) => r.catchup.p99)), ...blank]);
    rows.push(["", "", "events replayed (all sockets)", ...[med, (x: number[]) => summarize(x).min, (x: number[]) => summarize(x).max].map((f) => String(f(storm.map((r) => r.replayed)))), ...blank]);
    rows.push(["", "", "server RSS before the drop", ...[med, (x: number[]) => summarize(x).min, (x: number[]) => summarize(x).max].map((f) => mb(f(storm.map((r) => r.rssBeforeMb)))), ...blank]);
    rows.push(["", "", "server RSS peak during the storm", ...[med, (x: number[]) => summarize(x).min, (x: number[]) => summarize(x).max].map((f) => mb(f(storm.map((r) => r.rssPeakMb)))), ...blank]);
    rows.push(["", "", "server event-loop delay max", ...ms3(storm.map((r) => r.loopDelayMaxMs)), ...blank]);
    const last = storm[storm.length - 1];
    notes.push(
      `Reconnect storm: ${so.sockets} clinician sockets in ${so.procs} processes (team j mod ${so.teams}), subscribed, while the latency generators send ${fmtRate(so.rate)} (alerts flowing); all cut at one instant (no close frame), ` +
        `${so.offlineMs} ms away, then all reconnect at one instant and subscribe with resumeFrom = cursor; caught up = the \`replayed\` events after \`subscribed\` received. ` +
        `Every socket's events (before and after) checked against a reference socket that never dropped (last run: ${last.expected} expected, missed ${last.missed}, duplicated ${last.duplicated}, out of order ${last.outOfOrder}, ` +
        `resyncs ${last.resyncs}, connect retries ${last.retries}; ${last.eventsWhileOffline} events while away, ${last.replayed} replayed; alert-load frames answered overloaded ${last.loadOverloaded}). ` +
        `Load average (1 min): ${storm.map((r) => `${r.loadAvg[0].toFixed(1)}→${r.loadAvg[1].toFixed(1)}`).join(", ")}.`,
    );
  }

  const atLeast = (x: number, min: number): boolean | null => (Number.isNaN(x) ? null : x >= min);
  const atMost = (x: number, max: number): boolean | null => (Number.isNaN(x) ? null : x <= max);
  const fullBf = bo.patients === FULL_BACKFILL_PATIENTS && bo.sockets === 64;
  const fullSt = so.sockets === FULL_STORM_SOCKETS;
  const goals = {
    backfill_250k: fullBf ? atLeast(bfRps, 250_000) : null,
    backfill_bystander_p99_le_50ms: fullBf ? atMost(bfP99, 50) : null,
    storm_catchup_le_5s: fullSt ? atMost(stCatch, 5) : null,
  };
  const goal = (ok: boolean | null, full: boolean): string => (!full ? "n/a (not that load)" : ok === null ? "n/a" : ok ? "met" : "NOT met");
  const goalRows: string[][] = [];
  if (backfill.length > 0) {
    goalRows.push([`backfill, ${bo.patients} patients × 288 over ${bo.sockets} sockets, readings/s`, fmtRate(bfRps), "≥ 250 k/s (100 000 patients, 64 sockets)", goal(goals.backfill_250k, fullBf)]);
    goalRows.push(["  meanwhile a live bystander's ingest→alert p99", fmtMs(bfP99), "≤ 50 ms", goal(goals.backfill_bystander_p99_le_50ms, fullBf)]);
    goalRows.push(["  urgent alarms for events already past", String(Math.max(...backfill.map((r) => r.urgentForPast))), "0 (checked: fails the run)", backfill.every((r) => r.urgentForPast === 0) ? "holds" : "FAILED"]);
  }
  if (storm.length > 0) {
    goalRows.push([`reconnect storm, ${so.sockets} sockets: last caught up`, Number.isFinite(stCatch) ? `${stCatch.toFixed(2)} s` : "never", "≤ 5 s (5 000 sockets)", goal(goals.storm_catchup_le_5s, fullSt)]);
    goalRows.push(["  events missed / duplicated / out of order", [sum(storm, (r) => r.missed), sum(storm, (r) => r.duplicated), sum(storm, (r) => r.outOfOrder)].join(" / "), "0 / 0 / 0 (checked: fails the run)", storm.every((r) => r.missed + r.duplicated + r.outOfOrder === 0) ? "holds" : "FAILED"]);
    goalRows.push(["  server RSS peak − before the drop", mb(Math.max(...storm.map((r) => r.rssPeakMb - r.rssBeforeMb))), "bounded (reported)", ""]);
  }

  const none = <T>(xs: T[], ok: (x: T) => boolean): boolean | null => (xs.length === 0 ? null : xs.every(ok));
  const checks = {
    backfill_all_accepted: none(backfill, (r) => r.accepted === r.readings && r.rejected === 0 && r.outOfOrder === 0 && r.errorFrames === 0),
    backfill_no_urgent_alarm_for_past: none(backfill, (r) => r.urgentForPast === 0),
    backfill_present_lows_alarmed: none(backfill, (r) => r.presentMissed === 0),
    backfill_bystander_deliveries_complete: none(backfill, (r) => r.bystanderDeliveries === r.bystanderTransitions && r.bystanderTransitions > 0),
    storm_none_missed: none(storm, (r) => r.missed === 0 && r.resyncs === 0 && r.expected > 0),
    storm_no_duplicates: none(storm, (r) => r.duplicated === 0),
    storm_in_order: none(storm, (r) => r.outOfOrder === 0 && r.unexpected === 0),
    storm_all_caught_up: none(storm, (r) => r.notCaughtUp === 0 && r.errorFrames === 0),
  };
  const json = {
    backfill_rps: n(bfRps),
    backfill_rps_min: n(summarize(backfill.map((r) => r.rps)).min),
    backfill_rps_max: n(summarize(backfill.map((r) => r.rps)).max),
    backfill_bystander_p99_ms: n(bfP99),
    backfill_bystander_p50_ms: n(med(backfill.map((r) => r.bystander.p50))),
    backfill_bystander_max_ms: n(med(backfill.map((r) => r.bystander.max))),
    backfill_raised_by_priority: backfill.at(-1)?.alarms.raisedByPriority ?? null,
    backfill_late_events: backfill.at(-1)?.alarms.lateEvents ?? null,
    backfill_urgent_for_past: backfill.length ? Math.max(...backfill.map((r) => r.urgentForPast)) : null,
    backfill_rss_peak_mb: backfill.length ? n(Math.max(...backfill.map((r) => r.rssPeakMb)), 3) : null,
    backfill_server_cores: n(med(backfill.map((r) => r.serverCores)), 3),
    backfill_rps_per_server_core: n(med(backfill.map((r) => r.rps / r.serverCores))),
    backfill_patients: bo.patients,
    backfill_load_avg: backfill.map((r) => r.loadAvg.map((x) => sig(x, 3))),
    storm_catchup_s: n(stCatch),
    storm_catchup_p99_s: n(med(storm.map((r) => r.catchup.p99)) / 1000),
    storm_server_cpu_s: n(med(storm.map((r) => r.serverCpuS))),
    storm_missed: storm.length ? sum(storm, (r) => r.missed) : null,
    storm_duplicated: storm.length ? sum(storm, (r) => r.duplicated) : null,
    storm_out_of_order: storm.length ? sum(storm, (r) => r.outOfOrder) : null,
    storm_replayed: n(med(storm.map((r) => r.replayed))),
    storm_rss_before_mb: n(med(storm.map((r) => r.rssBeforeMb)), 3),
    storm_rss_peak_mb: storm.length ? n(Math.max(...storm.map((r) => r.rssPeakMb)), 3) : null,
    storm_sockets: so.sockets,
    storm_load_avg: storm.map((r) => r.loadAvg.map((x) => sig(x, 3))),
  };
  return { rows, goalRows, notes, problems: [...backfill, ...storm].flatMap((r) => r.problems), checks, goals, json };
}

function sum<T>(xs: T[], f: (x: T) => number): number {
  return xs.reduce((a, x) => a + f(x), 0);
}
