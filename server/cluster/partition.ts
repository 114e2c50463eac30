// One partition on the engine that owns it: the partition's own Pipeline (wasm kernel and
// lifecycle), fed from the partition's durable consumer in stream order through
// engine/durable/apply.ts, the code the single process's journal replay runs. What a command
// caused is published to the events stream; a command is acknowledged once its events are stored.
//
// Taking a partition over: restore its newest snapshot (object store), read the last event the
// events stream holds for it, recreate the durable consumer at the stream sequence after the
// snapshot, and apply from there. Replay is deterministic (every command carries its clock time),
// so the commands after the snapshot cause the same events with the same numbers: those the
// stream already holds are not published again, the rest are (a dead owner may have applied a
// command without publishing what it caused). Nats-Msg-Id `<partition>-<seq>` drops a copy
// anyway, should two owners ever overlap.
//
// A snapshot is written only once every event up to it is stored: a snapshot ahead of the events
// stream would let a successor skip events nobody published. Snapshots come often enough that a
// successor's replay stays short (the tail of a failover): once applying the commands since the
// last one took snapshotReplayBudgetMs (live applying costs what replaying costs), after 10 000
// commands, or 10 s after the last one; but at most a tenth of the time goes to taking (and putting)
// snapshots, over every partition of the engine process together (SnapshotPacer), so that an
// engine catching up a backlog lets the replay tail grow rather than its throughput fall.
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg, type PubAck } from "@nats-io/jetstream";
import { LAYOUT_VERSION } from "../../assembly/layout.js";
import { applyCommand, checkCommand } from "../../engine/durable/apply.js";
import type { JournalEntry } from "../../engine/durable/commands.js";
import { SNAPSHOT_FORMAT } from "../../engine/durable/durable-pipeline.js";
import { VarselError } from "../../engine/errors.js";
import { snapshotLayoutVersion } from "../../engine/kernel/snapshot.js";
import { WasmKernel } from "../../engine/kernel/wasm-kernel.js";
import type { LifecycleEvent } from "../../engine/lifecycle/types.js";
import { Pipeline, type PipelineOptions, type PipelineState } from "../../engine/pipeline.js";
import { decodeBody, encodeBody } from "../../engine/store/codec.js";
import type { CommandMessage } from "./ingest.js";
import type { Cluster } from "./streams.js";
import { TimeSlices } from "./time-slices.js";

// As the durable layer's snapshot state: records decode several times faster for many alerts.
const packr = new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false });
/** A command is redelivered when not acknowledged within this (it is skipped then: already applied). */
const ACK_WAIT_MS = 30_000;
/**
 * The window of a partition: at most this many commands applied whose events are not all stored
 * yet, and at most MAX_EVENTS_IN_FLIGHT events published awaiting their PubAck. A full window
 * stops taking commands from the consumer (whose buffer then stops pulling) until half of it is
 * stored. Unbounded, a backlog was applied far ahead of the events stream: every publish a
 * pending request with its timers, every command a promise, the engine past 2 GB RSS.
 */
const MAX_UNSTORED_COMMANDS = 512;
const MAX_EVENTS_IN_FLIGHT = 256;
/** Stored commands are acknowledged together (AckPolicy.All): every this many, and the newest always. */
const ACK_EVERY = 64;
/** A partition held by its fence looks at its lease again this often. */
const FENCE_POLL_MS = 20;
/** Messages the consumer pulls ahead of the partition. */
const PULL_BATCH = 512;

/** What the events stream holds per event. */
export interface EventMessage {
  partition: number;
  event: LifecycleEvent;
}

/** A partition's snapshot in the object store (`p<partition>`). */
interface PartitionSnapshot {
  format: number;
  partition: number;
  /** The commands stream sequence of the last command applied. */
  seq: number;
  /** The clock time of the last command applied (commands apply no earlier: see `clock`). */
  at: number;
  kernel: Uint8Array;
  state: PipelineState;
}

/**
 * Spaces the snapshots of the partitions of one engine process: one at a time, and after one
 * that took s ms the next waits s / share, so snapshots take at most `share` of the time. Due
 * snapshots take their turns in the order they became due (`turn`). Woken by timers instead,
 * whichever timer fired first won: draining the full bench (3 engines, ~1 s per snapshot, so
 * one per 10 s per engine) some partitions were snapshotted 6 to 8 times and others never, and a
 * survivor replayed 19 595 commands (26 s) after a kill.
 */
export class SnapshotPacer {
  private nextAt = 0;
  private running = 0;
  private readonly turns: (() => Promise<void>)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly share = 0.1) {
    if (!(share > 0 && share <= 1)) throw new RangeError(`a snapshot share is more than 0 and at most 1, not ${share}`);
  }

  /** May a due snapshot start now? */
  ready(): boolean {
    return this.running === 0 && performance.now() >= this.nextAt;
  }

  /** Runs `task` when the turns queued before it have run and the pacer is ready (it may decide not to snapshot). */
  turn(task: () => Promise<void>): void {
    this.turns.push(task);
    this.next();
  }

  begin(): void {
    this.running++;
  }

  /** A snapshot ended; `ms` is what it took, its put to the object store included. */
  end(ms: number): void {
    this.running--;
    this.nextAt = Math.max(this.nextAt, performance.now() + ms / this.share);
    this.next();
  }

  private next(): void {
    if (this.timer !== undefined || this.running > 0 || this.turns.length === 0) return;
    const wait = this.nextAt - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.next();
      }, wait);
      this.timer.unref();
      return;
    }
    const task = this.turns.shift()!;
    void task().finally(() => this.next());
  }
}

/** A partition's replay after a takeover should take about this long at most (CPU time applying). */
export const DEFAULT_PARTITION_REPLAY_BUDGET_MS = 200;
/** ... and cover at most this much time: a quiet partition's tail (bench:cluster measured 1 341 commands, 0.7 s, at 30 s). */
export const DEFAULT_PARTITION_SNAPSHOT_EVERY_MS = 10_000;

export interface PartitionOptions {
  pipeline?: Omit<PipelineOptions, "evaluator">;
  /** Snapshot once applying the commands since the last one took this long (default 200 ms) ... */
  snapshotReplayBudgetMs?: number;
  /** ... or after this many commands (default 10 000) ... */
  snapshotEveryCommands?: number;
  /** ... or this long after the last one when commands came meanwhile (default 10 000 ms) ... */
  snapshotEveryMs?: number;
  /** ... but spend at most this share of the time on snapshots (default 0.1: after one that took s, the next waits s / 0.1) ... */
  snapshotMaxShare?: number;
  /** ... shared by these partitions (an engine node's; default: this partition's own). */
  pacer?: SnapshotPacer;
  /** The event loop's time shared by the partitions applying (an engine node's; default: this partition's own). */
  slices?: TimeSlices;
  /** How often the owner puts a tick on the partition (missing data, escalations, expiries; default 5 000 ms; 0: none). */
  tickMs?: number;
  now?: () => number;
  /** Whether the node may apply now (its lease is fresh); checked before every command. */
  holds: () => boolean;
  onReport?: (report: PartitionReport) => void;
  onError?: (err: unknown, what: string) => void;
}

/** What a partition reports (never a patient id). */
export type PartitionReport =
  /** `ms` in all, `readMs` of it reading the snapshot from the object store (the rest: state rebuilt, last event looked up). */
  | { kind: "restored"; partition: number; snapshotSeq: number | undefined; lastEventSeq: number; ms: number; readMs: number; bytes: number }
  /** Applied every command the stream held for it when it was restored: `ms` since restored. */
  | { kind: "replayed"; partition: number; commands: number; ms: number }
  | { kind: "snapshot"; partition: number; seq: number; bytes: number; ms: number }
  | { kind: "refused"; partition: number; seq: number; code: string }
  /** Held `ms` by the fence: the lease's renewal came late (a busy machine), nothing applied meanwhile. */
  | { kind: "paused"; partition: number; ms: number }
  | { kind: "stopped"; partition: number; reason: "released" | "failed" };

export class PartitionEngine {
  /** The stream sequence of the last command applied. */
  private applied: number;
  /** The clock of the last command applied: a command from a node whose clock is behind applies at this time. */
  private clock: number;
  private sinceSnapshot = 0;
  /** Time spent applying commands since the last snapshot: what a successor's replay would cost. */
  private replayMs = 0;
  private lastSnapshotAt = performance.now();
  private readonly pacer: SnapshotPacer;
  private readonly slices: TimeSlices;
  /** The window (MAX_UNSTORED_COMMANDS, MAX_EVENTS_IN_FLIGHT): commands applied, events not all stored yet ... */
  private unstoredCommands = 0;
  /** ... and events published whose PubAck has not come. */
  private eventsInFlight = 0;
  /** Called once half of a full window is stored. */
  private windowOpened: (() => void) | undefined;
  /** The last command acknowledged (AckPolicy.All acknowledges every one before it too). */
  private acked = 0;
  /** A due snapshot waits for the pacer. */
  private awaitingPacer = false;
  /**
   * Commands after the newest snapshot that threw inside applyCommand: skipped when the partition
   * rebuilds its state without them (and by every later owner, which meets the same throw).
   */
  private readonly threw = new Set<number>();
  /** Between a throw and the rebuild: the state may be part-changed, no snapshot of it. */
  private rebuilding = false;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> = Promise.resolve();
  /** Resolves once the events of every command applied so far are stored (false: one failed). */
  private published: Promise<boolean> = Promise.resolve(true);
  private saving: Promise<void> | undefined;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;

  private constructor(
    private readonly cluster: Cluster,
    readonly partition: number,
    private pipelineNow: Pipeline,
    snapshot: { seq: number; at: number } | undefined,
    /** Events up to this number are in the events stream already. */
    private lastEventSeq: number,
    private readonly options: PartitionOptions,
  ) {
    this.applied = snapshot?.seq ?? 0;
    this.clock = snapshot?.at ?? 0;
    this.pacer = options.pacer ?? new SnapshotPacer(options.snapshotMaxShare);
    this.slices = options.slices ?? new TimeSlices();
  }

  /** Restores the partition and starts applying its commands; `onStop` is told when it stops by itself. */
  static async start(cluster: Cluster, partition: number, options: PartitionOptions, onStop: (reason: "failed") => void): Promise<PartitionEngine> {
    const started = performance.now();
    const { snapshot, bytes, readMs } = await readSnapshot(cluster, partition, options);
    const pipeline = snapshot === undefined ? new Pipeline(options.pipeline) : Pipeline.fromState(WasmKernel.restore(snapshot.kernel), snapshot.state, options.pipeline);
    const lastEventSeq = await lastPublishedSeq(cluster, partition);
    const engine = new PartitionEngine(cluster, partition, pipeline, snapshot, lastEventSeq, options);
    options.onReport?.({ kind: "restored", partition, snapshotSeq: snapshot?.seq, lastEventSeq, ms: performance.now() - started, readMs, bytes });
    await engine.consume(onStop);
    engine.startTicks();
    return engine;
  }

  /** The partition's pipeline (reads; tests). */
  get pipeline(): Pipeline {
    return this.pipelineNow;
  }

  /** The commands stream sequence of the last command applied. */
  position(): number {
    return this.applied;
  }

  /** Stops applying; `snapshot`: write a final snapshot first (a graceful hand-over). */
  async stop(snapshot: boolean): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    if (snapshot && (await this.published)) await this.snapshot();
    await this.saving;
  }

  /** Takes a snapshot now and waits until it is stored (after every event up to it); none of a part-changed state. */
  async snapshot(): Promise<void> {
    await this.saving;
    if (this.rebuilding) return;
    this.saving = this.save();
    await this.saving;
  }

  /** Recreates the partition's durable consumer at the command after the snapshot and applies from there. */
  private async consume(onStop: (reason: "failed") => void): Promise<void> {
    const { jsm, js, names } = this.cluster;
    const stream = names.commandStream;
    const name = names.consumer(this.partition);
    // The previous owner's consumer points at its own position: replaced (its reads end with it).
    await jsm.consumers.delete(stream, name).catch(() => undefined);
    await jsm.consumers.add(stream, {
      durable_name: name,
      filter_subject: names.commandSubject(this.partition),
      ack_policy: AckPolicy.All,
      // Delivered and not yet acknowledged: pulled ahead, the window, and the last ACK_EVERY (the window, not the server's default, bounds it).
      max_ack_pending: PULL_BATCH + MAX_UNSTORED_COMMANDS + ACK_EVERY,
      ack_wait: ACK_WAIT_MS * 1_000_000,
      ...(this.applied === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.applied + 1 }),
    });
    const consumer = await js.consumers.get(stream, name);
    // The replay: what the stream held for this partition when the consumer was made.
    const backlog = (await consumer.info(true)).num_pending;
    const replayFrom = performance.now();
    let applied = 0;
    const replayed = () => this.options.onReport?.({ kind: "replayed", partition: this.partition, commands: backlog, ms: performance.now() - replayFrom });
    if (backlog === 0) replayed();
    const messages = await consumer.consume({ max_messages: PULL_BATCH });
    this.messages = messages;
    if (this.stopped) await messages.close().catch(() => undefined); // stopped during a rebuild
    this.loop = (async () => {
      let reason: "failed" | "rebuild" | undefined;
      try {
        for await (const m of messages) {
          if (this.stopped) break;
          if (!this.options.holds()) {
            await this.awaitLease();
            if (this.stopped) break;
          }
          if (!this.handle(m)) {
            reason = "rebuild";
            break;
          }
          if (++applied === backlog) replayed();
          if (this.windowFull()) await new Promise<void>((resolve) => (this.windowOpened = resolve));
          if (this.slices.due()) await this.slices.pause();
        }
      } catch (err) {
        if (!this.stopped) this.options.onError?.(err, "partition consumer");
        reason = "failed";
      }
      if (reason === "rebuild" && !this.stopped) {
        await messages.close().catch(() => undefined);
        try {
          await this.rebuild();
          if (!this.stopped) return await this.consume(onStop);
        } catch (err) {
          this.options.onError?.(err, "rebuild");
          reason = "failed";
        }
      }
      if (!this.stopped && reason === undefined) reason = "failed"; // the consumer ended under us (deleted by a new owner)
      if (reason !== undefined && reason !== "rebuild" && !this.stopped) {
        this.stopped = true;
        clearInterval(this.ticker);
        await messages.close().catch(() => undefined);
        this.options.onReport?.({ kind: "stopped", partition: this.partition, reason });
        onStop(reason);
      }
    })();
  }

  /**
   * Ticks travel as commands, so a successor replays them at the same times. Their message id is
   * the partition and the tick's slot: an old and a new owner overlapping put one tick per slot.
   */
  private startTicks(): void {
    const every = this.options.tickMs ?? 5_000;
    if (every <= 0) return;
    const now = this.options.now ?? Date.now;
    this.ticker = setInterval(() => {
      if (this.stopped || !this.options.holds()) return;
      const at = now();
      const body = encodeBody({ at, command: { kind: "tick" } } satisfies CommandMessage);
      this.cluster.js.publish(this.cluster.names.commandSubject(this.partition), body, { msgID: `tick-${this.partition}-${Math.floor(at / every)}` }).catch((err: unknown) => this.options.onError?.(err, "tick"));
    }, every);
    this.ticker.unref();
  }

  /**
   * The lease's last renewal is older than the fence: nothing is applied until a renewal succeeds
   * (at the revision this node wrote: nobody took the lease meanwhile) or the node stops the
   * partition (the lease was taken: renewal lost). Stopping here instead, as before, restarted
   * the partition from its snapshot each time a busy machine answered a renewal late: with the
   * machine's load at 13 a one-engine drain of 400 000 readings took 435 s instead of ~40 s.
   */
  private async awaitLease(): Promise<void> {
    const from = performance.now();
    while (!this.stopped && !this.options.holds()) await new Promise((r) => setTimeout(r, FENCE_POLL_MS));
    if (!this.stopped) this.options.onReport?.({ kind: "paused", partition: this.partition, ms: performance.now() - from });
  }

  private windowFull(): boolean {
    return this.unstoredCommands >= MAX_UNSTORED_COMMANDS || this.eventsInFlight >= MAX_EVENTS_IN_FLIGHT;
  }

  /** Part of the window was stored: the loop goes on once half of a full window is. */
  private windowMoved(): void {
    if (this.windowOpened !== undefined && this.unstoredCommands <= MAX_UNSTORED_COMMANDS / 2 && this.eventsInFlight <= MAX_EVENTS_IN_FLIGHT / 2) {
      const open = this.windowOpened;
      this.windowOpened = undefined;
      open();
    }
  }

  /**
   * Applies one command (a redelivery of one applied already is only acknowledged). False: it
   * threw inside applyCommand and the partition's state must be rebuilt without it.
   */
  private handle(m: JsMsg): boolean {
    if (m.seq <= this.applied) {
      // Acknowledged once what it caused is stored, as the first delivery would have been.
      void this.published.then((ok) => ok && m.seq > this.acked && m.ack());
      return true;
    }
    const started = performance.now();
    const message = readCommandMessage(m.data);
    let events: LifecycleEvent[] = [];
    if (message === undefined) {
      // Not a command (garbage published on the subject): skipped as refused, changing nothing. Thrown,
      // it would stop the partition and every next owner on it: the partition's patients unwatched.
      this.options.onReport?.({ kind: "refused", partition: this.partition, seq: m.seq, code: "invalid_body" });
    } else {
      this.clock = Math.max(this.clock, message.at);
      const caused = this.apply({ pos: m.seq, at: this.clock, command: message.command });
      if (caused === undefined) return false;
      events = caused;
    }
    this.applied = m.seq;
    this.sinceSnapshot++;
    this.replayMs += performance.now() - started;
    const stores: Promise<PubAck>[] = [];
    const stored = () => {
      this.eventsInFlight--;
      this.windowMoved();
    };
    for (const event of events) {
      if (event.seq <= this.lastEventSeq) continue; // published by an owner before this one
      const store = this.cluster.js.publish(this.cluster.names.eventSubject(this.partition), encodeBody({ partition: this.partition, event } satisfies EventMessage), { msgID: `${this.partition}-${event.seq}` });
      store.then(stored, stored);
      stores.push(store);
      this.lastEventSeq = event.seq;
    }
    this.eventsInFlight += stores.length;
    this.unstoredCommands++;
    const prior = this.published;
    this.published = Promise.all([prior, ...stores]).then(
      ([ok]) => {
        this.unstoredCommands--;
        // Every command before this one is stored too (the chain): one acknowledgement covers them.
        if (ok && (m.seq === this.applied || m.seq - this.acked >= ACK_EVERY)) {
          m.ack();
          this.acked = m.seq;
        }
        this.windowMoved();
        return ok;
      },
      (err: unknown) => {
        this.unstoredCommands--;
        this.windowMoved();
        this.options.onError?.(err, "publish events");
        void this.messages?.close();
        return false;
      },
    );
    this.snapshotIfDue();
    return true;
  }

  /**
   * The state again as it was before the command that threw: the newest snapshot, then the
   * commands after it replayed without those that threw (`threw`). Events up to lastEventSeq are
   * stored already and not published again; what the throwing command caused before it threw is
   * never published. A later owner meets the same throw at the same place and does the same, so
   * every owner's state is that of the commands without the throwing ones, as the single process
   * rebuilds from its store without the command.
   */
  private async rebuild(): Promise<void> {
    await this.saving; // a snapshot being stored is the newest to rebuild from
    const { snapshot } = await readSnapshot(this.cluster, this.partition, this.options);
    this.pipelineNow = snapshot === undefined ? new Pipeline(this.options.pipeline) : Pipeline.fromState(WasmKernel.restore(snapshot.kernel), snapshot.state, this.options.pipeline);
    this.applied = snapshot?.seq ?? 0;
    this.clock = snapshot?.at ?? 0;
    for (const seq of this.threw) if (seq <= this.applied) this.threw.delete(seq);
    // The replay from the snapshot counts again towards the next one.
    this.sinceSnapshot = 0;
    this.replayMs = 0;
    this.rebuilding = false; // failed before here, the partition stops with it set: no snapshot
  }


  /** Snapshots when due, in its turn among the engine's partitions (the pacer). */
  private snapshotIfDue(): void {
    if (this.stopped || this.rebuilding || this.saving !== undefined || this.awaitingPacer || !this.snapshotDue()) return;
    this.awaitingPacer = true;
    this.pacer.turn(async () => {
      this.awaitingPacer = false;
      if (this.stopped || this.rebuilding || this.saving !== undefined || !this.snapshotDue()) return;
      await this.snapshot().catch((err: unknown) => this.options.onError?.(err, "snapshot"));
    });
  }

  /**
   * checkCommand then applyCommand, as the journal replay does; a refused command changes nothing
   * and causes nothing. Undefined: it threw inside applyCommand (a bug, or a batch that is not
   * canonical published on the subject by something else), reported refused `internal_error`; the
   * state may be part-changed and is rebuilt without it (rebuild). Thrown on, it stopped the
   * partition, and every next owner at the same command: the partition's patients unwatched.
   */
  private apply(entry: JournalEntry): LifecycleEvent[] | undefined {
    if (this.threw.has(entry.pos)) return []; // the rebuild's replay: skipped, as it was
    try {
      checkCommand(this.pipelineNow, entry);
    } catch (err) {
      // The ingest answered already; a refusal here (an ack of an alert resolved meanwhile) is final.
      this.options.onReport?.({ kind: "refused", partition: this.partition, seq: entry.pos, code: err instanceof VarselError ? err.code : "invalid_body" });
      return [];
    }
    try {
      return applyCommand(this.pipelineNow, entry).events;
    } catch (err) {
      this.rebuilding = true; // until rebuilt: no snapshot of this state
      this.threw.add(entry.pos);
      this.options.onError?.(err, `apply of command ${entry.pos}`);
      this.options.onReport?.({ kind: "refused", partition: this.partition, seq: entry.pos, code: "internal_error" });
      return undefined;
    }
  }

  /** Due by the cadence (replay budget, count, time); the pacer decides when. */
  private snapshotDue(): boolean {
    if (this.sinceSnapshot === 0) return false;
    const o = this.options;
    const since = performance.now() - this.lastSnapshotAt;
    return this.replayMs >= (o.snapshotReplayBudgetMs ?? DEFAULT_PARTITION_REPLAY_BUDGET_MS) || this.sinceSnapshot >= (o.snapshotEveryCommands ?? 10_000) || since >= (o.snapshotEveryMs ?? DEFAULT_PARTITION_SNAPSHOT_EVERY_MS);
  }

  /** Captures the state now; stores it once the events up to here are stored. */
  private async save(): Promise<void> {
    const started = performance.now();
    this.pacer.begin();
    let covered: { commands: number; replayMs: number } | undefined;
    let stored = false;
    try {
      const { kernel, state } = this.pipelineNow.exportState();
      const snapshot: PartitionSnapshot = { format: SNAPSHOT_FORMAT, partition: this.partition, seq: this.applied, at: this.clock, kernel, state };
      const bytes = packr.pack(snapshot);
      covered = { commands: this.sinceSnapshot, replayMs: this.replayMs };
      this.sinceSnapshot = 0;
      this.replayMs = 0;
      this.lastSnapshotAt = performance.now();
      if (!(await this.published)) return;
      await this.cluster.snapshots.putBlob({ name: snapshotName(this.partition) }, bytes);
      stored = true;
      this.options.onReport?.({ kind: "snapshot", partition: this.partition, seq: snapshot.seq, bytes: bytes.byteLength, ms: performance.now() - started });
    } finally {
      // Paced by the whole snapshot, put included: the object store's client hashes and writes
      // every chunk on this thread (a CPU profile of bench:cluster at 20 000 patients / 400 000
      // readings: sha256 12 % and socket writes 20 % of the engine, the nats-server busy storing;
      // paced by the capture alone, the engine drained 0.9 k readings/s instead of ~6 k).
      this.pacer.end(performance.now() - started);
      if (!stored && covered !== undefined) {
        // Still to be replayed from the previous snapshot: due again as before.
        this.sinceSnapshot += covered.commands;
        this.replayMs += covered.replayMs;
      }
      this.saving = undefined;
    }
  }
}

/** A stream message decoded as an object, or undefined (undecodable, or not an object). */
function decodeObject<T>(data: Uint8Array): Partial<T> | undefined {
  let message: unknown;
  try {
    message = decodeBody<unknown>(data);
  } catch {
    return undefined;
  }
  return typeof message === "object" && message !== null ? (message as Partial<T>) : undefined;
}

/** A commands-stream message, or undefined when it is not one (undecodable, no clock time, no command). */
function readCommandMessage(data: Uint8Array): CommandMessage | undefined {
  const message = decodeObject<CommandMessage>(data);
  const command = message?.command;
  if (typeof message?.at !== "number" || !Number.isFinite(message.at) || typeof command !== "object" || command === null || typeof command.kind !== "string") return undefined;
  return message as CommandMessage;
}

/** An events-stream message, or undefined when it is not one (undecodable, no partition, no event with a type, an alert event without its alert). */
export function readEventMessage(data: Uint8Array): EventMessage | undefined {
  const message = decodeObject<EventMessage>(data);
  const event = message?.event as (LifecycleEvent & { alert?: unknown }) | undefined;
  if (!Number.isSafeInteger(message?.partition) || typeof event !== "object" || event === null || typeof event.type !== "string") return undefined;
  if (event.type !== "review" && event.type !== "silence" && (typeof event.alert !== "object" || event.alert === null)) return undefined;
  return message as EventMessage;
}

function snapshotName(partition: number): string {
  return `p${partition}`;
}

/** The partition's newest snapshot, or undefined (none, or of another layout: the stream from the start rebuilds it). */
async function readSnapshot(cluster: Cluster, partition: number, options: PartitionOptions): Promise<{ snapshot: PartitionSnapshot | undefined; bytes: number; readMs: number }> {
  const started = performance.now();
  const bytes = await cluster.snapshots.getBlob(snapshotName(partition));
  const readMs = performance.now() - started;
  if (bytes === null) return { snapshot: undefined, bytes: 0, readMs };
  const snapshot = packr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as PartitionSnapshot;
  if (snapshot.format !== SNAPSHOT_FORMAT || snapshotLayoutVersion(snapshot.kernel) !== LAYOUT_VERSION || snapshot.partition !== partition) {
    options.onError?.(new Error(`snapshot of partition ${partition} has another layout: replaying its commands from the start`), "restore");
    return { snapshot: undefined, bytes: bytes.byteLength, readMs };
  }
  return { snapshot, bytes: bytes.byteLength, readMs };
}

/** The number of the partition's last event in the events stream (0: none). */
async function lastPublishedSeq(cluster: Cluster, partition: number): Promise<number> {
  const { jsm, names } = cluster;
  // null when the stream holds none; any other failure throws (guessing 0 would publish every event again).
  const last = await jsm.streams.getMessage(names.eventStream, { last_by_subj: names.eventSubject(partition) });
  if (last === null) return 0;
  const seq = eventSeq(last.data);
  return seq ?? (await largestEventSeq(cluster, partition, last.seq));
}

/** An event message's event number, or undefined when the message is not one. */
function eventSeq(data: Uint8Array): number | undefined {
  const seq = readEventMessage(data)?.event.seq;
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/**
 * The largest event number among the partition's messages up to stream sequence `upTo`: the last
 * one is not an event (published on the subject by something else). Thrown, it stopped every
 * owner's start of the partition; read only then (it reads the partition's whole events).
 */
async function largestEventSeq(cluster: Cluster, partition: number, upTo: number): Promise<number> {
  // One subject as a string: filter_subject, which servers before 2.10 take too.
  const consumer = await cluster.js.consumers.get(cluster.names.eventStream, { filter_subjects: cluster.names.eventSubject(partition), deliver_policy: DeliverPolicy.All });
  const delivered = await consumer.consume();
  let largest = 0;
  for await (const m of delivered) {
    largest = Math.max(largest, eventSeq(m.data) ?? 0);
    if (m.seq >= upTo) break;
  }
  await delivered.close();
  return largest;
}
