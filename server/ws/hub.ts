// All sockets of the server: the upgrade decision, the sessions, the fan-out of lifecycle events
// and heartbeats. Fan-out: the events of one durable flush are collected and delivered together
// (a microtask later, before the callers' answers), each encoded once per format, and queued on
// each recipient session, which writes what a tick gave it in one write (Session.flushOutbox). Sessions
// are indexed by the teams and patients of their scope, so an event costs its recipients, not
// every subscriber.
import { VarselError } from "../../engine/errors.js";
import type { LifecycleEvent } from "../../engine/lifecycle/types.js";
import { encode, type Format } from "../codec.js";
import type { SocketContext } from "../context.js";
import type { SelectProtocol, SocketConn, SocketHandlers, WebSocketRoute } from "../transport/types.js";
import { bearerToken } from "../auth.js";
import { CLOSE, chooseFormat, tokenOf } from "./protocols.js";
import { Session } from "./session.js";
import { SubscriberIndex } from "./subscribers.js";

export const WS_PATH = "/v1/ws";

/** Heartbeats go out in this many slices of the interval: 1 000 sockets at once would stall the loop. */
const HEARTBEAT_SLICES = 10;

/** The alert-transition metric's kind for an event (undefined: not a transition). */
const TRANSITION_KIND: Record<string, string | undefined> = {
  raised: "raise",
  resolved: "resolve",
  "updated:upgraded": "upgrade",
  "updated:downgraded": "downgrade",
};

export class Hub {
  private readonly sessions = new Map<number, Session>();
  /** The role each session is counted as in the clients gauge. */
  private readonly countedRole = new Map<Session, string>();
  private readonly subscribers = new SubscriberIndex<Session>();
  private readonly heartbeat: NodeJS.Timeout;
  private heartbeatSlice = 0;
  private readonly unlisten: () => void;
  private batchStart: bigint | undefined;
  /** Events released by the current durable flush, not yet delivered. */
  private outbox: LifecycleEvent[] = [];
  /** The last event number released by a durable flush (see AppContext.releasedSeq). */
  releasedSeq: number;

  constructor(private readonly ctx: SocketContext) {
    // Events arrive once durable (engine/durable): nothing is pushed that a restart could lose.
    this.releasedSeq = ctx.pipeline.lifecycle.lastSeq(); // nothing is pending before the first command
    const unlistenEvents = ctx.durable.onEvent((event) => this.publish(event));
    const unlistenRecovery = ctx.durable.onRecovered(() => this.resyncAll());
    this.unlisten = () => {
      unlistenEvents();
      unlistenRecovery();
    };
    this.heartbeat = setInterval(() => this.beat(), ctx.limits.heartbeatMs / HEARTBEAT_SLICES);
    this.heartbeat.unref();
  }

  /** The WebSocket route for the transport. */
  route(): WebSocketRoute {
    return {
      path: WS_PATH,
      selectProtocol: this.selectProtocol,
      handlers: this.handlers,
      maxMessageBytes: this.ctx.limits.maxBodyBytes,
      maxBackpressureBytes: this.ctx.limits.maxSocketBufferBytes * 2,
    };
  }

  /** Marks the start of an ingest batch (HTTP or socket) for the ingest → push histogram. */
  batchStarted(at: bigint): void {
    this.batchStart = at;
  }

  /** Closes every socket with a reason and stops the heartbeat. */
  shutdown(): void {
    clearInterval(this.heartbeat);
    this.unlisten();
    for (const s of this.sessions.values()) s.close(CLOSE.shutdown, "shutting_down");
  }

  /**
   * Decided synchronously, token unverified: the session verifies it once the socket is open and
   * closes with a code and reason a browser can read (an HTTP 401 on the upgrade shows in a
   * browser only as 1006). A synchronous upgrade also keeps clear of uWebSockets issue 1928
   * (see server/transport/uws.ts).
   */
  private readonly selectProtocol: SelectProtocol = (offered, req) => {
    const token = tokenOf(offered) ?? bearerToken(req.headers.authorization);
    if (token !== undefined) req.userData.token = token;
    const format = chooseFormat(offered);
    if (format !== undefined || offered.length === 0) return format;
    // A browser that offered only its token must be answered with an offered protocol: JSON then.
    const bearer = offered.find((p) => p.startsWith("bearer."));
    if (bearer !== undefined) return bearer;
    throw new VarselError("invalid_message", "offer varsel.v1.json or varsel.v1.msgpack as a subprotocol");
  };

  private readonly handlers: SocketHandlers = {
    open: (conn: SocketConn) => {
      const session = new Session(conn, this.ctx, (s) => this.track(s));
      this.sessions.set(conn.id, session);
      this.countAs(session, session.role);
    },
    message: (conn, data) => this.sessions.get(conn.id)?.onMessage(data),
    close: (conn) => {
      const session = this.sessions.get(conn.id);
      if (session === undefined) return;
      this.sessions.delete(conn.id);
      session.dispose();
      this.countAs(session, undefined);
    },
  };

  /** A session's role or subscription changed (authenticated, subscribed, re-scoped or gone). */
  private track(session: Session): void {
    // A session whose socket is gone never subscribes again, whatever was still on its way.
    this.subscribers.set(session, this.sessions.has(session.id) ? session.subscription : undefined);
    this.ctx.metrics.subscriptions.set(this.subscribers.size);
    if (this.sessions.has(session.id)) this.countAs(session, session.role);
  }

  /**
   * Moves a session in the clients gauge from the role it was counted as to `role` (undefined:
   * gone). Per change, not a recount: recounting every session on each open made a handshake
   * storm of 12 000 sockets quadratic (seconds of CPU, the bystander's POST p99 at 10 s).
   */
  private countAs(session: Session, role: string | undefined): void {
    const was = this.countedRole.get(session);
    if (was === role) return;
    if (was !== undefined) this.ctx.metrics.clients.dec({ role: was });
    if (role === undefined) this.countedRole.delete(session);
    else {
      this.countedRole.set(session, role);
      this.ctx.metrics.clients.inc({ role });
    }
  }

  private publish(event: LifecycleEvent): void {
    if (this.outbox.length === 0) {
      queueMicrotask(() => {
        try {
          this.deliver();
        } catch (err) {
          this.ctx.logger.error({ err }, "event delivery failed"); // a microtask throw would end the process
        }
      });
    }
    this.outbox.push(event);
    this.releasedSeq = Math.max(this.releasedSeq, event.seq);
  }

  /** Sends the collected events: per session, its frames in event order under one cork. */
  private deliver(): void {
    const events = this.outbox;
    this.outbox = [];
    let sent = 0;
    for (const event of events) {
      const encoded: Partial<Record<Format, string | Buffer>> = {};
      for (const session of this.subscribers.candidates(event.patient, event.teams)) {
        if (!session.wants(event)) continue;
        // Queued only: each session writes what a tick gave it at the tick's end, in one write.
        session.sendEncoded((encoded[session.format] ??= encode({ type: "event", event }, session.format)));
        sent++;
      }
      this.countTransition(event);
    }
    this.ctx.metrics.eventsPushed.inc(sent);
    if (this.batchStart !== undefined && sent > 0) {
      this.ctx.metrics.ingestToPushSeconds.observe(Number(process.hrtime.bigint() - this.batchStart) / 1e9);
    }
  }

  private countTransition(event: LifecycleEvent): void {
    if (event.type === "silence" || event.type === "review") return;
    const kind = TRANSITION_KIND[event.type === "updated" ? `updated:${event.change}` : event.type];
    if (kind !== undefined) this.ctx.metrics.alertTransitions.inc({ kind, priority: event.alert.priority });
  }

  /**
   * The engine rebuilt itself from the store: what subscribers were shown from memory only (a
   * snapshot's state, numbers past the last commit) is gone, and numbering continues from the
   * last commit. Every subscription gets resync_required and a fresh snapshot.
   */
  private resyncAll(): void {
    this.releasedSeq = this.ctx.pipeline.lifecycle.lastSeq();
    for (const session of this.subscribers.all()) session.resync();
  }

  /** One slice of the subscribed sessions gets its heartbeat (each session once per interval). */
  private beat(): void {
    const slice = this.heartbeatSlice;
    this.heartbeatSlice = (slice + 1) % HEARTBEAT_SLICES;
    const seq = this.releasedSeq;
    let i = 0;
    for (const session of this.subscribers.all()) {
      if (i++ % HEARTBEAT_SLICES === slice) session.send({ type: "heartbeat", seq, at: this.ctx.now() });
    }
  }
}
