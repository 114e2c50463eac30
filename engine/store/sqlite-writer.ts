// Where the SQLite store's writes run: on a worker thread with its own connection (a file), so
// the event loop goes on reading sockets while a commit inserts and fsyncs (issue 11: a
// commit on the event loop held every other client for its whole duration); or in place, in
// order, for an in-memory database that no second connection can open.
import type { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { VarselError, type ErrorCode } from "../errors.js";
import { startWorker } from "../worker.js";
import { SerialQueue, storeError } from "./codec.js";
import { runWrite, type Write } from "./sqlite-writes.js";

export interface SqliteWriter {
  /** Runs a write after every earlier one; resolves with its result (see runWrite). */
  run(write: Write): Promise<number>;
  /** Waits for the writes already posted, then releases the writer. */
  close(): Promise<void>;
  /** False once the writer can take no more writes (its thread ended). */
  readonly alive: boolean;
}

export class InPlaceWriter implements SqliteWriter {
  readonly alive = true;
  private readonly queue = new SerialQueue();

  constructor(private readonly db: Database.Database) {}

  run(write: Write): Promise<number> {
    return this.queue.run(() => {
      try {
        return runWrite(this.db, write);
      } catch (err) {
        throw storeError(err, "sqlite", write.op);
      }
    });
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}

type Answer = { id: number; result?: number; error?: { code: ErrorCode; message: string; details: unknown } };

/**
 * The process's one writer thread, started on first use (a thread per store made each open
 * cost a thread and a loader: a thousand stores in a property test took minutes). It keeps the
 * process alive only while an answer is awaited. If it ends, what waits is refused and the next
 * request starts a new one.
 */
class WriterThread {
  private static current: WriterThread | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (n: number) => void; reject: (err: unknown) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on("message", (m: Answer) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (m.error !== undefined) w.reject(new VarselError(m.error.code, m.error.message, m.error.details));
      else w.resolve(m.result ?? 0);
    });
    const fail = (why: string) => {
      if (WriterThread.current === this) WriterThread.current = undefined;
      const err = new VarselError("store_unavailable", `sqlite store: the writer thread ${why}`, { store: "sqlite" });
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on("error", (err) => fail(`failed: ${err.message}`));
    worker.on("exit", (code) => fail(`exited (${code})`));
  }

  static get(): WriterThread {
    if (WriterThread.current === undefined) {
      WriterThread.current = new WriterThread(startWorker(import.meta.url, "sqlite-writer-thread"));
    }
    return WriterThread.current;
  }

  /** Still the process's writer thread (one that ended is replaced, and its connections with it). */
  get alive(): boolean {
    return WriterThread.current === this;
  }

  request(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<number> {
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }
}

/**
 * The write with its bytes in one buffer of their own, handed over (transferred) to the thread.
 * Posting a view clones its whole ArrayBuffer: a snapshot part is a view into the whole snapshot
 * (quadratic copying), and the bodies are views into msgpackr's shared buffer.
 */
function packed(write: Write): { message: Write; transfer: ArrayBuffer[] } {
  if (write.op === "saveSnapshot" && write.step === "part") {
    const bytes = new Uint8Array(write.bytes); // a copy
    return { message: { ...write, bytes }, transfer: [bytes.buffer] };
  }
  if (write.op !== "commit") return { message: write, transfer: [] };
  const { journal, events, alerts, audit } = write.rows;
  const all = [journal, events, alerts, audit] as { body: Uint8Array }[][];
  let total = 0;
  for (const rows of all) for (const r of rows) total += r.body.byteLength;
  const buffer = new ArrayBuffer(total);
  let at = 0;
  const copy = <R extends { body: Uint8Array }>(rows: R[]): R[] =>
    rows.map((r) => {
      const body = new Uint8Array(buffer, at, r.body.byteLength);
      body.set(r.body);
      at += r.body.byteLength;
      return { ...r, body };
    });
  const rows = { ...write.rows, journal: copy(journal), events: copy(events), alerts: copy(alerts), audit: copy(audit) };
  return { message: { op: "commit", rows } as Write, transfer: [buffer] };
}

/** One store's connection on the writer thread. */
export class ThreadWriter implements SqliteWriter {
  private closed = false;

  private constructor(
    private readonly thread: WriterThread,
    private readonly conn: number,
  ) {}

  /** Opens the store's connection on the writer thread (the file exists and is migrated). */
  static async start(path: string, busyTimeoutMs: number): Promise<ThreadWriter> {
    const thread = WriterThread.get();
    const conn = await thread.request({ open: { path, busyTimeoutMs } });
    return new ThreadWriter(thread, conn);
  }

  get alive(): boolean {
    return !this.closed && this.thread.alive;
  }

  run(write: Write): Promise<number> {
    if (!this.alive) return Promise.reject(new VarselError("store_unavailable", `sqlite store: no writer (${this.closed ? "closed" : "the writer thread ended"})`, { store: "sqlite" }));
    const { message, transfer } = packed(write);
    return this.thread.request({ conn: this.conn, write: message }, transfer);
  }

  /** Waits for the writes already posted (the thread answers in order), then closes the connection. */
  async close(): Promise<void> {
    if (!this.alive) return;
    this.closed = true;
    await this.thread.request({ close: this.conn }).catch(() => undefined);
  }
}
