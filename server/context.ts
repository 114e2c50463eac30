// What every route and socket handler shares: the pipeline, auth, metrics, limits, clock, log.
import type { Logger } from "pino";
import type { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { AlertLifecycle } from "../engine/lifecycle/lifecycle.js";
import type { Pipeline } from "../engine/pipeline.js";
import type { VirtualClock } from "../engine/virtual-clock.js";
import type { Auth } from "./auth.js";
import type { FrameThread } from "./ws/frame-thread.js";
import type { Metrics } from "./metrics.js";

export interface Limits {
  /** Largest HTTP body and WebSocket message. */
  maxBodyBytes: number;
  /** Readings (or FHIR entries) in one batch. */
  maxBatchItems: number;
  /** Bytes queued for one socket before it is disconnected as a slow consumer. */
  maxSocketBufferBytes: number;
  /** Socket messages per second per connection (burst: twice that). */
  messagesPerSecond: number;
  /** The same for a socket that opened without a token, until its `auth` succeeds. */
  unauthenticatedMessagesPerSecond: number;
  /**
   * Frames and bytes a socket may have waiting in its queue (received, not yet handled): a
   * client that sends without waiting for answers is closed past either (4029).
   */
  maxWaitingFrames: number;
  maxWaitingBytes: number;
  /** Heartbeat interval for subscribed sockets. */
  heartbeatMs: number;
  /** Time to authenticate after a socket opens. */
  authTimeoutMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxBatchItems: 10_000,
  maxSocketBufferBytes: 1024 * 1024,
  messagesPerSecond: 500,
  // An unauthenticated socket needs an auth and the odd ping: anything more is not a client.
  unauthenticatedMessagesPerSecond: 10,
  // 64 commands are applied ahead of their commits (MAX_COMMANDS_IN_FLIGHT); these bound what
  // waits behind them. The bytes bound memory (4 frames of the largest size); the frame count is
  // above the burst (1000), so that a burst the rate limit allows is never closed for waiting
  // (the ws transport hands over a whole TCP read of frames before any is handled).
  maxWaitingFrames: 1024,
  maxWaitingBytes: 16 * 1024 * 1024,
  heartbeatMs: 15_000,
  authTimeoutMs: 10_000,
};

/**
 * Where commands go and events come from, as sockets and the ingest code paths see it: the
 * durable pipeline in one process; a cluster's ingest or gateway node supplies its own
 * (server/cluster/front.ts: commands published to JetStream, events read from it).
 */
export type CommandSink = Pick<DurablePipeline, "execute" | "admitIngest" | "onEvent" | "onRecovered">;

/** The reads sockets make: whether a patient is known, its teams, and the alerts (lookup, snapshot, resume). */
export interface AlertReads {
  patient(id: string): unknown;
  teamsOf(patient: string): readonly string[];
  readonly lifecycle: Pick<AlertLifecycle, "get" | "since" | "snapshot" | "lastSeq">;
}

/** What the WebSocket hub and the ingest code paths share (a subset of AppContext). */
export interface SocketContext {
  durable: CommandSink;
  readonly pipeline: AlertReads;
  auth: Auth;
  metrics: Metrics;
  limits: Limits;
  logger: Logger;
  /** The clock (tests control it). */
  now(): number;
  /** Marks the start of an ingest batch, for the ingest → push latency histogram. */
  batchStarted(at: bigint): void;
  /**
   * The last event number made durable and handed to the sockets. The lifecycle's own last
   * number may be ahead of it (events held for their group commit): heartbeats, pongs and
   * replays never promise more than this.
   */
  releasedSeq(): number;
  /** The ingest thread WebSocket frames are prepared on (VARSEL_INGEST_THREADS=1); undefined: this thread. */
  frames?: FrameThread;
}

export interface AppContext extends SocketContext {
  /** Every change goes through here: applied, made durable, then announced. */
  durable: DurablePipeline;
  /** The current in-memory pipeline, for reads. */
  readonly pipeline: Pipeline;
  /** Development sign-in (`GET /v1/dev/token`): only when the server signs with a generated development secret. */
  devSignIn: boolean;
  /** The virtual clock `POST /v1/clock` moves; undefined on the system clock. */
  clock: VirtualClock | undefined;
  /** Readiness for /readyz (false while shutting down or when the store is unavailable). */
  ready(): boolean;
}
