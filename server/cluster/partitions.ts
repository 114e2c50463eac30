// Which partition a command belongs to. A partition is a slice of the patients, chosen by a hash
// of the patient id alone, so that every node (ingest, engine, gateway, and a worker thread of
// the scale-out on one machine, issue 16) computes the same mapping with nothing shared but N:
//
//   partition(patient) = fnv1a32(UTF-8 bytes of the patient id) mod N
//
// FNV-1a 32-bit (offset 0x811c9dc5, prime 0x01000193), taken as an unsigned integer. N is fixed
// for a deployment (kept in the cluster's KV bucket, see streams.ts); changing it moves patients
// between partitions and needs a re-partitioning that does not exist yet (docs/cluster.md).
//
// Everything about one patient (readings, registration, thresholds, acknowledgements, silences
// of the patient) travels on the patient's partition, so one engine applies it in one order and
// any engine that takes the partition over rebuilds the same state. What is not about one patient
// (a programme's thresholds, a silence of a rule for every patient) goes to every partition.
// Alert and silence ids are numbered per partition (a-1 exists in each): outside an engine they
// carry their partition as `<id>@<partition>` (qualifyId / parseQualifiedId).
import { VarselError } from "../../engine/errors.js";
import type { Command } from "../../engine/durable/commands.js";
import type { CanonicalBatch } from "../../engine/ingest/canonical.js";

/** Partitions of a cluster unless configured: room for 16 engines, few enough to snapshot each often. */
export const DEFAULT_PARTITIONS = 16;
/** A partition count must fit a NATS subject token and a lease per partition. */
export const MAX_PARTITIONS = 1024;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

/** FNV-1a 32-bit of a string's UTF-8 bytes, unsigned. */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  for (const byte of utf8.encode(text)) h = Math.imul(h ^ byte, FNV_PRIME);
  return h >>> 0;
}

/** The partition of a patient among `n`. */
export function partitionOf(patient: string, n: number): number {
  return fnv1a32(patient) % n;
}

/** Throws unless `n` is a usable partition count. */
export function checkPartitionCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PARTITIONS) throw new RangeError(`a partition count is an integer from 1 to ${MAX_PARTITIONS}, not ${n}`);
}

/** An alert or silence id as seen outside its engine: `a-3@7` is alert a-3 of partition 7. */
export function qualifyId(id: string, partition: number): string {
  return `${id}@${partition}`;
}

/** The partition and local id of a qualified id; throws not_found for an id without one. */
export function parseQualifiedId(qualified: string, n: number): { partition: number; id: string } {
  const at = qualified.lastIndexOf("@");
  const partition = at < 0 ? NaN : Number(qualified.slice(at + 1));
  if (!Number.isSafeInteger(partition) || partition < 0 || partition >= n || qualified.slice(at + 1) !== String(partition)) {
    throw new VarselError("not_found", "no such id in this cluster");
  }
  return { partition, id: qualified.slice(0, at) };
}

/** One command addressed to one partition. */
export interface Routed {
  partition: number;
  command: Command;
}

/**
 * The commands to publish for one canonical command: an ingest batch is split by patient (item
 * indexes kept, so the answers can be put back together), a patient's command goes to its
 * partition, an organisation-wide one to every partition. Ticks are not routed: each engine
 * publishes its partitions' own (engine-node.ts).
 */
export function route(command: Command, n: number): Routed[] {
  const all = (): Routed[] => Array.from({ length: n }, (_, partition) => ({ partition, command }));
  switch (command.kind) {
    case "ingest":
      return splitBatch(command.batch, n).map(({ partition, batch }) => ({ partition, command: { ...command, batch } }));
    case "patient":
    case "patient_thresholds":
      return [{ partition: partitionOf(command.id, n), command }];
    case "programme_thresholds":
    case "alarm_policy":
      return all();
    case "ack": {
      const { partition, id } = parseQualifiedId(command.alert, n);
      return [{ partition, command: { ...command, alert: id } }];
    }
    case "silence_add":
      return command.patient === undefined ? all() : [{ partition: partitionOf(command.patient, n), command }];
    case "silence_remove": {
      const { partition, id } = parseQualifiedId(command.id, n);
      return [{ partition, command: { ...command, id } }];
    }
    case "withdraw":
      return [{ partition: partitionOf(command.patient, n), command }];
    case "tick":
      throw new Error("ticks are published by the engine that owns the partition");
  }
}

/**
 * A batch split by patient, one per partition that has something of it, in partition order. An
 * item refused without a patient, or a withdrawal without one, changes no state (pipeline.ts
 * ingest): it is answered by the ingest node and published nowhere.
 */
export function splitBatch(batch: CanonicalBatch, n: number): { partition: number; batch: CanonicalBatch }[] {
  const parts = new Map<number, CanonicalBatch>();
  const of = (patient: string): CanonicalBatch => {
    const p = partitionOf(patient, n);
    let b = parts.get(p);
    if (b === undefined) parts.set(p, (b = { items: batch.items, readings: [], rejected: [], invalidations: [] }));
    return b;
  };
  for (const r of batch.readings) of(r.patient).readings.push(r);
  for (const r of batch.rejected) if (r.patient !== undefined) of(r.patient).rejected.push(r);
  for (const i of batch.invalidations) if (i.patient !== undefined) of(i.patient).invalidations.push(i);
  return [...parts.entries()].sort((a, b) => a[0] - b[0]).map(([partition, b]) => ({ partition, batch: b }));
}
