// Wires the pipeline to the outside: HTTP routes and the WebSocket hub on a transport
// (uWebSockets.js, or the ws fallback), the clock that drives missing data and escalation,
// and graceful shutdown.
import { pino, type Logger } from "pino";
import { VarselError } from "../engine/errors.js";
import type { BacklogLimits } from "../engine/durable/backlog.js";
import { DurablePipeline, type DurableOptions } from "../engine/durable/durable-pipeline.js";
import type { RetentionPolicy } from "../engine/lifecycle/types.js";
import type { Pipeline, PipelineOptions } from "../engine/pipeline.js";
import type { Store } from "../engine/store/store.js";
import type { VirtualClock } from "../engine/virtual-clock.js";
import { Auth, type AuthOptions } from "./auth.js";
import { DEFAULT_LIMITS, type AppContext, type Limits } from "./context.js";
import { BacktestJobs, type BacktestLimits } from "./http/backtests.js";
import { Cors } from "./http/cors.js";
import { buildRouter } from "./http/routes.js";
import { replyError } from "./http/respond.js";
import { Metrics } from "./metrics.js";
import { logRefusals, observeDurable } from "./observe.js";
import { createTransport } from "./transport/select.js";
import type { HttpRequest, HttpResponse, Transport, TransportKind } from "./transport/types.js";
import { FrameThread } from "./ws/frame-thread.js";
import { Hub } from "./ws/hub.js";

/** How often the engine snapshots and how long it keeps what it stores (see DurableOptions; unset fields keep its defaults). */
export type SnapshotCadence = Pick<DurableOptions, "snapshotReplayBudgetMs" | "snapshotEveryCommands" | "snapshotEveryMs" | "snapshotMaxShare" | "readingRetentionMs" | "eventRetentionMs">;

/** The in-memory event window clients resume from (engine/lifecycle/event-log.ts; unset: its defaults). */
export type EventWindow = Pick<RetentionPolicy, "maxEvents" | "maxAgeMs">;

export interface ServerOptions {
  auth: AuthOptions;
  /** The durable pipeline; default: in memory, nothing persisted (see `VarselServer.open` for a store). */
  durable?: DurablePipeline;
  limits?: Partial<Limits>;
  logger?: Logger;
  transport?: TransportKind;
  /**
   * 1: WebSocket frames are decoded, validated and journal-encoded on an ingest thread
   * (server/ws/frame-thread.ts); 0: on the main thread. Default DEFAULT_INGEST_THREADS.
   */
  ingestThreads?: 0 | 1;
  /** The clock; tests pass a controllable one. */
  now?: () => number;
  /** How often the clock is ticked (missing data, timers, escalation); 0 = never (tests tick by hand). */
  tickMs?: number;
  /**
   * A virtual clock (`serve --clock virtual`, development only): the engine's time, moved only
   * by `POST /v1/clock`; replaces `now`, and nothing ticks on its own.
   */
  clock?: VirtualClock;
  metrics?: Metrics;
  /** Browser origins allowed to call the HTTP API (CORS); "*" for any; default none. */
  corsOrigins?: readonly string[];
  /**
   * Offer `GET /v1/dev/token` (a clinician token without pasting one): only for a server whose
   * secret was generated for development (`npm start` without VARSEL_JWT_SECRET or a JWKS).
   */
  devSignIn?: boolean;
  /** Bounds of uncommitted work past which ingest is refused `overloaded` (engine/durable/backlog.ts). */
  backlog?: Partial<BacklogLimits>;
  /** Alarm behaviour (latching, re-alert, escalation, silence floors, episodes; server/cli/settings.ts reads it from the environment). */
  alarms?: PipelineOptions["lifecycle"];
  /** The in-memory event window clients resume from (count and age; unset: the event log's defaults). */
  eventWindow?: EventWindow;
  /** Backtest jobs: how many run at once, how long and how many finished ones are kept (unset: server/http/backtests.ts's defaults). */
  backtests?: Partial<BacktestLimits>;
}

/** The pipeline's options: kernel batch times to the metrics, the event window and the alarm behaviour to the lifecycle. */
function pipelineOptions(metrics: Metrics, eventWindow: EventWindow = {}, alarms: PipelineOptions["lifecycle"] = {}): DurableOptions["pipeline"] {
  return { onBatch: (seconds) => metrics.kernelBatchSeconds.observe(seconds), lifecycle: { ...alarms, retention: { ...eventWindow } } };
}

/** A host as it goes in a URL (IPv6 addresses in brackets). */
function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Ingest threads when the options do not say (VARSEL_INGEST_THREADS). 0 until bench:server shows
 * the thread pays in its same-run comparison (ws_ingest_threaded_over_single > 1): on the shared
 * 2-core machine it was measured at 0.85 (the thread has no core of its own there and costs about
 * 10 % more CPU per reading), though it takes 40 % of the main thread's work per reading off it.
 */
export const DEFAULT_INGEST_THREADS = 0;

export class VarselServer {
  readonly durable: DurablePipeline;
  readonly metrics: Metrics;
  readonly auth: Auth;
  private readonly ctx: AppContext;
  private readonly hub: Hub;
  private readonly backtests: BacktestJobs;
  private transport: Transport | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopping = false;

  /** A server on a store: recovers the engine from its snapshot and journal first. */
  static async open(options: ServerOptions & { store?: Store } & SnapshotCadence): Promise<VarselServer> {
    const metrics = options.metrics ?? new Metrics();
    const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? "info" });
    const durable = await DurablePipeline.open({
      store: options.store,
      now: options.clock?.now ?? options.now,
      snapshotEveryMs: options.snapshotEveryMs,
      snapshotEveryCommands: options.snapshotEveryCommands,
      snapshotReplayBudgetMs: options.snapshotReplayBudgetMs,
      snapshotMaxShare: options.snapshotMaxShare,
      readingRetentionMs: options.readingRetentionMs,
      eventRetentionMs: options.eventRetentionMs,
      backlog: options.backlog,
      pipeline: pipelineOptions(metrics, options.eventWindow, options.alarms),
      onError: (err, what) => logger.error({ err, what }, "durability"),
      onReport: observeDurable(logger, metrics),
    });
    return new VarselServer({ ...options, metrics, logger, durable });
  }

  constructor(private readonly options: ServerOptions) {
    const metrics = options.metrics ?? new Metrics();
    this.metrics = metrics;
    const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? "info" });
    this.durable =
      options.durable ??
      DurablePipeline.inMemory({ now: options.clock?.now ?? options.now, backlog: options.backlog, pipeline: pipelineOptions(metrics, options.eventWindow, options.alarms) });
    this.auth = new Auth(options.auth, logRefusals(logger));
    const durable = this.durable;
    this.ctx = {
      durable,
      get pipeline() {
        return durable.pipeline;
      },
      auth: this.auth,
      metrics: this.metrics,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      logger,
      devSignIn: options.devSignIn === true && options.auth.secret !== undefined,
      now: options.clock?.now ?? options.now ?? Date.now,
      clock: options.clock,
      ready: () => !this.stopping && this.transport !== undefined && durable.ready(),
      batchStarted: (at) => this.hub.batchStarted(at),
      releasedSeq: () => this.hub.releasedSeq,
    };
    if ((options.ingestThreads ?? DEFAULT_INGEST_THREADS) > 0) {
      this.ctx.frames = new FrameThread(
        this.ctx.limits.maxBatchItems,
        (err, restarted, rescued) =>
          logger.error({ err, restarted, rescued }, restarted ? "ingest thread died: its frames were prepared on the main thread, a new one started" : "ingest thread died again: the main thread prepares every frame from now on"),
        durable.store !== undefined, // without a store there is no journal to encode for
      );
    }
    this.hub = new Hub(this.ctx);
    this.backtests = new BacktestJobs(this.ctx, options.backtests);
    this.metrics.countOpenAlertsWith(() => {
      const counts: Record<string, number> = { high: 0, medium: 0, low: 0 };
      for (const a of this.durable.pipeline.lifecycle.list({ state: ["firing", "cleared_awaiting_ack"] })) counts[a.priority]++;
      return counts;
    });
  }

  /** The ingest thread WebSocket frames are prepared on (undefined: VARSEL_INGEST_THREADS=0). */
  get ingestThread(): FrameThread | undefined {
    return this.ctx.frames;
  }

  /** The current in-memory pipeline (reads). */
  get pipeline(): Pipeline {
    return this.durable.pipeline;
  }

  /** The transport in use ("uws" or "ws"). */
  get transportKind(): TransportKind | undefined {
    return this.transport?.kind;
  }

  /** Starts listening; resolves the port (0 = a free one). */
  async listen(port: number, host = "127.0.0.1"): Promise<number> {
    const router = buildRouter(this.ctx, this.backtests);
    const cors = new Cors(this.options.corsOrigins);
    this.transport = await createTransport(
      {
        http: (req) => cors.answer(req, () => this.answer(req, () => router.handle(req))),
        ws: this.hub.route(),
        maxBodyBytes: this.ctx.limits.maxBodyBytes,
        logger: this.ctx.logger,
      },
      this.options.transport,
    );
    const actual = await this.transport.listen(port, host);
    const tickMs = this.options.clock !== undefined ? 0 : (this.options.tickMs ?? 1000);
    if (tickMs > 0) this.ticker = setInterval(() => void this.tick(), tickMs);
    this.ctx.logger.info({ host, port: actual, transport: this.transport.kind, url: `http://${urlHost(host)}:${actual}` }, "varsel listening");
    return actual;
  }

  /** Advances the clock once (missing data, pending timers, silences, escalation); resolves when durable. */
  async tick(): Promise<void> {
    try {
      await this.durable.execute({ kind: "tick" });
    } catch (err) {
      if (err instanceof VarselError && err.code === "store_unavailable") return;
      this.ctx.logger.error({ err }, "tick failed");
    }
  }

  /** Stops accepting, closes sockets with a reason, waits for in-flight requests. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.ticker);
    this.backtests.close();
    this.hub.shutdown();
    await this.transport?.close();
    await this.ctx.frames?.close();
    await this.durable.close();
    this.ctx.logger.info("varsel stopped");
  }

  private async answer(req: HttpRequest, handle: () => Promise<HttpResponse>): Promise<HttpResponse> {
    try {
      return await handle();
    } catch (err) {
      if (!(err instanceof VarselError)) {
        this.ctx.logger.error({ err, method: req.method, path: req.path }, "request failed");
        this.metrics.requestsRejected.inc({ code: "internal_error" });
        return replyError("internal_error");
      }
      this.metrics.requestsRejected.inc({ code: err.code });
      return replyError(err.code, err.message, err.details);
    }
  }
}
