// What a varsel cluster keeps in JetStream, and its setup. Every node calls `openCluster` at
// start; it creates what is missing and checks what exists (idempotent, safe to run from several
// nodes at once). All names derive from one prefix (default "varsel"), so tests and several
// clusters on one server stay apart.
//
//   <P>_CMD       stream   subjects <p>.cmd.<partition>: canonical commands, one subject per partition
//   <P>_EVT       stream   subjects <p>.evt.<partition>: lifecycle events, message id <partition>-<seq>
//   <p>-cluster   KV       `partitions` (N, fixed at creation), lease.<partition> (the owner), member.<id>
//   <p>-snapshots objects  p<partition>: the newest snapshot of that partition
//
// Both streams de-duplicate by Nats-Msg-Id within their duplicate window (2 min): the ingest sets
// it from measurement ids, the engines from event ids.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { checkPartitionCount, DEFAULT_PARTITIONS } from "./partitions.js";

const NANOS_PER_MS = 1_000_000;
/** The window in which a repeated Nats-Msg-Id is dropped (a retry after a lost PubAck, a second owner). */
export const DUPLICATE_WINDOW_MS = 120_000;
/** Events are kept as long as the single-process store keeps them (resume and history read them). */
export const EVENT_RETENTION_MS = 30 * 86_400_000;

export interface ClusterOptions {
  /** nats://host:port (several comma-separated). */
  servers: string;
  /** Names of streams, buckets and subjects start with it; letters, digits, - and _ only. */
  prefix?: string;
  /** Partitions (default 16 for a new cluster, the stored count for an existing one); a node configured with another count than the cluster's refuses to start. */
  partitions?: number;
  /** Connection name, shown by the server's monitoring. */
  name?: string;
}

/** The names of one cluster's streams, subjects and buckets. */
export class ClusterNames {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) throw new RangeError(`a cluster prefix is 1-64 letters, digits, - or _, not ${JSON.stringify(prefix)}`);
  }
  get commandStream(): string {
    return `${this.prefix}_CMD`;
  }
  get eventStream(): string {
    return `${this.prefix}_EVT`;
  }
  get kvBucket(): string {
    return `${this.prefix}-cluster`;
  }
  get snapshotBucket(): string {
    return `${this.prefix}-snapshots`;
  }
  commandSubject(partition: number): string {
    return `${this.prefix}.cmd.${partition}`;
  }
  eventSubject(partition: number | "*"): string {
    return `${this.prefix}.evt.${partition}`;
  }
  /** The durable consumer of a partition's commands (one per partition, whoever owns it). */
  consumer(partition: number): string {
    return `engine-p${partition}`;
  }
}

/** An open connection to a cluster, its clients, and N. */
export interface Cluster {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  snapshots: ObjectStore;
  names: ClusterNames;
  partitions: number;
  close(): Promise<void>;
}

/** Connects, creates what is missing and reads N; throws when the server has no JetStream. */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const names = new ClusterNames(options.prefix ?? "varsel");
  // noAsyncTraces: no Error (with its stack) made per request in case it fails. Every event an
  // engine publishes and every command an ingest publishes is a request: the two error objects
  // each were 8.5 % of an engine's CPU draining a backlog (profile, bench:cluster).
  const nc = await connect({ servers: options.servers.split(","), name: options.name ?? "varsel", noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, names.commandStream, [`${names.prefix}.cmd.>`], 0);
    await ensureStream(jsm, names.eventStream, [`${names.prefix}.evt.>`], EVENT_RETENTION_MS);
    const kv = await new Kvm(nc).create(names.kvBucket, { history: 1, storage: StorageType.File });
    const snapshots = await new Objm(nc).create(names.snapshotBucket, { storage: StorageType.File });
    const partitions = await agreedPartitions(kv, options.partitions);
    return { nc, js: jetstream(nc), jsm, kv, snapshots, names, partitions, close: () => nc.drain() };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

/** Removes every stream and bucket of a cluster (tests; a decommissioned cluster). */
export async function destroyCluster(cluster: Cluster): Promise<void> {
  const { jsm, names } = cluster;
  for (const stream of [names.commandStream, names.eventStream, `KV_${names.kvBucket}`, `OBJ_${names.snapshotBucket}`]) {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
}

/** Creates the stream, or checks that the one there takes the same subjects. */
async function ensureStream(jsm: JetStreamManager, name: string, subjects: string[], maxAgeMs: number): Promise<void> {
  const existing = await jsm.streams.info(name).catch(() => undefined);
  if (existing !== undefined) {
    if (JSON.stringify(existing.config.subjects) !== JSON.stringify(subjects)) {
      throw new Error(`stream ${name} exists with subjects ${existing.config.subjects?.join(",")}, not ${subjects.join(",")}`);
    }
    return;
  }
  await jsm.streams.add({
    name,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: maxAgeMs * NANOS_PER_MS,
    duplicate_window: DUPLICATE_WINDOW_MS * NANOS_PER_MS,
  });
}

/**
 * N of this cluster: the first node to start writes it (KV create: only one wins), every later
 * node reads it and refuses to run on another count, since a different N sends a patient's
 * commands to another partition.
 */
async function agreedPartitions(kv: KV, wanted: number | undefined): Promise<number> {
  if (wanted !== undefined) checkPartitionCount(wanted);
  await kv.create("partitions", String(wanted ?? DEFAULT_PARTITIONS)).catch(() => undefined);
  const stored = Number((await kv.get("partitions"))?.string());
  checkPartitionCount(stored);
  if (wanted !== undefined && stored !== wanted) throw new Error(`this cluster has ${stored} partitions, not the ${wanted} configured`);
  return stored;
}
