// --demo: a few simulated patients whose devices upload every few seconds, so that alerts,
// upgrades and resolves appear within a minute on a fresh start. The CGM patient sends nothing:
// its stale-data alert shows missing data after 15 minutes (a sensor's 5-minute cadence cannot
// be simulated every few seconds without absurd trend forecasts).
import type { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { Metrics } from "./metrics.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";

export const DEMO_TEAMS = ["hospital-lung", "hospital-heart", "municipality-aarhus", "gp-1234"];

const PATIENTS = [
  { id: "demo-kol-1", programme: "telekol" as const, teams: ["hospital-lung", "municipality-aarhus", "gp-1234"] },
  { id: "demo-hjerte-1", programme: "telehjerte" as const, teams: ["hospital-heart", "municipality-aarhus", "gp-1234"] },
  { id: "demo-cgm-1", programme: "cgm" as const, teams: ["hospital-heart", "gp-1234"] },
];

/** Registers the demo patients and starts feeding readings (counted as channel `demo`); returns a stop function. */
export async function startDemo(durable: DurablePipeline, metrics: Metrics, everyMs = 5000): Promise<() => void> {
  for (const p of PATIENTS) {
    const roles = ["hospital", "municipality", "gp"] as const;
    await durable.execute({
      kind: "patient",
      id: p.id,
      input: { programme: p.programme, careTeams: p.teams.map((team, i) => ({ team, role: roles[Math.min(i, 2)] })), paused: false, references: {} },
    }, { actor: "demo" });
  }
  let step = 0;
  const feed = () => {
    const t = Date.now();
    const wave = Math.sin(step / 4);
    step++;
    const items = [
        { patient: "demo-kol-1", metric: "spo2", value: Math.round(91 + 4 * wave), time: t },
        { patient: "demo-kol-1", metric: "pulse", value: Math.round(95 + 15 * wave), time: t },
        { patient: "demo-hjerte-1", metric: "weight", value: 82 + step * 0.15, time: t },
        { patient: "demo-hjerte-1", metric: "bp_sys", value: Math.round(150 + 25 * wave), time: t },
    ];
    void durable
      .execute({ kind: "ingest", source: "readings", channel: "demo", batch: canonicalReadings(items, t) })
      .then((answer) => metrics.readingsIngested.inc({ channel: "demo" }, answer.accepted))
      .catch(() => undefined); // a store outage is logged by the engine; the demo just carries on
  };
  feed();
  const timer = setInterval(feed, everyMs);
  return () => clearInterval(timer);
}
