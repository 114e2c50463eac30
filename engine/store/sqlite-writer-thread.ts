// The SQLite store's writer thread: its own connection to the database file, running the
// writes the store posts (sqlite-writes.ts) one at a time, in order, answering each with its
// result or its error as a catalogued code. Reads stay on the main thread's connection (WAL:
// readers see every committed write and never wait for the writer).
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { storeError } from "./codec.js";
import { configure, runWrite, writeStatements, type Write } from "./sqlite-writes.js";

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
const port = parentPort!;
try {
  const db = new Database(path, { timeout: busyTimeoutMs });
  configure(db, false);
  const s = writeStatements(db);
  port.on("message", (m: { id: number; write?: Write; close?: true }) => {
    if (m.close) {
      db.close();
      port.postMessage({ id: m.id, result: 0 });
      port.close();
      return;
    }
    try {
      port.postMessage({ id: m.id, result: runWrite(db, s, m.write!) });
    } catch (err) {
      const e = storeError(err, "sqlite", m.write!.op);
      port.postMessage({ id: m.id, error: { code: e.code, message: e.message, details: e.details } });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  const e = storeError(err, "sqlite", "open writer");
  port.postMessage({ failed: { code: e.code, message: e.message, details: e.details } });
}
