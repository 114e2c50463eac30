// The engine role: a node that owns a share of the partitions and runs each one it owns
// (partition.ts). Every scanMs it announces itself (`member.<id>`), renews its leases and looks at
// the others (lease.ts): it takes free or stale partitions while it owns fewer than its share
// (N / live members, rounded up) and hands over its highest ones, after a final snapshot, while
// it owns more (a member joined). A dead engine's leases go stale after leaseMs; the survivors
// then take its partitions, restore their snapshots and replay after them: with the defaults
// (lease 2 s, scan 0.4 s) a dead owner's partitions are taken 1.6 to 2.4 s after it died (the
// lease's last renewal up to a scan before the death, seen up to a scan after it was written,
// found stale by a scan timed for the moment it turns stale), then restored and replayed
// (partition.ts bounds the replay; bench:cluster measures each step).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { fnv1a32 } from "./partitions.js";
import { DEFAULT_LEASE_MS, DEFAULT_SCAN_SHARE, MAX_SCAN_SHARE, RevisionLeases, type Holder } from "./lease.js";
import { PartitionEngine, SnapshotPacer, type PartitionOptions, type PartitionReport } from "./partition.js";
import type { Cluster } from "./streams.js";
import { TimeSlices } from "./time-slices.js";

/** A node hands a partition over after this many scans in a row above its share. */
const OVER_SHARE_SCANS = 3;

export interface EngineNodeOptions extends Omit<PartitionOptions, "holds" | "onReport" | "pacer" | "slices"> {
  /** This node's id in leases (default host-pid-random); a restarted node is a new member. */
  id?: string;
  /** A lease or membership whose revision stands still this long is stale (default DEFAULT_LEASE_MS, 2 000 ms). */
  leaseMs?: number;
  /** How often leases are renewed and the others looked at (default leaseMs / 5; at most leaseMs / 3). */
  scanMs?: number;
  onReport?: (report: EngineReport) => void;
}

/** What an engine node reports (never a patient id). */
export type EngineReport = PartitionReport | { kind: "acquired"; partition: number; from: string | undefined } | { kind: "lost"; partition: number } | { kind: "released"; partition: number };

interface Owned {
  /** The lease's revision this node wrote last. */
  revision: number;
  /** leases.now() when the last successful write was sent (the fence counts from it: lease.ts). */
  renewSentAt: number;
  /** Running once restored (undefined while it starts). */
  engine: PartitionEngine | undefined;
}

export class EngineNode {
  readonly id: string;
  private readonly leases: RevisionLeases;
  private readonly leaseMs: number;
  private readonly scanMs: number;
  private readonly owned = new Map<number, Owned>();
  /** The snapshots of all this node's partitions share one share of its time. */
  private readonly pacer: SnapshotPacer;
  /** ... and apply in the same slices of the event loop's time. */
  private readonly slices = new TimeSlices();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private memberRevision: number | undefined;
  private running = true;
  private scans = 0;
  /** Scans in a row that found this node above its share. */
  private overShare = 0;

  private constructor(
    private readonly cluster: Cluster,
    private readonly options: EngineNodeOptions,
  ) {
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.scanMs = Math.min(options.scanMs ?? this.leaseMs / DEFAULT_SCAN_SHARE, this.leaseMs * MAX_SCAN_SHARE);
    this.leases = new RevisionLeases(cluster.kv, this.leaseMs);
    this.pacer = new SnapshotPacer(options.snapshotMaxShare);
  }

  /** Joins the cluster: the first scan runs at once. */
  static start(cluster: Cluster, options: EngineNodeOptions = {}): EngineNode {
    const node = new EngineNode(cluster, options);
    node.schedule(0);
    return node;
  }

  /** The partitions this node runs now, in order. */
  partitions(): number[] {
    return [...this.owned.entries()].filter(([, o]) => o.engine !== undefined).map(([p]) => p).sort((a, b) => a - b);
  }

  /** The running engine of a partition this node owns (tests, reads). */
  partition(p: number): PartitionEngine | undefined {
    return this.owned.get(p)?.engine;
  }

  /** Waits for the scan under way (tests). */
  settled(): Promise<void> {
    return this.scanning;
  }

  /** Leaves gracefully: every partition snapshotted and its lease freed for the others. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.scanning;
    for (const p of [...this.owned.keys()]) await this.release(p);
    if (this.memberRevision !== undefined) await this.cluster.kv.delete(this.member(this.id)).catch(() => undefined);
  }

  /**
   * Stops at once as a crash would: no snapshot, no renewals, leases left to go stale (tests of
   * failover; a process killed with -9 does the same).
   */
  async halt(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.scanning;
    await Promise.all([...this.owned.values()].map((o) => o.engine?.stop(false)));
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.scanning = this.scan()
        .catch((err: unknown) => this.options.onError?.(err, "scan"))
        .finally(() => this.schedule(this.nextScanIn()));
    }, ms);
  }

  /** The usual scan interval, or less when a lease or member will turn stale before then. */
  private nextScanIn(): number {
    const stale = this.leases.nextStaleAt();
    return stale === undefined ? this.scanMs : Math.min(this.scanMs, Math.ceil(stale - this.leases.now()));
  }

  private member(id: string): string {
    return `member.${id}`;
  }

  private lease(p: number): string {
    return `lease.${p}`;
  }

  /** May this node apply commands of partition p now (its lease renewed recently enough)? */
  private holds(p: number): boolean {
    const o = this.owned.get(p);
    return this.running && o !== undefined && this.leases.fresh(o.renewSentAt);
  }

  private async scan(): Promise<void> {
    const { kv, partitions } = this.cluster;
    // Renewals first and side by side with the heartbeat: one round trip, not one per partition
    // after the others' reads. A busy engine (a backlog applied) answers slowly; renewed one after
    // another behind the reads, its leases' fence (FENCE_SHARE of leaseMs) ran out and the partitions
    // stopped and restarted from their snapshots over and over (bench:cluster, 20 000 patients:
    // 141 fenced in 60 s).
    const [memberRevision] = await Promise.all([kv.put(this.member(this.id), String(Date.now())), this.renew()]);
    this.memberRevision = memberRevision;
    // The first scan only announces this node: engines starting together then see each other
    // before taking their shares, instead of the first taking every partition and handing most back.
    if (this.scans++ === 0) return;
    const members = await this.liveMembers();
    const share = Math.ceil(partitions / Math.max(1, members));
    const read = await Promise.all(Array.from({ length: partitions }, (_, p) => this.leases.read(this.lease(p))));
    const holders = new Map<number, Holder | undefined>(read.map((holder, p) => [p, holder]));
    // Start at a place of its own, so that engines starting together try different partitions first.
    const offset = fnv1a32(this.id) % partitions;
    for (let i = 0; i < partitions && this.owned.size < share && this.running; i++) {
      const p = (offset + i) % partitions;
      if (this.owned.has(p)) continue;
      const holder = holders.get(p);
      if (holder === undefined || this.leases.stale(this.lease(p), holder)) await this.acquire(p, holder);
    }
    // Hand over one at a time, once above the share for OVER_SHARE_SCANS scans in a row: the others
    // take it at their next scan. A member whose heartbeat came late (a busy machine) counts as
    // gone for a scan; handing over at once, partitions went back and forth between engines
    // draining the full bench (a final snapshot, a restore and a replay each time).
    this.overShare = this.owned.size > share ? this.overShare + 1 : 0;
    if (this.overShare >= OVER_SHARE_SCANS) {
      this.overShare = 0;
      await this.release(Math.max(...this.owned.keys()));
    }
  }

  /** Members whose heartbeat moved within leaseMs (this one included). */
  private async liveMembers(): Promise<number> {
    const keys: string[] = [];
    for await (const key of await this.cluster.kv.keys("member.*")) keys.push(key);
    const holders = await Promise.all(keys.map((key) => this.leases.read(key)));
    return keys.filter((key, i) => holders[i] !== undefined && (key === this.member(this.id) || !this.leases.stale(key, holders[i]!))).length;
  }

  /** Renews every owned lease at once (each is its own key and revision). */
  private async renew(): Promise<void> {
    await Promise.all([...this.owned].map(([p, o]) => this.renewOne(p, o)));
  }

  private async renewOne(p: number, o: Owned): Promise<void> {
    const renewed = await this.leases.take(this.lease(p), this.id, o.revision).catch((err: unknown) => (this.options.onError?.(err, "renew"), null));
    if (renewed === null) return; // not renewed: the fence counts on from the last renewal
    if (renewed === undefined) {
      // Someone took it: the lease had gone stale here (a long pause). Stop without a snapshot.
      if (this.owned.get(p) === o) this.owned.delete(p);
      this.report({ kind: "lost", partition: p });
      await o.engine?.stop(false);
      return;
    }
    o.revision = renewed.revision;
    o.renewSentAt = renewed.sentAt;
  }

  private async acquire(p: number, from: Holder | undefined): Promise<void> {
    const taken = await this.leases.take(this.lease(p), this.id, from?.revision);
    if (taken === undefined) return; // another engine was faster
    const owned: Owned = { revision: taken.revision, renewSentAt: taken.sentAt, engine: undefined };
    this.owned.set(p, owned);
    this.report({ kind: "acquired", partition: p, from: from?.owner });
    // Restored beside the scans, which go on renewing this node's other leases meanwhile.
    void PartitionEngine.start(this.cluster, p, { ...this.options, pacer: this.pacer, slices: this.slices, holds: () => this.holds(p), onReport: (r) => this.report(r) }, () => void this.drop(p)).then(
      async (engine) => {
        if (this.owned.get(p) === owned && this.running) owned.engine = engine;
        else await engine.stop(false); // lost or halted while it was restoring
      },
      async (err: unknown) => {
        this.options.onError?.(err, "partition start");
        if (this.owned.get(p) === owned) await this.drop(p);
      },
    );
  }

  /** A partition that stopped by itself (failed): its lease is freed for another try. */
  private async drop(p: number): Promise<void> {
    const o = this.owned.get(p);
    if (o === undefined) return;
    this.owned.delete(p);
    await this.leases.release(this.lease(p), o.revision).catch((err: unknown) => this.options.onError?.(err, "release"));
  }

  /** Hands a partition over: final snapshot, then the lease freed. */
  private async release(p: number): Promise<void> {
    const o = this.owned.get(p);
    if (o === undefined) return;
    await o.engine?.stop(true).catch((err: unknown) => this.options.onError?.(err, "final snapshot"));
    this.owned.delete(p);
    await this.leases.release(this.lease(p), o.revision).catch((err: unknown) => this.options.onError?.(err, "release"));
    this.report({ kind: "released", partition: p });
  }

  private report(r: EngineReport): void {
    this.options.onReport?.(r);
  }
}
