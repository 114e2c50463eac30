// The client-facing side of a cluster node with the ingest and/or gateway role: one HTTP and
// WebSocket listener running the single process's code paths (server/http/measurements.ts,
// server/ws/hub.ts and session.ts: auth, scope, rate limits, backpressure, the protocol) on a
// cluster context instead of a local pipeline:
// - ingest: POST /v1/measurements and socket `ingest` publish to the commands stream and answer
//   once JetStream stored them (command-sink.ts says what the answer can and cannot say);
// - gateway: socket `subscribe` (snapshot, events, resume by the events stream's sequence) and
//   `ack` from the folded events stream (alert-view.ts).
// - ingest: the admin changes (patients, thresholds, silences, acks) over HTTP, published the same
//   way and answered 202 once stored (write-routes.ts).
// Every other HTTP route of the single process (reads of patients, alerts, thresholds, audit) is
// not served by these nodes: not_found.
import type { Logger } from "pino";
import { VarselError } from "../../engine/errors.js";
import { Auth, bearerToken, type AuthOptions } from "../auth.js";
import { DEFAULT_LIMITS, type AlertReads, type SocketContext } from "../context.js";
import { postMeasurements } from "../http/measurements.js";
import { replyError } from "../http/respond.js";
import { Router } from "../http/router.js";
import { Metrics } from "../metrics.js";
import { logRefusals } from "../observe.js";
import { createTransport } from "../transport/select.js";
import type { HttpRequest, HttpResponse, Transport, TransportKind } from "../transport/types.js";
import { Hub } from "../ws/hub.js";
import { ClusterAlertView } from "./alert-view.js";
import { ClusterCommandSink } from "./command-sink.js";
import type { Cluster } from "./streams.js";
import { addWriteRoutes } from "./write-routes.js";

const TEXT = { "content-type": "text/plain; charset=utf-8" };

export interface FrontOptions {
  ingest: boolean;
  gateway: boolean;
  auth: AuthOptions;
  logger: Logger;
  transport?: TransportKind;
  now?: () => number;
  /** A gateway's resume window (VARSEL_EVENT_RETENTION_COUNT / _AGE); it also bounds what a gateway reads at start. */
  eventWindow?: { maxEvents?: number; maxAgeMs?: number };
}

/** Reads of a node without the gateway role: nothing to subscribe to here. */
const NO_ALERTS: AlertReads = {
  patient: () => undefined,
  teamsOf: () => [],
  lifecycle: {
    get: () => {
      throw notServed();
    },
    since: () => {
      throw notServed();
    },
    snapshot: () => {
      throw notServed();
    },
    lastSeq: () => 0,
  },
};

function notServed(): VarselError {
  return new VarselError("not_found", "alerts are served by gateway nodes (this node runs without --role gateway)");
}

export class ClusterFront {
  private transport: Transport | undefined;
  private stopping = false;

  private constructor(
    private readonly options: FrontOptions,
    private readonly ctx: SocketContext,
    private readonly hub: Hub,
    private readonly view: ClusterAlertView | undefined,
    private readonly sink: ClusterCommandSink,
  ) {}

  /** Builds the node's context; a gateway first restores its view's snapshot and folds the events stream up to its end (alert-view.ts). */
  static async open(cluster: Cluster, options: FrontOptions): Promise<ClusterFront> {
    const now = options.now ?? Date.now;
    const view = options.gateway
      ? await ClusterAlertView.start(cluster, { ...options.eventWindow, onError: (err, what) => options.logger.error({ err, what }, `cluster: ${what} failed`) })
      : undefined;
    if (view !== undefined) options.logger.info(view.started, "gateway view restored");
    const metrics = new Metrics();
    let hub: Hub | undefined;
    const sink = new ClusterCommandSink(cluster, { ingest: options.ingest, view, now });
    const ctx: SocketContext = {
      durable: sink,
      pipeline: view ?? NO_ALERTS,
      auth: new Auth(options.auth, logRefusals(options.logger)),
      metrics,
      limits: { ...DEFAULT_LIMITS },
      logger: options.logger,
      now,
      batchStarted: (at) => hub?.batchStarted(at),
      releasedSeq: () => hub?.releasedSeq ?? 0,
    };
    hub = new Hub(ctx);
    return new ClusterFront(options, ctx, hub, view, sink);
  }

  /** Starts listening; resolves the port (0 = a free one). */
  async listen(port: number, host: string): Promise<number> {
    const router = new Router()
      .on("GET", "/healthz", () => ({ status: 200, headers: TEXT, body: "ok" }))
      .on("GET", "/readyz", () => (this.stopping ? { status: 503, headers: TEXT, body: "not ready" } : { status: 200, headers: TEXT, body: "ready" }))
      .on("GET", "/metrics", async () => {
        const { contentType, body } = await this.ctx.metrics.exposition();
        return { status: 200, headers: { "content-type": contentType }, body };
      })
      .on("POST", "/v1/measurements", async (req) => {
        const token = bearerToken(req.headers.authorization);
        if (token === undefined) throw new VarselError("unauthorized", "send Authorization: Bearer <token>");
        return postMeasurements(this.ctx, req, await this.ctx.auth.verify(token));
      });
    if (this.options.ingest) addWriteRoutes(router, this.ctx, this.sink);
    this.transport = await createTransport(
      { http: (req) => this.answer(req, () => router.handle(req)), ws: this.hub.route(), maxBodyBytes: this.ctx.limits.maxBodyBytes, logger: this.ctx.logger },
      this.options.transport,
    );
    const actual = await this.transport.listen(port, host);
    this.ctx.logger.info({ host, port: actual, transport: this.transport.kind, ingest: this.options.ingest, gateway: this.options.gateway }, "varsel listening");
    return actual;
  }

  /** Closes the sockets with a reason, waits for requests in flight, stops folding. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.hub.shutdown();
    await this.transport?.close();
    await this.view?.stop();
  }

  private async answer(req: HttpRequest, handle: () => Promise<HttpResponse>): Promise<HttpResponse> {
    try {
      return await handle();
    } catch (err) {
      const e = err instanceof VarselError ? err : new VarselError("internal_error");
      if (!(err instanceof VarselError)) this.ctx.logger.error({ err, method: req.method, path: req.path }, "request failed");
      this.ctx.metrics.requestsRejected.inc({ code: e.code });
      return replyError(e.code, e.message, e.details);
    }
  }
}
