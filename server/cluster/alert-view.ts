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
// gateway. Starting folds the whole stream (its retention is 30 days): fine for a region's
// volume of alert events; a snapshot of the view for faster starts is future work (docs/cluster.md).
import { DeliverPolicy, type ConsumerMessages } from "@nats-io/jetstream";
import { VarselError } from "../../engine/errors.js";
import { admits, EventLog, scopeFilter, type ScopeFilter } from "../../engine/lifecycle/event-log.js";
import type { Alert, LifecycleEvent, Scope, SinceResult, Snapshot } from "../../engine/lifecycle/types.js";
import { decodeBody } from "../../engine/store/codec.js";
import type { AlertReads } from "../context.js";
import type { EventMessage } from "./partition.js";
import { qualifyId } from "./partitions.js";
import type { Cluster } from "./streams.js";

type Listener = { cb: (event: LifecycleEvent) => void; filter: ScopeFilter };

export class ClusterAlertView implements AlertReads {
  private log = new EventLog(0);
  private readonly open = new Map<string, Alert>();
  private readonly teams = new Map<string, string[]>();
  private readonly listeners = new Set<Listener>();
  private messages: ConsumerMessages | undefined;

  private constructor(private readonly options: { maxEvents?: number; maxAgeMs?: number }) {}

  /** Starts folding; resolves once the view holds every event the stream held at the start. */
  static async start(cluster: Cluster, options: { maxEvents?: number; maxAgeMs?: number } = {}): Promise<ClusterAlertView> {
    const view = new ClusterAlertView(options);
    const stream = cluster.names.eventStream;
    const last = (await cluster.jsm.streams.info(stream)).state.last_seq;
    const consumer = await cluster.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    view.messages = await consumer.consume();
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    if (last === 0) caughtUp();
    void (async () => {
      for await (const m of view.messages!) {
        view.fold(m.seq, decodeBody<EventMessage>(m.data));
        if (m.seq >= last) caughtUp();
      }
    })();
    await ready;
    return view;
  }

  /** Stops reading the stream. */
  async stop(): Promise<void> {
    await this.messages?.close();
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
