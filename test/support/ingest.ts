// Raw readings and FHIR resources into the pipeline the way the server does it: validated into a
// canonical batch at `now` (engine/ingest/canonical.ts), then `Pipeline.ingest` (or the ingest
// command a DurablePipeline executes).
import type { Command } from "../../engine/durable/commands.js";
import { canonicalFhir, canonicalReadings } from "../../engine/ingest/canonical.js";
import type { IngestAnswer, IngestOptions, IngestScope, Pipeline } from "../../engine/pipeline.js";

/** An internal sender: any patient. */
export const ANY_SENDER: IngestScope = { channel: "test" };

/** Raw readings through canonicalReadings and Pipeline.ingest; the answer. */
export function ingestRaw(pipeline: Pipeline, items: readonly unknown[], scope: IngestScope, now: number, options: IngestOptions = {}): IngestAnswer {
  return pipeline.ingest(canonicalReadings(items, now), scope, now, options).answer;
}

/** A FHIR Observation or Bundle through canonicalFhir and Pipeline.ingest; the answer. */
export function ingestFhirRaw(pipeline: Pipeline, resource: unknown, scope: IngestScope, now: number, options: IngestOptions = {}): IngestAnswer {
  return pipeline.ingest(canonicalFhir(resource, now), scope, now, options).answer;
}

/** The ingest command the server would execute for raw readings received at `now`. */
export function readingsCommand(items: readonly unknown[], now: number, extra: { channel?: string; teams?: string[]; compact?: boolean } = {}): Command {
  const command: Command = { kind: "ingest", source: "readings", batch: canonicalReadings(items, now), channel: extra.channel ?? "test" };
  if (extra.teams !== undefined) command.teams = extra.teams;
  if (extra.compact !== undefined) command.compact = extra.compact;
  return command;
}

/** The ingest command the server would execute for a FHIR resource received at `now`. */
export function fhirCommand(resource: unknown, now: number, extra: { channel?: string; teams?: string[] } = {}): Command {
  const command: Command = { kind: "ingest", source: "fhir", batch: canonicalFhir(resource, now), channel: extra.channel ?? "test" };
  if (extra.teams !== undefined) command.teams = extra.teams;
  return command;
}
