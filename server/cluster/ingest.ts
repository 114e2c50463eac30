// The ingest role: a validated command becomes one message per partition it concerns, on the
// commands stream, and the caller is answered only once JetStream stored every one of them
// (its PubAck). Nothing is applied here: the engine that owns the partition applies the message.
//
// A message is what the journal would hold, with the clock time it was received at:
// MessagePack { at, command } of the canonical command (engine/durable/journal.ts `journaled`),
// so an engine applies exactly what a single process would have journaled, at the same time.
//
// Nats-Msg-Id, the stream's de-duplication key (within its 2-minute window):
// - a part of an ingest batch whose readings all carry a measurement id: `m-` and a hash of the
//   sender's teams and its (patient, metric, id) triples (the engine's idempotency key; the teams
//   so that a sender outside a patient's teams cannot take the key of its reading first). A device that sends a reading again (it did not see the answer) is
//   answered `duplicate` and nothing is stored twice; for the usual one-reading upload this is
//   de-duplication by measurement id. Later repeats, and readings without an id, are the
//   engine's idempotency window's (engine/idempotency.ts), replayed the same on every engine.
// - anything else: `r-<request id>-<partition>`, so the ingest's own retry of a publish whose
//   PubAck it lost is stored once.
import { createHash, randomUUID } from "node:crypto";
import type { PubAck } from "@nats-io/jetstream";
import type { Command } from "../../engine/durable/commands.js";
import { VarselError } from "../../engine/errors.js";
import { journaled } from "../../engine/durable/journal.js";
import { encodeBody } from "../../engine/store/codec.js";
import { route, type Routed } from "./partitions.js";
import type { Cluster } from "./streams.js";

/** What a commands-stream message holds. */
export interface CommandMessage {
  /** The clock time the command was received at (epoch ms); the engine applies it then. */
  at: number;
  command: Command;
}

/** One part of a published command, stored. */
export interface PublishedPart {
  partition: number;
  /** Its stream sequence (of the first copy, for a duplicate). */
  seq: number;
  /** JetStream had this message id already: this copy was not stored again. */
  duplicate: boolean;
}

/** NATS refuses a message larger than the server's max_payload (1 MiB unless configured); headers count too. */
const HEADER_ROOM_BYTES = 4096;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class ClusterIngest {
  constructor(
    private readonly cluster: Cluster,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Validates the command into its journal form (throws its VarselError, nothing published),
   * publishes its parts and resolves once every part is stored. A rejection (no JetStream
   * answer in time) means nothing is promised: the caller answers with an error and the sender
   * retries; parts that were stored are de-duplicated on that retry when it carries the same
   * `requestId` or measurement ids.
   */
  async publish(command: Command, options: { requestId?: string } = {}): Promise<PublishedPart[]> {
    const { command: canonical } = journaled(command);
    const at = this.now();
    const requestId = options.requestId ?? randomUUID();
    const { js, names, partitions } = this.cluster;
    const parts = route(canonical, partitions);
    const bodies = parts.map((part) => encodeBody({ at, command: part.command } satisfies CommandMessage));
    // Checked before anything is published: the server would refuse the part, and a retry the same.
    // Refused as too large (413, final), not store_unavailable (503, "send it again" for ever).
    const limit = (this.cluster.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - HEADER_ROOM_BYTES;
    const largest = Math.max(...bodies.map((b) => b.byteLength));
    if (largest > limit) {
      throw new VarselError("payload_too_large", `the command is ${largest} bytes for one partition, more than the ${limit} a cluster message holds: send it in smaller batches`, { bytes: largest, maxBytes: limit });
    }
    const acks: Promise<PubAck>[] = parts.map((part, i) => js.publish(names.commandSubject(part.partition), bodies[i], { msgID: messageId(part, requestId) }));
    const stored = await Promise.all(acks);
    return parts.map((part, i) => ({ partition: part.partition, seq: stored[i].seq, duplicate: stored[i].duplicate }));
  }
}

/** The de-duplication key of one part (see the header). */
export function messageId(part: Routed, requestId: string): string {
  const c = part.command;
  if (c.kind === "ingest" && c.batch.readings.length > 0 && c.batch.readings.every((r) => r.id !== undefined)) {
    const hash = createHash("sha256");
    // The sender's scope: a device of another team cannot take a reading's key before its own
    // device does (the engine refuses its copy as forbidden, and would apply the real one).
    hash.update(`${c.teams === undefined ? "*" : JSON.stringify(c.teams)}\u0000`);
    // The metric, as the engine's idempotency key: the same id on another metric is another reading.
    for (const r of c.batch.readings) hash.update(`${r.patient}\u0000${r.metric}\u0000${r.id}\u0000`);
    return `m-${hash.digest("base64url")}`;
  }
  return `r-${requestId}-${part.partition}`;
}
