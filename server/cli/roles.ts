// `varsel serve --role <roles> --nats <url>`: this process as part of a cluster on NATS JetStream
// (docs/cluster.md) instead of the single process `npm start` runs. Roles are comma-separated;
// several in one process are allowed (ingest and gateway share one HTTP/WebSocket listener).
import type { Logger } from "pino";
import type { AuthOptions } from "../auth.js";
import { EngineNode } from "../cluster/engine-node.js";
import { ClusterFront } from "../cluster/front.js";
import type { TransportKind } from "../transport/types.js";
import { checkLeaseTiming, DEFAULT_LEASE_MS, DEFAULT_SCAN_SHARE } from "../cluster/lease.js";
import { checkPartitionCount } from "../cluster/partitions.js";
import { openCluster } from "../cluster/streams.js";
import { env, parseDurationSetting, SettingError } from "./settings.js";

export const ROLES = ["ingest", "engine", "gateway"] as const;
export type Role = (typeof ROLES)[number];

export interface ClusterSettings {
  roles: Role[];
  nats: string;
  prefix: string;
  partitions: number | undefined;
  /** An engine's lease (ms): its partitions are taken over this long after its last renewal. */
  leaseMs: number;
  /** How often an engine renews its leases and looks at the others' (ms). */
  scanMs: number;
}

export interface ClusterOptionValues {
  role?: string;
  nats?: string;
  clusterPrefix?: string;
  partitions?: string;
  clusterLease?: string;
  clusterScan?: string;
}

/** The shortest lease: below a second a busy engine (a long snapshot, a GC pause) loses its partitions for nothing. */
export const MIN_LEASE_MS = 1_000;

/** The cluster settings, undefined without --role (the single process); SettingError when incomplete. */
export function clusterSettings(o: ClusterOptionValues, from: NodeJS.ProcessEnv = process.env): ClusterSettings | undefined {
  if (o.role === undefined) {
    if (o.nats !== undefined || o.partitions !== undefined || o.clusterPrefix !== undefined || o.clusterLease !== undefined || o.clusterScan !== undefined) {
      throw new SettingError("--nats, --partitions, --cluster-prefix, --cluster-lease and --cluster-scan go with --role");
    }
    return undefined;
  }
  const roles = [...new Set(o.role.split(",").map((r) => r.trim()))];
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) throw new SettingError(`--role: ${JSON.stringify(r)} is not ${ROLES.join(", ")}`);
  }
  if (o.nats === undefined) throw new SettingError("--role needs --nats nats://HOST:PORT (a NATS server with JetStream)");
  if (!/^(nats|tls):\/\/[^\s,]+(,(nats|tls):\/\/[^\s,]+)*$/.test(o.nats)) throw new SettingError(`--nats must be nats://HOST:PORT (several comma-separated), not ${JSON.stringify(o.nats)}`);
  let partitions: number | undefined;
  if (o.partitions !== undefined) {
    partitions = Number(o.partitions);
    try {
      checkPartitionCount(partitions);
    } catch (err) {
      throw new SettingError(`--partitions: ${(err as Error).message}`);
    }
  }
  const prefix = o.clusterPrefix ?? "varsel";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) throw new SettingError(`--cluster-prefix is 1-64 letters, digits, - or _, not ${JSON.stringify(prefix)}`);
  const lease = o.clusterLease !== undefined ? { value: o.clusterLease, source: "--cluster-lease" } : { value: env("VARSEL_CLUSTER_LEASE", from), source: "VARSEL_CLUSTER_LEASE" };
  const scan = o.clusterScan !== undefined ? { value: o.clusterScan, source: "--cluster-scan" } : { value: env("VARSEL_CLUSTER_SCAN", from), source: "VARSEL_CLUSTER_SCAN" };
  const leaseMs = parseDurationSetting(lease.value, lease.source, MIN_LEASE_MS, "1s") ?? DEFAULT_LEASE_MS;
  const scanMs = parseDurationSetting(scan.value, scan.source, 1, "a millisecond") ?? leaseMs / DEFAULT_SCAN_SHARE;
  try {
    checkLeaseTiming(leaseMs, scanMs);
  } catch (err) {
    throw new SettingError(`${scan.value === undefined ? lease.source : scan.source}: ${(err as Error).message}`);
  }
  return { roles: roles as Role[], nats: o.nats, prefix, partitions, leaseMs, scanMs };
}

/** Where an ingest or gateway node listens and whom it admits (the single process's settings). */
export interface FrontSettings {
  logger: Logger;
  auth: AuthOptions;
  port: number;
  host: string;
  transport?: TransportKind;
  /** A gateway's window of events for resume (VARSEL_EVENT_RETENTION_COUNT / _AGE, as the single process). */
  eventWindow?: { maxEvents?: number; maxAgeMs?: number };
  /** An engine's snapshot cadence (VARSEL_SNAPSHOT_*; partition.ts has the cluster's defaults). */
  snapshot?: { snapshotReplayBudgetMs?: number; snapshotEveryCommands?: number; snapshotEveryMs?: number; snapshotMaxShare?: number };
}

/** Runs the roles until SIGTERM / SIGINT; an engine hands its partitions over (final snapshots) before it exits. */
export async function serveRoles(s: ClusterSettings, front: FrontSettings): Promise<void> {
  const { logger } = front;
  const cluster = await openCluster({ servers: s.nats, prefix: s.prefix, partitions: s.partitions, name: `varsel-${s.roles.join("-")}` });
  logger.info({ roles: s.roles, prefix: s.prefix, partitions: cluster.partitions }, "joined the cluster");
  const engine = s.roles.includes("engine")
    ? EngineNode.start(cluster, {
        leaseMs: s.leaseMs,
        scanMs: s.scanMs,
        ...front.snapshot, // an unset one is undefined: the cluster's default (partition.ts)
        onReport: (report) => logger.info(report, `partition ${report.partition}: ${report.kind}`),
        onError: (err, what) => logger.error({ err, what }, `cluster: ${what} failed`),
      })
    : undefined;
  const ingest = s.roles.includes("ingest");
  const gateway = s.roles.includes("gateway");
  const server = ingest || gateway ? await ClusterFront.open(cluster, { ingest, gateway, auth: front.auth, logger, transport: front.transport, eventWindow: front.eventWindow }) : undefined;
  try {
    await server?.listen(front.port, front.host);
  } catch (err) {
    throw new Error(`cannot listen on ${front.host}:${front.port}: ${(err as Error).message}`, { cause: err });
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "leaving the cluster");
    await server?.close().catch((err: unknown) => logger.error({ err }, "listener close failed"));
    await engine?.stop().catch((err: unknown) => logger.error({ err }, "engine stop failed"));
    await cluster.close().catch(() => undefined);
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
