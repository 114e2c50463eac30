// A backtest on a worker thread of its own (thread-entry.ts), seen from the main thread: the
// replay never holds the event loop. Stored readings are handed over as column chunks (their
// buffers transferred, not copied), at most IN_FLIGHT at a time, so a slow replay slows the
// reading of the store instead of filling memory; an upload is parsed on the thread itself.
// Cancelling terminates the thread at once.
import type { Worker } from "node:worker_threads";
import { VarselError, type ErrorCode } from "../errors.js";
import { startWorker } from "../worker.js";
import type { ReadingChunk } from "./backtest.js";
import type { InputFormat } from "./input.js";
import type { OutcomeColumns } from "./outcome.js";
import type { BlockMode } from "./replay.js";
import type { BacktestOptions, BacktestReport } from "./types.js";

/** One refused item of an upload. */
export interface UploadRejection {
  index: number;
  code: ErrorCode;
  message: string;
}

/** Options of a backtest over an upload: the period defaults to the file's days. */
export type UploadOptions = Omit<BacktestOptions, "from" | "to"> & { from?: number; to?: number };

export type ThreadRequest =
  | { type: "stored"; options: BacktestOptions }
  | { type: "shard"; options: BacktestOptions; blocks: BlockMode }
  | { type: "outcome" }
  | { type: "chunk"; chunk: ReadingChunk }
  | { type: "finish" }
  | { type: "upload"; options: UploadOptions; text: string; now: number; format?: InputFormat };

export type ThreadReply =
  | { type: "progress"; readings: number; share: number }
  | { type: "parsed"; total: number; rejected: number; listed: UploadRejection[] }
  | { type: "report"; report: BacktestReport }
  | { type: "outcome"; outcome: OutcomeColumns }
  | { type: "error"; code: ErrorCode; message: string };

/** Chunks sent and not yet replayed: one being replayed, one waiting. */
const IN_FLIGHT = 2;

export interface ThreadProgress {
  /** Readings replayed. */
  readings: number;
  /** Readings in all, once known (an upload once parsed; stored readings once all are read). */
  total: number | null;
  /** Share of the period replayed, by virtual time (0–1). */
  share: number;
}

export class BacktestThread {
  readonly progress: ThreadProgress = { readings: 0, total: null, share: 0 };
  /** An upload's refused items: how many, and the first of them. */
  rejected: { count: number; items: UploadRejection[] } | undefined;
  /** The report; rejects with a VarselError (the job's failure, or `cancelled` when cancelled). */
  readonly report: Promise<BacktestReport>;
  private readonly worker: Worker;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  private settle!: { resolve: (r: BacktestReport) => void; reject: (err: VarselError) => void };

  private constructor(first: ThreadRequest) {
    this.report = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.report.catch(() => {}); // a failure is read from the job, never left unhandled
    this.worker = startWorker(import.meta.url, "thread-entry");
    this.worker.on("message", (m: ThreadReply) => this.receive(m));
    this.worker.on("error", (err) => this.end(new VarselError("internal_error", `the backtest thread failed: ${err.message}`)));
    this.worker.on("exit", () => this.end(new VarselError("internal_error", "the backtest thread ended without a report")));
    this.worker.postMessage(first);
  }

  /** A backtest over readings the caller pushes (stored readings), then `finish`es. */
  static stored(options: BacktestOptions): BacktestThread {
    return new BacktestThread({ type: "stored", options });
  }

  /** A backtest over an uploaded file (NDJSON, JSON, CSV or FHIR), parsed and validated on the thread at `now`. */
  static upload(options: UploadOptions, text: string, now: number, format?: InputFormat): BacktestThread {
    return new BacktestThread({ type: "upload", options, text, now, format });
  }

  /** True once the report came, the job failed, or it was cancelled. */
  get finished(): boolean {
    return this.ended;
  }

  /** Hands a chunk over (its buffers move to the thread); resolves once it may be followed by another. */
  async push(chunk: ReadingChunk): Promise<void> {
    while (this.inFlight >= IN_FLIGHT && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.ended) return;
    this.inFlight++;
    const buffers = [chunk.patient.buffer, chunk.metric.buffer, chunk.time.buffer, chunk.value.buffer] as ArrayBuffer[];
    this.worker.postMessage({ type: "chunk", chunk } satisfies ThreadRequest, buffers);
  }

  /** Every reading was pushed: `total` of them. The report follows. */
  finish(total: number): void {
    if (this.ended) return;
    this.progress.total = total;
    this.worker.postMessage({ type: "finish" } satisfies ThreadRequest);
  }

  /** Stops the replay now (the thread is terminated); the report rejects (backtest_not_done). */
  cancel(): void {
    this.end(new VarselError("backtest_not_done", "the backtest was cancelled"));
  }

  /** Ends the job with `err` (its readings could not be read). */
  fail(err: VarselError): void {
    this.end(err);
  }

  private receive(m: ThreadReply): void {
    switch (m.type) {
      case "progress":
        this.progress.readings = m.readings;
        this.progress.share = m.share;
        if (this.inFlight > 0) this.inFlight--;
        this.wake?.();
        this.wake = undefined;
        break;
      case "parsed":
        this.progress.total = m.total;
        this.rejected = { count: m.rejected, items: m.listed };
        break;
      case "report":
        this.progress.readings = m.report.readings.replayed;
        this.progress.total ??= m.report.readings.replayed;
        this.progress.share = 1;
        this.end(undefined, m.report);
        break;
      case "error":
        this.end(new VarselError(m.code, m.message));
        break;
    }
  }

  private end(err: VarselError | undefined, report?: BacktestReport): void {
    if (this.ended) return;
    this.ended = true;
    if (report !== undefined) this.settle.resolve(report);
    else this.settle.reject(err!);
    this.wake?.();
    void this.worker.terminate();
  }
}
