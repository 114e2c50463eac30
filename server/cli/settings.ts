// Every setting varsel reads: its environment variable, its option, what it means, and how a bad
// value is refused. A bad value is a SettingError: one line on stderr and exit code 2, never a
// stack trace (program.ts). `varsel --help` lists the ENVIRONMENT table.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { AuthOptions } from "../auth.js";
import type { TransportKind } from "../transport/types.js";
import { DEFAULT_EVENT_RETENTION_MS, DEFAULT_GROUP_READINGS } from "../../engine/durable/durable-pipeline.js";
import { DEFAULT_MAX_EVENT_AGE_MS, DEFAULT_MAX_EVENTS } from "../../engine/lifecycle/event-log.js";
import { MAX_DURATION_MS, parseDuration } from "../../engine/rules/duration.js";
import { redact } from "../../engine/store/open-store.js";
import type { Priority } from "../../engine/alerts.js";
import { alarmPolicy, MAX_ESCALATION_LOOPS, PRIORITY_ORDER, type AlarmPolicyInput } from "../../engine/lifecycle/alarm-policy.js";
import { MAX_LATE_AFTER_MS, MIN_LATE_AFTER_MS } from "../../engine/lifecycle/late.js";
import type { AlertLevel, LatchingPolicy, LifecycleOptions, RuleKind } from "../../engine/lifecycle/types.js";
import { parseIsoTime } from "../../engine/ingest/normalize.js";

/** A bad option or setting: reported as one line, exit code 2. */
export class SettingError extends Error {}

export const DEFAULT_PORT = 8080;
/** This machine only: a fresh start is not reachable from the network until HOST says so. */
export const DEFAULT_HOST = "127.0.0.1";
/** HS256 needs a key of at least 256 bits; 32 characters is the floor (random ones: `openssl rand -base64 32`). */
export const MIN_SECRET_LENGTH = 32;
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * Bounds of the in-memory event window (WebSocket resumeFrom). Its floor is one commit group's
 * events: a subscriber's snapshot is taken as of the last committed event by reading back the
 * events applied since (engine/lifecycle/lifecycle.ts asOf), so the window must still hold them.
 * Its ceiling bounds memory (every event carries its whole alert).
 */
export const EVENT_RETENTION_COUNT = { min: DEFAULT_GROUP_READINGS, max: 1_000_000 };
/** ... and a minute at least by age: longer than a commit takes, so those events are still held. */
export const MIN_EVENT_RETENTION_AGE_MS = 60_000;
/** Stored events (alert history): a day at least (shorter is a typo for days, or no history at all). */
export const MIN_STORED_EVENT_RETENTION_MS = 86_400_000;
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Every environment variable varsel reads (and the option that overrides it). */
export const ENVIRONMENT: readonly { name: string; option?: string; meaning: string }[] = [
  { name: "PORT", option: "--port", meaning: `port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)` },
  { name: "HOST", option: "--host", meaning: `address to listen on (default ${DEFAULT_HOST}: this machine only; 0.0.0.0 in a container)` },
  { name: "VARSEL_TRANSPORT", option: "--transport", meaning: "ws (node:http + ws, the default) or uws (uWebSockets.js: Node 20 only; falls back to ws with a log line when its binary does not load)" },
  { name: "VARSEL_INGEST_THREADS", meaning: "1: WebSocket frames are decoded, validated and journal-encoded on an ingest thread, 0: on the main thread (default 0)" },
  {
    name: "VARSEL_DATABASE_URL",
    option: "--database",
    meaning:
      "the store: postgres://user[:password]@host[:port]/database[?schema=name] (the schema is created if missing, default public; " +
      "other parameters such as sslmode go to the pg driver), or a SQLite file (sqlite:<path> or a path; default .varsel/varsel.db)",
  },
  { name: "VARSEL_JWT_SECRET", meaning: `HS256 secret tokens are verified and minted with, at least ${MIN_SECRET_LENGTH} characters (openssl rand -base64 32)` },
  { name: "VARSEL_JWKS", option: "--jwks", meaning: "a JWKS file: verify tokens with its keys (an identity provider's) instead of a secret" },
  { name: "VARSEL_JWT_ISSUER", option: "--jwt-issuer", meaning: "the iss claim every token must carry (default: not checked)" },
  { name: "VARSEL_JWT_AUDIENCE", option: "--jwt-audience", meaning: "the aud claim every token must carry (default: not checked)" },
  { name: "VARSEL_DEV_SECRET_FILE", meaning: "dev mode (no secret, no JWKS): where the generated secret is kept (default .varsel/dev-secret, mode 0600)" },
  { name: "VARSEL_CORS_ORIGINS", option: "--cors-origin", meaning: "comma-separated browser origins allowed to call the HTTP API, or * (default none)" },
  { name: "VARSEL_READINGS_RETENTION_DAYS", option: "--readings-retention", meaning: "days stored readings are kept (default 30; 0 stores none)" },
  {
    name: "VARSEL_EVENT_RETENTION_COUNT",
    meaning:
      `events held in memory for WebSocket resumeFrom (default ${DEFAULT_MAX_EVENTS}, ${EVENT_RETENTION_COUNT.min} to ${EVENT_RETENTION_COUNT.max}); ` +
      "a cursor older than the window is answered resync_required and a snapshot",
  },
  { name: "VARSEL_EVENT_RETENTION_AGE", meaning: `... and for at most this long (a duration: 90m, 24h, 3d; default ${DEFAULT_MAX_EVENT_AGE_MS / 3_600_000}h, at least 1m)` },
  {
    name: "VARSEL_STORED_EVENT_RETENTION",
    meaning: `how long stored events (alert history) are kept, pruned at each snapshot (a duration; default ${DEFAULT_EVENT_RETENTION_MS / 86_400_000}d, at least 1d)`,
  },
  { name: "VARSEL_SNAPSHOT_REPLAY_BUDGET_MS", meaning: "snapshot once replaying the journal since the last one would take this long (default 1000; 200 per partition on a cluster engine)" },
  { name: "VARSEL_SNAPSHOT_EVERY_COMMANDS", meaning: "... or after this many commands (default: no limit; 10000 per partition on a cluster engine)" },
  { name: "VARSEL_SNAPSHOT_EVERY_MS", meaning: "... or this long after the last one (default 60000; 10000 on a cluster engine)" },
  { name: "VARSEL_SNAPSHOT_MAX_SHARE", meaning: "... but spend at most this share of the time on snapshots (default 0.1; on a cluster engine over all its partitions)" },
  {
    name: "VARSEL_LATCHING",
    meaning:
      "which alerts latch (stay until acknowledged after the value returns to normal): none, or a comma-separated list of red|high, yellow|medium, " +
      "kind:<rule kind> and rule:<rule id> (default red: every alert that reached red; a rule's own latching: true always latches)",
  },
  { name: "VARSEL_RE_ALERT_AFTER", meaning: "announce an acknowledged alert again when still in condition this long after the ack, per priority (default high=30m,medium=4h,low=0; 0 = never)" },
  { name: "VARSEL_ESCALATION_DELAY", meaning: "acknowledgement timeout of a care-chain step without its own ackTimeout (default 15m)" },
  { name: "VARSEL_ESCALATION_LOOPS", meaning: `passes through the care chain again after it ended, before the final announcement to every team (default 1, at most ${MAX_ESCALATION_LOOPS})` },
  { name: "VARSEL_MAX_SILENCE", meaning: "longest time a silence hides an alert, per priority (default high=1h,medium=24h,low=7d); a longer silence than the longest is refused (silence_too_long)" },
  {
    name: "VARSEL_LATE_AFTER",
    meaning:
      "readings older than this when they arrive are late: an alert they raise for an episode already over is a record for review (late, priority low), " +
      "never an urgent alarm (default 15m; 1m to 7d)",
  },
  { name: "VARSEL_EPISODE_GROUP_WAIT", meaning: "alerts of one patient raised within this of an episode's first alert share its episode id (default 60s; 0 = every alert its own episode)" },
  {
    name: "VARSEL_CLOCK",
    option: "--clock",
    meaning: "system (default) or virtual: the engine's time moves only by POST /v1/clock (tests and simulations; refused without --allow-virtual-clock on the command line)",
  },
  {
    name: "VARSEL_CLUSTER_LEASE",
    option: "--cluster-lease",
    meaning: "cluster engine: its partitions are taken over by another engine this long after its last lease renewal (a duration, default 2s, at least 1s; docs/cluster.md)",
  },
  { name: "VARSEL_CLUSTER_SCAN", option: "--cluster-scan", meaning: "cluster engine: how often it renews its leases and looks at the others' (a duration, default a fifth of the lease, at most a third)" },
  { name: "VARSEL_URL", option: "--url", meaning: "simulate: the server to send to (default http://127.0.0.1:8080)" },
  { name: "VARSEL_TOKEN", option: "--token", meaning: "simulate: an admin token (default: minted with the development secret)" },
  { name: "LOG_LEVEL", meaning: `${LOG_LEVELS.join(", ")} (default info); logs are JSON lines (pino) on stdout` },
  { name: "PGUSER, PGPASSWORD", meaning: "the PostgreSQL user and password when the URL has none (read by the pg driver)" },
];

/** The `Environment:` section of --help. */
export function environmentHelp(): string {
  const width = Math.max(...ENVIRONMENT.map((e) => e.name.length));
  const lines = ENVIRONMENT.map((e) => `  ${e.name.padEnd(width)}  ${e.option === undefined ? "" : `(${e.option}) `}${e.meaning}`);
  return `\nEnvironment (an option given on the command line wins; an empty variable counts as unset):\n${lines.join("\n")}\n`;
}

/** The variable's value, or undefined when it is unset or empty. */
export function env(name: string, from: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = from[name];
  return value === undefined || value === "" ? undefined : value;
}

// ---- single values: each throws SettingError naming where the value came from ----

export function parsePort(value: string, source: string): number {
  const n = /^\d{1,5}$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65_535)) throw new SettingError(`${source} must be a whole number from 0 to 65535, not ${JSON.stringify(value)}`);
  return n;
}

/** A number (≥ `min`, ≤ `max`), or undefined when unset. */
export function parseNumber(value: string | undefined, source: string, min: number, max = Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new SettingError(`${source} must be a number${max === Infinity ? ` ≥ ${min}` : ` from ${min} to ${max}`}, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** A whole number from `min` to `max`, or undefined when unset. */
export function parseCount(value: string | undefined, source: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,16}$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new SettingError(`${source} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

/** Milliseconds of a duration ("90m", "24h", "30d": engine/rules/duration.ts) of at least `minMs`, or undefined when unset. */
export function parseDurationSetting(value: string | undefined, source: string, minMs: number, minText: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === null) {
    throw new SettingError(`${source} must be a duration such as 90m, 24h or 30d (at most ${MAX_DURATION_MS / 86_400_000}d), not ${JSON.stringify(value)}`);
  }
  if (ms < minMs) throw new SettingError(`${source} must be at least ${minText}, not ${JSON.stringify(value)}`);
  return ms;
}

/** The HS256 secret, checked: never echoed in a message. */
export function checkSecret(secret: string, source = "VARSEL_JWT_SECRET"): string {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SettingError(`${source} must be at least ${MIN_SECRET_LENGTH} characters (it has ${secret.length}); make one with: openssl rand -base64 32`);
  }
  return secret;
}

/** A JWKS file that can be read and holds a `keys` array. */
export function checkJwksFile(file: string, source: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SettingError(`${source} ${file}: ${e.code === "ENOENT" ? "no such file" : e instanceof SyntaxError ? "not JSON" : e.message}`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new SettingError(`${source} ${file}: not a JWKS (no "keys" array with a key)`);
  return file;
}

/**
 * A store URL as open-store.ts reads it, checked before anything connects: PostgreSQL URLs
 * must parse, name a user (or PGUSER must), and a valid `?schema=`; SQLite paths pass.
 */
export function checkDatabaseUrl(url: string, source: string, from: NodeJS.ProcessEnv = process.env): string {
  const text = url.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new SettingError(`${source} is not a valid URL: ${redact(text)}`);
    }
    if (parsed.username === "" && env("PGUSER", from) === undefined) {
      throw new SettingError(`${source} names no PostgreSQL user: write postgres://USER[:PASSWORD]@${parsed.host || "HOST"}${parsed.pathname} (or set PGUSER)`);
    }
    const schema = parsed.searchParams.get("schema");
    if (schema !== null && !SCHEMA_NAME.test(schema)) {
      throw new SettingError(`${source}: ?schema=${JSON.stringify(schema)} is not a schema name (letters, digits and _, not starting with a digit, at most 63)`);
    }
    return text;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^sqlite:/i.test(text)) {
    throw new SettingError(`${source} ${JSON.stringify(redact(text))} is not a store: use postgres://..., sqlite:<path> or a file path`);
  }
  return text;
}

/** The store URL: the option, else VARSEL_DATABASE_URL, checked; undefined for the default SQLite file. */
export function databaseUrl(option: string | undefined, from: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option !== undefined) return checkDatabaseUrl(option, "--database", from);
  const url = env("VARSEL_DATABASE_URL", from);
  return url === undefined ? undefined : checkDatabaseUrl(url, "VARSEL_DATABASE_URL", from);
}

// ---- the server's settings ----

/** The options `serve` and `check` share (check checks what serve would use). */
export function addServerOptions(cmd: Command): Command {
  return cmd
    .option("--port <port>", "port to listen on (env PORT; default 8080)")
    .option("--host <host>", "address to listen on (env HOST; default 127.0.0.1)")
    .addOption(new Option("--transport <kind>", "uws or ws (env VARSEL_TRANSPORT)").choices(["uws", "ws"]))
    .option("--database <url>", "postgres://… or a SQLite file (env VARSEL_DATABASE_URL; default .varsel/varsel.db)")
    .option("--memory", "keep nothing: no store (for trying things out)")
    .option("--jwks <file>", "verify tokens with this JWKS file instead of VARSEL_JWT_SECRET (env VARSEL_JWKS)")
    .option("--jwt-issuer <iss>", "the iss claim tokens must carry (env VARSEL_JWT_ISSUER)")
    .option("--jwt-audience <aud>", "the aud claim tokens must carry (env VARSEL_JWT_AUDIENCE)")
    .option("--readings-retention <days>", "keep stored readings this many days, 0 for none (env VARSEL_READINGS_RETENTION_DAYS; default 30)")
    .option("--cors-origin <origins>", "comma-separated browser origins allowed to call the HTTP API, or * (env VARSEL_CORS_ORIGINS)")
    .option("--clock <kind>", "system, or virtual: time moves only by POST /v1/clock (env VARSEL_CLOCK; development only)")
    .option("--allow-virtual-clock", "confirm --clock virtual (never on a server with patient data)")
    .option("--clock-start <time>", "where a virtual clock starts: ISO 8601 or epoch ms (default now; never before what the store's journal holds)");
}

export interface ServerOptionValues {
  port?: string;
  host?: string;
  transport?: TransportKind;
  database?: string;
  memory?: boolean;
  jwks?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  readingsRetention?: string;
  corsOrigin?: string;
  clock?: string;
  allowVirtualClock?: boolean;
  clockStart?: string;
}

/** How tokens are verified: a configured secret, a JWKS, or dev mode (a generated secret). */
export type TokenKeys = { kind: "secret"; secret: string } | { kind: "jwks"; file: string } | { kind: "dev" };

export interface ServerSettings {
  port: number;
  host: string;
  transport?: TransportKind;
  /** Ingest threads for WebSocket frames (0 or 1; unset: the server's default). */
  ingestThreads?: 0 | 1;
  /** undefined with --memory. */
  database: { url: string | undefined } | undefined;
  keys: TokenKeys;
  claims: Pick<AuthOptions, "issuer" | "audience">;
  corsOrigins?: string[];
  readingRetentionMs?: number;
  /** The in-memory event window clients resume from (unset: the event log's defaults). */
  eventWindow: { maxEvents?: number; maxAgeMs?: number };
  /** Stored events are pruned this long after they happened (unset: 30 days). */
  storedEventRetentionMs?: number;
  /** virtual: the engine's time moves only by POST /v1/clock (engine/virtual-clock.ts), from `start` (default now). */
  clock: { kind: "system" } | { kind: "virtual"; start?: number };
  snapshot: { snapshotReplayBudgetMs?: number; snapshotEveryCommands?: number; snapshotEveryMs?: number; snapshotMaxShare?: number };
  /** The alarm behaviour (only what the environment sets; the lifecycle's defaults for the rest). */
  alarms: AlarmSettings;
  logLevel: string;
}

/** The lifecycle options the environment may set. */
export type AlarmSettings = Pick<LifecycleOptions, "latching" | "escalationDelayMs" | "lateAfterMs"> & AlarmPolicyInput;

const LEVEL_NAMES: Record<string, AlertLevel> = { red: "red", high: "red", yellow: "yellow", medium: "yellow" };
const RULE_KINDS: readonly Exclude<RuleKind, "unknown">[] = ["band", "baseline", "delta", "rate", "missing", "score"];

/** VARSEL_LATCHING: "none", or red|high, yellow|medium, kind:<kind>, rule:<id>, comma-separated. */
export function parseLatching(value: string, source: string): LatchingPolicy {
  const items = value.split(",").map((i) => i.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === "none") return {};
  const policy: Required<LatchingPolicy> = { levels: [], kinds: [], rules: [] };
  for (const item of items) {
    const [prefix, rest] = item.includes(":") ? [item.slice(0, item.indexOf(":")), item.slice(item.indexOf(":") + 1)] : ["", item];
    if (prefix === "" && Object.hasOwn(LEVEL_NAMES, item)) policy.levels.push(LEVEL_NAMES[item]);
    else if (prefix === "kind" && (RULE_KINDS as readonly string[]).includes(rest)) policy.kinds.push(rest as Exclude<RuleKind, "unknown">);
    else if (prefix === "rule" && rest !== "") policy.rules.push(rest);
    else throw new SettingError(`${source}: ${JSON.stringify(item)} is not none, red, high, yellow, medium, kind:<${RULE_KINDS.join("|")}> or rule:<rule id>`);
  }
  if (items.length === 0) throw new SettingError(`${source} is empty: write none to latch nothing`);
  return policy;
}

/** A duration setting ("30m", "4h", "7d", or 0), in ms. */
export function parseDurationOrZero(value: string, source: string): number {
  const text = value.trim();
  const ms = text === "0" ? 0 : parseDuration(text);
  if (ms === null) throw new SettingError(`${source} must be a duration such as 90s, 30m, 4h or 7d (or 0), not ${JSON.stringify(value)}`);
  return ms;
}

/** "high=30m,medium=4h,low=0": a duration per priority (the ones not named keep their default). */
export function parsePerPriority(value: string, source: string): Partial<Record<Priority, number>> {
  const out: Partial<Record<Priority, number>> = {};
  for (const item of value.split(",").map((i) => i.trim()).filter(Boolean)) {
    const [name, duration] = item.split("=").map((p) => p.trim());
    if (!(PRIORITY_ORDER as readonly string[]).includes(name) || duration === undefined) {
      throw new SettingError(`${source}: ${JSON.stringify(item)} is not <priority>=<duration> with priority high, medium or low`);
    }
    out[name as Priority] = parseDurationOrZero(duration, `${source} ${name}`);
  }
  return out;
}

/** The alarm settings of the environment, checked together (alarmPolicy's bounds) as the lifecycle will. */
export function alarmSettings(from: NodeJS.ProcessEnv = process.env): AlarmSettings {
  const out: AlarmSettings = {};
  const latching = env("VARSEL_LATCHING", from);
  if (latching !== undefined) out.latching = parseLatching(latching, "VARSEL_LATCHING");
  const reAlert = env("VARSEL_RE_ALERT_AFTER", from);
  if (reAlert !== undefined) out.reAlertAfterMs = parsePerPriority(reAlert, "VARSEL_RE_ALERT_AFTER");
  const delay = env("VARSEL_ESCALATION_DELAY", from);
  if (delay !== undefined) {
    out.escalationDelayMs = parseDurationOrZero(delay, "VARSEL_ESCALATION_DELAY");
    if (out.escalationDelayMs === 0) throw new SettingError("VARSEL_ESCALATION_DELAY must be longer than 0");
  }
  const loops = parseNumber(env("VARSEL_ESCALATION_LOOPS", from), "VARSEL_ESCALATION_LOOPS", 0, MAX_ESCALATION_LOOPS);
  if (loops !== undefined) {
    if (!Number.isInteger(loops)) throw new SettingError(`VARSEL_ESCALATION_LOOPS must be a whole number from 0 to ${MAX_ESCALATION_LOOPS}`);
    out.escalationLoops = loops;
  }
  const silence = env("VARSEL_MAX_SILENCE", from);
  if (silence !== undefined) out.maxSilenceMs = parsePerPriority(silence, "VARSEL_MAX_SILENCE");
  const wait = env("VARSEL_EPISODE_GROUP_WAIT", from);
  if (wait !== undefined) out.episodeGroupWaitMs = parseDurationOrZero(wait, "VARSEL_EPISODE_GROUP_WAIT");
  const late = env("VARSEL_LATE_AFTER", from);
  if (late !== undefined) {
    out.lateAfterMs = parseDurationOrZero(late, "VARSEL_LATE_AFTER");
    if (!(out.lateAfterMs >= MIN_LATE_AFTER_MS && out.lateAfterMs <= MAX_LATE_AFTER_MS)) throw new SettingError(`VARSEL_LATE_AFTER must be from 1m to 7d, not ${JSON.stringify(late)}`);
  }
  try {
    alarmPolicy(out);
  } catch (err) {
    throw new SettingError(`alarm settings: ${(err as Error).message}`);
  }
  return out;
}

/** The token keys the environment configures (a JWKS wins over a secret). */
export function tokenKeys(jwksOption: string | undefined, from: NodeJS.ProcessEnv = process.env): TokenKeys {
  const jwks = jwksOption ?? env("VARSEL_JWKS", from);
  if (jwks !== undefined) return { kind: "jwks", file: checkJwksFile(jwks, jwksOption !== undefined ? "--jwks" : "VARSEL_JWKS") };
  const secret = env("VARSEL_JWT_SECRET", from);
  return secret === undefined ? { kind: "dev" } : { kind: "secret", secret: checkSecret(secret) };
}

/** The LOG_LEVEL, checked. */
export function logLevel(from: NodeJS.ProcessEnv = process.env): string {
  const level = env("LOG_LEVEL", from) ?? "info";
  if (!LOG_LEVELS.includes(level)) throw new SettingError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(level)}`);
  return level;
}

/**
 * The clock: a virtual one only with --allow-virtual-clock on the command line (no variable
 * turns that on, so a deployment's environment cannot do it by accident).
 */
export function clockSetting(o: Pick<ServerOptionValues, "clock" | "allowVirtualClock" | "clockStart">, from: NodeJS.ProcessEnv = process.env): ServerSettings["clock"] {
  const source = o.clock !== undefined ? "--clock" : "VARSEL_CLOCK";
  const kind = (o.clock ?? env("VARSEL_CLOCK", from) ?? "system").trim();
  if (kind !== "system" && kind !== "virtual") throw new SettingError(`${source} must be system or virtual, not ${JSON.stringify(kind)}`);
  if (kind === "system") {
    if (o.clockStart !== undefined) throw new SettingError("--clock-start needs --clock virtual");
    return { kind };
  }
  if (o.allowVirtualClock !== true) {
    throw new SettingError(`${source} virtual lets an admin call move the engine's clock (tests and simulations only, never patient data): add --allow-virtual-clock to confirm`);
  }
  if (o.clockStart === undefined) return { kind };
  const text = o.clockStart.trim();
  const start = /^\d+$/.test(text) ? Number(text) : parseIsoTime(text);
  if (start === undefined || !Number.isSafeInteger(start)) throw new SettingError(`--clock-start must be an ISO 8601 time with an offset or epoch ms, not ${JSON.stringify(o.clockStart)}`);
  return { kind, start };
}

/** Every server setting from the options and the environment; throws SettingError on the first bad one. */
export function serverSettings(o: ServerOptionValues, from: NodeJS.ProcessEnv = process.env): ServerSettings {
  const pick = (option: string | undefined, flag: string, name: string): { value: string; source: string } | undefined =>
    option !== undefined ? { value: option, source: flag } : env(name, from) !== undefined ? { value: env(name, from)!, source: name } : undefined;
  const port = pick(o.port, "--port", "PORT");
  const host = pick(o.host, "--host", "HOST");
  if (host !== undefined && host.value.trim() === "") throw new SettingError(`${host.source} is empty`);
  const transport = o.transport ?? env("VARSEL_TRANSPORT", from);
  if (transport !== undefined && transport !== "uws" && transport !== "ws") throw new SettingError(`VARSEL_TRANSPORT must be uws or ws, not ${JSON.stringify(transport)}`);
  const threads = env("VARSEL_INGEST_THREADS", from)?.trim();
  if (threads !== undefined && threads !== "0" && threads !== "1") throw new SettingError(`VARSEL_INGEST_THREADS must be 0 or 1, not ${JSON.stringify(threads)}`);
  const retention = pick(o.readingsRetention, "--readings-retention", "VARSEL_READINGS_RETENTION_DAYS");
  const retentionDays = retention === undefined ? undefined : parseNumber(retention.value, retention.source, 0);
  const cors = o.corsOrigin ?? env("VARSEL_CORS_ORIGINS", from);
  const snapshotNumber = (name: string, min: number, max?: number) => parseNumber(env(name, from), name, min, max);
  return {
    port: port === undefined ? DEFAULT_PORT : parsePort(port.value, port.source),
    host: host?.value.trim() ?? DEFAULT_HOST,
    transport,
    ingestThreads: threads === undefined ? undefined : (Number(threads) as 0 | 1),
    database: o.memory ? undefined : { url: databaseUrl(o.database, from) },
    keys: tokenKeys(o.jwks, from),
    claims: { issuer: o.jwtIssuer ?? env("VARSEL_JWT_ISSUER", from), audience: o.jwtAudience ?? env("VARSEL_JWT_AUDIENCE", from) },
    corsOrigins: cors?.split(",").map((c) => c.trim()).filter(Boolean),
    readingRetentionMs: retentionDays === undefined ? undefined : retentionDays * 86_400_000,
    eventWindow: {
      maxEvents: parseCount(env("VARSEL_EVENT_RETENTION_COUNT", from), "VARSEL_EVENT_RETENTION_COUNT", EVENT_RETENTION_COUNT.min, EVENT_RETENTION_COUNT.max),
      maxAgeMs: parseDurationSetting(env("VARSEL_EVENT_RETENTION_AGE", from), "VARSEL_EVENT_RETENTION_AGE", MIN_EVENT_RETENTION_AGE_MS, "1m"),
    },
    storedEventRetentionMs: parseDurationSetting(env("VARSEL_STORED_EVENT_RETENTION", from), "VARSEL_STORED_EVENT_RETENTION", MIN_STORED_EVENT_RETENTION_MS, "1d"),
    clock: clockSetting(o, from),
    snapshot: {
      snapshotReplayBudgetMs: snapshotNumber("VARSEL_SNAPSHOT_REPLAY_BUDGET_MS", 0),
      snapshotEveryCommands: snapshotNumber("VARSEL_SNAPSHOT_EVERY_COMMANDS", 1),
      snapshotEveryMs: snapshotNumber("VARSEL_SNAPSHOT_EVERY_MS", 0),
      snapshotMaxShare: snapshotNumber("VARSEL_SNAPSHOT_MAX_SHARE", 0.001, 1),
    },
    alarms: alarmSettings(from),
    logLevel: logLevel(from),
  };
}
