// Where the SQLite store's writes run: on a worker thread with its own connection (a file), so
// the event loop goes on reading sockets while a commit inserts and fsyncs (issue 11: a
// commit on the event loop held every other client for its whole duration); or in place, in
// order, for an in-memory database that no second connection can open.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { VarselError, type ErrorCode } from "../errors.js";
import { SerialQueue, storeError } from "./codec.js";
import { runWrite, writeStatements, type Write } from "./sqlite-writes.js";

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
  private readonly s: ReturnType<typeof writeStatements>;

  constructor(private readonly db: Database.Database) {
    this.s = writeStatements(db);
  }

  run(write: Write): Promise<number> {
    return this.queue.run(() => {
      try {
        return runWrite(this.db, this.s, write);
      } catch (err) {
        throw storeError(err, "sqlite", write.op);
      }
    });
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}

/** tsx's ESM loader API, found from this file (not from the working directory). */
function tsxApi(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/index\.cjs$/, "index.mjs")).href;
}

type Answer = { id: number; result?: number; error?: { code: ErrorCode; message: string; details: unknown } };

export class ThreadWriter implements SqliteWriter {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (n: number) => void; reject: (err: unknown) => void }>();
  private gone: VarselError | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: Answer) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new VarselError(m.error.code, m.error.message, m.error.details));
      else w.resolve(m.result ?? 0);
    });
    const fail = (why: string) => {
      this.gone ??= new VarselError("store_unavailable", `sqlite store: the writer thread ${why}`, { store: "sqlite" });
      for (const w of this.waiting.values()) w.reject(this.gone);
      this.waiting.clear();
    };
    worker.on("error", (err) => fail(`failed: ${err.message}`));
    worker.on("exit", (code) => fail(`exited (${code})`));
  }

  /** Starts the thread on the database file (already created and migrated) and waits until it is ready. */
  static async start(path: string, busyTimeoutMs: number): Promise<ThreadWriter> {
    // Under tsx (sources, tests) the thread registers the TypeScript loader before loading its
    // entry (a worker's `--import` is not applied to its entry on Node 20); compiled output needs none.
    const ts = import.meta.url.endsWith(".ts");
    const entry = new URL(`./sqlite-writer-thread.${ts ? "ts" : "js"}`, import.meta.url);
    const worker = ts
      ? new Worker(`import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: { path, busyTimeoutMs } })
      : new Worker(entry, { workerData: { path, busyTimeoutMs } });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: true; failed?: { code: ErrorCode; message: string; details: unknown } }) => {
        if (m.ready) resolve();
        else if (m.failed) reject(new VarselError(m.failed.code, m.failed.message, m.failed.details));
      };
      worker.once("message", onMessage);
      worker.once("error", (err) => reject(storeError(err, "sqlite", "open writer")));
    });
    return new ThreadWriter(worker);
  }

  get alive(): boolean {
    return this.gone === undefined;
  }

  run(write: Write): Promise<number> {
    if (this.gone !== undefined) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, write });
    });
  }

  async close(): Promise<void> {
    if (this.gone !== undefined) return;
    const id = this.nextId++;
    // Posted after every write: the thread answers it once they are done, then ends.
    const done = new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, close: true });
    }).catch(() => undefined);
    this.gone ??= new VarselError("store_unavailable", "sqlite store is closed", { store: "sqlite" });
    await done;
    await this.worker.terminate();
  }
}
