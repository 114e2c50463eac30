// The server store: PostgreSQL through a `pg` Pool. Versioned migrations run at `open` in one
// transaction under an advisory lock (two processes opening at once apply them once). Every
// table lives in one schema (default `public`), so tests and side-by-side installations can
// share a database. A commit is one transaction of a few statements whatever its size: rows go
// in as arrays (`unnest`), not one INSERT per row. Commits take a per-schema advisory lock, so
// the "position after the last stored one" check holds even with two writers.
//
// Failure behaviour: connecting gives up after `connectTimeoutMs` (default 2 s), each statement
// after `statementTimeoutMs` (server side, default 30 s) and the client stops waiting for an
// answer 5 s after that; failures reject with VarselError `store_unavailable`.
import pg from "pg";
import type { JournalEntry, Command } from "../durable/commands.js";
import type { Alert, LifecycleEvent } from "../lifecycle/types.js";
import { VarselError } from "../errors.js";
import { auditEntry, batchRows, conflict, decodeBody, PRUNE_ROWS, SerialQueue, SnapshotAssembler, snapshotParts, storedReading, storeError, type AuditRow, type ReadingRow } from "./codec.js";
import { POSTGRES_MIGRATIONS } from "./migrations/postgres.js";
import type { AuditEntry, AuditQuery, CommitBatch, MigrationReport, ReadingQuery, Store, StoredReading, StoredSnapshot } from "./store.js";

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  connectionString: string;
  /** Schema holding varsel's tables (created when missing). Default "public". */
  schema?: string;
  /** Give up connecting after this long (default 2 000 ms). */
  connectTimeoutMs?: number;
  /** Server-side statement_timeout (default 30 000 ms). */
  statementTimeoutMs?: number;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** Errors of idle connections (the server went away); they also surface on the next call. */
  onError?: (err: unknown) => void;
}

const KEEP_SNAPSHOTS = 2;
/** Large snapshot columns are read in slices of this many bytes. */
const SNAPSHOT_SLICE = 4 * 1024 * 1024;
/** Advisory lock namespaces (first key); the second key is a hash of the schema name. */
const LOCK_MIGRATE = 0x76617201;
const LOCK_WRITE = 0x76617202;

/** bigint (int8) columns as numbers: positions and counts stay far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  },
} as unknown as pg.CustomTypesConfig;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  readonly schema: string;
  private readonly options: PostgresStoreOptions;
  /** Quoted schema identifier. */
  private readonly s: string;
  /** Second advisory-lock key: this schema. */
  private readonly lockKey: number;
  private pool: pg.Pool | undefined;
  private readonly writes = new SerialQueue();

  constructor(options: PostgresStoreOptions) {
    this.options = options;
    this.schema = options.schema ?? "public";
    if (!SCHEMA_NAME.test(this.schema)) throw new TypeError(`invalid PostgreSQL schema name ${JSON.stringify(this.schema)} (letters, digits, _; at most 63)`);
    this.s = `"${this.schema}"`;
    this.lockKey = fnv1a(this.schema);
  }

  async open(): Promise<MigrationReport> {
    if (this.pool !== undefined) return { version: POSTGRES_MIGRATIONS.at(-1)?.version ?? 0, applied: [] };
    const statementTimeout = this.options.statementTimeoutMs ?? 30_000;
    const pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.poolSize ?? 4,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 2_000,
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 5_000,
      idle_in_transaction_session_timeout: statementTimeout * 2,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: "varsel",
      types,
    });
    pool.on("error", (err) => this.options.onError?.(err));
    let report: MigrationReport;
    try {
      report = await this.transaction(pool, "open", async (c) => {
        await c.query(`SELECT pg_advisory_xact_lock(${LOCK_MIGRATE}, ${this.lockKey})`);
        return this.migrate(c);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    this.pool = pool;
    return report;
  }

  /** Waits for queued writes, then closes every connection. */
  async close(): Promise<void> {
    await this.writes.idle();
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  async ping(): Promise<void> {
    await this.query("ping", "SELECT 1");
  }

  commit(batch: CommitBatch): Promise<void> {
    return this.writes.run(async () => {
      let rows;
      try {
        rows = batchRows(batch);
      } catch (err) {
        throw storeError(err, "postgres", "commit");
      }
      const s = this.s;
      await this.transaction(this.requirePool("commit"), "commit", async (c) => {
        await c.query(`SELECT pg_advisory_xact_lock(${LOCK_WRITE}, ${this.lockKey})`);
        const first = rows.journal[0];
        if (first !== undefined) {
          const last = (await c.query<{ last: number }>(`SELECT coalesce(max(pos), 0) AS last FROM ${s}.journal`)).rows[0]!.last;
          if (first.pos <= last) throw conflict(`position ${first.pos} is not after the last stored position ${last}`, { pos: first.pos, last });
          const j = rows.journal;
          await c.query(
            `INSERT INTO ${s}.journal (pos, at, kind, body)
             SELECT pos, at, kind, substring($4::bytea FROM o FOR n)
             FROM unnest($1::bigint[], $2::float8[], $3::text[], $5::int[], $6::int[]) AS u(pos, at, kind, o, n)`,
            [j.map((r) => r.pos), j.map((r) => r.at), j.map((r) => r.kind), ...packed(j.map((r) => r.body))],
          );
        }
        const e = rows.events;
        if (e.length > 0) {
          await c.query(
            `INSERT INTO ${s}.events (seq, at, type, patient, alert_id, body)
             SELECT seq, at, type, patient, alert_id, substring($6::bytea FROM o FOR n)
             FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::text[], $5::text[], $7::int[], $8::int[]) AS u(seq, at, type, patient, alert_id, o, n)`,
            [e.map((r) => r.seq), e.map((r) => r.at), e.map((r) => r.type), e.map((r) => r.patient), e.map((r) => r.alertId), ...packed(e.map((r) => r.body))],
          );
        }
        const a = rows.alerts;
        if (a.length > 0) {
          await c.query(
            `INSERT INTO ${s}.alerts (id, patient, rule, state, updated_at, body)
             SELECT id, patient, rule, state, updated_at, substring($6::bytea FROM o FOR n)
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $7::int[], $8::int[]) AS u(id, patient, rule, state, updated_at, o, n)
             ON CONFLICT (id) DO UPDATE SET patient = excluded.patient, rule = excluded.rule, state = excluded.state,
               updated_at = excluded.updated_at, body = excluded.body`,
            [a.map((r) => r.id), a.map((r) => r.patient), a.map((r) => r.rule), a.map((r) => r.state), a.map((r) => r.updatedAt), ...packed(a.map((r) => r.body))],
          );
        }
        const r = rows.readings;
        if (r.length > 0) {
          // Ordered by position in the batch: the identity (receipt order) follows it.
          await c.query(
            `INSERT INTO ${s}.readings (patient, metric, time, value, triage, received_at, measurement_id, device)
             SELECT patient, metric, time, value, triage, received_at, measurement_id, device
             FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::float8[], $7::text[], $8::text[])
               WITH ORDINALITY AS u(patient, metric, time, value, triage, received_at, measurement_id, device, ord)
             ORDER BY ord`,
            [
              r.map((x) => x.patient), r.map((x) => x.metric), r.map((x) => x.time), r.map((x) => x.value),
              r.map((x) => x.triage), r.map((x) => x.receivedAt), r.map((x) => x.id), r.map((x) => x.device),
            ],
          );
        }
        const u = rows.audit;
        if (u.length > 0) {
          await c.query(
            `INSERT INTO ${s}.audit (pos, at, actor, action, target, patient, body)
             SELECT pos, at, actor, action, target, patient, substring($7::bytea FROM o FOR n)
             FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $8::int[], $9::int[]) AS u(pos, at, actor, action, target, patient, o, n)`,
            [u.map((r) => r.pos), u.map((r) => r.at), u.map((r) => r.actor), u.map((r) => r.action), u.map((r) => r.target), u.map((r) => r.patient), ...packed(u.map((r) => r.body))],
          );
        }
      });
    });
  }

  async lastPosition(): Promise<number> {
    const r = await this.query<{ last: number }>("lastPosition", `SELECT coalesce(max(pos), 0) AS last FROM ${this.s}.journal`);
    return r.rows[0]!.last;
  }

  async readJournal(afterPos: number, limit: number): Promise<JournalEntry[]> {
    const r = await this.query<{ pos: number; at: number; body: Buffer }>(
      "readJournal",
      `SELECT pos, at, body FROM ${this.s}.journal WHERE pos > $1 ORDER BY pos LIMIT $2`,
      [afterPos, limit],
    );
    return r.rows.map((row) => ({ pos: row.pos, at: row.at, command: decodeBody<Command>(row.body) }));
  }

  /** Writes the snapshot in parts, each its own transaction queued behind the writes already waiting; it counts once the last part is in. */
  async saveSnapshot(snapshot: StoredSnapshot): Promise<void> {
    const s = this.s;
    const id = await this.writes.run(async () => {
      const r = await this.query<{ id: number }>(
        "saveSnapshot",
        `INSERT INTO ${s}.snapshots (pos, seq, at, kernel, state, complete, kernel_length, state_length)
         VALUES ($1, $2, $3, '', '', false, $4, $5) RETURNING id`,
        [snapshot.pos, snapshot.seq, snapshot.at, snapshot.kernel.byteLength, snapshot.state.byteLength],
      );
      return r.rows[0]!.id;
    });
    // Buffers are sent as binary parameters: no hex text.
    try {
      const parts = snapshotParts(snapshot.kernel, snapshot.state);
      for (const [i, part] of parts.entries()) {
        await this.writes.run(() => this.query("saveSnapshot", `INSERT INTO ${s}.snapshot_parts (snapshot, part, bytes) VALUES ($1, $2, $3)`, [id, i, part]));
      }
      await this.writes.run(() =>
        this.transaction(this.requirePool("saveSnapshot"), "saveSnapshot", async (c) => {
          await c.query(`UPDATE ${s}.snapshots SET complete = true WHERE id = $1`, [id]);
          // Keeps the newest complete ones; also drops parts left by a write that never finished.
          await c.query(
            `DELETE FROM ${s}.snapshots WHERE id NOT IN (SELECT id FROM ${s}.snapshots WHERE complete ORDER BY pos DESC, id DESC LIMIT $1)`,
            [KEEP_SNAPSHOTS],
          );
        }),
      );
    } catch (err) {
      // A failed save must not leave its parts behind; if even this fails, the next complete save prunes them.
      await this.writes.run(() => this.query("saveSnapshot", `DELETE FROM ${s}.snapshots WHERE id = $1 AND NOT complete`, [id])).catch(() => undefined);
      throw err;
    }
  }

  async latestSnapshot(): Promise<StoredSnapshot | undefined> {
    const s = this.s;
    return this.transaction(this.requirePool("latestSnapshot"), "latestSnapshot", async (c) => {
      await c.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      // Snapshot bytes come as base64 text (bytea's own text form is hex: twice the size, and
      // measured twice as slow to decode), part by part (or, for a row of schema version 1, in
      // slices): one huge string would cost memory and hit V8's string length limit.
      const head = await c.query<{ id: number; pos: number; seq: number; at: number; kl: number | null; sl: number | null; ikl: number; isl: number }>(
        `SELECT id, pos, seq, at, kernel_length AS kl, state_length AS sl, octet_length(kernel) AS ikl, octet_length(state) AS isl
         FROM ${s}.snapshots WHERE complete ORDER BY pos DESC, id DESC LIMIT 1`,
      );
      const row = head.rows[0];
      if (row === undefined) return undefined;
      if (row.kl === null || row.sl === null) {
        const read = async (column: "kernel" | "state", length: number): Promise<Buffer> => {
          const out = Buffer.allocUnsafe(length);
          for (let offset = 0; offset < length; offset += SNAPSHOT_SLICE) {
            const part = await c.query<{ part: string }>(
              `SELECT encode(substring(${column} FROM $2 FOR $3), 'base64') AS part FROM ${s}.snapshots WHERE id = $1`,
              [row.id, offset + 1, SNAPSHOT_SLICE],
            );
            const written = out.write(part.rows[0]!.part, offset, "base64");
            if (written !== Math.min(SNAPSHOT_SLICE, length - offset)) throw new Error(`snapshot ${column} slice at ${offset}: ${written} bytes`);
          }
          return out;
        };
        return { pos: row.pos, seq: row.seq, at: row.at, kernel: await read("kernel", row.ikl), state: await read("state", row.isl) };
      }
      const whole = new SnapshotAssembler(row.kl, row.sl);
      const count = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.snapshot_parts WHERE snapshot = $1`, [row.id]);
      for (let i = 0; i < count.rows[0]!.n; i++) {
        const part = await c.query<{ b: string }>(`SELECT encode(bytes, 'base64') AS b FROM ${s}.snapshot_parts WHERE snapshot = $1 AND part = $2`, [row.id, i]);
        whole.add(Buffer.from(part.rows[0]!.b, "base64"));
      }
      return { pos: row.pos, seq: row.seq, at: row.at, ...whole.done() };
    });
  }

  async eventsAfter(seq: number, limit: number): Promise<LifecycleEvent[]> {
    const r = await this.query<{ body: Buffer }>("eventsAfter", `SELECT body FROM ${this.s}.events WHERE seq > $1 ORDER BY seq LIMIT $2`, [seq, limit]);
    return r.rows.map((row) => decodeBody<LifecycleEvent>(row.body));
  }

  pruneEvents(before: number): Promise<number> {
    return this.writes.run(async () => {
      const r = await this.query("pruneEvents", `DELETE FROM ${this.s}.events WHERE at < $1`, [before]);
      return r.rowCount ?? 0;
    });
  }

  async alert(id: string): Promise<Alert | undefined> {
    const r = await this.query<{ body: Buffer }>("alert", `SELECT body FROM ${this.s}.alerts WHERE id = $1`, [id]);
    const row = r.rows[0];
    return row === undefined ? undefined : decodeBody<Alert>(row.body);
  }

  async alertHistory(id: string): Promise<LifecycleEvent[]> {
    const r = await this.query<{ body: Buffer }>("alertHistory", `SELECT body FROM ${this.s}.events WHERE alert_id = $1 ORDER BY seq`, [id]);
    return r.rows.map((row) => decodeBody<LifecycleEvent>(row.body));
  }

  async readings(q: ReadingQuery): Promise<StoredReading[]> {
    const params: unknown[] = [q.patient, q.from ?? Number.MIN_SAFE_INTEGER, q.to ?? Number.MAX_SAFE_INTEGER, q.limit];
    // The metric condition only when given (not `$5 IS NULL OR ...`), so each lookup gets the plan of its own index.
    if (q.metric !== undefined) params.push(q.metric);
    const r = await this.query<ReadingRow>(
      "readings",
      `SELECT patient, metric, time, value, triage, received_at AS "receivedAt", measurement_id AS id, device
       FROM ${this.s}.readings WHERE patient = $1 ${q.metric === undefined ? "" : "AND metric = $5"} AND time >= $2 AND time <= $3
       ORDER BY time DESC, receipt DESC LIMIT $4`,
      params,
    );
    return r.rows.map(storedReading);
  }

  /** Deletes in slices (each its own statement, queued with the writes), so no one statement runs into the statement timeout. */
  async pruneReadings(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.writes.run(() =>
        this.query("pruneReadings", `DELETE FROM ${this.s}.readings WHERE receipt IN (SELECT receipt FROM (SELECT receipt, received_at FROM ${this.s}.readings ORDER BY receipt LIMIT $2) oldest WHERE received_at < $1)`, [before, PRUNE_ROWS]),
      );
      const n = r.rowCount ?? 0;
      total += n;
      if (n < PRUNE_ROWS) return total;
    }
  }

  async audit(q: AuditQuery): Promise<AuditEntry[]> {
    const r = await this.query<AuditRow>(
      "audit",
      `SELECT pos, at, actor, action, target, patient, body FROM ${this.s}.audit WHERE at >= $1 AND pos > $2 ORDER BY pos LIMIT $3`,
      [q.since ?? Number.MIN_SAFE_INTEGER, q.after ?? 0, q.limit],
    );
    return r.rows.map(auditEntry);
  }

  /**
   * The schema version without changing anything (`varsel check`): one connection, no
   * migration; 0 when the schema or its schema_migrations table does not exist yet.
   */
  async inspect(): Promise<{ version: number; latest: number }> {
    const client = new pg.Client({ connectionString: this.options.connectionString, connectionTimeoutMillis: this.options.connectTimeoutMs ?? 2_000, types });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const table = await client.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [`${this.s}.schema_migrations`]);
      const version = table.rows[0]?.t == null ? 0 : ((await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${this.s}.schema_migrations`)).rows[0]?.v ?? 0);
      return { version, latest: POSTGRES_MIGRATIONS.at(-1)?.version ?? 0 };
    } catch (err) {
      throw storeError(err, "postgres", "inspect");
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Versions recorded in schema_migrations, in order (for operators and tests). */
  async appliedMigrations(): Promise<{ version: number; name: string; appliedAt: string }[]> {
    const r = await this.query<{ version: number; name: string; applied_at: Date }>(
      "appliedMigrations",
      `SELECT version, name, applied_at FROM ${this.s}.schema_migrations ORDER BY version`,
    );
    return r.rows.map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at.toISOString() }));
  }

  // ---- internals ----

  /** Called inside the open transaction, holding the migration lock. */
  private async migrate(c: pg.PoolClient): Promise<MigrationReport> {
    const s = this.s;
    const latest = POSTGRES_MIGRATIONS.at(-1)?.version ?? 0;
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
    const exists = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [this.schema]);
    if (exists.rowCount === 0) await c.query(`CREATE SCHEMA ${s}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = new Set((await c.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`)).rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) {
      throw new VarselError("store_unavailable", `database schema ${this.schema} is at version ${newest}, newer than this varsel knows (${latest}): upgrade varsel`);
    }
    const report: MigrationReport = { version: latest, applied: [] };
    for (const m of POSTGRES_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await c.query(m.sql(s));
      await c.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      report.applied.push({ version: m.version, name: m.name });
    }
    return report;
  }

  private requirePool(op: string): pg.Pool {
    if (this.pool === undefined) throw new VarselError("store_unavailable", `postgres store is not open (${op})`);
    return this.pool;
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(op: string, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const pool = this.requirePool(op);
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      throw storeError(err, "postgres", op);
    }
  }

  /** Runs `fn` in BEGIN ... COMMIT on one connection; ROLLBACK (and a VarselError) on failure. */
  private async transaction<T>(pool: pg.Pool, op: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw storeError(err, "postgres", op);
    }
    // A checked-out client has no error listener: without one, a dropped connection would
    // crash the process instead of failing the query in progress.
    let broken: unknown;
    const onError = (err: unknown) => {
      broken = err;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      // After a client-side timeout the connection may still be busy: do not reuse it.
      if (err instanceof Error && /timeout/i.test(err.message) && !("code" in err)) broken = err;
      if (broken === undefined) {
        await client.query("ROLLBACK").catch((e: unknown) => {
          broken = e;
        });
      }
      throw storeError(err, "postgres", op);
    } finally {
      client.off("error", onError);
      client.release(broken === undefined ? undefined : true);
    }
  }
}

/**
 * Many bodies as three parameters: one binary blob (sent as is, not as hex text in an array
 * literal) and the 1-based offset and length of each body, cut out again with substring().
 */
function packed(bodies: Buffer[]): [Buffer, number[], number[]] {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let at = 1;
  for (const b of bodies) {
    offsets.push(at);
    lengths.push(b.length);
    at += b.length;
  }
  return [Buffer.concat(bodies), offsets, lengths];
}

/** FNV-1a of a string as a signed 32-bit integer (an advisory lock key). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
