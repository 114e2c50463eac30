// The SQLite stores' writer thread (one per process): a connection of its own to each store's
// database file, running the writes the stores post (sqlite-writes.ts) one at a time, in order,
// answering each with its result or its error as a catalogued code. Reads stay on the main
// thread's connections (WAL: readers see every committed write and never wait for the writer).
import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { storeError } from "./codec.js";
import { configure, runWrite, type Write } from "./sqlite-writes.js";

type Request =
  | { id: number; open: { path: string; busyTimeoutMs: number } }
  | { id: number; conn: number; write: Write }
  | { id: number; close: number };

const port = parentPort!;
const conns = new Map<number, Database.Database>();
let nextConn = 1;

port.on("message", (m: Request) => {
  const op = "open" in m ? "open writer" : "close" in m ? "close writer" : m.write.op;
  try {
    if ("open" in m) {
      const db = new Database(m.open.path, { timeout: m.open.busyTimeoutMs });
      configure(db, false);
      const conn = nextConn++;
      conns.set(conn, db);
      port.postMessage({ id: m.id, result: conn });
    } else if ("close" in m) {
      conns.get(m.close)?.close();
      conns.delete(m.close);
      port.postMessage({ id: m.id, result: 0 });
    } else {
      const c = conns.get(m.conn);
      if (c === undefined) throw new Error(`no writer connection ${m.conn}`);
      port.postMessage({ id: m.id, result: runWrite(c, m.write) });
    }
  } catch (err) {
    const e = storeError(err, "sqlite", op);
    port.postMessage({ id: m.id, error: { code: e.code, message: e.message, details: e.details } });
  }
});
