// Which store a URL means, and opening it.
//   postgres://... or postgresql://...   -> PostgresStore (`?schema=name` picks the schema)
//   sqlite:<path>, sqlite://<path>, a plain path, ":memory:" -> SqliteStore
//   nothing                              -> SqliteStore at .varsel/varsel.db (folder created at open)
import { PostgresStore, type PostgresStoreOptions } from "./postgres.js";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite.js";
import type { Store } from "./store.js";

export const DEFAULT_SQLITE_PATH = ".varsel/varsel.db";

export interface StoreOptions {
  sqlite?: Omit<SqliteStoreOptions, "path">;
  postgres?: Omit<PostgresStoreOptions, "connectionString">;
}

/** The store a URL means, not yet opened. */
export function createStore(url?: string, options: StoreOptions = {}): SqliteStore | PostgresStore {
  const text = url?.trim() ?? "";
  if (/^postgres(ql)?:\/\//i.test(text)) {
    const parsed = new URL(text);
    const schema = parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    return new PostgresStore({ ...options.postgres, schema: options.postgres?.schema ?? schema, connectionString: parsed.toString() });
  }
  let path = text;
  if (/^sqlite:/i.test(path)) {
    path = path.slice("sqlite:".length);
    if (path.startsWith("//")) path = path.slice(2);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new TypeError(`unsupported store URL ${JSON.stringify(redact(text))}: use postgres://..., sqlite:<path> or a file path`);
  }
  return new SqliteStore({ ...options.sqlite, path: path === "" ? DEFAULT_SQLITE_PATH : path });
}

/** Creates the store a URL means and opens it (connects, runs migrations). */
export async function openStore(url?: string, options: StoreOptions = {}): Promise<Store> {
  const store = createStore(url, options);
  await store.open();
  return store;
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}
