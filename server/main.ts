// `npm start`: varsel on its embedded default. Prints local tokens for an admin, a clinician and
// a device; `--demo` feeds simulated patients. Stops gracefully on SIGTERM / SIGINT.
import { randomBytes } from "node:crypto";
import { Command } from "commander";
import { pino } from "pino";
import { VarselServer } from "./app.js";
import { DEMO_TEAMS, startDemo } from "./demo.js";
import { openStore } from "../engine/store/open-store.js";

const program = new Command()
  .name("varsel")
  .description("Real-time threshold evaluation for home monitoring")
  .option("--port <port>", "port to listen on (env PORT)", process.env.PORT || "8080")
  .option("--host <host>", "address to listen on (env HOST)", process.env.HOST || "127.0.0.1")
  .option("--transport <kind>", "uws or ws (default: uws when its native binary loads)")
  .option("--jwks <file>", "verify tokens with this JWKS file instead of an HS256 secret (env VARSEL_JWKS)")
  .option("--database <url>", "postgres://… for PostgreSQL, or a SQLite file (env VARSEL_DATABASE_URL; default .varsel/varsel.db)")
  .option("--memory", "keep nothing: no store (for trying things out)")
  .option("--demo", "feed a few simulated patients so alerts appear within a minute")
  .option("--readings-retention <days>", "keep stored readings this many days, 0 for none (env VARSEL_READINGS_RETENTION_DAYS; default 30)", process.env.VARSEL_READINGS_RETENTION_DAYS)
  .option("--cors-origin <origins>", "comma-separated browser origins allowed to call the HTTP API, or * (env VARSEL_CORS_ORIGINS; default none)", process.env.VARSEL_CORS_ORIGINS)
  .parse();

const opts = program.opts<{ port: string; host: string; transport?: "uws" | "ws"; jwks?: string; database?: string; memory?: boolean; demo?: boolean; corsOrigin?: string; readingsRetention?: string }>();
/** A number from the environment, or undefined when unset (the engine's default applies). */
const envNumber = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);
/** Days as milliseconds; a value that is not a number of days ≥ 0 stops the start-up. */
function retentionMs(days: string | undefined): number | undefined {
  if (days === undefined) return undefined;
  const n = Number(days);
  if (!(n >= 0) || !Number.isFinite(n)) throw new Error(`--readings-retention must be a number of days ≥ 0, not ${days}`);
  return n * 86_400_000;
}
const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });
const jwksFile = opts.jwks ?? (process.env.VARSEL_JWKS || undefined);
let secret = process.env.VARSEL_JWT_SECRET || undefined;
const devMode = secret === undefined && jwksFile === undefined;
if (devMode) secret = randomBytes(32).toString("base64url");

const store = opts.memory ? undefined : await openStore(opts.database ?? (process.env.VARSEL_DATABASE_URL || undefined));
const server = await VarselServer.open({
  auth: jwksFile ? { jwksFile } : { secret },
  logger,
  transport: opts.transport,
  corsOrigins: opts.corsOrigin?.split(",").map((o) => o.trim()).filter(Boolean),
  store,
  // Snapshot cadence: a snapshot bounds how much journal a restart replays (defaults in
  // engine/durable/durable-pipeline.ts: 1 s of replay or 60 s, at most 10 % of the time).
  snapshotReplayBudgetMs: envNumber("VARSEL_SNAPSHOT_REPLAY_BUDGET_MS"),
  snapshotEveryCommands: envNumber("VARSEL_SNAPSHOT_EVERY_COMMANDS"),
  snapshotEveryMs: envNumber("VARSEL_SNAPSHOT_EVERY_MS"),
  snapshotMaxShare: envNumber("VARSEL_SNAPSHOT_MAX_SHARE"),
  readingRetentionMs: retentionMs(opts.readingsRetention),
});
const port = await server.listen(Number(opts.port), opts.host);
const stopDemo = opts.demo ? await startDemo(server.durable) : undefined;

if (!jwksFile) {
  const teams = DEMO_TEAMS;
  const tokens = {
    admin: await server.auth.sign({ sub: "admin", role: "admin", teams }),
    clinician: await server.auth.sign({ sub: "clinician", role: "clinician", teams: ["hospital-lung", "hospital-heart"] }),
    device: await server.auth.sign({ sub: "gateway", role: "device", teams }),
  };
  const lines = [
    `varsel on http://${opts.host}:${port} (${server.transportKind}); WebSocket ws://${opts.host}:${port}/v1/ws`,
    `store: ${store === undefined ? "none (--memory)" : store.kind}`,
    devMode ? `dev mode: generated VARSEL_JWT_SECRET=${secret}` : "tokens signed with VARSEL_JWT_SECRET",
    `local tokens (12 h), teams ${teams.join(", ")}:`,
    ...Object.entries(tokens).map(([role, token]) => `  ${role.padEnd(9)} ${token}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

const shutdown = async (signal: string) => {
  logger.info({ signal }, "shutting down");
  stopDemo?.();
  await server.close();
  process.exit(0);
};
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
