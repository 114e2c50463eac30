// Every write the SQLite store makes, as plain data (a `Write`) and the one function that runs
// it on a connection. The store runs them on a worker thread (sqlite-writer.ts), so that a
// commit's inserts and its fsync no longer hold the event loop; an in-memory database (tests),
// which a second thread cannot open, runs them in place.
import type Database from "better-sqlite3";
import { conflict, type BatchRows } from "./codec.js";

type Db = Database.Database;

export type Write =
  | { op: "commit"; rows: BatchRows }
  | { op: "saveSnapshot"; step: "begin"; pos: number; seq: number; at: number; kernelLength: number; stateLength: number }
  | { op: "saveSnapshot"; step: "part"; id: number; part: number; bytes: Uint8Array }
  | { op: "saveSnapshot"; step: "complete"; id: number; keep: number }
  | { op: "saveSnapshot"; step: "drop"; id: number }
  | { op: "pruneEvents"; before: number }
  | { op: "pruneReadings"; before: number; rows: number };

/** The durability settings every connection of the store uses. */
export function configure(db: Db, memory: boolean): void {
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  // After a checkpoint, a WAL grown by a large snapshot is truncated back to this size.
  if (!memory) db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
}

function writeStatements(db: Db) {
  return {
    lastPos: db.prepare<[], { pos: number }>("SELECT coalesce(max(pos), 0) AS pos FROM journal"),
    insJournal: db.prepare<[number, number, string, Buffer]>("INSERT INTO journal (pos, at, kind, body) VALUES (?, ?, ?, ?)"),
    insEvent: db.prepare<[number, number, string, string | null, string | null, Buffer]>(
      "INSERT INTO events (seq, at, type, patient, alert_id, body) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    upAlert: db.prepare<[string, string, string, string, number, Buffer]>(
      `INSERT INTO alerts (id, patient, rule, state, updated_at, body) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET patient = excluded.patient, rule = excluded.rule, state = excluded.state,
         updated_at = excluded.updated_at, body = excluded.body`,
    ),
    insReading: db.prepare<[string, string, number, number, string, number, string | null, string | null]>(
      "INSERT INTO readings (patient, metric, time, value, triage, received_at, measurement_id, device) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    insAudit: db.prepare<[number, number, string, string, string, string | null, Buffer]>(
      "INSERT INTO audit (pos, at, actor, action, target, patient, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    insSnapshot: db.prepare<[number, number, number, number, number]>(
      "INSERT INTO snapshots (pos, seq, at, kernel, state, complete, kernel_length, state_length) VALUES (?, ?, ?, x'', x'', 0, ?, ?)",
    ),
    insPart: db.prepare<[number, number, Uint8Array]>("INSERT INTO snapshot_parts (snapshot, part, bytes) VALUES (?, ?, ?)"),
    completeSnapshot: db.prepare<[number]>("UPDATE snapshots SET complete = 1 WHERE id = ?"),
    dropIncomplete: db.prepare<[number]>("DELETE FROM snapshots WHERE id = ? AND complete = 0"),
    // Keeps the newest complete ones; also drops parts left by a write that never finished.
    pruneSnapshots: db.prepare<[number]>(
      "DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots WHERE complete = 1 ORDER BY pos DESC, id DESC LIMIT ?)",
    ),
    pruneEvents: db.prepare<[number]>("DELETE FROM events WHERE at < ?"),
    // From the oldest receipt on (received_at follows receipt order): no index on received_at to keep up.
    pruneReadings: db.prepare<[number, number]>(
      "DELETE FROM readings WHERE receipt IN (SELECT receipt FROM (SELECT receipt, received_at FROM readings ORDER BY receipt LIMIT ?) WHERE received_at < ?)",
    ),
  };
}

/** Each connection's prepared write statements, prepared at its first write. */
const prepared = new WeakMap<Db, ReturnType<typeof writeStatements>>();

/** Runs one write; answers the new snapshot's id (begin) or the rows deleted (prune), else 0. */
export function runWrite(db: Db, w: Write): number {
  let s = prepared.get(db);
  if (s === undefined) prepared.set(db, (s = writeStatements(db)));
  switch (w.op) {
    case "commit": {
      const rows = w.rows;
      db.transaction(() => {
        const first = rows.journal[0];
        if (first !== undefined) {
          const last = s.lastPos.get()!.pos;
          if (first.pos <= last) throw conflict(`position ${first.pos} is not after the last stored position ${last}`, { pos: first.pos, last });
        }
        for (const r of rows.journal) s.insJournal.run(r.pos, r.at, r.kind, asBuffer(r.body));
        for (const r of rows.events) s.insEvent.run(r.seq, r.at, r.type, r.patient, r.alertId, asBuffer(r.body));
        for (const r of rows.alerts) s.upAlert.run(r.id, r.patient, r.rule, r.state, r.updatedAt, asBuffer(r.body));
        for (const r of rows.readings) s.insReading.run(r.patient, r.metric, r.time, r.value, r.triage, r.receivedAt, r.id, r.device);
        for (const r of rows.audit) s.insAudit.run(r.pos, r.at, r.actor, r.action, r.target, r.patient, asBuffer(r.body));
      }).immediate();
      return 0;
    }
    case "saveSnapshot":
      switch (w.step) {
        case "begin":
          return Number(s.insSnapshot.run(w.pos, w.seq, w.at, w.kernelLength, w.stateLength).lastInsertRowid);
        case "part":
          s.insPart.run(w.id, w.part, w.bytes);
          return 0;
        case "complete":
          db.transaction(() => {
            s.completeSnapshot.run(w.id);
            s.pruneSnapshots.run(w.keep);
          }).immediate();
          return 0;
        case "drop":
          s.dropIncomplete.run(w.id);
          return 0;
      }
    // eslint-disable-next-line no-fallthrough
    case "pruneEvents":
      return s.pruneEvents.run(w.before).changes;
    case "pruneReadings":
      return s.pruneReadings.run(w.rows, w.before).changes;
  }
}

/** A Buffer posted to a worker arrives as a plain Uint8Array; SQLite binds both, as a blob. */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
