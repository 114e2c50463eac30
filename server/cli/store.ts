// Opening the configured store from the command line: what `serve` and `migrate` share.
import { createStore, DEFAULT_SQLITE_PATH, redact } from "../../engine/store/open-store.js";
import type { MigrationReport, Store } from "../../engine/store/store.js";

/** Where the store is, for logs and messages (a PostgreSQL URL without its password). */
export function storeLocation(url: string | undefined): string {
  return url === undefined ? DEFAULT_SQLITE_PATH : redact(url);
}

/** Opens the store at `url` (running its migrations); a failure is one clear message naming the store. */
export async function openConfiguredStore(url: string | undefined): Promise<{ store: Store; report: MigrationReport; where: string }> {
  const store = createStore(url);
  const where = storeLocation(url);
  try {
    return { store, report: await store.open(), where };
  } catch (err) {
    throw new Error(`cannot open the ${store.kind} store ${where}: ${(err as Error).message}`, { cause: err });
  }
}
