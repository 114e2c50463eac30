// One WebSocket connection: authentication (subprotocol token or first message), scope,
// subscribe with snapshot or resume, acks, device ingest, rate limit, and backpressure.
import { VarselError } from "../../engine/errors.js";
import { admits, scopeFilter, type ScopeFilter } from "../../engine/lifecycle/event-log.js";
import type { LifecycleEvent, Scope } from "../../engine/lifecycle/types.js";
import { canSeePatient, requireAck, requireIngest, type Principal } from "../auth.js";
import { decode, encode, type Format } from "../codec.js";
import type { SocketContext } from "../context.js";
import { ingestFhirResource, ingestPrepared, ingestReadings } from "../http/measurements.js";
import type { SocketConn } from "../transport/types.js";
import { replayFrame } from "./event-frames.js";
import { openFrame, type PreparedFrame, type PreparedIngest } from "./frame-prep.js";
import { parseClientMessage, type ClientMessage } from "./messages.js";
import { CLOSE, formatOf } from "./protocols.js";
import { RateLimiter, type Verdict } from "./rate-limit.js";

/**
 * Commands (ingest, ack) a socket may have applied but not yet durable; the next one waits for
 * the earlier answers. Keeps memory from running ahead of a stalled store without bound.
 */
export const MAX_COMMANDS_IN_FLIGHT = 64;

export class Session {
  readonly format: Format;
  private principal: Principal | undefined;
  private filter: ScopeFilter | undefined;
  /** Events up to this number are already in what the subscription sent (its snapshot or replay). */
  private floor = 0;
  private scope: { teams?: string[]; patients?: string[] } | undefined;
  private readonly limiter: RateLimiter;
  /** Frames in the queue not yet handled, and their bytes (bounded: see onMessage). */
  private waitingFrames = 0;
  private waitingBytes = 0;
  /** Set when the socket is to be closed for flooding (after the answers before): later frames are dropped unread. */
  private refusing = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Messages are handled one after another, in arrival order (auth is asynchronous). */
  private queue: Promise<void> = Promise.resolve();
  /**
   * The answers of commands (ingest, ack) still waiting for their commit, chained in message
   * order: a command is applied in its turn, but the next message does not wait for its commit.
   */
  private replies: Promise<void> = Promise.resolve();
  /** Commands applied whose answer has not been sent yet. */
  private commandsInFlight = 0;
  /** Frames sent during the current tick, written together at its end (one write, in order). */
  private outbox: (string | Buffer)[] = [];

  constructor(
    private readonly conn: SocketConn,
    private readonly ctx: SocketContext,
    /** Told whenever the role or the subscription changes (authenticated, subscribed, re-scoped, ended). */
    private readonly onChange: (session: Session) => void,
  ) {
    this.format = formatOf(conn.protocol);
    const token = conn.userData.token;
    // A socket that brought a token has its budget at once (its frames wait for the verification,
    // a bad one closes it); one without gets the small budget until its `auth` succeeds.
    const rate = typeof token === "string" ? ctx.limits.messagesPerSecond : ctx.limits.unauthenticatedMessagesPerSecond;
    this.limiter = new RateLimiter(rate, Date.now());
    this.authTimer = setTimeout(() => this.close(CLOSE.unauthorized, "unauthorized: authenticate within the time limit"), ctx.limits.authTimeoutMs);
    // Messages that arrive meanwhile wait in the queue behind the verification.
    if (typeof token === "string") this.queue = this.authenticateOpening(token);
  }

  /** The token of the upgrade (subprotocol or Authorization header): verified, or the socket closes with why. */
  private async authenticateOpening(token: string): Promise<void> {
    try {
      this.authenticated(await this.ctx.auth.verify(token));
    } catch (err) {
      const e = err instanceof VarselError ? err : new VarselError("unauthorized", "invalid token");
      this.ctx.metrics.requestsRejected.inc({ code: e.code });
      this.send({ type: "error", code: e.code, message: e.message });
      this.close(e.code === "token_expired" ? CLOSE.tokenExpired : CLOSE.unauthorized, e.code === "token_expired" ? "token_expired" : `unauthorized: ${e.message}`);
    }
  }

  /** Its connection's id (the hub's key). */
  get id(): number {
    return this.conn.id;
  }

  get role(): string {
    return this.principal?.role ?? "unauthenticated";
  }

  /** The subscription's scope; undefined when not subscribed. */
  get subscription(): ScopeFilter | undefined {
    return this.filter;
  }

  /** True when a subscribed session's scope admits the event. */
  wants(event: LifecycleEvent): boolean {
    return this.filter !== undefined && event.seq > this.floor && admits(this.filter, event.patient, event.teams);
  }

  /**
   * Judges one frame as it arrives, before it is decoded or queued (rate limit, waiting bound),
   * then queues it; frames are handled strictly in arrival order. An unbounded queue judged only
   * when a frame was taken off it held gigabytes under a flood (issue 11).
   */
  onMessage(data: Buffer): Promise<void> {
    if (this.closed || this.refusing) return this.queue;
    const verdict = this.limiter.arrive(Date.now());
    if (verdict !== "admit") {
      this.refuse(verdict);
      return this.queue;
    }
    const { maxWaitingFrames, maxWaitingBytes } = this.ctx.limits;
    const size = data.byteLength;
    if (this.waitingFrames >= maxWaitingFrames || this.waitingBytes + size > maxWaitingBytes) {
      // A client that does not wait for its answers: what it sent is not worth holding.
      this.ctx.metrics.floodDisconnects.inc({ reason: "waiting_bound" });
      this.close(CLOSE.rateLimited, `rate_limited: more than ${maxWaitingFrames} frames or ${maxWaitingBytes} bytes waiting for answers`);
      return this.queue;
    }
    this.waitingFrames++;
    this.waitingBytes += size;
    // With an ingest thread (frame-thread.ts) the frame is prepared there from now on, beside the
    // frames handled meanwhile; it is still handled in its turn.
    const prepared = this.ctx.frames?.prepare(data, this.format, this.ctx.now());
    this.queue = this.queue
      .then(() => this.handle(data, prepared))
      .catch((err: unknown) => this.ctx.logger.error({ err }, "socket message failed"))
      .finally(() => {
        this.waitingFrames--;
        this.waitingBytes -= size;
      });
    return this.queue;
  }

  /** A frame over the budget: dropped unread; the first of a spell is noticed once, and a socket that keeps on is closed. */
  private refuse(verdict: Exclude<Verdict, "admit">): void {
    this.ctx.metrics.framesDropped.inc({ reason: "rate_limited" });
    const rate = this.limiter.rate;
    if (verdict === "notice") {
      const retryAfterMs = this.limiter.retryAfterMs(Date.now());
      // Read nothing more until then: what it keeps sending waits in its own buffers, not our CPU.
      this.conn.pauseReading(retryAfterMs);
      this.ctx.metrics.requestsRejected.inc({ code: "rate_limited" });
      const message = `at most ${rate} messages per second: frames are dropped until you pause`;
      this.afterAnswers(() => this.send({ type: "error", code: "rate_limited", message, details: { retryAfterMs } }));
    } else if (verdict === "close") {
      this.refusing = true;
      this.ctx.metrics.floodDisconnects.inc({ reason: "rate_limited" });
      this.afterAnswers(() => this.close(CLOSE.rateLimited, `rate_limited: kept sending over ${rate} messages per second`));
    }
  }

  /** Runs `f` in the queue's order, once the answers to every earlier frame are sent. */
  private afterAnswers(f: () => void): void {
    this.queue = this.queue
      .then(async () => {
        await this.replies;
        if (!this.closed) f();
      })
      .catch((err: unknown) => this.ctx.logger.error({ err }, "socket message failed"));
  }

  /**
   * Handles one frame; protocol errors are answered, never thrown. Commands (ingest, ack) are
   * applied now and answered once durable, without holding up the next frame (a gateway's frames
   * in flight share commits); every other message first waits until the earlier ones are
   * answered. So a socket's answers come in the order of its messages.
   */
  private async handle(data: Buffer, prepared: Promise<PreparedFrame> | undefined): Promise<void> {
    if (this.closed) return;
    let msg: ClientMessage;
    let ingest: PreparedIngest | undefined;
    try {
      if (prepared === undefined) msg = parseClientMessage(decode(data, this.format));
      else ({ message: msg, ingest } = openFrame(await prepared));
    } catch (err) {
      return this.answerInOrder(Promise.reject(err), undefined);
    }
    if (msg.type === "ingest" || msg.type === "ack") {
      if (this.commandsInFlight >= MAX_COMMANDS_IN_FLIGHT) await this.replies;
      if (this.closed) return;
      this.commandsInFlight++;
      return this.answerInOrder(this.command(msg, ingest), msg);
    }
    await this.replies;
    // The socket may have closed meanwhile: a gone session must not subscribe again.
    if (this.closed) return;
    try {
      await this.dispatch(msg);
    } catch (err) {
      this.sendError(err, msg);
    }
  }

  /** Sends a command's answer (or its error) after the answers of every earlier message. */
  private answerInOrder(answer: Promise<Record<string, unknown>>, msg: ClientMessage | undefined): void {
    const counted = msg?.type === "ingest" || msg?.type === "ack";
    const ready = answer.then(
      (m) => () => this.send(m),
      (err: unknown) => () => this.sendError(err, msg),
    );
    this.replies = this.replies
      .then(() => ready)
      .then((send) => send())
      .catch((err: unknown) => this.ctx.logger.error({ err }, "socket answer failed"))
      .finally(() => {
        if (counted) this.commandsInFlight--;
      });
  }

  private sendError(err: unknown, msg: ClientMessage | undefined): void {
    const e = err instanceof VarselError ? err : new VarselError("internal_error");
    if (!(err instanceof VarselError)) this.ctx.logger.error({ err }, "socket message failed");
    this.ctx.metrics.requestsRejected.inc({ code: e.code });
    const id = msg && "id" in msg ? msg.id : (e.details as { id?: unknown } | undefined)?.id;
    this.send({ type: "error", code: e.code, message: e.message, id: typeof id === "string" ? id : undefined, details: e.details });
  }

  /** Applies an ingest or ack now (synchronously, up to its commit); resolves its answer once durable. */
  private async command(msg: Extract<ClientMessage, { type: "ingest" | "ack" }>, prepared?: PreparedIngest): Promise<Record<string, unknown>> {
    const who = this.principal;
    if (who === undefined) throw new VarselError("unauthorized", "send {type: 'auth', token} first");
    if (msg.type === "ack") {
      requireAck(who, () => this.ctx.pipeline.teamsOf(this.ctx.pipeline.lifecycle.get(msg.alert).patient));
      const acked = await this.ctx.durable.execute({ kind: "ack", alert: msg.alert, by: who.sub, note: msg.note }, { sender: who.sub });
      return { type: "ack_result", id: msg.id, alert: acked };
    }
    const sender = { sub: who.sub, teams: requireIngest(who), channel: "ws" };
    try {
      this.ctx.durable.admitIngest(sender.sub); // before validating the batch: a refused flood costs nothing more
    } catch (err) {
      // Told to come back later: read nothing more from it until then (its frames wait in TCP, not in our CPU).
      if (err instanceof VarselError && err.code === "overloaded") this.conn.pauseReading((err.details as { retryAfterMs: number }).retryAfterMs);
      throw err;
    }
    this.ctx.batchStarted(process.hrtime.bigint());
    const compact = msg.answer !== "full";
    const answer =
      prepared !== undefined
        ? await ingestPrepared(this.ctx, prepared, sender, compact)
        : msg.fhir !== undefined
        ? await ingestFhirResource(this.ctx, msg.fhir, sender, compact)
        : await ingestReadings(this.ctx, msg.readings ?? [], sender, compact);
    return { type: "ingest_result", id: msg.id, ...answer };
  }

  private async dispatch(msg: Exclude<ClientMessage, { type: "ingest" | "ack" }>): Promise<void> {
    if (msg.type === "auth") return this.reauthenticate(await this.ctx.auth.verify(msg.token));
    // Anyone may ping, even before auth (a liveness check must not need a token).
    if (msg.type === "ping") return this.send({ type: "pong", id: msg.id, seq: this.ctx.releasedSeq() });
    const who = this.principal;
    if (who === undefined) throw new VarselError("unauthorized", "send {type: 'auth', token} first");
    switch (msg.type) {
      case "subscribe":
        return this.subscribe(who, msg);
      case "unsubscribe":
        this.filter = undefined;
        this.onChange(this);
        return this.send({ type: "unsubscribed", id: msg.id });
    }
  }

  private subscribe(who: Principal, msg: Extract<ClientMessage, { type: "subscribe" }>): void {
    if (who.role === "device") throw new VarselError("forbidden", "devices cannot subscribe to alerts");
    const { pipeline } = this.ctx;
    for (const patient of msg.patients ?? []) {
      if (pipeline.patient(patient) === undefined || !canSeePatient(who, pipeline.teamsOf(patient))) {
        throw new VarselError("forbidden", "a requested patient is not in your care teams", { patient });
      }
    }
    const outside = who.role === "admin" ? [] : (msg.teams ?? []).filter((t) => !who.teams.includes(t));
    if (outside.length > 0) throw new VarselError("forbidden", "a requested team is not in your token", { teams: outside });
    const scope: Scope = {};
    if (msg.patients !== undefined) scope.patients = msg.patients;
    if (msg.teams !== undefined) scope.teams = msg.teams;
    else if (who.role !== "admin") scope.teams = who.teams;
    // Reading the log and attaching to the live stream happen in one turn: no event falls between.
    this.scope = { teams: scope.teams === undefined ? undefined : [...scope.teams], patients: scope.patients === undefined ? undefined : [...scope.patients] };
    this.filter = scopeFilter(scope);
    this.onChange(this);
    const lifecycle = pipeline.lifecycle;
    if (msg.resumeFrom !== undefined) {
      const missed = lifecycle.since(msg.resumeFrom, scope);
      if (missed.status === "ok") {
        // Replay only what is durable; the events still held for their commit follow live.
        const released = this.ctx.releasedSeq();
        const events = missed.events.filter((e) => e.seq <= released);
        this.floor = Math.max(msg.resumeFrom, Math.min(released, missed.lastSeq));
        this.send({ type: "subscribed", id: msg.id, seq: this.floor, resumedFrom: msg.resumeFrom, replayed: events.length });
        for (const event of events) this.sendEncoded(replayFrame(event, this.format));
        return;
      }
      this.send({ type: "error", id: msg.id, code: "resync_required", message: missed.error.message, details: { oldestSeq: missed.oldestSeq } });
    }
    this.sendSnapshot(scope, msg.id);
  }

  /** The open alerts in scope as of the last durable event; the events still held for their commit follow live. */
  private sendSnapshot(scope: Scope, id?: string): void {
    const snapshot = this.ctx.pipeline.lifecycle.snapshot(scope, this.ctx.releasedSeq());
    this.floor = snapshot.seq;
    this.send({ type: "snapshot", id, seq: snapshot.seq, alerts: snapshot.alerts });
  }

  /** A new token on a live connection: the same identity only (a refresh); the scope is checked again. */
  private reauthenticate(who: Principal): void {
    const was = this.principal;
    if (was !== undefined && (was.sub !== who.sub || was.role !== who.role)) {
      throw new VarselError("forbidden", "a connection keeps its identity: open a new socket for another user");
    }
    if (was !== undefined && this.filter !== undefined && !this.withinTeams(who)) {
      this.filter = undefined;
      this.onChange(this);
      this.send({ type: "unsubscribed", reason: "the new token no longer covers the subscription" });
    }
    this.authenticated(who);
  }

  private withinTeams(who: Principal): boolean {
    if (who.role === "admin") return true;
    const teams = this.scope?.teams ?? [];
    const patients = this.scope?.patients ?? [];
    return teams.every((t) => who.teams.includes(t)) && patients.every((p) => canSeePatient(who, this.ctx.pipeline.teamsOf(p)));
  }

  private authenticated(who: Principal): void {
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    // A token verified after the socket closed: no timer may keep the gone session alive.
    if (this.closed) return;
    this.principal = who;
    this.limiter.setRate(this.ctx.limits.messagesPerSecond, Date.now());
    if (Number.isFinite(who.expiresAt)) {
      // setTimeout cannot wait longer than ~24.8 days; a longer token is re-checked then.
      const wait = Math.min(Math.max(0, who.expiresAt - Date.now()), 2 ** 31 - 1);
      this.expiryTimer = setTimeout(() => {
        if (Date.now() >= who.expiresAt) this.close(CLOSE.tokenExpired, "token_expired");
        else this.authenticated(who);
      }, wait);
    }
    this.onChange(this); // the clients gauge counts by role
    this.send({ type: "authenticated", sub: who.sub, role: who.role, teams: who.teams, expiresAt: Number.isFinite(who.expiresAt) ? who.expiresAt : null });
  }

  /** Replaces what the subscription was sent with a fresh snapshot (after the engine rebuilt itself from the store). */
  resync(): void {
    if (this.closed || this.filter === undefined) return;
    this.send({ type: "error", code: "resync_required", message: "the server rebuilt its state from the store: a fresh snapshot follows" });
    this.sendSnapshot(this.scope ?? {});
  }

  /** Sends a control message. */
  send(message: Record<string, unknown>): void {
    this.sendEncoded(encode(message, this.format));
  }

  /**
   * Queues a frame already encoded in this session's format for the end of the current tick: the
   * answers a group commit releases, and its events, leave in one write instead of one each.
   * Never throws (the write happens later, in flushOutbox).
   */
  sendEncoded(frame: string | Buffer): void {
    if (this.closed) return;
    this.outbox.push(frame);
    if (this.outbox.length === 1) process.nextTick(() => this.flushOutbox());
  }

  /**
   * Writes the queued frames in order under one cork. A client that has not taken the previous
   * writes (more than the buffer limit still queued) or whose queue hit the transport's hard cap
   * is closed as a slow consumer. (Checked before the writes: inside a cork the ws transport
   * counts the corked bytes as queued, however fast the client reads.)
   */
  private flushOutbox(): void {
    const frames = this.outbox;
    if (frames.length === 0 || this.closed) return;
    this.outbox = [];
    try {
      let slow = this.conn.bufferedAmount() > this.ctx.limits.maxSocketBufferBytes;
      const binary = this.format === "msgpack";
      if (!slow) {
        this.conn.cork(() => {
          for (const frame of frames) {
            if (this.conn.send(frame, binary) === "dropped") {
              slow = true;
              break;
            }
          }
        });
      }
      if (slow) {
        this.ctx.metrics.slowClientsDisconnected.inc();
        this.close(CLOSE.slowConsumer, "slow_consumer");
      }
    } catch (err) {
      // Runs from process.nextTick: a throw here would end the process, not just this socket.
      this.ctx.logger.error({ err }, "socket write failed");
      this.dispose();
      this.conn.terminate();
    }
  }

  /** Closes with a reason (what was sent before goes first); idempotent. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flushOutbox();
    if (this.closed) return; // the flush found a slow consumer and closed
    this.closed = true;
    this.dispose();
    this.conn.close(code, reason);
  }

  /** Stops timers; called when the connection is gone. */
  dispose(): void {
    this.closed = true;
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    if (this.filter !== undefined) {
      this.filter = undefined;
      this.onChange(this);
    }
  }
}
