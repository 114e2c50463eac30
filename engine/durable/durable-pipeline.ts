// Nothing acknowledged is lost. Every state change is a command: checked (a refused command
// changes nothing), encoded for the journal exactly as it will be applied, queued, then applied
// in memory in the next group (deterministically, at its own clock time; groups are taken fairly
// across senders, see fair-queue.ts), and it returns the events it caused. The group's bytes and
// events are written in one transaction (group commit). Only then are the events published (one
// send) and the callers answered. A failed commit
// leaves memory ahead of the store: the engine refuses work (store_unavailable) and rebuilds
// itself from the store (snapshot + journal replay) as soon as the store answers again.
//
// The alarm policy is state, never read from the options after the first start: a recovered
// state holds the policy of its snapshot and the journal's `alarm_policy` commands (a journal
// starts under BASELINE_POLICY); `open` journals the options' policy when it differs (see
// adoptPolicy). Replay thus applies every command under the policy it was applied under live.
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";
import { VarselError } from "../errors.js";
import { LAYOUT_VERSION } from "../../assembly/layout.js";
import { snapshotLayoutVersion } from "../kernel/snapshot.js";
import { WasmKernel } from "../kernel/wasm-kernel.js";
import { alarmPolicy, BASELINE_POLICY, policyChanges, type AlarmPolicy } from "../lifecycle/alarm-policy.js";
import type { LifecycleEvent, Scope } from "../lifecycle/types.js";
import { admits, scopeFilter } from "../lifecycle/event-log.js";
import { Pipeline, type PipelineOptions } from "../pipeline.js";
import { asBuffer } from "../store/codec.js";
import type { AuditEntry, CommitBatch, Store, StoredReading, StoredSnapshot } from "../store/store.js";
import { auditOf } from "./audit.js";
import { applyCommand, checkCommand, upgradeEntry, type Applied, type ResultOf } from "./apply.js";
import type { Command, JournalEntry } from "./commands.js";
import { journaled } from "./journal.js";
import { Backlog, DEFAULT_BACKLOG, weightOf, type BacklogLimits, type Weight } from "./backlog.js";
import { FairQueue } from "./fair-queue.js";
import { BlockClock, packHead, packRest, unpackSnapshotState, type HeadPacked, type PackCost } from "./snapshot-packer.js";

// Records: the state is mostly many objects of a few shapes (patients, alerts), which decode
// several times faster as msgpackr records than as maps.
/** Preparations of a capture in a row that the registry may outrun before the capture builds its columns itself. */
const MAX_PREPARES_OUTRUN = 3;
const packr = new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false });
/**
 * The snapshot state's layout. A snapshot of another layout, or whose kernel bytes are of
 * another kernel layout (an older varsel), is not read: the journal from the start rebuilds the
 * same state (it is never pruned), and the next snapshot is written in the current layouts.
 */
export const SNAPSHOT_FORMAT = 2;
const REPLAY_PAGE = 5_000;
/** Who changes the alarm policy at start (its audit entry's actor): the server's settings. */
export const SETTINGS_ACTOR = "settings";
/**
 * A flush applies and commits about this many readings and events at most: a bounded group
 * bounds how long the next sender waits for its turn (the commit of 5 000 readings takes tens of
 * ms on SQLite), and the next group takes its turn after I/O was read.
 */
export const DEFAULT_GROUP_READINGS = 5_000;
/**
 * One sender's share of a group (readings plus the events they cause). A reading that arrives
 * while groups are applied and committing waits for them; filled by one gateway's flood they
 * held 5 000 readings each, and a bystander's POST waited for two and a half of those commits
 * (bench:abuse ingest phase: p50 47–190 ms, p99 0.3–1 s). Capped per sender, the groups ahead of
 * another sender's reading hold at most this much of one flood.
 */
export const DEFAULT_GROUP_READINGS_PER_SENDER = 500;
/** Stored readings are kept 30 days by default. */
export const DEFAULT_READING_RETENTION_MS = 30 * 86_400_000;
/** Stored events (alert history) are kept this long by default. */
export const DEFAULT_EVENT_RETENTION_MS = 30 * 86_400_000;

/**
 * Packs into `memory` (fresh memory when there is none or it is too small; msgpackr grows it),
 * then points msgpackr's buffer, which every Packr of the process shares, away from it: nothing
 * else may be written into memory the next snapshot overwrites.
 */
function packInto(memory: Buffer | undefined, value: unknown): Buffer {
  packr.useBuffer(memory ?? Buffer.allocUnsafeSlow(1 << 20));
  try {
    return packr.pack(value);
  } finally {
    packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  }
}

/**
 * The pipeline options a recovery builds with: the alarm policy of a journal's start, never the
 * options' (a restored state brings its own; the journal's `alarm_policy` commands change it).
 */
function journalOptions(options: DurableOptions): Omit<PipelineOptions, "evaluator"> {
  return { ...options.pipeline, lifecycle: { ...options.pipeline?.lifecycle, ...structuredClone(BASELINE_POLICY) } };
}

export interface DurableOptions {
  /** No store: nothing is persisted (tests, `--memory`). */
  store?: Store;
  pipeline?: Omit<PipelineOptions, "evaluator">;
  now?: () => number;
  /**
   * Take a snapshot once replaying the journal since the last one would take about this long
   * (the time spent applying the journaled commands; default 1 000 ms) ...
   */
  snapshotReplayBudgetMs?: number;
  /** ... or after this many journaled commands (default: no count limit) ... */
  snapshotEveryCommands?: number;
  /** ... or this long (clock time) since the last one, whichever comes first (default 60 000 ms) ... */
  snapshotEveryMs?: number;
  /**
   * ... but spend at most this share of the time on snapshots (default 0.1): after a snapshot
   * that took s seconds, the next one waits at least s / share seconds. Under a sustained
   * overload this lets the journal tail (and the restart time) grow rather than the ingest rate
   * collapse.
   */
  snapshotMaxShare?: number;
  /**
   * A snapshot packs its immutable lists after its capture, this many ms of work per event-loop
   * turn (default SLICE_MS), this many records per MessagePack value (default CHUNK_RECORDS;
   * also the registry records built per step before a capture, default 8192); tests set both
   * small to make later groups interleave with the packing and the preparation.
   */
  snapshotSliceMs?: number;
  snapshotChunkRecords?: number;
  /** How often a store that failed is tried again. */
  retryMs?: number;
  /** Stored events older than this are pruned at each snapshot (default 30 days; alert history reads them). */
  eventRetentionMs?: number;
  /** Evaluated readings are stored (the readings view) and pruned this long after receipt (default 30 days; 0: none stored). */
  readingRetentionMs?: number;
  onError?: (err: unknown, what: string) => void;
  /** Readings plus the events they cause that one flush applies and commits at most (default DEFAULT_GROUP_READINGS; at least one command). */
  groupReadings?: number;
  /** The same, per sender (default DEFAULT_GROUP_READINGS_PER_SENDER; at least one command of each). */
  groupReadingsPerSender?: number;
  /** What the engine did, for logs and metrics (recoveries, snapshots, commits, store outages). */
  onReport?: (report: DurableReport) => void;
  /** Past these bounds of uncommitted work, new ingest is refused `overloaded` (see backlog.ts). */
  backlog?: Partial<BacklogLimits>;
}

/** What the engine reports (`onReport`); never a patient identifier. */
export type DurableReport =
  | {
      kind: "recovered";
      /** start: opening; outage: after the store failed; bug: after a command failed inside the engine. */
      after: "start" | "outage" | "bug";
      /** The journal position of the snapshot restored (undefined: none, replayed from the start). */
      snapshotPos: number | undefined;
      /** Journal entries replayed after it. */
      replayed: number;
      /** The position reached. */
      pos: number;
      ms: number;
    }
  /** ms: the work it cost on this thread (capture and packing) plus its write; maxBlockMs: the longest the event loop was held at once. */
  | { kind: "snapshot"; pos: number; bytes: number; ms: number; maxBlockMs: number }
  | { kind: "commit"; commands: number; ms: number }
  /** A commit failed: work is refused until the store answers again (then `recovered`, after: outage). */
  | { kind: "store_unavailable" }
  /** At start, the settings' alarm policy differed from the recovered one and was journaled: these fields changed. */
  | { kind: "alarm_policy"; pos: number; changed: (keyof AlarmPolicy)[] };

/** What a recovery restored and replayed. */
type Recovery = Omit<Extract<DurableReport, { kind: "recovered" }>, "kind" | "after">;

/** A command admitted and checked, waiting for its turn to be applied. */
interface Queued {
  command: Command;
  /** Its journal bytes, encoded before it was checked (none for an ingest without a store). */
  body: Uint8Array | undefined;
  weight: Weight;
  /** Who makes it, when the command does not name its author (for the audit trail). */
  actor: string | undefined;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

/** A command applied, waiting for its group's commit. */
interface Pending {
  entry: JournalEntry;
  /** The command's journal bytes, encoded before it was applied (none for an ingest without a store). */
  body: Uint8Array | undefined;
  events: LifecycleEvent[];
  readings: StoredReading[];
  /** Its audit trail entry, when it is an admin change. */
  audit: AuditEntry | undefined;
  /** Its share of the backlog, given back once its commit settled. */
  weight: Weight;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type Listener = { cb: (event: LifecycleEvent) => void; filter: ReturnType<typeof scopeFilter> };

export class DurablePipeline {
  private pipelineNow: Pipeline;
  private pos: number;
  /** Admitted, checked, not yet applied (applied in the next flush). */
  private readonly queue = new FairQueue<Queued>();
  private flushing: Promise<void> | undefined;
  /**
   * The commit of the last group applied: true once it and every group before it are durable,
   * false when one of them failed. The next group is applied while this one commits (the kernel
   * on this thread, the store's write on its own), and commits only after it: the journal never
   * holds a group whose predecessor it lacks.
   */
  private committing: Promise<boolean> = Promise.resolve(true);
  /** The snapshot being written, if any (one at a time), from its capture until its save settled. */
  private saving: Promise<void> | undefined;
  /** The memory the last snapshot's kernel bytes and state went into (see capture). */
  private kernelMemory: Uint8Array | undefined;
  private stateMemory: Buffer | undefined;
  /** The registry's columns being built in slices before a capture (see prepareCapture), if any. */
  private preparing: Promise<boolean> | undefined;
  /** Preparations in a row the registry outran (changed meanwhile); past a few, the capture builds them itself. */
  private preparesOutrun = 0;
  /** What the last finished preparation cost (its longest block is counted in the capture's). */
  private prepareCost: PackCost | undefined;
  private listeners = new Set<Listener>();
  private readonly recoveredListeners = new Set<() => void>();
  /** rebuilding: after a bug in a command, until memory is rebuilt; recovering: the store failed. */
  private state: "ready" | "rebuilding" | "recovering" | "closed" = "ready";
  private sinceSnapshot = 0;
  /** Milliseconds spent applying the commands journaled since the last snapshot (their replay cost). */
  private replayMs = 0;
  private lastSnapshotAt: number;
  /** performance.now() when the last snapshot was done, and what it cost (ms). */
  private lastSnapshotDone = -Infinity;
  private lastSnapshotCost = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Admitted, not yet committed: queued, applied in a group, or in the group being committed. */
  private readonly backlog: Backlog;

  private constructor(
    pipeline: Pipeline,
    pos: number,
    private readonly options: DurableOptions,
  ) {
    this.pipelineNow = pipeline;
    this.pos = pos;
    this.lastSnapshotAt = this.now();
    this.backlog = new Backlog({ ...DEFAULT_BACKLOG, ...options.backlog });
  }

  /** Without a store: nothing is persisted (tests, `--memory`). */
  static inMemory(options: Omit<DurableOptions, "store"> = {}): DurablePipeline {
    return new DurablePipeline(new Pipeline(options.pipeline), 0, options);
  }

  /**
   * Opens: restores the newest snapshot and replays the journal after it (or starts empty), then
   * puts the options' alarm policy in force (adoptPolicy) before anything else is accepted.
   */
  static async open(options: DurableOptions = {}): Promise<DurablePipeline> {
    const { pipeline, recovery } = await DurablePipeline.recover(options);
    if (options.store !== undefined) options.onReport?.({ kind: "recovered", after: "start", ...recovery });
    const durable = new DurablePipeline(pipeline, recovery.pos, options);
    try {
      await durable.adoptPolicy();
    } catch (err) {
      clearTimeout(durable.retryTimer);
      durable.state = "closed";
      throw err;
    }
    return durable;
  }

  /**
   * The settings' alarm policy (the options' lifecycle fields, defaults filled in), journaled as
   * an `alarm_policy` command when it differs from the policy the recovered state holds; an
   * unchanged policy journals nothing. Throws RangeError on a policy out of bounds, or what the
   * command was refused with (store_unavailable).
   */
  private async adoptPolicy(): Promise<void> {
    const wanted = alarmPolicy(this.options.pipeline?.lifecycle);
    const changed = policyChanges(this.pipelineNow.lifecycle.alarmPolicy(), wanted);
    if (changed.length === 0) return;
    await this.execute({ kind: "alarm_policy", policy: wanted, actor: SETTINGS_ACTOR });
    this.options.onReport?.({ kind: "alarm_policy", pos: this.pos, changed });
  }

  /** The pipeline for reads (queries, snapshots for subscribers). Writes go through `execute`. */
  get pipeline(): Pipeline {
    return this.pipelineNow;
  }

  /** Throws `overloaded` when an ingest from `sender` would be refused now: callers check before validating a large body. */
  admitIngest(sender?: string): void {
    this.backlog.admit("ingest", sender);
  }

  /** The store behind the journal and the read models (undefined in memory-only mode). */
  get store(): Store | undefined {
    return this.options.store;
  }

  /** True while commands are accepted (false while the store is unavailable or after close). */
  ready(): boolean {
    return this.state === "ready";
  }

  /** The last journal position applied. */
  position(): number {
    return this.pos;
  }

  /** Called after the engine rebuilt itself from the store (what was in memory only is gone); returns an unsubscribe function. */
  onRecovered(cb: () => void): () => void {
    this.recoveredListeners.add(cb);
    return () => this.recoveredListeners.delete(cb);
  }

  /** Listens to events once they are durable; returns an unsubscribe function. */
  onEvent(cb: (event: LifecycleEvent) => void, scope: Scope = {}): () => void {
    const listener = { cb, filter: scopeFilter(scope) };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Checks, journals and applies a command; resolves with its answer once it and the events it
   * caused are durable. Rejects with the command's own VarselError when refused (nothing
   * changed), or store_unavailable when the store did not take it. `sender`: whose share of the
   * admission bound an ingest counts against (a token's `sub`). `actor`: who makes an admin
   * change whose command does not name its author (a patient's registration), for the audit trail.
   * `batchBytes`: an ingest's batch already encoded for the journal (by the ingest thread; see journaled).
   */
  async execute<C extends Command>(command: C, options: { sender?: string; actor?: string; batchBytes?: Uint8Array } = {}): Promise<ResultOf<C>> {
    if (this.state === "rebuilding") throw new VarselError("engine_recovering");
    if (this.state !== "ready") throw new VarselError("store_unavailable", "the store is unavailable; the engine is recovering");
    // Before any work on it: a refused ingest costs nothing and changes nothing.
    this.backlog.admit(command.kind, options.sender);
    // Every precondition before the first change: the journal form, then the command's own check
    // (refused at once as of now; checked again when it is applied, which may be a few ms later).
    const { command: canonical, bytes: body } = journaled(command, options.batchBytes, this.options.store !== undefined);
    this.check({ pos: this.pos + 1, at: this.now(), command: canonical });
    const weight = weightOf(canonical, body, options.sender);
    this.backlog.add(weight);
    return new Promise<ResultOf<C>>((resolve, reject) => {
      const queued: Queued = { command: canonical, body, weight, actor: options.actor, resolve: resolve as (r: unknown) => void, reject };
      // A tick judges staleness as of now: it must not overtake a reading that arrived before it.
      if (canonical.kind === "tick") this.queue.pushBarrier(queued);
      else this.queue.push(options.sender ?? "", queued, weight.readings);
      this.scheduleFlush();
    });
  }

  /** Readings and journal bytes admitted but not yet committed (queued, applied, or being committed). */
  uncommitted(): Weight {
    return this.backlog.size;
  }

  /** Takes a snapshot now (waits for pending commits and a snapshot being written first) and waits until it is stored. */
  async snapshot(): Promise<void> {
    await this.settle();
    // The registry's columns built in slices first (a change after that: built in the capture).
    await this.prepareColumns();
    await this.settle();
    // Holding the flushing slot keeps scheduled flushes from committing beside this one.
    this.flushing = this.flush(true).finally(() => this.afterFlush());
    await this.flushing;
    await this.committing;
    await this.saving;
  }

  /** Waits until nothing is queued, flushing or being saved. */
  private async settle(): Promise<void> {
    // Both waits can let the other start again (a save takes seconds; commits go on meanwhile):
    // the forced flush must run alone, or it would snapshot a group another flush is committing.
    while (this.flushing !== undefined || this.saving !== undefined || this.queue.length > 0) {
      if (this.flushing === undefined && this.queue.length > 0) this.scheduleFlush();
      await this.flushing;
      await this.saving;
    }
  }

  /** Stops: flushes what is pending, takes a final snapshot, closes the store. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    clearTimeout(this.retryTimer);
    if (this.state === "ready" && this.options.store !== undefined) await this.snapshot().catch((err) => this.report(err, "final snapshot"));
    this.state = "closed";
    await this.options.store?.close();
  }

  // ---- internals ----

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * checkCommand; a check that throws something else than a VarselError met input it does not
   * understand (a rule of an unexpected shape): refused all the same, nothing changed, reported.
   */
  private check(entry: JournalEntry): void {
    try {
      checkCommand(this.pipelineNow, entry);
    } catch (err) {
      if (err instanceof VarselError) throw err;
      this.report(err, "check");
      throw new VarselError("invalid_body", "the request has a shape the engine cannot judge", { command: entry.command.kind });
    }
  }

  private keepReadings(): boolean {
    return this.options.store !== undefined && (this.options.readingRetentionMs ?? DEFAULT_READING_RETENTION_MS) > 0;
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.flush(false))
      .finally(() => this.afterFlush());
  }

  /** Frees the flushing slot and starts the next flush for what arrived meanwhile. */
  private afterFlush(): void {
    this.flushing = undefined;
    if (this.queue.length > 0) this.scheduleFlush();
  }

  /**
   * Applies the next group (see applyNext) and chains its commit after the previous group's;
   * returns once that previous commit settled, so that at most one group waits applied while one
   * commits. Its events and callers are released when its own commit succeeds (commitGroup).
   */
  private async flush(forceSnapshot: boolean): Promise<void> {
    const group = this.applyNext();
    const store = this.options.store;
    const o = this.options;
    const spacedOut = performance.now() - this.lastSnapshotDone >= this.lastSnapshotCost / (o.snapshotMaxShare ?? 0.1);
    const snapshotDue =
      store !== undefined &&
      this.state === "ready" &&
      this.saving === undefined &&
      (forceSnapshot ||
        (group.length > 0 &&
          spacedOut &&
          (this.replayMs >= (o.snapshotReplayBudgetMs ?? 1_000) ||
            this.sinceSnapshot >= (o.snapshotEveryCommands ?? Infinity) ||
            this.now() - this.lastSnapshotAt >= (o.snapshotEveryMs ?? 60_000))));
    // The snapshot is captured here, synchronously, so it matches exactly the end of this group
    // (what later groups may change in place is packed now; the rest in slices, see capture).
    // Unless forced, what the capture would build at length (the registry's columns after a change,
    // or the first time) is first built in slices, and the capture taken when they are (see
    // prepareCapture): between two groups, at the end of the last one applied.
    const captured = snapshotDue && (forceSnapshot || this.readyToCapture()) ? this.capture() : undefined;
    const covered = this.covered(captured);
    const prior = this.committing;
    const committed = this.commitGroup(prior, group);
    this.committing = committed;
    if (captured !== undefined && store !== undefined) this.startSaving(store, captured, committed, covered);
    await prior;
  }

  /** What a snapshot covers (given back to the cadence if its save fails); a capture resets the cadence. */
  private covered(captured: unknown): { commands: number; replayMs: number; since: number } {
    const covered = { commands: this.sinceSnapshot, replayMs: this.replayMs, since: this.lastSnapshotAt };
    if (captured !== undefined) {
      this.sinceSnapshot = 0;
      this.replayMs = 0;
    }
    return covered;
  }

  /**
   * Saves a capture once its group (`committed`) is durable (the store writes it in parts while
   * later groups commit); `saving` holds from now, so no capture reuses its memory before then.
   */
  private startSaving(store: Store, captured: NonNullable<ReturnType<DurablePipeline["capture"]>>, committed: Promise<boolean>, covered: { commands: number; replayMs: number; since: number }): void {
    this.saving = Promise.all([committed, captured.state]).then(([ok, state]) =>
      this.save(store, ok && state !== undefined ? { ...captured, state } : undefined, captured.cost, covered),
    );
  }

  /** Commits a group after the previous one; answers its callers and sends its events, or refuses them all. */
  private async commitGroup(prior: Promise<boolean>, group: Pending[]): Promise<boolean> {
    const store = this.options.store;
    const release = (err: VarselError): false => {
      for (const p of group) {
        this.backlog.remove(p.weight);
        p.reject(err);
      }
      return false;
    };
    // Applied on top of a group the store did not take: memory is rebuilt from the store anyway.
    if (!(await prior)) return release(new VarselError("store_unavailable", "the store did not accept an earlier batch; this one was not acknowledged"));
    // What arrived while the previous group committed joins this one (within the group's bound and
    // each sender's share): otherwise it waited for this commit and then its own, two and a half
    // commits in all for a reading that came in while a flood's groups were in the pipeline. No
    // other group can have been applied since this one: the next flush waits for the same commit,
    // and this continuation runs before it (registered first).
    if (this.state === "ready" && this.queue.length > 0) this.applyNext(group);
    try {
      if (store !== undefined && group.length > 0) {
        const started = performance.now();
        await store.commit(this.batchOf(group));
        this.options.onReport?.({ kind: "commit", commands: group.length, ms: performance.now() - started });
      }
    } catch (err) {
      this.report(err, "commit");
      this.startRecovery();
      return release(new VarselError("store_unavailable", "the store did not accept the batch; it was not acknowledged"));
    }
    for (const p of group) {
      this.backlog.remove(p.weight);
      for (const event of p.events) this.dispatch(event);
      p.resolve();
    }
    return true;
  }

  /** Writes a captured snapshot (undefined: its group was not committed, nothing to write), then prunes. */
  private async save(store: Store, captured: StoredSnapshot | undefined, cost: PackCost, covered: { commands: number; replayMs: number; since: number }): Promise<void> {
    const captureMs = cost.totalMs;
    const started = performance.now();
    if (captured !== undefined) this.lastSnapshotAt = captured.at;
    const saved =
      captured !== undefined &&
      (await store.saveSnapshot(captured).then(
        () => true,
        (err) => (this.report(err, "snapshot"), false),
      ));
    if (saved) {
      this.options.onReport?.({ kind: "snapshot", pos: captured.pos, bytes: captured.kernel.byteLength + captured.state.byteLength, ms: captureMs + performance.now() - started, maxBlockMs: cost.maxBlockMs });
    } else {
      // The journal since the last stored snapshot is still to be replayed: due again as before.
      this.sinceSnapshot += covered.commands;
      this.replayMs += covered.replayMs;
      this.lastSnapshotAt = covered.since;
    }
    this.lastSnapshotDone = performance.now();
    // The write's wall time includes the commits that went in between: on the safe side.
    this.lastSnapshotCost = captureMs + (this.lastSnapshotDone - started);
    if (saved) {
      const keep = this.options.eventRetentionMs ?? DEFAULT_EVENT_RETENTION_MS;
      await store.pruneEvents(captured.at - keep).catch((err) => this.report(err, "event retention"));
      const keepReadings = this.options.readingRetentionMs ?? DEFAULT_READING_RETENTION_MS;
      await store.pruneReadings(captured.at - keepReadings).catch((err) => this.report(err, "reading retention"));
    }
    this.saving = undefined;
  }

  /**
   * The snapshot of this instant, or undefined when it could not be taken (reported; the commit
   * goes on). The kernel's bytes and what later groups change in place are copied and packed now;
   * the immutable lists (patient records, retained events) are packed after it, in slices of the
   * event loop (snapshot-packer.ts): `state` resolves with the bytes (undefined: packing failed,
   * reported), `cost` holds the longest block once it has. Its bytes go into the memory of the
   * previous snapshot: fresh hundreds of MB each time made V8 collect the whole heap inside the
   * capture, more than half of its stall. That memory is free: a capture runs only while no
   * snapshot is `saving` (which holds from the capture until its save settled), and a store does
   * not keep a snapshot's bytes once saveSnapshot settled.
   */
  private capture(): (Omit<StoredSnapshot, "state"> & { state: Promise<Uint8Array | undefined>; cost: PackCost }) | undefined {
    const clock = new BlockClock(this.options.snapshotSliceMs);
    const prepared = this.prepareCost;
    this.prepareCost = undefined;
    this.preparesOutrun = 0;
    if (prepared !== undefined) {
      clock.cost.maxBlockMs = prepared.maxBlockMs;
      clock.cost.totalMs = prepared.totalMs;
    }
    try {
      const lifecycle = this.pipelineNow.lifecycle;
      const { kernel, state } = this.pipelineNow.exportState({ kernelInto: this.kernelMemory, views: true });
      this.kernelMemory = new Uint8Array(kernel.buffer);
      const alerts = lifecycle.holdAlerts();
      let head: HeadPacked;
      try {
        head = packHead(SNAPSHOT_FORMAT, state, alerts, (value) => packInto(this.stateMemory, value), this.options.snapshotChunkRecords);
      } catch (err) {
        lifecycle.releaseAlerts(alerts);
        throw err;
      }
      this.stateMemory = Buffer.from(head.head.buffer, 0, head.head.buffer.byteLength);
      const packed = packRest(packr, head, clock).then(
        (bytes) => {
          this.stateMemory = Buffer.from(bytes.buffer, 0, bytes.buffer.byteLength);
          clock.lap();
          return bytes;
        },
        (err) => {
          this.report(err, "snapshot capture");
          return undefined;
        },
      ).finally(() => lifecycle.releaseAlerts(alerts));
      return { pos: this.pos, seq: this.pipelineNow.lifecycle.lastSeq(), at: this.now(), kernel, state: packed, cost: clock.cost };
    } catch (err) {
      this.report(err, "snapshot capture");
      return undefined;
    }
  }

  /**
   * Whether a snapshot may be captured now without building the registry's columns at once; if
   * not, starts building them in slices (prepareCapture), for a capture at a later group.
   */
  private readyToCapture(): boolean {
    if (this.pipelineNow.engine.patients.exportReady({ configs: false })) return true;
    // A registry that keeps changing faster than its columns are built: built in the capture, as before.
    if (this.preparesOutrun >= MAX_PREPARES_OUTRUN) return true;
    this.preparing ??= this.prepareCapture().finally(() => (this.preparing = undefined));
    return this.pipelineNow.engine.patients.exportReady({ configs: false }); // a small registry: built at once
  }

  /**
   * Builds the registry's columns in slices of the event loop (PatientRegistry.prepareExport), then
   * captures the snapshot at once, in the same turn: no group is half applied between two turns,
   * so the state is that of the end of the last group applied, whose commit the save waits for.
   * Tried again while the registry changes meanwhile, up to MAX_PREPARES_OUTRUN times; then the
   * next due flush captures and builds them itself. Resolves whether the columns were ready.
   */
  private async prepareCapture(): Promise<boolean> {
    while (this.preparesOutrun < MAX_PREPARES_OUTRUN) {
      if (!(await this.prepareColumns())) {
        this.preparesOutrun++;
        continue;
      }
      this.preparesOutrun = 0;
      const store = this.options.store;
      if (store !== undefined && this.state === "ready" && this.saving === undefined && this.sinceSnapshot > 0) {
        const captured = this.capture();
        const covered = this.covered(captured);
        if (captured !== undefined) this.startSaving(store, captured, this.committing, covered);
      }
      return true;
    }
    return false;
  }

  /** Builds the registry's columns in slices (its cost is counted in the next capture's); false: it changed meanwhile. */
  private async prepareColumns(): Promise<boolean> {
    const clock = new BlockClock(this.options.snapshotSliceMs);
    let ready = false;
    try {
      ready = await this.pipelineNow.engine.patients.prepareExport({ configs: false }, () => clock.slice(), this.options.snapshotChunkRecords);
    } catch (err) {
      this.report(err, "snapshot capture");
    }
    clock.lap();
    this.prepareCost = clock.cost;
    return ready;
  }

  /**
   * Takes the next group from the queue (fairly across senders, bounded in readings and events)
   * and applies it, each command at its own clock time after its check; returns those applied,
   * to be committed. A command refused now is answered at once and changes nothing; after a bug
   * in one, what still waits is refused unapplied (engine_recovering).
   */
  private applyNext(group: Pending[] = []): Pending[] {
    const limit = this.options.groupReadings ?? DEFAULT_GROUP_READINGS;
    const share = this.options.groupReadingsPerSender ?? DEFAULT_GROUP_READINGS_PER_SENDER;
    const usedBy = new Map<string, number>();
    const spent = (sender: string) => (usedBy.get(sender) ?? 0) >= share;
    const charge = (sender: string, n: number) => usedBy.set(sender, (usedBy.get(sender) ?? 0) + n);
    // A group's cost is its readings and the events they cause (readings that flip alerts on and
    // off double a commit's rows): taken one command at a time until that reaches the bound, or
    // each waiting sender's share of it. A group topped up (commitGroup) counts what it holds.
    let used = 0;
    for (const p of group) {
      const cost = Math.max(1, p.weight.readings) + p.events.length;
      used += cost;
      charge(p.weight.sender ?? "", cost);
    }
    const before = group.length;
    while (used < limit && this.state === "ready") {
      const q = this.queue.takeOne(spent);
      if (q === undefined) break;
      const sender = q.weight.sender ?? "";
      used += Math.max(1, q.weight.readings);
      charge(sender, Math.max(1, q.weight.readings));
      const entry: JournalEntry = { pos: this.pos + 1, at: this.now(), command: q.command };
      try {
        this.check(entry);
      } catch (err) {
        this.refuse(q, err);
        continue;
      }
      const started = performance.now();
      let applied: Applied;
      try {
        applied = applyCommand(this.pipelineNow, entry, this.keepReadings());
      } catch (err) {
        this.refuse(q, new VarselError("internal_error", "the command failed inside the engine; it was not applied"));
        this.rebuildAfterBug(err);
        continue;
      }
      const { events, readings, result } = applied;
      used += events.length;
      charge(sender, events.length);
      // A tick that changed nothing is not worth a journal entry (no event, nothing forgotten).
      if (q.command.kind === "tick" && events.length === 0 && !(result as ResultOf<{ kind: "tick" }>).forgot) {
        this.backlog.remove(q.weight);
        q.resolve(result);
        continue;
      }
      this.replayMs += performance.now() - started;
      this.pos = entry.pos;
      const audit = auditOf(entry, result, q.actor);
      group.push({ entry, body: q.body, events, readings, audit, weight: q.weight, resolve: () => q.resolve(result), reject: q.reject });
    }
    this.sinceSnapshot += group.length - before;
    return group;
  }

  private refuse(q: Queued, err: unknown): void {
    this.backlog.remove(q.weight);
    q.reject(err);
  }

  /** The group's journal entries (with their bytes), the events and readings they returned. */
  private batchOf(group: Pending[]): CommitBatch {
    const batch: CommitBatch = { entries: [], bodies: [], events: [], readings: [], audit: [] };
    for (const p of group) {
      batch.entries.push(p.entry);
      batch.bodies!.push(p.body);
      if (p.audit !== undefined) batch.audit!.push(p.audit);
      for (const e of p.events) batch.events.push(e);
      for (const r of p.readings) batch.readings.push(r);
    }
    return batch;
  }

  private dispatch(event: LifecycleEvent): void {
    for (const l of this.listeners) {
      if (!admits(l.filter, event.patient, event.teams)) continue;
      try {
        l.cb(event);
      } catch (err) {
        this.report(err, "event listener");
      }
    }
  }

  /**
   * A command threw inside applyCommand (a bug): memory may be part-changed. What its group
   * applied before it commits as usual; what still waits is refused unapplied; then the engine
   * rebuilds from the store, refusing new work meanwhile (engine_recovering).
   */
  private rebuildAfterBug(err: unknown): void {
    this.report(err, "apply");
    if (this.state !== "ready" || this.options.store === undefined) return; // memory only: nothing to rebuild from
    this.state = "rebuilding";
    for (const q of this.queue.drain()) this.refuse(q, new VarselError("engine_recovering"));
    const rebuild = async () => {
      while (this.flushing !== undefined) await this.flushing;
      await this.committing; // what was applied before the bug is durable (or refused) before the store is read
      if (this.state !== "rebuilding") return; // a failed commit started the store's recovery
      this.startRecovery("rebuilding", 0);
    };
    void rebuild();
  }

  /**
   * Memory is ahead of the store (`recovering`: a commit failed) or may be part-changed
   * (`rebuilding`: a bug): refuse work, and rebuild from the store once it answers.
   */
  private startRecovery(why: "recovering" | "rebuilding" = "recovering", firstTryMs = this.options.retryMs ?? 1000): void {
    if (this.state !== "ready" && this.state !== "rebuilding") return;
    if (why === "recovering") this.options.onReport?.({ kind: "store_unavailable" });
    this.state = why;
    for (const q of this.queue.drain()) this.refuse(q, new VarselError("store_unavailable"));
    const attempt = async () => {
      if (this.state !== why) return;
      try {
        await this.options.store!.ping();
        const { pipeline, recovery } = await DurablePipeline.recover(this.options);
        this.pipelineNow = pipeline;
        this.pos = recovery.pos;
        this.committing = Promise.resolve(true);
        this.state = "ready";
        this.options.onReport?.({ kind: "recovered", after: why === "recovering" ? "outage" : "bug", ...recovery });
        for (const cb of this.recoveredListeners) cb();
      } catch (err) {
        this.report(err, "recovery");
        this.retryTimer = setTimeout(() => void attempt(), this.options.retryMs ?? 1000);
      }
    };
    this.retryTimer = setTimeout(() => void attempt(), firstTryMs);
  }

  private static async recover(options: DurableOptions): Promise<{ pipeline: Pipeline; recovery: Recovery }> {
    const started = performance.now();
    const store = options.store;
    const snap = await store?.latestSnapshot();
    let pipeline: Pipeline;
    let pos = 0;
    let snapshotPos: number | undefined;
    const stored = snap === undefined ? undefined : unpackSnapshotState(packr, asBuffer(snap.state));
    const kernelLayout = snap === undefined ? undefined : snapshotLayoutVersion(snap.kernel);
    if (snap !== undefined && stored?.format === SNAPSHOT_FORMAT && kernelLayout === LAYOUT_VERSION) {
      pipeline = Pipeline.fromState(WasmKernel.restore(snap.kernel), stored!.state, journalOptions(options));
      pos = snap.pos;
      snapshotPos = snap.pos;
    } else {
      if (snap !== undefined) {
        const why = stored?.format !== SNAPSHOT_FORMAT ? `layout ${stored?.format ?? 1}, not ${SNAPSHOT_FORMAT}` : `kernel layout ${kernelLayout ?? "unknown"}, not ${LAYOUT_VERSION}`;
        options.onError?.(new Error(`snapshot at ${snap.pos} has ${why}: replaying the journal from the start`), "recovery");
      }
      pipeline = new Pipeline(journalOptions(options));
    }
    const recovery = (): { pipeline: Pipeline; recovery: Recovery } => ({
      pipeline,
      recovery: { snapshotPos, replayed: pos - (snapshotPos ?? 0), pos, ms: performance.now() - started },
    });
    if (store === undefined) return recovery();
    for (;;) {
      const entries = await store.readJournal(pos, REPLAY_PAGE);
      for (const stored of entries) {
        const entry = upgradeEntry(stored);
        // Only commands that passed their check were journaled: a refusal now means this engine
        // judges differently from the one that wrote the entry. Reported, and skipped unchanged.
        try {
          checkCommand(pipeline, entry);
        } catch (err) {
          if (!(err instanceof VarselError)) throw err;
          options.onError?.(new Error(`journal entry ${entry.pos} (${entry.command.kind}) is refused on replay: ${err.code}`), "recovery");
          pos = entry.pos;
          continue;
        }
        applyCommand(pipeline, entry);
        pipeline.lifecycle.takeEvents(); // already stored with the entry
        pos = entry.pos;
      }
      if (entries.length < REPLAY_PAGE) return recovery();
    }
  }

  private report(err: unknown, what: string): void {
    this.options.onError?.(err, what);
  }
}
