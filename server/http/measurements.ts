// POST /v1/measurements bodies: JSON or MessagePack readings (an array, or {readings: [...]}),
// or FHIR Observations (application/fhir+json: one Observation or a Bundle of them).
import type { Command } from "../../engine/durable/commands.js";
import { statusOf, VarselError } from "../../engine/errors.js";
import { canonicalRequest, type CanonicalBatch } from "../../engine/ingest/canonical.js";
import type { IngestAnswer } from "../../engine/pipeline.js";
import { requireIngest, type Principal } from "../auth.js";
import type { SocketContext } from "../context.js";
import type { HttpRequest, HttpResponse } from "../transport/types.js";
import { batchOfPrepared, type PreparedIngest } from "../ws/frame-prep.js";
import { mediaType, readBody, reply } from "./respond.js";

export const FHIR_TYPES = ["application/fhir+json", "application/json+fhir"];
export const READING_TYPES = ["application/json", "application/msgpack", "application/x-msgpack"];

/** Who sends: the token's `sub` (its share of the admission bound), its teams (undefined: any patient) and the channel. */
export interface Sender {
  sub: string;
  teams: readonly string[] | undefined;
  channel: string;
}

/** POST /v1/measurements from an authenticated caller: 200 with the answer, 422 when every item was refused. */
export async function postMeasurements(ctx: SocketContext, req: HttpRequest, p: Principal): Promise<HttpResponse> {
  const teams = requireIngest(p);
  ctx.batchStarted(process.hrtime.bigint());
  const answer = await ingestBody(ctx, req, { sub: p.sub, teams, channel: "http" });
  const failed = answer.rejected.filter((r) => statusOf(r.code) >= 400).length;
  const status = failed > 0 && failed === answer.rejected.length && answer.accepted + answer.duplicates.length + answer.invalidated.length === 0 ? 422 : 200;
  return reply(req, status, answer);
}

/** Decodes, checks the batch size, ingests for the sender's teams and counts the outcome. */
export function ingestBody(ctx: SocketContext, req: HttpRequest, sender: Sender): Promise<IngestAnswer> {
  ctx.durable.admitIngest(sender.sub); // before decoding: a refused flood costs nothing more
  if (FHIR_TYPES.includes(mediaType(req))) return ingestFhirResource(ctx, readBody(req, FHIR_TYPES), sender);
  return ingestReadings(ctx, readBody(req, READING_TYPES), sender);
}

/**
 * Plain readings from any channel: an array, or an object with a `readings` array. `compact`:
 * the answer lists only readings whose triage is not N. Validated into a canonical batch first:
 * the journal holds that, never the raw body.
 */
export async function ingestReadings(ctx: SocketContext, body: unknown, sender: Sender, compact = false): Promise<IngestAnswer> {
  const items = Array.isArray(body) ? body : (body as { readings?: unknown })?.readings;
  if (!Array.isArray(items)) throw new VarselError("invalid_body", "send an array of readings or {readings: [...]}");
  const { source, batch } = canonicalRequest({ readings: items }, ctx.now(), ctx.limits.maxBatchItems);
  return ingest(ctx, source, batch, sender, compact);
}

/** FHIR from any channel (`compact` as for readings). */
export async function ingestFhirResource(ctx: SocketContext, resource: unknown, sender: Sender, compact = false): Promise<IngestAnswer> {
  const { source, batch } = canonicalRequest({ fhir: resource }, ctx.now(), ctx.limits.maxBatchItems);
  return ingest(ctx, source, batch, sender, compact);
}

/** An ingest the ingest thread decoded, validated and encoded (server/ws/frame-prep.ts); throws as ingestReadings does. */
export async function ingestPrepared(ctx: SocketContext, prepared: PreparedIngest, sender: Sender, compact = false): Promise<IngestAnswer> {
  const batch = batchOfPrepared(prepared);
  return ingest(ctx, (prepared as { source: "readings" | "fhir" }).source, batch, sender, compact, (prepared as { journal: Uint8Array | undefined }).journal);
}

/** `batchBytes`: the batch already encoded for the journal (see ingestPrepared). */
async function ingest(ctx: SocketContext, source: "readings" | "fhir", batch: CanonicalBatch, sender: Sender, compact: boolean, batchBytes?: Uint8Array): Promise<IngestAnswer> {
  const command: Command = { kind: "ingest", source, batch, channel: sender.channel };
  if (sender.teams !== undefined) command.teams = [...sender.teams];
  if (compact) command.compact = true;
  return count(ctx, await ctx.durable.execute(command, { sender: sender.sub, batchBytes }), sender.channel);
}

function count(ctx: SocketContext, answer: IngestAnswer, channel: string): IngestAnswer {
  ctx.metrics.readingsIngested.inc({ channel }, answer.accepted);
  for (const r of answer.rejected) ctx.metrics.readingsRejected.inc({ code: r.code });
  return answer;
}
