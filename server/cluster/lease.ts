// Partition ownership as a lease in the cluster's KV bucket, changed only with a revision check:
// `lease.<partition>` holds the owner's id; the owner renews it (an update at the revision it
// last wrote) every renewMs. A lease is stale when its revision has not changed for leaseMs by
// the observer's own monotonic clock, which needs no clocks in agreement between machines; a
// candidate takes a stale or free lease with an update at the revision it saw (or a create when
// there is none): of several candidates exactly one wins, the others get a revision mismatch.
//
// The owner fences itself (`fresh`): it applies commands only while the last renewal that
// succeeded was *sent* less than FENCE_SHARE of leaseMs ago. The invariant, for any network delay:
//
//   sent ≤ written ≤ seen   ⇒   sent + FENCE_SHARE·leaseMs  <  seen + leaseMs
//   (the owner stops applying)   (the earliest an observer finds the lease stale and takes it)
//
// since the server writes the renewal after the owner sent it and an observer can first see it
// only after it was written. Counting from the answer instead would let a slow answer carry the
// owner past the moment an observer takes over. The remaining (1 − FENCE_SHARE)·leaseMs covers
// a command already being applied and clocks of machines that run at slightly different rates.
// test/cluster-lease.test.ts drives both sides on clocks of its own against the real bucket.
import { performance } from "node:perf_hooks";
import type { KV } from "@nats-io/kv";

/** The owner stops applying after this share of leaseMs since it sent its last successful renewal. */
export const FENCE_SHARE = 0.8;
/**
 * A lease stands still this long before another engine takes it (default). Failover takes about
 * this plus a scan, plus restoring the snapshot and replaying after it (docs/cluster.md).
 */
export const DEFAULT_LEASE_MS = 2_000;
/** Leases renewed and the others looked at this often: leaseMs / 5 by default, at most leaseMs / 3. */
export const DEFAULT_SCAN_SHARE = 5;
export const MAX_SCAN_SHARE = 1 / 3;

/** Throws RangeError unless scans come often enough for a lease: at least three per leaseMs. */
export function checkLeaseTiming(leaseMs: number, scanMs: number): void {
  if (!(leaseMs > 0 && Number.isFinite(leaseMs))) throw new RangeError(`a lease is a positive duration, not ${leaseMs} ms`);
  if (!(scanMs > 0 && scanMs <= leaseMs * MAX_SCAN_SHARE)) throw new RangeError(`a scan is more than 0 and at most a third of the lease (${Math.floor(leaseMs * MAX_SCAN_SHARE)} ms), not ${scanMs} ms`);
}

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
    /** A monotonic clock in ms (tests drive their own). */
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * May the owner apply: is its last successful renewal, sent at `sentAt` (this.now() taken
   * before the write), younger than FENCE_SHARE of leaseMs? See the invariant above.
   */
  fresh(sentAt: number): boolean {
    return this.now() - sentAt < this.leaseMs * FENCE_SHARE;
  }

  /** The current holder of a key (undefined: free, or deleted). */
  async read(key: string): Promise<Holder | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== "PUT") {
      this.seen.delete(key);
      return undefined;
    }
    const last = this.seen.get(key);
    if (last === undefined || last.revision !== entry.revision) this.seen.set(key, { revision: entry.revision, since: this.now() });
    return { owner: entry.string(), revision: entry.revision };
  }

  /** True when the holder's revision has stood still for leaseMs since this observer first saw it. */
  stale(key: string, holder: Holder): boolean {
    const last = this.seen.get(key);
    return last !== undefined && last.revision === holder.revision && this.now() - last.since >= this.leaseMs;
  }

  /**
   * When the next key seen standing still will turn stale (this.now() clock; undefined: none
   * ahead). A scan then, rather than at its usual time, takes a dead owner's lease up to a scan sooner.
   */
  nextStaleAt(): number | undefined {
    const now = this.now();
    let next: number | undefined;
    for (const { since } of this.seen.values()) {
      const at = since + this.leaseMs;
      if (at > now && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /**
   * Writes `owner` into the key if it is still at `revision` (undefined: the key must be free).
   * Resolves with the new revision and when the write was sent (this.now(), what `fresh` counts
   * from), or undefined when someone else changed it first.
   */
  async take(key: string, owner: string, revision: number | undefined): Promise<{ revision: number; sentAt: number } | undefined> {
    const sentAt = this.now();
    try {
      // create takes a free key, and a deleted one too (its delete marker's revision is checked).
      return { revision: revision === undefined ? await this.kv.create(key, owner) : await this.kv.update(key, owner, revision), sentAt };
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
