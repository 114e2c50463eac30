// The end summary: what was simulated, what became of the readings (refusals by code), and the
// alerts by programme and priority, checked against what the server reports.
import { PRIORITIES, type AlertCounts } from "./alerts.js";
import type { SimulationReport } from "./driver.js";
import { PROGRAMME_IDS, type ProgrammeId } from "./types.js";

export interface Summary {
  seed: number;
  speed: number;
  patients: Record<ProgrammeId, number>;
  deteriorating: number;
  flakyGateways: number;
  window: { from: string; to: string };
  /** Simulated time reached: the window's end, earlier when stopped by Ctrl-C. */
  reached: string;
  elapsedMs: number;
  readings: { sent: number; accepted: number; duplicates: number; refused: Record<string, number>; resent: Record<string, number>; stillBuffered: number; transitions: number };
  /** Distinct alerts of this run's patients, by programme and latest priority, from the alert stream. */
  alerts: AlertCounts;
  /** The same counted from GET /v1/alerts at the end (absent when it could not be read). */
  serverAlerts?: AlertCounts;
}

export function summarise(r: SimulationReport, seed: number, speed: number, alerts: AlertCounts, serverAlerts: AlertCounts | undefined): Summary {
  const patients = Object.fromEntries(PROGRAMME_IDS.map((p) => [p, r.patients.filter((x) => x.programme === p).length])) as Record<ProgrammeId, number>;
  const t = r.totals;
  return {
    seed,
    speed,
    patients,
    deteriorating: r.patients.filter((p) => p.deteriorates).length,
    flakyGateways: r.patients.filter((p) => p.flakyGateway).length,
    window: { from: new Date(r.window.from).toISOString(), to: new Date(r.window.to).toISOString() },
    reached: new Date(r.reached).toISOString(),
    elapsedMs: r.endedAt - r.startedAt,
    readings: { sent: t.sent, accepted: t.accepted, duplicates: t.duplicates, refused: t.rejected, resent: t.retried, stillBuffered: r.stillBuffered, transitions: t.transitions },
    alerts,
    serverAlerts,
  };
}

export function sameCounts(a: AlertCounts, b: AlertCounts): boolean {
  return PROGRAMME_IDS.every((p) => PRIORITIES.every((q) => a[p][q] === b[p][q]));
}

/** The summary as text for a terminal. */
export function formatSummary(s: Summary): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const codes = (r: Record<string, number>) => Object.entries(r).map(([c, k]) => `${c} ${n(k)}`).join(", ");
  const total = Object.values(s.patients).reduce((a, b) => a + b, 0);
  const refused = Object.values(s.readings.refused).reduce((a, b) => a + b, 0);
  const resent = Object.values(s.readings.resent).reduce((a, b) => a + b, 0);
  const lines = [
    `simulated ${n(total)} patients (${PROGRAMME_IDS.filter((p) => s.patients[p] > 0).map((p) => `${p} ${s.patients[p]}`).join(", ")}; ${s.deteriorating} deteriorating, ${s.flakyGateways} with flaky gateways), seed ${s.seed}`,
    `window ${s.window.from.slice(0, 16)} → ${s.window.to.slice(0, 16)} UTC at ×${s.speed}, in ${(s.elapsedMs / 1000).toFixed(1)} s` +
      (s.reached < s.window.to ? ` (stopped at ${s.reached.slice(0, 16)})` : s.reached > s.window.to ? ` (followed to ${s.reached.slice(0, 16)})` : ""),
    `readings: ${n(s.readings.sent)} sent, ${n(s.readings.accepted)} accepted, ${n(s.readings.duplicates)} duplicates, ${n(refused)} refused${refused > 0 ? ` (${codes(s.readings.refused)})` : ""}` +
      `${resent > 0 ? `; resent ${n(resent)} times (${codes(s.readings.resent)})` : ""}; ${n(s.readings.stillBuffered)} still buffered in gateways`,
    "",
    "alerts (each once, at its latest priority):",
    `  ${"programme".padEnd(12)}${PRIORITIES.map((q) => q.padStart(8)).join("")}${"total".padStart(8)}`,
  ];
  for (const p of PROGRAMME_IDS.filter((p) => s.patients[p] > 0)) {
    const row = s.alerts[p];
    lines.push(`  ${p.padEnd(12)}${PRIORITIES.map((q) => n(row[q]).padStart(8)).join("")}${n(row.high + row.medium + row.low).padStart(8)}`);
  }
  const all = PRIORITIES.map((q) => PROGRAMME_IDS.reduce((a, p) => a + s.alerts[p][q], 0));
  lines.push(`  ${"total".padEnd(12)}${all.map((x) => n(x).padStart(8)).join("")}${n(all.reduce((a, b) => a + b, 0)).padStart(8)}`);
  if (s.serverAlerts === undefined) lines.push("", "could not read GET /v1/alerts to check these counts");
  else lines.push("", sameCounts(s.alerts, s.serverAlerts) ? "GET /v1/alerts reports the same counts" : "GET /v1/alerts reports different counts: " + JSON.stringify(s.serverAlerts));
  return lines.join("\n") + "\n";
}
