// `npm start`: varsel on its embedded default; `--demo` feeds simulated patients. Stops
// gracefully on SIGTERM / SIGINT. Never prints or logs a token: `varsel token` (`npm run token`)
// mints one on demand with the same HS256 secret.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import { Command, Option } from "commander";
import { pino } from "pino";
import { VarselServer } from "./app.js";
import { Auth, claimChecksFromEnv, type Role } from "./auth.js";
import { DEMO_PATIENTS, DEMO_TEAMS, startDemo } from "./demo.js";
import { openStore } from "../engine/store/open-store.js";

/** Where a generated development secret is kept (mode 0600), so `varsel token` can sign with it. */
const devSecretFile = (): string => process.env.VARSEL_DEV_SECRET_FILE || ".varsel/dev-secret";

/**
 * The development secret: the one in the dev-secret file, or a new random one written there
 * (owner-only). Only used when neither VARSEL_JWT_SECRET nor a JWKS is configured.
 */
function devSecret(create: boolean): string | undefined {
  const file = devSecretFile();
  try {
    const kept = readFileSync(file, "utf8").trim();
    if (kept.length >= 32) return kept;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (!create) return undefined;
  const secret = randomBytes(32).toString("base64url");
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file (too short a secret) keeps its mode otherwise
  return secret;
}

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
  .action(serve);

program
  .command("token")
  .description("print one HS256 token signed with VARSEL_JWT_SECRET (or the development secret in VARSEL_DEV_SECRET_FILE, default .varsel/dev-secret)")
  .addOption(new Option("--role <role>", "device, clinician or admin").choices(["device", "clinician", "admin"]).makeOptionMandatory())
  .option("--teams <teams>", "comma-separated care teams (required for device and clinician)", "")
  .option("--sub <sub>", "the subject (who; default: the role)")
  .option("--expires <time>", "lifetime, e.g. 15m, 1h, 8h", "1h")
  .action(mintToken);

await program.parseAsync();

/** `varsel token`: one token on stdout, nothing else. */
async function mintToken(opts: { role: Role; teams: string; sub?: string; expires: string }): Promise<void> {
  const fail = (message: string): never => {
    process.stderr.write(`varsel token: ${message}\n`);
    process.exit(1);
  };
  if (process.env.VARSEL_JWKS) fail("VARSEL_JWKS is set: tokens come from the identity provider that holds the JWKS keys");
  const secret = process.env.VARSEL_JWT_SECRET || devSecret(false);
  if (secret === undefined) fail(`no secret: set VARSEL_JWT_SECRET, or start the server once in dev mode (it writes ${devSecretFile()})`);
  const teams = opts.teams.split(",").map((t) => t.trim()).filter(Boolean);
  if (teams.length === 0 && opts.role !== "admin") fail("--teams is required for a device or clinician token");
  if (!/^\d+\s*[smhd]$/.test(opts.expires)) fail("--expires must be a number with s, m, h or d (e.g. 1h)");
  const token = await new Auth({ secret, ...claimChecksFromEnv(process.env) }).sign({ sub: opts.sub ?? opts.role, role: opts.role, teams }, opts.expires);
  process.stdout.write(`${token}\n`);
}

async function serve(): Promise<void> {
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
  const devMode = !process.env.VARSEL_JWT_SECRET && jwksFile === undefined;
  const secret = devMode ? devSecret(true) : process.env.VARSEL_JWT_SECRET;

  const store = opts.memory ? undefined : await openStore(opts.database ?? (process.env.VARSEL_DATABASE_URL || undefined));
  const server = await VarselServer.open({
    auth: { ...(jwksFile ? { jwksFile } : { secret }), ...claimChecksFromEnv(process.env) },
    devSignIn: devMode,
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

  // No token and no secret is ever printed or logged.
  const board = `http://${opts.host}:${port}/`;
  const lines = [
    `varsel on http://${opts.host}:${port} (${server.transportKind}); WebSocket ws://${opts.host}:${port}/v1/ws`,
    `store: ${store === undefined ? "none (--memory)" : store.kind}`,
    devMode
      ? `board: ${board} (development sign-in: choose the care teams and press "Sign in for development", no token needed)`
      : `board: ${board} (sign in by pasting a clinician token${jwksFile ? " from your identity provider" : ": npm run token -- --role clinician --teams <teams>"})`,
    stopDemo ? `demo: ${DEMO_PATIENTS.length} simulated patients of the teams ${DEMO_TEAMS.join(", ")}; a few deteriorate over the first minutes` : "",
    jwksFile ? "tokens verified with the JWKS keys" : devMode ? "" : "tokens verified with VARSEL_JWT_SECRET; mint one with: npm run token -- --role clinician --teams <teams>",
  ];
  if (devMode) {
    lines.push(
      `WARNING: DEV MODE, NOT FOR PATIENT DATA: VARSEL_JWT_SECRET is unset, so tokens are signed with a generated development secret kept in ${devSecretFile()} (owner-only). Tokens are not printed.`,
      "  mint one with: npm run token -- --role clinician --teams hospital-lung,hospital-heart [--sub name] [--expires 1h]",
    );
  }
  process.stdout.write(`${lines.filter(Boolean).join("\n")}\n`);
  if (devMode) logger.warn({ devSecretFile: devSecretFile() }, "dev mode: tokens are signed with a generated development secret; set VARSEL_JWT_SECRET or --jwks for real use");

  const shutdown = async (signal: string) => {
    logger.info({ signal }, "shutting down");
    stopDemo?.();
    await server.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}
