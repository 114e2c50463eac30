// The stores the durability tests run on: SQLite in a temporary file, and PostgreSQL in a fresh
// schema (skipped with a message when the server is not reachable, a failure in CI).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore } from "../../engine/store/open-store.js";
import { DurablePipeline } from "../../engine/durable/durable-pipeline.js";
import type { CommitBatch, Store } from "../../engine/store/store.js";

export interface StoreFactory {
  /** A fresh, empty store. */
  create(): Promise<Store>;
  /** The same store opened again (as after a restart). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export const PG_URL = process.env.VARSEL_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function sqliteFactory(): StoreFactory {
  let dir: string | undefined;
  const stores: Store[] = [];
  const openAt = async () => {
    const s = await openStore(`sqlite:${join(dir!, "varsel.db")}`);
    stores.push(s);
    return s;
  };
  return {
    async create() {
      dir = mkdtempSync(join(tmpdir(), "varsel-durable-"));
      return openAt();
    },
    reopen: openAt,
    async cleanup() {
      for (const s of stores.splice(0)) await s.close().catch(() => undefined);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresFactory(): StoreFactory {
  let schema: string | undefined;
  const stores: Store[] = [];
  const openAt = async () => {
    const s = await openStore(`${PG_URL}?schema=${schema}`);
    stores.push(s);
    return s;
  };
  return {
    async create() {
      schema = `varsel_durable_${process.pid}_${Date.now()}`;
      return openAt();
    },
    reopen: openAt,
    async cleanup() {
      for (const s of stores.splice(0)) await s.close().catch(() => undefined);
      if (schema === undefined) return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

/** Whether PostgreSQL answers; in CI (VARSEL_REQUIRE_SERVICES=1) a missing server is an error. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    if (process.env.VARSEL_REQUIRE_SERVICES === "1") throw new Error(`PostgreSQL is required (VARSEL_REQUIRE_SERVICES=1) but not reachable at ${PG_URL}: ${String(err)}`);
    console.warn(`PostgreSQL not reachable at ${PG_URL}: its durability tests are skipped`);
    return false;
  }
}

export const STORES: [string, StoreFactory][] = [
  ["sqlite", sqliteFactory()],
  ...((await postgresAvailable()) ? [["postgres", postgresFactory()] as [string, StoreFactory]] : []),
];

/** A pipeline on `store` at a fixed clock whose commits are recorded group by group (the real store commits them). */
export async function recordingPipeline(store: Store, now: () => number): Promise<{ d: DurablePipeline; groups: CommitBatch[] }> {
  const groups: CommitBatch[] = [];
  const commit = store.commit.bind(store);
  store.commit = (batch) => (groups.push(batch), commit(batch));
  return { d: await DurablePipeline.open({ store, now, snapshotEveryMs: 1e12 }), groups };
}
