// The gateway's view of the alerts: it folds the events stream (P_EVT, every partition) in stream
// order, from its first message, into what the WebSocket protocol serves (docs/websocket.md):
// - the open alerts (a new subscriber's snapshot), kept from each alert's latest event;
// - a window of recent events for resume (engine/lifecycle/event-log.ts, the single process's);
// - each patient's care teams as of its latest event (scope checks).
// An event's number (`seq`) is its stream sequence: one number line over every partition, with
// no gaps and no repeats (the engines publish each event once under a message id, the stream
// drops copies), so a client resumes from it exactly as from a single process. Alert and
// silence ids carry their partition (`a-3@7`, partitions.ts qualifyId).
//
// Every gateway folds the same stream into the same view, so a client may resume on another
// gateway.
//
// A start reads only what it needs: the view's newest snapshot (`gateway-view` in the snapshots
// object store: the open alerts and the patients' teams as of stream sequence S, written by the
// gateways every snapshotEveryMs and when they stop) and the stream from
//
//   from = min(S + 1, last − maxEvents + 1)      (never before the stream's first message)
//
// i.e. what came after the snapshot, and the resume window (VARSEL_EVENT_RETENTION_COUNT, as the
// single process; the age bound only drops more). Folding again events at or before S changes
// nothing: each alert and patient takes its latest event's state, and the events from `from` to S
// end with the same latest ones the snapshot holds. Without a snapshot, or with one older than
// the stream's first message (events after it expired), the whole stream is folded as before.
// Gateways overwrite each other's snapshots; any of them is a valid start (the same stream gives
// the same view at S).
import { Packr } from "msgpackr";
import { DeliverPolicy, type ConsumerMessages } from "@nats-io/jetstream";
import { VarselError } from "../../engine/errors.js";
import { admits, DEFAULT_MAX_EVENTS, EventLog, scopeFilter, type ScopeFilter } from "../../engine/lifecycle/event-log.js";
import type { Alert, LifecycleEvent, Scope, SinceResult, Snapshot } from "../../engine/lifecycle/types.js";
import type { AlertReads } from "../context.js";
import { readEventMessage, type EventMessage } from "./partition.js";
import { qualifyId } from "./partitions.js";
import type { Cluster } from "./streams.js";

type Listener = { cb: (event: LifecycleEvent) => void; filter: ScopeFilter };

const packr = new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false });
/** The view's snapshot in the snapshots object store (beside the partitions' p<N>). */
export const VIEW_SNAPSHOT = "gateway-view";
const VIEW_SNAPSHOT_FORMAT = 1;

interface ViewSnapshot {
  format: number;
  /** The events stream sequence of the last event folded into it. */
  seq: number;
  open: Alert[];
  teams: [string, string[]][];
}

export interface AlertViewOptions {
  /** The resume window: events kept (default DEFAULT_MAX_EVENTS) ... */
  maxEvents?: number;
  /** ... and for how long (default DEFAULT_MAX_EVENT_AGE_MS). */
  maxAgeMs?: number;
  /** Write the view's snapshot this often when events were folded since (default 60 000 ms; 0: only by saveSnapshot). */
  snapshotEveryMs?: number;
  onError?: (err: unknown, what: string) => void;
}

/** Where a start began: the snapshot it restored (undefined: none usable), the first sequence it read and the stream's last then. */
export interface ViewStart {
  snapshotSeq: number | undefined;
  from: number;
  last: number;
}

export class ClusterAlertView implements AlertReads {
  private log: EventLog;
  private readonly open = new Map<string, Alert>();
  private readonly teams = new Map<string, string[]>();
  private readonly listeners = new Set<Listener>();
  private messages: ConsumerMessages | undefined;
  private timer: NodeJS.Timeout | undefined;
  private savedSeq = 0;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly cluster: Cluster,
    private readonly options: AlertViewOptions,
    readonly started: ViewStart,
  ) {
    this.log = new EventLog(started.from - 1, options.maxEvents, options.maxAgeMs);
  }

  /** Starts folding from its snapshot and the resume window; resolves once the view holds every event the stream held at the start. */
  static async start(cluster: Cluster, options: AlertViewOptions = {}): Promise<ClusterAlertView> {
    const stream = cluster.names.eventStream;
    const { first_seq: first, last_seq: last } = (await cluster.jsm.streams.info(stream)).state;
    // Unreadable (another gateway replacing it this moment, a damaged object): fold the stream instead.
    let snapshot = await readViewSnapshot(cluster).catch((err: unknown) => (options.onError?.(err, "view snapshot read"), undefined));
    // Too old (events after it expired) or of another stream (recreated): fold what there is.
    if (snapshot !== undefined && (snapshot.seq + 1 < first || snapshot.seq > last)) snapshot = undefined;
    const windowFrom = Math.max(first, last - (options.maxEvents ?? DEFAULT_MAX_EVENTS) + 1, 1);
    const from = snapshot === undefined ? Math.max(first, 1) : Math.min(snapshot.seq + 1, windowFrom);
    const view = new ClusterAlertView(cluster, options, { snapshotSeq: snapshot?.seq, from, last });
    if (snapshot !== undefined) {
      for (const alert of snapshot.open) view.open.set(alert.id, alert);
      for (const [patient, teams] of snapshot.teams) view.teams.set(patient, teams);
      view.savedSeq = snapshot.seq;
    }
    const consumer = await cluster.js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    view.messages = await consumer.consume();
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    if (from > last) caughtUp();
    void (async () => {
      for await (const m of view.messages!) {
        try {
          const message = readEventMessage(m.data);
          // Not an event (published on the subject by something else): skipped. Thrown, it ended the
          // gateway process, and every gateway again at its start. Skipped, it is a gap: resuming across it is resync_required.
          if (message === undefined) options.onError?.(new Error(`events stream message ${m.seq} is not an event: skipped`), "fold");
          else view.fold(m.seq, message);
        } catch (err) {
          options.onError?.(err, "fold");
        } finally {
          if (m.seq >= last) caughtUp();
        }
      }
    })();
    await ready;
    const every = options.snapshotEveryMs ?? 60_000;
    if (every > 0) {
      view.timer = setInterval(() => void view.saveSnapshot().catch((err: unknown) => options.onError?.(err, "view snapshot")), every);
      view.timer.unref();
    }
    return view;
  }

  /** Stops reading the stream, after a last snapshot of the view. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.saveSnapshot().catch((err: unknown) => this.options.onError?.(err, "view snapshot"));
    await this.messages?.close();
  }

  /** Writes the view's snapshot when it folded events since the last one (a later start reads it). */
  async saveSnapshot(): Promise<void> {
    const write = async () => {
      const seq = this.log.lastSeq();
      if (seq <= this.savedSeq) return;
      // Captured at once: folding is synchronous, so this is the view exactly as of `seq`.
      const snapshot: ViewSnapshot = { format: VIEW_SNAPSHOT_FORMAT, seq, open: [...this.open.values()], teams: [...this.teams.entries()] };
      await this.cluster.snapshots.putBlob({ name: VIEW_SNAPSHOT }, packr.pack(snapshot));
      this.savedSeq = seq;
    };
    this.saving = this.saving.catch(() => undefined).then(write);
    await this.saving;
  }

  patient(id: string): unknown {
    return this.teams.has(id) ? { id } : undefined;
  }

  teamsOf(patient: string): readonly string[] {
    return this.teams.get(patient) ?? [];
  }

  readonly lifecycle = {
    get: (id: string): Alert => {
      const open = this.open.get(id);
      if (open !== undefined) return open;
      throw new VarselError("not_found", `alert ${id} not found`);
    },
    since: (seq: number, scope?: Scope): SinceResult => this.log.since(seq, scope),
    /** The open alerts in scope, current at the last folded event (`asOf` is always that number: events are released as they are folded). */
    snapshot: (scope: Scope = {}): Snapshot => {
      const f = scopeFilter(scope);
      return { seq: this.log.lastSeq(), alerts: [...this.open.values()].filter((a) => admits(f, a.patient, a.teams)) };
    },
    lastSeq: (): number => this.log.lastSeq(),
  };

  /** Listens to events as they are folded (the hub's live feed). */
  onEvent(cb: (event: LifecycleEvent) => void, scope: Scope = {}): () => void {
    const listener = { cb, filter: scopeFilter(scope) };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private fold(seq: number, message: EventMessage): void {
    const event = qualified(message.event, message.partition, seq);
    // A gap (messages removed from the stream) starts a new window: resuming across it is resync_required.
    if (seq !== this.log.lastSeq() + 1) this.log = new EventLog(seq - 1, this.options.maxEvents, this.options.maxAgeMs);
    this.log.append(event);
    if (event.patient !== undefined) this.teams.set(event.patient, event.teams);
    if ("alert" in event) {
      if (event.alert.state === "resolved") this.open.delete(event.alert.id);
      else this.open.set(event.alert.id, event.alert);
    }
    for (const l of this.listeners) if (admits(l.filter, event.patient, event.teams)) l.cb(event);
  }
}

/** An engine's event as the cluster's clients see it: numbered by its stream sequence, ids qualified with the partition. */
export function qualified(event: LifecycleEvent, partition: number, seq: number): LifecycleEvent {
  const q = (id: string) => qualifyId(id, partition);
  if (event.type === "review") return { ...event, seq };
  if (event.type === "silence") return { ...event, seq, silence: { ...event.silence, id: q(event.silence.id) } };
  const a = event.alert;
  const alert: Alert = { ...a, id: q(a.id), episode: q(a.episode), silencedBy: a.silencedBy.map((s) => ({ ...s, id: q(s.id) })) };
  if (a.inhibitedBy !== undefined) alert.inhibitedBy = { ...a.inhibitedBy, alert: q(a.inhibitedBy.alert) };
  const out = { ...event, seq, alert };
  if (event.silence !== undefined) out.silence = { ...event.silence, id: q(event.silence.id) };
  return out;
}

/** The view's newest snapshot, or undefined (none, or of another format: the stream is folded instead). */
async function readViewSnapshot(cluster: Cluster): Promise<ViewSnapshot | undefined> {
  const bytes = await cluster.snapshots.getBlob(VIEW_SNAPSHOT);
  if (bytes === null) return undefined;
  const snapshot = packr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as ViewSnapshot;
  return snapshot.format === VIEW_SNAPSHOT_FORMAT ? snapshot : undefined;
}
