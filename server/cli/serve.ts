// `varsel serve` (what `npm start` runs): opens the store, recovers the engine, listens. Logs are
// pino JSON lines on stdout and nothing else goes there; dev mode also warns on stderr. Stops
// gracefully on SIGTERM / SIGINT. Never prints or logs a token or a secret.
import { Command } from "commander";
import { pino, type Logger } from "pino";
import { VarselServer } from "../app.js";
import { DEMO_PATIENTS, DEMO_TEAMS, startSimulatedDemo } from "../simulate/pipeline-target.js";
import type { AuthOptions } from "../auth.js";
import type { Store } from "../../engine/store/store.js";
import { journalAheadOf, resumeInstant, VirtualClock } from "../../engine/virtual-clock.js";
import { devSecret, devSecretFile } from "./dev-secret.js";
import { openConfiguredStore } from "./store.js";
import { addServerOptions, environmentHelp, serverSettings, SettingError, type ServerOptionValues, type ServerSettings } from "./settings.js";
import { clusterSettings, serveRoles, ROLES, type ClusterOptionValues } from "./roles.js";

export function serveCommand(): Command {
  return addServerOptions(new Command("serve"))
    .description("run the server (what `npm start` runs; the default command)")
    .option("--demo", "feed a few simulated patients so alerts appear within a minute")
    .option("--role <roles>", `run as part of a cluster on NATS JetStream: ${ROLES.join(", ")} (comma-separated; see docs/cluster.md)`)
    .option("--nats <url>", "the cluster's NATS server(s) with JetStream, nats://HOST:PORT (with --role)")
    .option("--partitions <n>", "partitions (default 16 for a new cluster; must match an existing cluster's count)")
    .option("--cluster-prefix <name>", "names of the cluster's streams and buckets start with it (default varsel)")
    .option("--cluster-lease <duration>", "an engine's partitions are taken over this long after its last lease renewal (env VARSEL_CLUSTER_LEASE; default 2s)")
    .option("--cluster-scan <duration>", "how often an engine renews its leases and looks at the others' (env VARSEL_CLUSTER_SCAN; default a fifth of the lease)")
    .addHelpText("after", environmentHelp())
    .action(async (opts: ServerOptionValues & ClusterOptionValues & { demo?: boolean }) => {
      const cluster = clusterSettings(opts);
      if (cluster !== undefined) {
        const s = serverSettings(opts);
        return serveRoles(cluster, {
          logger: pino({ level: s.logLevel }),
          auth: authOptions(s),
          port: s.port,
          host: s.host,
          transport: s.transport,
          eventWindow: s.eventWindow,
          snapshot: s.snapshot,
        });
      }
      return serve(serverSettings(opts), opts.demo === true);
    });
}

/** Opens the store (running its migrations) and logs what it did. */
async function openLogged(url: string | undefined, logger: Logger): Promise<Store> {
  const { store, report, where } = await openConfiguredStore(url);
  const migrated = report.applied.map((m) => `${m.version} ${m.name}`);
  logger.info({ store: store.kind, where, schemaVersion: report.version, migrated }, migrated.length > 0 ? "store opened and migrated" : "store opened");
  return store;
}

function authOptions(s: ServerSettings): AuthOptions {
  const keys = s.keys;
  if (keys.kind === "jwks") return { jwksFile: keys.file, ...s.claims };
  return { secret: keys.kind === "secret" ? keys.secret : devSecret(true), ...s.claims };
}

async function serve(s: ServerSettings, demo: boolean): Promise<void> {
  // The demo's simulator sends readings of the system clock's time.
  if (demo && s.clock.kind === "virtual") throw new SettingError("--demo runs on the system clock: leave out --demo or --clock virtual");
  const logger = pino({ level: s.logLevel });
  const store = s.database === undefined ? undefined : await openLogged(s.database.url, logger);
  // A store a virtual clock wrote in the future cannot run on the system clock (every real reading out_of_order).
  const ahead = store === undefined || s.clock.kind === "virtual" ? undefined : await journalAheadOf(store, Date.now());
  if (ahead !== undefined) {
    await store?.close().catch(() => undefined);
    throw new SettingError(ahead);
  }
  // A virtual clock resumes where the journal left off: a restart never moves time back.
  const clock = s.clock.kind === "virtual" ? new VirtualClock(await resumeInstant(store, s.clock.start)) : undefined;
  const server = await VarselServer.open({
    clock,
    auth: authOptions(s),
    // Development sign-in (GET /v1/dev/token) only with a generated development secret.
    devSignIn: s.keys.kind === "dev",
    logger,
    transport: s.transport,
    ingestThreads: s.ingestThreads,
    corsOrigins: s.corsOrigins,
    store,
    ...s.snapshot,
    readingRetentionMs: s.readingRetentionMs,
    alarms: s.alarms,
    eventRetentionMs: s.storedEventRetentionMs,
    eventWindow: s.eventWindow,
  }).catch(async (err: unknown) => {
    await store?.close().catch(() => undefined);
    throw err;
  });
  let port: number;
  try {
    port = await server.listen(s.port, s.host);
  } catch (err) {
    await server.close().catch(() => undefined);
    throw new Error(`cannot listen on ${s.host}:${s.port}: ${(err as Error).message}`, { cause: err });
  }
  const stopDemo = demo
    ? await startSimulatedDemo(server.durable, { patients: DEMO_PATIENTS, onAccepted: (n) => server.metrics.readingsIngested.inc({ channel: "demo" }, n) })
    : undefined;
  const board = `http://${s.host.includes(":") ? `[${s.host}]` : s.host}:${port}/`;
  const signIn = s.keys.kind === "dev" ? 'press "Sign in for development" (no token needed)' : "paste a clinician token (npx varsel token --role clinician --teams <teams>)";
  logger.info({ board }, `the clinician's board: open ${board} and ${signIn}`);
  if (stopDemo) logger.info({ patients: DEMO_PATIENTS, teams: DEMO_TEAMS }, "demo: simulated patients of these teams (the simulator: two days replayed at start, then live; a quarter deteriorate)");

  if (s.keys.kind === "dev") {
    const file = devSecretFile();
    logger.warn({ devSecretFile: file }, "DEV MODE, NOT FOR PATIENT DATA: VARSEL_JWT_SECRET and VARSEL_JWKS are unset, so tokens are signed with a generated development secret");
    process.stderr.write(
      `WARNING: DEV MODE, NOT FOR PATIENT DATA: VARSEL_JWT_SECRET is unset, so tokens are signed with a generated development secret kept in ${file} (owner-only). Tokens are not printed.\n` +
        "  mint one with: npx varsel token --role clinician --teams hospital-lung,hospital-heart [--sub name] [--ttl 1h]   (or: npm run token -- ...)\n" +
        `  the board: ${board} (press "Sign in for development": no token needed)\n`,
    );
  }

  if (clock !== undefined) {
    const now = new Date(clock.now()).toISOString();
    logger.warn({ clock: "virtual", now }, "virtual clock: time is controlled by admin calls (POST /v1/clock), nothing ticks on its own; not for patient data");
    process.stderr.write(`WARNING: VIRTUAL CLOCK: the engine's time is controlled by admin calls (POST /v1/clock {"advanceBy": "3h"}); it stands at ${now}. Not for patient data.\n`);
  }

  // A signal often arrives twice (Ctrl-C reaches npm and node; npm forwards it too): a repeat
  // within REPEAT_MS is the same request; a later one forces the exit.
  let stopping: number | undefined;
  const shutdown = async (signal: string) => {
    if (stopping !== undefined) {
      if (Date.now() - stopping < REPEAT_MS) return;
      logger.warn({ signal }, "stopping at once: the graceful shutdown did not finish");
      process.exit(1);
    }
    stopping = Date.now();
    logger.info({ signal }, "shutting down");
    stopDemo?.();
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

/** Signals this close to the first are repeats of it (see shutdown). */
const REPEAT_MS = 2_000;
