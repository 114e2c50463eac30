// VarselClient: the alert stream and the clinician's commands behind one object. It keeps the
// subscription across reconnects, delivers every event once and in order, keeps the open alerts,
// and settles commands on the server's answers.
import { OpenAlerts } from "./alerts.js";
import type { BackoffOptions } from "./backoff.js";
import type { Format } from "./codec.js";
import { HttpApi, PendingAnswers, type SilenceRequest, type TimeInput } from "./commands.js";
import { Connection, type Status, type TokenSource, type WebSocketConstructor } from "./connection.js";
import { closedError, CommandError } from "./errors.js";
import type { Unsubscribe } from "./feed.js";
import { Feed } from "./feed.js";
import { EventOrder, type Update } from "./ordering.js";
import type { AckResultMessage, Alert, AlertEvent, Authenticated, Scope, ServerMessage, Silence, StoredReading } from "./protocol.js";

export interface ClientOptions {
  /** The server: "https://varsel.example.org" (a board served by varsel: `location.origin`). */
  url: string;
  /** A token, or a function that returns a fresh one (called for every connection and before expiry). */
  token: TokenSource;
  /** Wire format (subprotocol varsel.v1.json or varsel.v1.msgpack); default "json". */
  format?: Format;
  /** The WebSocket class: default `globalThis.WebSocket` (browsers); in Node pass `ws`'s default export. */
  WebSocket?: WebSocketConstructor;
  /** Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Reconnect when nothing arrives for this long; default 35 000 (the server sends a heartbeat every 15 s). */
  heartbeatTimeoutMs?: number;
  /** Give up on a socket not authenticated within this time; default 10 000. */
  connectTimeoutMs?: number;
  /** With a token function: refresh this long before expiry; default 60 000. */
  refreshBeforeMs?: number;
  reconnect?: BackoffOptions;
  /** A listener threw or a frame could not be read; default console.error. */
  onError?: (error: unknown) => void;
}

export class VarselClient {
  private readonly connection: Connection;
  private readonly http: HttpApi;
  private readonly order = new EventOrder();
  private readonly open = new OpenAlerts();
  private readonly answers = new PendingAnswers();
  private readonly updateFeed: Feed<Update>;
  private scope: Scope | undefined;
  /** The scope the server last accepted: it keeps that one when a new one is refused. */
  private acceptedScope: Scope | undefined;
  /** Callers of subscribe() waiting for the current subscribe's answer. */
  private subscribing: { id: string; waiters: { resolve: () => void; reject: (e: CommandError) => void }[] } | undefined;
  private subscribes = 0;
  private closed = false;
  private readonly onError: (error: unknown) => void;

  constructor(options: ClientOptions) {
    const onError = (this.onError = options.onError ?? ((error: unknown) => console.error("varsel client:", error)));
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketImpl === undefined) throw new TypeError("no WebSocket: pass one (in Node: import WebSocket from 'ws')");
    const base = options.url.replace(/\/+$/, "").replace(/^ws(s?):/, "http$1:").replace(/\/v1\/ws$/, "");
    this.updateFeed = new Feed(onError);
    this.connection = new Connection(
      {
        url: `${base.replace(/^http/, "ws")}/v1/ws`,
        format: options.format ?? "json",
        WebSocket: WebSocketImpl,
        token: options.token,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 35_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        refreshBeforeMs: options.refreshBeforeMs ?? 60_000,
        backoff: options.reconnect ?? {},
        onError,
      },
      { opened: () => this.resubscribe(), message: (m) => this.receive(m), lost: () => this.lost() },
    );
    // After close() every command and read rejects with `closed`.
    this.http = new HttpApi(base, () => (this.closed ? Promise.reject(closedError()) : this.connection.token()), options.fetch ?? globalThis.fetch.bind(globalThis));
    this.connection.start();
  }

  // -- connection --------------------------------------------------------------------------

  /** connecting → open → reconnecting (attempt, delay) → … → closed. */
  get status(): Status {
    return this.connection.status;
  }

  /** Calls `listener` with the status now and on every change. */
  onStatus(listener: (status: Status) => void): Unsubscribe {
    const stop = this.connection.statuses.listen(listener);
    listener(this.status);
    return stop;
  }

  /** Status changes from now on (ends when the client closes). */
  statuses(): AsyncIterableIterator<Status> {
    return this.connection.statuses.iterate();
  }

  /** Authenticates again, with `token` or a fresh one from the token function; settles on the server's answer. */
  refreshToken(token?: string): Promise<Authenticated> {
    return this.connection.refresh(token);
  }

  /** Closes the socket for good; waiting commands reject with `closed`, iterators end. */
  close(): void {
    this.closed = true;
    this.connection.close();
    this.answers.failAll(closedError());
    this.finishSubscribing(closedError());
    this.updateFeed.end();
  }

  // -- the alert stream --------------------------------------------------------------------

  /**
   * Follows these teams and/or patients (neither: all of the token's teams), replacing an
   * earlier scope. Resolves once the server has answered (snapshot, or resume after a
   * reconnect); rejects with `forbidden` for a scope outside the token. Kept across reconnects.
   */
  subscribe(scope: Scope = {}): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (!sameScope(scope, this.scope)) this.order.reset();
    this.scope = { ...scope };
    const waiter = new Promise<void>((resolve, reject) => {
      const previous = this.subscribing?.waiters ?? [];
      this.subscribing = { id: `subscribe-${++this.subscribes}`, waiters: [...previous, { resolve, reject }] };
    });
    this.resubscribe();
    return waiter;
  }

  /** Stops following; the open alerts are forgotten. */
  unsubscribe(): void {
    this.scope = this.acceptedScope = undefined;
    this.order.unsubscribe();
    this.order.reset();
    this.connection.send({ type: "unsubscribe", id: "unsubscribe" });
    this.applyUpdate({ type: "unsubscribed", reason: "unsubscribed by the client" });
    this.finishSubscribing(new CommandError("closed", "unsubscribed before the server answered"));
  }

  /** Calls `listener` with every update (snapshot, event), once each, in order. */
  onUpdate(listener: (update: Update) => void): Unsubscribe {
    return this.updateFeed.listen(listener);
  }

  /** Updates from now on (ends when the client closes). */
  updates(): AsyncIterableIterator<Update> {
    return this.updateFeed.iterate();
  }

  /** The open alerts in scope by id, current with the updates delivered so far. */
  get alerts(): ReadonlyMap<string, Alert> {
    return this.open.byId;
  }

  /** The highest event number applied (null before the first snapshot). */
  get cursor(): number | null {
    return this.order.cursor;
  }

  // -- commands ----------------------------------------------------------------------------

  /**
   * Acknowledges an alert; resolves with the alert as the server answered (the `acknowledged`
   * event has been delivered by then when the alert is in scope). Rejects with the catalogued
   * code (`not_found` also for an alert outside your teams, `alert_not_open`, `forbidden`), or
   * `connection_lost` when the socket dropped before the answer (it may have been applied:
   * acknowledging again is harmless).
   */
  async ack(alert: string, note?: string): Promise<Alert> {
    if (this.closed) throw closedError();
    if (!this.connection.isOpen) return this.http.ack(alert, note); // the same answer over HTTP
    const { id, answer } = this.answers.create("ack");
    this.connection.send({ type: "ack", id, alert, note });
    return ((await answer) as AckResultMessage).alert;
  }

  /** Silences an alert's rule for its patient until `until`, with a reason; resolves with the silence. */
  snooze(alert: Pick<Alert, "patient" | "rule">, until: TimeInput, reason: string): Promise<Silence> {
    return this.http.silence({ patient: alert.patient, rule: alert.rule, until, reason });
  }

  /** Creates a silence (a patient, a rule, or both); resolves with it. */
  silence(request: SilenceRequest): Promise<Silence> {
    return this.http.silence(request);
  }

  /** Ends a silence; resolves with it (`state: "removed"`). */
  unsilence(id: string): Promise<Silence> {
    return this.http.unsilence(id);
  }

  // -- reads over HTTP (for views the stream does not carry) -------------------------------------

  /** Alerts, open and resolved in the last 24 h (GET /v1/alerts; repeated values are alternatives). */
  listAlerts(
    query: { patient?: string; state?: Alert["state"][]; priority?: Alert["priority"][]; level?: Alert["level"][]; since?: TimeInput } = {},
  ): Promise<{ alerts: Alert[]; seq: number }> {
    return this.http.request("GET", `/v1/alerts${queryString(query)}`);
  }

  /** An alert and every lifecycle event of it, oldest first. */
  history(alert: string): Promise<{ alert: Alert; events: AlertEvent[] }> {
    return this.http.request("GET", `/v1/alerts/${encodeURIComponent(alert)}/history`);
  }

  /** A patient's stored readings, newest first. */
  readings(patient: string, query: { metric?: string; from?: TimeInput; to?: TimeInput; limit?: number } = {}): Promise<{ readings: StoredReading[] }> {
    return this.http.request("GET", `/v1/patients/${encodeURIComponent(patient)}/readings${queryString(query)}`);
  }

  /** Active silences (with `ended`: also those ended in the last 24 h). */
  listSilences(ended = false): Promise<{ silences: Silence[] }> {
    return this.http.request("GET", `/v1/silences${ended ? "?ended=true" : ""}`);
  }

  // -- internals -------------------------------------------------------------------------

  private resubscribe(): void {
    if (this.scope === undefined) return;
    this.subscribing ??= { id: `subscribe-${++this.subscribes}`, waiters: [] };
    // Not open yet: `opened` calls this again, with the same id while unanswered.
    this.connection.send(this.order.subscribe(this.subscribing.id, this.scope));
  }

  private receive(message: ServerMessage): void {
    const update = this.order.accept(message);
    if (update?.type === "unsubscribed") this.scope = this.acceptedScope = undefined; // not to be renewed on reconnect
    if (update) this.applyUpdate(update);
    if (this.subscribing !== undefined && "id" in message && message.id === this.subscribing.id) {
      if (message.type === "snapshot" || message.type === "subscribed") {
        this.acceptedScope = this.scope;
        this.finishSubscribing();
      } else if (message.type === "error" && message.code !== "resync_required") {
        // Refused: the server kept the earlier subscription; follow it again from a snapshot.
        this.finishSubscribing(new CommandError(message.code, message.message, message.details));
        this.scope = this.acceptedScope;
        this.order.reset();
        if (this.scope === undefined) this.order.unsubscribe();
        else this.resubscribe();
      }
      return;
    }
    if (this.answers.settle(message) || message.type !== "error" || message.code === "resync_required") return;
    // An error about no command of ours (rate_limited, a frame the server could not read): a client bug to see.
    this.onError(new CommandError(message.code, message.message, message.details));
  }

  private applyUpdate(update: Update): void {
    this.open.apply(update);
    this.updateFeed.emit(update);
  }

  private finishSubscribing(error?: CommandError): void {
    const waiting = this.subscribing;
    this.subscribing = undefined;
    for (const w of waiting?.waiters ?? []) error ? w.reject(error) : w.resolve();
  }

  private lost(): void {
    this.order.lost();
    this.answers.failAll(new CommandError("connection_lost", "the connection was lost before the server answered"));
  }
}

function sameScope(a: Scope, b: Scope | undefined): boolean {
  const key = (s: Scope) => JSON.stringify([s.teams ?? null, s.patients ?? null]);
  return b !== undefined && key(a) === key(b);
}

function queryString(query: Record<string, TimeInput | TimeInput[] | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined) params.append(key, String(v instanceof Date ? v.getTime() : v));
    }
  }
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}
