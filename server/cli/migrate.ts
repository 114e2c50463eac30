// `varsel migrate`: brings the store's schema up to date and says what it applied. `serve` does
// the same at every start; this is for running it on its own (a deploy step, a new database).
import { Command } from "commander";
import { databaseUrl } from "./settings.js";
import { openConfiguredStore } from "./store.js";

export function migrateCommand(): Command {
  return new Command("migrate")
    .description("create or upgrade the store's schema, then exit")
    .option("--database <url>", "postgres://… or a SQLite file (env VARSEL_DATABASE_URL; default .varsel/varsel.db)")
    .action(async (opts: { database?: string }) => {
      const { store, report, where } = await openConfiguredStore(databaseUrl(opts.database));
      await store.close();
      const applied = report.applied.map((m) => `${m.version} (${m.name})`).join(", ");
      process.stdout.write(`${store.kind} ${where}: schema at version ${report.version}; ${applied === "" ? "nothing to apply" : `applied ${applied}`}\n`);
    });
}
