// The ingest thread (VARSEL_INGEST_THREADS=1): WebSocket frames are decoded, checked and, for an
// ingest, validated and journal-encoded on a worker (frame-prep.ts), so that the main thread
// only admits, evaluates, applies and commits: the second core does the rest.
//
// One worker, one FIFO: frames are prepared in the order they arrived, and each socket awaits its
// own frames' answers in its queue's order anyway (session.ts), so a socket's frames stay in
// order. Partitions by patient (the scale-out issue's) are untouched: this thread holds no state.
//
// The worker starts with the first frame (a server that never sees a socket frame starts none);
// until it has loaded (under tsx, about a second), frames are prepared on the main thread: a
// server takes frames from its first second on, never queued behind the worker's start.
//
// A worker that dies (a crash, out of memory) loses nothing: the frames it held are prepared on
// the main thread from the bytes kept here, and a new worker is started; after MAX_RESTARTS the
// main thread prepares every frame itself. No reading is acknowledged before its commit anyway.
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../engine/worker.js";
import type { Format } from "../codec.js";
import { prepareFrame, withNames, type PreparedFrame } from "./frame-prep.js";
import type { FrameRequest } from "./frame-worker.js";

/** Workers started again after a crash before the main thread takes over for good. */
export const MAX_RESTARTS = 5;

interface Waiting {
  data: Uint8Array;
  format: Format;
  now: number;
  resolve: (frame: PreparedFrame) => void;
}

export class FrameThread {
  private worker: Worker | undefined;
  /** The worker has loaded its entry (frames before that are prepared here). */
  private loaded = false;
  private seq = 0;
  /** Frames sent to the worker and not yet answered, by seq (in send order). */
  private readonly waiting = new Map<number, Waiting>();
  private restarts = 0;
  private closed = false;
  /** The current worker's names by number (frame-prep.ts Names), extended message by message. */
  private names: string[] = [];
  private started = false;

  constructor(
    private readonly maxBatchItems: number,
    /**
     * Told when a worker died: `rescued` frames it held were prepared on the main thread;
     * `restarted` false once the main thread took over for good.
     */
    private readonly onCrash: (err: unknown, restarted: boolean, rescued: number) => void = () => {},
    /** Encode an ingest's journal bytes (false for a server without a store: it keeps no journal). */
    private readonly journal = true,
  ) {}

  /** Starts the first worker (once; not after close). */
  private startOnce(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.start();
  }

  /** True while there is a worker (false after MAX_RESTARTS crashes or close). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** Resolves once a worker takes frames (tests; a server does not wait for it). */
  async ready(): Promise<void> {
    this.startOnce();
    while (this.worker !== undefined && !this.loaded) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** The frame prepared (never rejects: a refused frame is `{error}`). `now`: the clock at arrival. */
  prepare(data: Uint8Array, format: Format, now: number): Promise<PreparedFrame> {
    this.startOnce();
    const worker = this.worker;
    if (worker === undefined || !this.loaded) return Promise.resolve(here(data, format, now, this.maxBatchItems, this.journal));
    const seq = ++this.seq;
    // The worker gets a copy it owns (the transport's buffer may be a view of a larger one); the
    // original is kept until the answer, to prepare it here if the worker dies.
    const bytes = new Uint8Array(data);
    const request: FrameRequest = { seq, bytes, format, now, maxBatchItems: this.maxBatchItems, journal: this.journal };
    return new Promise((resolve) => {
      this.waiting.set(seq, { data, format, now, resolve });
      worker.postMessage(request, [bytes.buffer]);
    });
  }

  /** Ends the worker as a crash would (tests): what it held is prepared here, a new one started. */
  async crashForTest(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Stops the worker; frames still waiting are prepared on this thread. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.drain();
    await worker?.terminate();
  }

  private start(): void {
    const worker = startWorker(import.meta.url, "frame-worker");
    worker.unref(); // a server that was not closed must not be kept alive by its ingest thread
    worker.on("message", (m: { seq: number; frame: PreparedFrame } | { ready: true }) => {
      if (this.worker !== worker) return; // a dead worker's frames were prepared here
      if ("ready" in m) {
        this.loaded = true;
        return;
      }
      const w = this.waiting.get(m.seq);
      if (w === undefined) return;
      try {
        // In message order: the names it numbered first are added before a later frame refers to them.
        this.names = withNames(m.frame, this.names);
      } catch (err) {
        die(err); // out of step (a bug): this frame and the rest are prepared here
        return;
      }
      this.waiting.delete(m.seq);
      w.resolve(m.frame);
    });
    let died = false;
    const die = (err: unknown): void => {
      if (died || this.worker !== worker) return;
      died = true;
      this.worker = undefined;
      this.loaded = false;
      void worker.terminate();
      const rescued = this.drain();
      if (this.closed) return;
      const restart = this.restarts < MAX_RESTARTS;
      this.onCrash(err, restart, rescued);
      if (restart) {
        this.restarts++;
        this.start();
      }
    };
    worker.on("error", die);
    worker.on("messageerror", die);
    worker.on("exit", (code) => die(new Error(`ingest thread exited with code ${code}`)));
    this.worker = worker;
  }

  /** Prepares every frame the worker still held on this thread, in send order; answers how many. */
  private drain(): number {
    const held = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of held) w.resolve(here(w.data, w.format, w.now, this.maxBatchItems, this.journal));
    return held.length;
  }
}

/** A frame prepared on this thread, with a numbering of its own. */
function here(data: Uint8Array, format: Format, now: number, maxBatchItems: number, journal: boolean): PreparedFrame {
  const frame = prepareFrame(data, format, now, maxBatchItems, undefined, journal);
  withNames(frame);
  return frame;
}
