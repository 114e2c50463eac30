// Wires the pipeline to the outside: HTTP routes and the WebSocket hub on a transport
// (uWebSockets.js, or the ws fallback), the clock that drives missing data and escalation,
// and graceful shutdown.
import { pino, type Logger } from "pino";
import { VarselError } from "../engine/errors.js";
import { Pipeline, type PipelineOptions } from "../engine/pipeline.js";
import { Auth, type AuthOptions } from "./auth.js";
import { DEFAULT_LIMITS, type AppContext, type Limits } from "./context.js";
import { buildRouter } from "./http/routes.js";
import { replyError } from "./http/respond.js";
import { Metrics } from "./metrics.js";
import { createTransport } from "./transport/select.js";
import type { HttpRequest, HttpResponse, Transport, TransportKind } from "./transport/types.js";
import { Hub } from "./ws/hub.js";

export interface ServerOptions {
  auth: AuthOptions;
  pipeline?: Pipeline;
  pipelineOptions?: PipelineOptions;
  limits?: Partial<Limits>;
  logger?: Logger;
  transport?: TransportKind;
  /** The clock; tests pass a controllable one. */
  now?: () => number;
  /** How often the clock is ticked (missing data, timers, escalation); 0 = never (tests tick by hand). */
  tickMs?: number;
  metrics?: Metrics;
}

export class VarselServer {
  readonly pipeline: Pipeline;
  readonly metrics: Metrics;
  readonly auth: Auth;
  private readonly ctx: AppContext;
  private readonly hub: Hub;
  private transport: Transport | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly options: ServerOptions) {
    const metrics = options.metrics ?? new Metrics();
    this.metrics = metrics;
    this.pipeline =
      options.pipeline ??
      new Pipeline({ ...options.pipelineOptions, onBatch: (seconds) => metrics.kernelBatchSeconds.observe(seconds) });
    this.auth = new Auth(options.auth);
    const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? "info" });
    this.ctx = {
      pipeline: this.pipeline,
      auth: this.auth,
      metrics: this.metrics,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      logger,
      now: options.now ?? Date.now,
      ready: () => !this.stopping && this.transport !== undefined,
      batchStarted: (at) => this.hub.batchStarted(at),
    };
    this.hub = new Hub(this.ctx);
    this.metrics.countOpenAlertsWith(() => {
      const counts: Record<string, number> = { high: 0, medium: 0, low: 0 };
      for (const a of this.pipeline.lifecycle.list({ state: ["firing", "cleared_awaiting_ack"] })) counts[a.priority]++;
      return counts;
    });
  }

  /** The transport in use ("uws" or "ws"). */
  get transportKind(): TransportKind | undefined {
    return this.transport?.kind;
  }

  /** Starts listening; resolves the port (0 = a free one). */
  async listen(port: number, host = "127.0.0.1"): Promise<number> {
    const router = buildRouter(this.ctx);
    this.transport = await createTransport(
      {
        http: (req) => this.answer(req, () => router.handle(req)),
        ws: this.hub.route(),
        maxBodyBytes: this.ctx.limits.maxBodyBytes,
        logger: this.ctx.logger,
      },
      this.options.transport,
    );
    const actual = await this.transport.listen(port, host);
    const tickMs = this.options.tickMs ?? 1000;
    if (tickMs > 0) this.ticker = setInterval(() => this.tick(), tickMs);
    this.ctx.logger.info({ port: actual, transport: this.transport.kind }, "varsel listening");
    return actual;
  }

  /** Advances the clock once (missing data, pending timers, silences, escalation). */
  tick(): void {
    try {
      this.pipeline.tick(this.ctx.now());
    } catch (err) {
      this.ctx.logger.error({ err }, "tick failed");
    }
  }

  /** Stops accepting, closes sockets with a reason, waits for in-flight requests. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.ticker);
    this.hub.shutdown();
    await this.transport?.close();
    this.ctx.logger.info("varsel stopped");
  }

  private async answer(req: HttpRequest, handle: () => Promise<HttpResponse>): Promise<HttpResponse> {
    try {
      return await handle();
    } catch (err) {
      if (!(err instanceof VarselError)) {
        this.ctx.logger.error({ err, method: req.method, path: req.path }, "request failed");
        return replyError("internal_error");
      }
      this.metrics.requestsRejected.inc({ code: err.code });
      return replyError(err.code, err.message, err.details);
    }
  }
}
