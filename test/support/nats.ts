// The NATS server the cluster tests run against: VARSEL_TEST_NATS_URL (default nats://127.0.0.1:4222,
// with JetStream; .ci/run starts one). Outside CI a missing server skips those tests with a
// message; in CI (VARSEL_REQUIRE_SERVICES=1) it fails them. Each test cluster has a random
// prefix of its own (streams, buckets, subjects), removed afterwards: runs never collide.
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { destroyCluster, openCluster, type Cluster } from "../../server/cluster/streams.js";
import { REQUIRE_SERVICES } from "./stores.js";

export const NATS_URL = process.env.VARSEL_TEST_NATS_URL || "nats://127.0.0.1:4222";

/** Undefined when a NATS server with JetStream answers at `url`, else why not. */
export async function probeNats(url = NATS_URL): Promise<string | undefined> {
  try {
    const nc = await connect({ servers: url, timeout: 2_000, reconnect: false });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return undefined;
    } catch (err) {
      return `no JetStream: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  }
}

const problem = await probeNats();
/** True when the cluster tests are to be skipped (no server, and not in CI). */
export const NATS_SKIP = problem !== undefined && !REQUIRE_SERVICES;
if (NATS_SKIP) console.warn(`NATS with JetStream not reachable at ${NATS_URL}: the cluster tests are skipped (${problem}; set VARSEL_REQUIRE_SERVICES=1 to fail instead)`);

/** Throws in CI when the server is missing (call in beforeAll of a suite that is not skipped). */
export function requireNats(): void {
  if (problem !== undefined) throw new Error(`NATS with JetStream is required (VARSEL_REQUIRE_SERVICES=1) but not reachable at ${NATS_URL}: ${problem}`);
}

/** A fresh prefix for one test's cluster. */
export function testPrefix(): string {
  return `t${randomBytes(5).toString("hex")}`;
}

/** Opens a cluster under a fresh prefix (or `prefix`); `clusters.destroyAll()` removes them. */
export class TestClusters {
  private readonly opened: Cluster[] = [];
  private readonly prefixes = new Set<string>();

  async open(options: { prefix?: string; partitions?: number } = {}): Promise<Cluster> {
    const prefix = options.prefix ?? testPrefix();
    this.prefixes.add(prefix);
    const cluster = await openCluster({ servers: NATS_URL, prefix, partitions: options.partitions, name: `varsel-test-${prefix}` });
    this.opened.push(cluster);
    return cluster;
  }

  /** Deletes every test cluster's streams and buckets, then closes the connections. */
  async destroyAll(): Promise<void> {
    const done = new Set<string>();
    for (const c of this.opened) {
      if (!done.has(c.names.prefix) && !c.nc.isClosed()) {
        await destroyCluster(c);
        done.add(c.names.prefix);
      }
    }
    for (const c of this.opened) if (!c.nc.isClosed()) await c.nc.close();
    this.opened.length = 0;
  }
}
