// POST /v1/measurements bodies: JSON or MessagePack readings (an array, or {readings: [...]}),
// or FHIR Observations (application/fhir+json: one Observation or a Bundle of them).
import type { Command } from "../../engine/durable/commands.js";
import { VarselError } from "../../engine/errors.js";
import { canonicalFhir, canonicalReadings, type CanonicalBatch } from "../../engine/ingest/canonical.js";
import type { IngestAnswer } from "../../engine/pipeline.js";
import type { AppContext } from "../context.js";
import type { HttpRequest } from "../transport/types.js";
import { mediaType, readBody } from "./respond.js";

const FHIR_TYPES = ["application/fhir+json", "application/json+fhir"];
const READING_TYPES = ["application/json", "application/msgpack", "application/x-msgpack"];

/** Decodes, checks the batch size, ingests for the sender's teams and counts the outcome. */
export function ingestBody(ctx: AppContext, req: HttpRequest, teams: readonly string[] | undefined): Promise<IngestAnswer> {
  if (FHIR_TYPES.includes(mediaType(req))) return ingestFhirResource(ctx, readBody(req, FHIR_TYPES), teams, "http");
  return ingestReadings(ctx, readBody(req, READING_TYPES), teams, "http");
}

/**
 * Plain readings from any channel: an array, or an object with a `readings` array. `compact`:
 * the answer lists only readings whose triage is not N. Validated into a canonical batch first:
 * the journal holds that, never the raw body.
 */
export async function ingestReadings(ctx: AppContext, body: unknown, teams: readonly string[] | undefined, channel: string, compact = false): Promise<IngestAnswer> {
  const items = Array.isArray(body) ? body : (body as { readings?: unknown })?.readings;
  if (!Array.isArray(items)) throw new VarselError("invalid_body", "send an array of readings or {readings: [...]}");
  checkBatch(ctx, items.length);
  return ingest(ctx, "readings", canonicalReadings(items, ctx.now()), teams, channel, compact);
}

/** FHIR from any channel (`compact` as for readings). */
export async function ingestFhirResource(ctx: AppContext, resource: unknown, teams: readonly string[] | undefined, channel: string, compact = false): Promise<IngestAnswer> {
  const entries = (resource as { entry?: unknown[] })?.entry;
  checkBatch(ctx, Array.isArray(entries) ? entries.length : 1);
  const batch = canonicalFhir(resource, ctx.now());
  checkBatch(ctx, batch.readings.length + batch.rejected.length); // components count as items
  return ingest(ctx, "fhir", batch, teams, channel, compact);
}

async function ingest(ctx: AppContext, source: "readings" | "fhir", batch: CanonicalBatch, teams: readonly string[] | undefined, channel: string, compact: boolean): Promise<IngestAnswer> {
  const command: Command = { kind: "ingest", source, batch, channel };
  if (teams !== undefined) command.teams = [...teams];
  if (compact) command.compact = true;
  return count(ctx, await ctx.durable.execute(command), channel);
}

function checkBatch(ctx: AppContext, n: number): void {
  if (n > ctx.limits.maxBatchItems) {
    throw new VarselError("batch_too_large", `at most ${ctx.limits.maxBatchItems} items per batch`, { items: n, max: ctx.limits.maxBatchItems });
  }
}

function count(ctx: AppContext, answer: IngestAnswer, channel: string): IngestAnswer {
  ctx.metrics.readingsIngested.inc({ channel }, answer.accepted);
  for (const r of answer.rejected) ctx.metrics.readingsRejected.inc({ code: r.code });
  return answer;
}
