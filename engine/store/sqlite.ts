// The embedded default store: one SQLite file (better-sqlite3), WAL mode, synchronous = FULL
// (a commit is on disk when `commit` resolves), one transaction per commit. Writes run in call
// order on a writer thread with its own connection (sqlite-writer.ts), so a commit's inserts
// and fsync do not hold the event loop; reads run here (better-sqlite3 is synchronous: a read
// runs to completion on the event loop), and see every committed write (WAL).
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { JournalEntry, Command } from "../durable/commands.js";
import type { Alert, LifecycleEvent } from "../lifecycle/types.js";
import { VarselError } from "../errors.js";
import { auditEntry, batchRows, decodeBody, PRUNE_ROWS, SnapshotAssembler, snapshotParts, storedReading, storeError, type AuditRow, type BatchRows, type ReadingRow } from "./codec.js";
import { InPlaceWriter, ThreadWriter, type SqliteWriter } from "./sqlite-writer.js";
import { configure, type Write } from "./sqlite-writes.js";
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
    readJournal: db.prepare<[number, number], { pos: number; at: number; body: Buffer }>(
      "SELECT pos, at, body FROM journal WHERE pos > ? ORDER BY pos LIMIT ?",
    ),
    // The newest id first, then its bytes: ordering whole rows would copy every kept snapshot's blobs into the sorter.
    latestSnapshotId: db.prepare<[], { id: number }>("SELECT id FROM snapshots WHERE complete = 1 ORDER BY pos DESC, id DESC LIMIT 1"),
    snapshot: db.prepare<[number], { pos: number; seq: number; at: number; kernel: Buffer; state: Buffer; kernel_length: number | null; state_length: number | null }>(
      "SELECT pos, seq, at, kernel, state, kernel_length, state_length FROM snapshots WHERE id = ?",
    ),
    parts: db.prepare<[number], { bytes: Buffer }>("SELECT bytes FROM snapshot_parts WHERE snapshot = ? ORDER BY part"),
    eventsAfter: db.prepare<[number, number], { body: Buffer }>("SELECT body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
    alert: db.prepare<[string], { body: Buffer }>("SELECT body FROM alerts WHERE id = ?"),
    alertHistory: db.prepare<[string], { body: Buffer }>("SELECT body FROM events WHERE alert_id = ? ORDER BY seq"),
    // One statement per lookup, so each walks its own index (an optional metric would defeat it).
    readings: db.prepare<[string, number, number, number], ReadingRow>(
      `SELECT ${READING_COLUMNS} FROM readings WHERE patient = ? AND time >= ? AND time <= ? ORDER BY time DESC, receipt DESC LIMIT ?`,
    ),
    readingsOfMetric: db.prepare<[string, string, number, number, number], ReadingRow>(
      `SELECT ${READING_COLUMNS} FROM readings WHERE patient = ? AND metric = ? AND time >= ? AND time <= ? ORDER BY time DESC, receipt DESC LIMIT ?`,
    ),
    audit: db.prepare<[number, number, number], AuditRow>(
      "SELECT pos, at, actor, action, target, patient, body FROM audit WHERE at >= ? AND pos > ? ORDER BY pos LIMIT ?",
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
  private writer: SqliteWriter | undefined;

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
      configure(db, memory);
      // Reads through a memory map: a snapshot of a few hundred MB is one overflow chain of 4 kB
      // pages, read ~3× faster mapped than page by page (measured at restart).
      if (!memory) db.pragma(`mmap_size = ${MMAP_BYTES}`);
      const report = migrate(db);
      this.writer = memory ? new InPlaceWriter(db) : await ThreadWriter.start(this.path, this.busyTimeoutMs);
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
    const db = this.db;
    if (db === undefined) return;
    this.db = undefined;
    this.stmts = undefined;
    await this.writer?.close();
    this.writer = undefined;
    try {
      db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // A full disk: the WAL stays beside the file and SQLite replays it at the next open.
    } finally {
      db.close();
    }
  }

  async ping(): Promise<void> {
    this.use("ping", (db) => db.prepare("SELECT 1").get());
    // A writer thread that ended (it failed) is started again: the store answers once it can write.
    if (this.writer !== undefined && !this.writer.alive) this.writer = await ThreadWriter.start(this.path, this.busyTimeoutMs);
  }

  async commit(batch: CommitBatch): Promise<void> {
    let rows: BatchRows;
    try {
      rows = batchRows(batch);
    } catch (err) {
      throw storeError(err, "sqlite", "commit");
    }
    await this.write({ op: "commit", rows });
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
    const id = await this.write({ op: "saveSnapshot", step: "begin", pos: snapshot.pos, seq: snapshot.seq, at: snapshot.at, kernelLength: snapshot.kernel.byteLength, stateLength: snapshot.state.byteLength });
    try {
      const parts = snapshotParts(snapshot.kernel, snapshot.state);
      for (const [i, part] of parts.entries()) {
        // Each part is copied to the writer as it is posted: one at a time, letting the event loop in.
        await new Promise((resolve) => setImmediate(resolve));
        await this.write({ op: "saveSnapshot", step: "part", id, part: i, bytes: part });
      }
      await this.write({ op: "saveSnapshot", step: "complete", id, keep: KEEP_SNAPSHOTS });
    } catch (err) {
      // A failed save (disk full) must not leave its parts behind to fill the disk further; if
      // even this fails, the next complete save prunes them.
      await this.write({ op: "saveSnapshot", step: "drop", id }).catch(() => undefined);
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
    return this.write({ op: "pruneEvents", before });
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
      const n = await this.write({ op: "pruneReadings", before, rows: PRUNE_ROWS });
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

  private write(w: Write): Promise<number> {
    const writer = this.writer;
    if (writer === undefined) return Promise.reject(new VarselError("store_unavailable", `sqlite store is not open (${w.op})`));
    return writer.run(w);
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
