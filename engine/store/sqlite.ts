// The embedded default store: one SQLite file (better-sqlite3), WAL mode, synchronous = FULL
// (a commit is on disk when `commit` resolves), one transaction per commit. better-sqlite3 is
// synchronous: each call runs to completion on the event loop; the methods stay async to match
// the Store contract (and PostgreSQL). Writes go through a queue, so commits apply in call order.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { JournalEntry, Command } from "../durable/commands.js";
import type { Alert, LifecycleEvent } from "../lifecycle/types.js";
import { VarselError } from "../errors.js";
import { auditEntry, batchRows, conflict, decodeBody, PRUNE_ROWS, SerialQueue, SnapshotAssembler, snapshotParts, storedReading, storeError, type AuditRow, type ReadingRow } from "./codec.js";
import { SQLITE_MIGRATIONS } from "./migrations/sqlite.js";
import type { AuditEntry, AuditQuery, CommitBatch, MigrationReport, ReadingQuery, Store, StoredReading, StoredSnapshot } from "./store.js";

export interface SqliteStoreOptions {
  /** File path, or ":memory:" (tests). The folder is created at `open`. */
  path: string;
  /** How long a write waits for another process's lock before failing (default 5 000 ms). */
  busyTimeoutMs?: number;
}

/** Address space SQLite may map for reads (not memory it uses: pages come from the page cache). */
const MMAP_BYTES = 4 * 1024 * 1024 * 1024;

/** Snapshots kept; older ones are deleted when a new one is saved. */
const KEEP_SNAPSHOTS = 2;

type Db = Database.Database;

/** A readings row as ReadingRow. */
const READING_COLUMNS = "patient, metric, time, value, triage, received_at AS receivedAt, measurement_id AS id, device";

function statements(db: Db) {
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
    readJournal: db.prepare<[number, number], { pos: number; at: number; body: Buffer }>(
      "SELECT pos, at, body FROM journal WHERE pos > ? ORDER BY pos LIMIT ?",
    ),
    insSnapshot: db.prepare<[number, number, number, number, number]>(
      "INSERT INTO snapshots (pos, seq, at, kernel, state, complete, kernel_length, state_length) VALUES (?, ?, ?, x'', x'', 0, ?, ?)",
    ),
    insPart: db.prepare<[number, number, Buffer]>("INSERT INTO snapshot_parts (snapshot, part, bytes) VALUES (?, ?, ?)"),
    completeSnapshot: db.prepare<[number]>("UPDATE snapshots SET complete = 1 WHERE id = ?"),
    dropIncomplete: db.prepare<[number]>("DELETE FROM snapshots WHERE id = ? AND complete = 0"),
    // Keeps the newest complete ones; also drops parts left by a write that never finished.
    pruneSnapshots: db.prepare<[number]>(
      "DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots WHERE complete = 1 ORDER BY pos DESC, id DESC LIMIT ?)",
    ),
    // The newest id first, then its bytes: ordering whole rows would copy every kept snapshot's blobs into the sorter.
    latestSnapshotId: db.prepare<[], { id: number }>("SELECT id FROM snapshots WHERE complete = 1 ORDER BY pos DESC, id DESC LIMIT 1"),
    snapshot: db.prepare<[number], { pos: number; seq: number; at: number; kernel: Buffer; state: Buffer; kernel_length: number | null; state_length: number | null }>(
      "SELECT pos, seq, at, kernel, state, kernel_length, state_length FROM snapshots WHERE id = ?",
    ),
    parts: db.prepare<[number], { bytes: Buffer }>("SELECT bytes FROM snapshot_parts WHERE snapshot = ? ORDER BY part"),
    eventsAfter: db.prepare<[number, number], { body: Buffer }>("SELECT body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
    pruneEvents: db.prepare<[number]>("DELETE FROM events WHERE at < ?"),
    alert: db.prepare<[string], { body: Buffer }>("SELECT body FROM alerts WHERE id = ?"),
    alertHistory: db.prepare<[string], { body: Buffer }>("SELECT body FROM events WHERE alert_id = ? ORDER BY seq"),
    // One statement per lookup, so each walks its own index (an optional metric would defeat it).
    readings: db.prepare<[string, number, number, number], ReadingRow>(
      `SELECT ${READING_COLUMNS} FROM readings WHERE patient = ? AND time >= ? AND time <= ? ORDER BY time DESC, receipt DESC LIMIT ?`,
    ),
    readingsOfMetric: db.prepare<[string, string, number, number, number], ReadingRow>(
      `SELECT ${READING_COLUMNS} FROM readings WHERE patient = ? AND metric = ? AND time >= ? AND time <= ? ORDER BY time DESC, receipt DESC LIMIT ?`,
    ),
    insAudit: db.prepare<[number, number, string, string, string, string | null, Buffer]>(
      "INSERT INTO audit (pos, at, actor, action, target, patient, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    audit: db.prepare<[number, number, number], AuditRow>(
      "SELECT pos, at, actor, action, target, patient, body FROM audit WHERE at >= ? AND pos > ? ORDER BY pos LIMIT ?",
    ),
    // From the oldest receipt on (received_at follows receipt order): no index on received_at to keep up.
    pruneReadings: db.prepare<[number, number]>(
      "DELETE FROM readings WHERE receipt IN (SELECT receipt FROM (SELECT receipt, received_at FROM readings ORDER BY receipt LIMIT ?) WHERE received_at < ?)",
    ),
  };
}

type Statements = ReturnType<typeof statements>;

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  /** The database file (as given; ":memory:" for an in-memory store). */
  readonly path: string;
  private readonly busyTimeoutMs: number;
  private db: Db | undefined;
  private stmts: Statements | undefined;
  private readonly writes = new SerialQueue();

  constructor(options: SqliteStoreOptions | string) {
    const o = typeof options === "string" ? { path: options } : options;
    this.path = o.path;
    this.busyTimeoutMs = o.busyTimeoutMs ?? 5_000;
  }

  async open(): Promise<MigrationReport> {
    if (this.db !== undefined) return { version: SQLITE_MIGRATIONS.at(-1)?.version ?? 0, applied: [] };
    let db: Db | undefined;
    try {
      const memory = this.path === ":memory:";
      if (!memory) mkdirSync(dirname(resolve(this.path)), { recursive: true });
      db = new Database(this.path, { timeout: this.busyTimeoutMs });
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (!memory && mode !== "wal") throw new Error(`cannot switch ${this.path} to WAL mode (journal_mode is ${String(mode)})`);
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      // After a checkpoint, a WAL grown by a large snapshot is truncated back to this size.
      db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      // Reads through a memory map: a snapshot of a few hundred MB is one overflow chain of 4 kB
      // pages, read ~3× faster mapped than page by page (measured at restart).
      if (!memory) db.pragma(`mmap_size = ${MMAP_BYTES}`);
      const report = migrate(db);
      this.stmts = statements(db);
      this.db = db;
      return report;
    } catch (err) {
      db?.close();
      throw storeError(err, "sqlite", "open");
    }
  }

  /** Waits for queued writes, checkpoints the WAL into the database file and closes it. */
  async close(): Promise<void> {
    await this.writes.idle();
    const db = this.db;
    if (db === undefined) return;
    this.db = undefined;
    this.stmts = undefined;
    try {
      db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  }

  async ping(): Promise<void> {
    this.use("ping", (db) => db.prepare("SELECT 1").get());
  }

  commit(batch: CommitBatch): Promise<void> {
    return this.writes.run(() =>
      this.use("commit", (db, s) => {
        const rows = batchRows(batch);
        db.transaction(() => {
          const first = rows.journal[0];
          if (first !== undefined) {
            const last = s.lastPos.get()!.pos;
            if (first.pos <= last) throw conflict(`position ${first.pos} is not after the last stored position ${last}`, { pos: first.pos, last });
          }
          for (const r of rows.journal) s.insJournal.run(r.pos, r.at, r.kind, r.body);
          for (const r of rows.events) s.insEvent.run(r.seq, r.at, r.type, r.patient, r.alertId, r.body);
          for (const r of rows.alerts) s.upAlert.run(r.id, r.patient, r.rule, r.state, r.updatedAt, r.body);
          for (const r of rows.readings) s.insReading.run(r.patient, r.metric, r.time, r.value, r.triage, r.receivedAt, r.id, r.device);
          for (const r of rows.audit) s.insAudit.run(r.pos, r.at, r.actor, r.action, r.target, r.patient, r.body);
        }).immediate();
      }),
    );
  }

  async lastPosition(): Promise<number> {
    return this.use("lastPosition", (_db, s) => s.lastPos.get()!.pos);
  }

  async readJournal(afterPos: number, limit: number): Promise<JournalEntry[]> {
    return this.use("readJournal", (_db, s) =>
      s.readJournal.all(afterPos, limit).map((r) => ({ pos: r.pos, at: r.at, command: decodeBody<Command>(r.body) })),
    );
  }

  /**
   * Writes the snapshot in parts, each its own transaction queued behind the writes already
   * waiting, so commits go in between (SQLite writes on the event loop: one part blocks it for
   * milliseconds, not the whole snapshot for seconds). It counts once the last part is in.
   */
  async saveSnapshot(snapshot: StoredSnapshot): Promise<void> {
    const id = await this.writes.run(() =>
      this.use("saveSnapshot", (_db, s) =>
        Number(s.insSnapshot.run(snapshot.pos, snapshot.seq, snapshot.at, snapshot.kernel.byteLength, snapshot.state.byteLength).lastInsertRowid),
      ),
    );
    try {
      const parts = snapshotParts(snapshot.kernel, snapshot.state);
      for (const [i, part] of parts.entries()) {
        // Synchronous writes would otherwise run back to back in one microtask chain: let the event loop in.
        await new Promise((resolve) => setImmediate(resolve));
        await this.writes.run(() => this.use("saveSnapshot", (_db, s) => s.insPart.run(id, i, part)));
      }
      await this.writes.run(() =>
        this.use("saveSnapshot", (db, s) => {
          db.transaction(() => {
            s.completeSnapshot.run(id);
            s.pruneSnapshots.run(KEEP_SNAPSHOTS);
          }).immediate();
        }),
      );
    } catch (err) {
      // A failed save (disk full) must not leave its parts behind to fill the disk further; if
      // even this fails, the next complete save prunes them.
      await this.writes.run(() => this.use("saveSnapshot", (_db, s) => s.dropIncomplete.run(id))).catch(() => undefined);
      throw err;
    }
  }

  async latestSnapshot(): Promise<StoredSnapshot | undefined> {
    return this.use("latestSnapshot", (db, s) =>
      db.transaction(() => {
        const newest = s.latestSnapshotId.get();
        const r = newest === undefined ? undefined : s.snapshot.get(newest.id);
        if (r === undefined) return undefined;
        if (r.kernel_length === null || r.state_length === null) return { pos: r.pos, seq: r.seq, at: r.at, kernel: r.kernel, state: r.state }; // a version 1 row
        const whole = new SnapshotAssembler(r.kernel_length, r.state_length);
        for (const part of s.parts.iterate(newest!.id)) whole.add(part.bytes);
        return { pos: r.pos, seq: r.seq, at: r.at, ...whole.done() };
      })(),
    );
  }

  async eventsAfter(seq: number, limit: number): Promise<LifecycleEvent[]> {
    return this.use("eventsAfter", (_db, s) => s.eventsAfter.all(seq, limit).map((r) => decodeBody<LifecycleEvent>(r.body)));
  }

  pruneEvents(before: number): Promise<number> {
    return this.writes.run(() => this.use("pruneEvents", (_db, s) => s.pruneEvents.run(before).changes));
  }

  async alert(id: string): Promise<Alert | undefined> {
    return this.use("alert", (_db, s) => {
      const r = s.alert.get(id);
      return r === undefined ? undefined : decodeBody<Alert>(r.body);
    });
  }

  async alertHistory(id: string): Promise<LifecycleEvent[]> {
    return this.use("alertHistory", (_db, s) => s.alertHistory.all(id).map((r) => decodeBody<LifecycleEvent>(r.body)));
  }

  async readings(q: ReadingQuery): Promise<StoredReading[]> {
    const from = q.from ?? Number.MIN_SAFE_INTEGER;
    const to = q.to ?? Number.MAX_SAFE_INTEGER;
    return this.use("readings", (_db, s) =>
      (q.metric === undefined ? s.readings.all(q.patient, from, to, q.limit) : s.readingsOfMetric.all(q.patient, q.metric, from, to, q.limit)).map(storedReading),
    );
  }

  /**
   * Deletes in slices, each its own transaction queued behind the writes already waiting, so a
   * month of readings going at once never holds the event loop (or the commits) for seconds.
   */
  async pruneReadings(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.writes.run(() => this.use("pruneReadings", (_db, s) => s.pruneReadings.run(PRUNE_ROWS, before).changes));
      total += n;
      if (n < PRUNE_ROWS) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async audit(q: AuditQuery): Promise<AuditEntry[]> {
    return this.use("audit", (_db, s) => s.audit.all(q.since ?? Number.MIN_SAFE_INTEGER, q.after ?? 0, q.limit).map(auditEntry));
  }

  /**
   * The schema version of the file without changing anything (`varsel check`): undefined when
   * the file does not exist yet (the first start creates it), 0 before the first migration.
   */
  static inspect(path: string): { version: number | undefined; latest: number } {
    const latest = SQLITE_MIGRATIONS.at(-1)?.version ?? 0;
    if (path !== ":memory:" && !existsSync(path)) return { version: undefined, latest };
    let db: Db | undefined;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
      const version = table === undefined ? 0 : (db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_migrations").get()?.v ?? 0);
      return { version, latest };
    } catch (err) {
      throw storeError(err, "sqlite", "inspect");
    } finally {
      db?.close();
    }
  }

  /** Versions recorded in schema_migrations, in order (for operators and tests). */
  async appliedMigrations(): Promise<{ version: number; name: string; appliedAt: string }[]> {
    return this.use("appliedMigrations", (db) =>
      db.prepare<[], { version: number; name: string; applied_at: string }>("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all()
        .map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at })),
    );
  }

  /** The connection's durability settings (for operators and tests). */
  pragmas(): { journalMode: string; synchronous: number; foreignKeys: number } {
    return this.use("pragmas", (db) => ({
      journalMode: String(db.pragma("journal_mode", { simple: true })),
      synchronous: Number(db.pragma("synchronous", { simple: true })),
      foreignKeys: Number(db.pragma("foreign_keys", { simple: true })),
    }));
  }

  private use<T>(op: string, fn: (db: Db, s: Statements) => T): T {
    const db = this.db;
    const s = this.stmts;
    if (db === undefined || s === undefined) throw new VarselError("store_unavailable", `sqlite store is not open (${op})`);
    try {
      return fn(db, s);
    } catch (err) {
      throw storeError(err, "sqlite", op);
    }
  }
}

/** Applies the migrations this database has not seen yet, in one immediate transaction. */
function migrate(db: Db): MigrationReport {
  const latest = SQLITE_MIGRATIONS.at(-1)?.version ?? 0;
  const report: MigrationReport = { version: latest, applied: [] };
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT`);
    const applied = new Set(db.prepare<[], { version: number }>("SELECT version FROM schema_migrations").all().map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) {
      throw new VarselError("store_unavailable", `database schema is at version ${newest}, newer than this varsel knows (${latest}): upgrade varsel`);
    }
    const record = db.prepare<[number, string]>("INSERT INTO schema_migrations (version, name) VALUES (?, ?)");
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name);
      report.applied.push({ version: m.version, name: m.name });
    }
  }).immediate();
  return report;
}
