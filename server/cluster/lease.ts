// Partition ownership as a lease in the cluster's KV bucket, changed only with a revision check:
// `lease.<partition>` holds the owner's id; the owner renews it (an update at the revision it
// last wrote) every renewMs. A lease is stale when its revision has not changed for leaseMs by
// the observer's own monotonic clock, which needs no clocks in agreement between machines; a
// candidate takes a stale or free lease with an update at the revision it saw (or a create when
// there is none): of several candidates exactly one wins, the others get a revision mismatch.
//
// The owner fences itself: it applies commands only while its last successful renewal is younger
// than FENCE_SHARE of leaseMs, which ends before any observer can find the lease stale (an
// observer starts counting at the earliest when the renewal was written).
import { performance } from "node:perf_hooks";
import type { KV } from "@nats-io/kv";

/** The owner stops applying after this share of leaseMs without a renewal. */
export const FENCE_SHARE = 0.8;

/** What the bucket says about one key. */
export interface Holder {
  owner: string;
  revision: number;
}

/** Watches keys of the form `<kind>.<id>` for staleness and changes them with revision checks. */
export class RevisionLeases {
  /** Per key: the revision seen last and when (performance.now) it was first seen. */
  private readonly seen = new Map<string, { revision: number; since: number }>();

  constructor(
    private readonly kv: KV,
    private readonly leaseMs: number,
  ) {}

  /** The current holder of a key (undefined: free, or deleted). */
  async read(key: string): Promise<Holder | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== "PUT") {
      this.seen.delete(key);
      return undefined;
    }
    const last = this.seen.get(key);
    if (last === undefined || last.revision !== entry.revision) this.seen.set(key, { revision: entry.revision, since: performance.now() });
    return { owner: entry.string(), revision: entry.revision };
  }

  /** True when the holder's revision has stood still for leaseMs since this observer first saw it. */
  stale(key: string, holder: Holder): boolean {
    const last = this.seen.get(key);
    return last !== undefined && last.revision === holder.revision && performance.now() - last.since >= this.leaseMs;
  }

  /**
   * Writes `owner` into the key if it is still at `revision` (undefined: the key must be free).
   * Resolves with the new revision, or undefined when someone else changed it first.
   */
  async take(key: string, owner: string, revision: number | undefined): Promise<number | undefined> {
    try {
      // create takes a free key, and a deleted one too (its delete marker's revision is checked).
      return revision === undefined ? await this.kv.create(key, owner) : await this.kv.update(key, owner, revision);
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  /** Frees the key if it is still at `revision` (a graceful hand-over). */
  async release(key: string, revision: number): Promise<void> {
    await this.kv.delete(key, { previousSeq: revision }).catch((err: unknown) => {
      if (!isRevisionConflict(err)) throw err;
    });
    this.seen.delete(key);
  }
}

/** JetStream's "wrong last sequence" (KV update/create/delete lost a race). */
function isRevisionConflict(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists/i.test(message);
}
