// The simulator inside the server process (the demo): patients and readings go straight to the
// durable pipeline as the HTTP routes would send them (validated into canonical batches first),
// and `startSimulatedDemo` replays recent days in seconds, then follows real time.
import type { DurablePipeline } from "../../engine/durable/durable-pipeline.js";
import { canonicalReadings } from "../../engine/ingest/canonical.js";
import { cohort, registration } from "./cohort.js";
import { runSimulation } from "./driver.js";
import { DAY } from "./time.js";
import type { IngestResult, ProgrammeId, SimPatient, Target, WireReading } from "./types.js";
import { PROGRAMME_IDS } from "./types.js";

export class PipelineTarget implements Target {
  /** `onAccepted`: told how many readings each batch had accepted (for the ingest counter). */
  constructor(private readonly durable: DurablePipeline, private readonly onAccepted: (n: number) => void = () => undefined) {}

  async register(patient: SimPatient): Promise<void> {
    await this.durable.execute({ kind: "patient", id: patient.id, input: { ...registration(patient), paused: false, references: {} } }, { actor: "demo" });
  }

  async ingest(readings: WireReading[]): Promise<IngestResult> {
    const result: IngestResult = { accepted: 0, duplicates: 0, rejected: {}, retried: {}, transitions: 0 };
    try {
      const answer = await this.durable.execute({ kind: "ingest", source: "readings", channel: "demo", batch: canonicalReadings(readings, Date.now()) });
      result.accepted = answer.accepted;
      result.duplicates = answer.duplicates.length;
      result.transitions = answer.transitions;
      for (const r of answer.rejected) result.rejected[r.code] = (result.rejected[r.code] ?? 0) + 1;
      this.onAccepted(answer.accepted);
    } catch (err) {
      // A store outage or an overload is the engine's to report; the demo carries on.
      const code = (err as { code?: unknown }).code;
      result.rejected[typeof code === "string" ? code : "internal_error"] = readings.length;
    }
    return result;
  }
}

/** The demo cohort: four patients per programme, cared for by these teams (the board's development sign-in covers them). */
export const DEMO_PATIENTS = 16;
export const DEMO_TEAMS = ["hospital-lung", "hospital-heart", "hospital-diabetes", "municipality-aarhus", "gp-1234"];

export interface DemoOptions {
  /** Default 16: four per programme. */
  patients?: number;
  programmes?: readonly ProgrammeId[];
  seed?: number;
  /** Days replayed at start-up, so the board has a past and alerts at once; default 2 days. */
  historyMs?: number;
  /** How fast the history is replayed; default 50 000 (two days in about 3.5 s). */
  speed?: number;
  /** Patient ids start with it; default "demo" (the same patients at every start). */
  prefix?: string;
  onAccepted?: (n: number) => void;
}

/**
 * Registers the demo cohort, replays its recent history in seconds, then keeps it sending in
 * real time. Resolves once the patients are registered; the returned function stops it.
 */
export async function startSimulatedDemo(durable: DurablePipeline, o: DemoOptions = {}): Promise<() => void> {
  const stop = new AbortController();
  const patients = cohort({ patients: o.patients ?? 16, programmes: o.programmes ?? PROGRAMME_IDS, seed: o.seed ?? 1, prefix: o.prefix ?? "demo" });
  let registered!: () => void;
  const ready = new Promise<void>((resolve) => (registered = resolve));
  const target = new PipelineTarget(durable, o.onAccepted);
  const run = runSimulation(
    patients,
    { durationMs: o.historyMs ?? 2 * DAY, speed: o.speed ?? 50_000, follow: true, signal: stop.signal, onProgress: (p) => p.phase !== "registering" && registered() },
    target,
  );
  await Promise.race([ready, run]);
  run.catch(() => undefined);
  return () => stop.abort();
}
