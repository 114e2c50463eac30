// Store targets for the contract suite (test/store-contract.test.ts): SQLite on a temporary
// file, PostgreSQL on a fresh schema of VARSEL_TEST_DATABASE_URL (default 127.0.0.1:5432/test), plus
// builders of plain test data typed with the engine's interfaces.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import pg from "pg";
import type { JournalEntry, Command } from "../../engine/durable/commands.js";
import type { Alert, AlertEvent, AlertState, LifecycleEvent, ReviewEvent, Silence, SilenceEvent } from "../../engine/lifecycle/types.js";
import { POSTGRES_MIGRATIONS } from "../../engine/store/migrations/postgres.js";
import { SQLITE_MIGRATIONS } from "../../engine/store/migrations/sqlite.js";
import { PostgresStore } from "../../engine/store/postgres.js";
import { SqliteStore } from "../../engine/store/sqlite.js";
import type { CommitBatch, StoredReading } from "../../engine/store/store.js";
import { redact } from "../../engine/store/open-store.js";

export const PG_URL = process.env.VARSEL_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
/** CI sets VARSEL_REQUIRE_SERVICES=1: a missing service fails the suite instead of skipping it. */
export const REQUIRE_SERVICES = process.env.VARSEL_REQUIRE_SERVICES === "1";

/** Undefined when PostgreSQL answers at `url`, else why not. */
export async function probePostgres(url = PG_URL, timeoutMs = 2_000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export type TestStore = SqliteStore | PostgresStore;

/** One empty place a store can live: a file, or a schema. */
export interface StoreLocation {
  /** A new, unopened store on this location (several may exist at once). */
  create(): TestStore;
  /** Runs SQL directly, bypassing the store; table names unqualified. */
  sql<T = Record<string, unknown>>(text: string): Promise<T[]>;
  /** Rows in a table. */
  count(table: string): Promise<number>;
  /** Applies the migrations up to `version` by hand, as an older varsel would have (on an empty location). */
  migrateTo(version: number): Promise<void>;
  /** Removes the location (file or schema). */
  drop(): Promise<void>;
}

export interface StoreTarget {
  kind: "sqlite" | "postgres";
  /** Where it runs, for test names. */
  where: string;
  /** Why the target cannot run (undefined = it can). */
  unavailable?: string;
  location(): Promise<StoreLocation>;
}

export function sqliteTarget(): StoreTarget {
  return {
    kind: "sqlite",
    where: "temporary file",
    async location() {
      const dir = mkdtempSync(join(tmpdir(), "varsel-store-"));
      const path = join(dir, "varsel.db");
      const withDb = <T>(fn: (db: Database.Database) => T): T => {
        const db = new Database(path);
        try {
          return fn(db);
        } finally {
          db.close();
        }
      };
      const sql = async <T>(text: string): Promise<T[]> =>
        withDb((db) => {
          const st = db.prepare(text);
          if (st.reader) return st.all() as T[];
          st.run();
          return [];
        });
      return {
        create: () => new SqliteStore({ path }),
        sql,
        count: async (table) => Number((await sql<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n),
        migrateTo: async (version) =>
          withDb((db) => {
            db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT 'then') STRICT");
            for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= version)) {
              db.exec(m.sql);
              db.prepare("INSERT INTO schema_migrations (version, name) VALUES (?, ?)").run(m.version, m.name);
            }
          }),
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  };
}

const RUN = randomBytes(4).toString("hex");
let schemas = 0;

export function postgresTarget(unavailable: string | undefined, url = PG_URL): StoreTarget {
  return {
    kind: "postgres",
    where: redact(url),
    unavailable,
    async location() {
      const schema = `varsel_test_${RUN}_${process.pid}_${++schemas}`;
      const sql = async <T>(text: string): Promise<T[]> => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
        client.on("error", () => undefined);
        await client.connect();
        try {
          await client.query(`SET search_path TO "${schema}"`);
          return (await client.query(text)).rows as T[];
        } finally {
          await client.end();
        }
      };
      return {
        create: () => new PostgresStore({ connectionString: url, schema }),
        sql,
        count: async (table) => Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n),
        migrateTo: async (version) => {
          const s = `"${schema}"`;
          const steps = POSTGRES_MIGRATIONS.filter((m) => m.version <= version)
            .map((m) => `${m.sql(s)}; INSERT INTO ${s}.schema_migrations (version, name) VALUES (${m.version}, '${m.name}');`);
          await sql(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); ${steps.join("\n")}`);
        },
        drop: async () => {
          await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        },
      };
    },
  };
}

// ---- test data ----

export const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);

export function entry(pos: number, command: Command = { kind: "tick" }, at = T0 + pos * 1_000): JournalEntry {
  return { pos, at, command };
}

/** Entries `from`..`to` inclusive, of varied kinds. */
export function entries(from: number, to: number): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (let pos = from; pos <= to; pos++) out.push(entry(pos, commandFor(pos)));
  return out;
}

function commandFor(pos: number): Command {
  switch (pos % 4) {
    case 0:
      return { kind: "tick" };
    case 1:
      return {
        kind: "ingest",
        source: "readings",
        batch: { items: 1, readings: [{ index: 0, patient: `p-${pos}`, metric: "spo2", value: 90 + (pos % 9), time: T0 + pos, id: `m-${pos}` }], rejected: [], invalidations: [] },
        channel: "http",
        teams: ["team-a"],
      };
    case 2:
      return { kind: "ack", alert: `a-${pos}`, by: "nurse-1", note: `note ${pos}` };
    default:
      return { kind: "silence_add", patient: `p-${pos}`, until: T0 + 3_600_000, reason: "admitted", author: "dr-1" };
  }
}

export function alert(id: string, state: AlertState, updatedAt: number, extra: Partial<Alert> = {}): Alert {
  return {
    id,
    patient: "p-1",
    rule: "spo2-band",
    ruleKind: "band",
    metric: "spo2",
    state,
    level: "red",
    priority: "high",
    interpretation: "LL",
    direction: "low",
    peakLevel: "red",
    latching: true,
    episode: id,
    openedAt: T0,
    conditionSince: T0,
    updatedAt,
    silencedBy: [],
    routedTo: { team: "team-a", role: "hospital", entry: 0 },
    escalation: { step: 0, nextAt: T0 + 900_000, done: false, notified: ["team-a"] },
    teams: ["team-a"],
    why: { thresholdVersion: 1, limits: { redLow: 88, yellowLow: 92 }, readings: [{ time: T0, value: 85, transition: "raise", readingValue: 85, measurementId: "m-1" }] },
    ...extra,
  };
}

export function alertEvent(seq: number, type: AlertEvent["type"], a: Alert, at = a.updatedAt): AlertEvent {
  return { seq, at, type, patient: a.patient, teams: a.teams, alert: a };
}

export function silence(id: string, state: Silence["state"], createdAt: number, extra: Partial<Silence> = {}): Silence {
  return { id, patient: "p-1", until: createdAt + 3_600_000, reason: "admitted to ward", author: "dr-1", createdAt, state, ...extra };
}

export function silenceEvent(seq: number, action: SilenceEvent["action"], s: Silence, at = s.createdAt): SilenceEvent {
  return { seq, at, type: "silence", action, silence: s, teams: ["team-a"], ...(s.patient === undefined ? {} : { patient: s.patient }) };
}

export function reviewEvent(seq: number, at: number): ReviewEvent {
  return { seq, at, type: "review", patient: "p-2", reason: "unit_mismatch", metric: "weight", count: 2, teams: ["team-b"] };
}

/** `n` review events seq from..from+n-1, at T0 + seq seconds. */
export function reviewEvents(from: number, n: number): LifecycleEvent[] {
  return Array.from({ length: n }, (_, i) => reviewEvent(from + i, T0 + (from + i) * 1_000));
}

/** A reading of p-1's SpO2 measured at `time`, received at T0 + 1 h unless `extra` says otherwise. */
export function reading(time: number, extra: Partial<StoredReading> = {}): StoredReading {
  return { patient: "p-1", metric: "spo2", time, value: 91, triage: "L", receivedAt: T0 + 3_600_000, id: `m-${time}`, device: "oximeter-1", ...extra };
}

export function batch(parts: Partial<CommitBatch>): CommitBatch {
  return { entries: [], events: [], readings: [], ...parts };
}
