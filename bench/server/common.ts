// Shared by the server benchmark's processes (bench/server.ts and the children in this folder):
// the patient / team naming, the IPC messages, a MessagePack ingest-frame writer and a small
// reader for the server's ingest_result, child-process plumbing with timeouts, a seeded RNG and
// a latency histogram. Loopback (127.0.0.1) only.
import { fork, type ChildProcess } from "node:child_process";
import { unpack } from "msgpackr";
import type { AlarmTally } from "./backfill-trace.js";

export const HOST = "127.0.0.1";
export const WS_PATH = "/v1/ws";
export const MSGPACK = "varsel.v1.msgpack";

// ---------------------------------------------------------------- patients and teams

/** Patient i: "p00042"; its care team: "t42" (i mod teams). */
export const patientId = (i: number): string => `p${String(i).padStart(5, "0")}`;
export const teamId = (t: number): string => `t${String(t).padStart(2, "0")}`;
export const teamOf = (patient: number, teams: number): number => patient % teams;

/** The metrics the generators send: the telehjerte band rules (pulse 50–100 yellow, > 120 red, …). */
export const METRICS = ["pulse", "bp_sys", "bp_dia"] as const;
export type Metric = (typeof METRICS)[number];

/** In-band value range and out-of-band yellow / red ranges per metric (telehjerte limits). */
export const VALUES: Record<Metric, { inBand: [number, number]; yellow: [number, number]; red: [number, number] }> = {
  // pulse-band: redLow 40, yellowLow 50, yellowHigh 100, redHigh 120
  pulse: { inBand: [60, 90], yellow: [104, 116], red: [126, 140] },
  // bp-sys-band: 90 / 100 / 160 / 180
  bp_sys: { inBand: [110, 150], yellow: [164, 176], red: [186, 200] },
  // bp-dia-band: 50 / 60 / 95 / 110
  bp_dia: { inBand: [65, 90], yellow: [98, 106], red: [114, 125] },
};

/** Teams owned by socket k of K: t with t mod K = k. */
export function teamsOfSocket(k: number, sockets: number, teams: number): number[] {
  const out: number[] = [];
  for (let t = k; t < teams; t += sockets) out.push(t);
  return out;
}

/** Patients whose team is in `teams`. */
export function patientsOfTeams(teams: readonly number[], patients: number, teamCount: number): number[] {
  const set = new Set(teams);
  const out: number[] = [];
  for (let p = 0; p < patients; p++) if (set.has(teamOf(p, teamCount))) out.push(p);
  return out;
}

// ---------------------------------------------------------------- IPC messages

export interface ServerChildConfig {
  transport: "uws" | "ws";
  /** "varsel": the real server; "transport-only": the bare transport answering frames unread (transport-only.ts). */
  app: "varsel" | "transport-only";
  patients: number;
  teams: number;
  limits: Record<string, number>;
  tickMs: number;
  maxLifetimeMs: number;
  /** The server's ingest threads (VARSEL_INGEST_THREADS); unset: its default. */
  ingestThreads?: 0 | 1;
  /**
   * Who is registered: "telehjerte" (default) the patients above; "cgm" (backfill) patients
   * cgmPatientId(i) on the CGM programme, patient i in team i mod `teams`, plus `bystanders`
   * telehjerte patients (bystanderId) in BYSTANDER_TEAM; alert events of CGM patients are tallied.
   */
  cohort?: "telehjerte" | "cgm";
  bystanders?: number;
  /** The event window clients resume from (unset: the server's defaults, VARSEL_EVENT_RETENTION_*). */
  eventWindow?: { maxEvents?: number; maxAgeMs?: number };
  /** A durable server on this SQLite file (snapshots only when asked: a `snapshot` message); unset: in memory. */
  sqlite?: string;
}

/** Backfill bystanders: live telehjerte patients of their own team. */
export const BYSTANDER_TEAM = "tby";
export const bystanderId = (i: number): string => `b${String(i).padStart(4, "0")}`;

export interface ServerStats {
  type: "stats";
  rssMb: number;
  heapUsedMb: number;
  /** process.cpuUsage() user + system, µs since start. */
  cpuMicros: number;
  /** The main thread's own CPU time, µs since start (Linux /proc; undefined elsewhere): the ingest thread and GC helpers excluded. */
  mainCpuMicros?: number;
  /** performance.eventLoopUtilization() raw (idle, active in ms). */
  elu: { idle: number; active: number };
  at: number;
  /** Lifecycle events issued so far (lastSeq) and alerts open now. */
  events: number;
  openAlerts: number;
  /** Event-loop delay since the last reset (ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Clock ticks since the last reset: count, longest and total ms. */
  ticks: { count: number; maxMs: number; totalMs: number };
  /**
   * Since the last reset, per alert event triggered by a reading: Date.now() when the durable
   * flush releases it to the hub − the reading's time (the generator's send time): the server's
   * share of ingest → alert, before the sends to subscribers.
   */
  released: HistogramData;
  /** Largest RSS sampled (every 20 ms) since the last reset, MB. */
  rssPeakMb: number;
  /** cohort "cgm": the alert events of CGM patients since the server started (never reset). */
  alarms?: AlarmTally;
}

export interface SocketPlan {
  /** Name used in frame ids. */
  name: string;
  token: string;
  /** Patient indices this socket sends readings for. */
  patients: number[];
}

export interface LoadgenConfig {
  port: number;
  sockets: SocketPlan[];
  /** "max": keep `window` frames in flight per socket; "rate": open loop at `rate` readings/s for this process. */
  mode: "max" | "rate";
  frame: number;
  window: number;
  rate: number;
  /** Rate mode: send every this many ms (readings due since the last send go in one frame, up to `frame`). */
  tickMs: number;
  /** Rate mode: all sockets send at the same instant each tick (bursts), instead of taking turns spread over it. */
  aligned?: boolean;
  /** Rate mode: a socket with this many unacknowledged frames skips sending (counted). */
  maxInFlight: number;
  oob: number;
  seed: number;
  maxLifetimeMs: number;
}

export interface Go {
  type: "go";
  /** Epoch ms: measurement window [t0, t1); sending starts at once, stops at t1. */
  t0: number;
  t1: number;
}

export interface LoadgenResult {
  type: "result";
  /** Readings accepted, counted from ingest_result: max mode results received in the window; rate mode frames sent in the window. */
  accepted: number;
  rejected: number;
  rejectedCodes: Record<string, number>;
  sentReadings: number;
  sentFrames: number;
  ackedFrames: number;
  transitions: number;
  /** Readings triaged out_of_order in the fully decoded results (rate mode: all; max mode: every 50th). */
  outOfOrder: number;
  /** Results decoded fully. */
  checkedResults: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
  /** Rate mode: sends skipped because maxInFlight frames were unacknowledged. */
  skipped: number;
  /** Rate mode: frame send → ingest_result received (ms, histogram). */
  ack: HistogramData;
  /** CPU of this process in the window (µs). */
  cpuMicros: number;
  outstanding: number;
}

export interface SubscriberConfig {
  port: number;
  subs: { team: string; token: string }[];
  concurrency: number;
  connectTimeoutMs: number;
  maxLifetimeMs: number;
}

export interface SubscriberResult {
  type: "result";
  /** ingest → delivered: receipt Date.now() − trigger reading time (ms), alert events whose reading is in the window. */
  latency: HistogramData;
  events: number;
  eventsInWindow: number;
  byType: Record<string, number>;
  heartbeats: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
  cpuMicros: number;
  /** Subscribers that timed out or were closed before subscribing (then retried once), with the stage they were in. */
  connectRetries: string[];
}

// ---------------------------------------------------------------- seeded RNG

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

// ---------------------------------------------------------------- latency histogram (integer ms)

/** Counts by integer ms (Date.now() differences are whole ms); index 0 = OFFSET ms below zero. */
export interface HistogramData {
  offset: number;
  counts: number[];
}

const OFFSET = 16;
const SPAN = 60_000;

export class Histogram {
  private readonly counts = new Uint32Array(SPAN + OFFSET + 1);
  total = 0;

  add(ms: number): void {
    const i = Math.max(0, Math.min(SPAN + OFFSET, Math.round(ms) + OFFSET));
    this.counts[i]++;
    this.total++;
  }

  data(): HistogramData {
    let last = this.counts.length - 1;
    while (last > 0 && this.counts[last] === 0) last--;
    return { offset: OFFSET, counts: Array.from(this.counts.subarray(0, last + 1)) };
  }
}

export function mergeHistograms(hs: readonly HistogramData[]): HistogramData {
  const counts: number[] = [];
  for (const h of hs) {
    if (h.offset !== OFFSET) throw new Error("histogram offsets differ");
    h.counts.forEach((c, i) => (counts[i] = (counts[i] ?? 0) + c));
  }
  for (let i = 0; i < counts.length; i++) counts[i] ??= 0;
  return { offset: OFFSET, counts };
}

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function percentiles(h: HistogramData): Percentiles {
  const n = h.counts.reduce((a, b) => a + b, 0);
  if (n === 0) return { n: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const at = (q: number): number => {
    const rank = Math.ceil(q * n); // nearest-rank
    let seen = 0;
    for (let i = 0; i < h.counts.length; i++) {
      seen += h.counts[i];
      if (seen >= rank) return i - h.offset;
    }
    return h.counts.length - 1 - h.offset;
  };
  let sum = 0;
  h.counts.forEach((c, i) => (sum += c * (i - h.offset)));
  let max = h.counts.length - 1;
  while (max > 0 && h.counts[max] === 0) max--;
  return { n, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: max - h.offset, mean: sum / n };
}

// ---------------------------------------------------------------- MessagePack frames

/**
 * Writes `{type: "ingest", id, readings: [{patient, metric, value, time}, …]}` as MessagePack
 * straight into a buffer: per slot the bytes up to the value are precomputed, value and time
 * are float64. Plain MessagePack (any decoder reads it; checked against msgpackr at start-up).
 * This keeps the generators cheap on a 2-core machine where they compete with the server.
 */
export class FrameWriter {
  private readonly prefix: Buffer[] = [];
  private static readonly TIME_KEY = Buffer.from([0xa4, ...Buffer.from("time")]);
  private buf: Buffer;

  constructor(slots: readonly { patient: string; metric: string }[], maxFrame: number) {
    for (const s of slots) {
      this.prefix.push(
        Buffer.concat([
          Buffer.from([0x84]),
          str("patient"),
          str(s.patient),
          str("metric"),
          str(s.metric),
          str("value"),
        ]),
      );
    }
    const longest = Math.max(...this.prefix.map((b) => b.length));
    this.buf = Buffer.allocUnsafe(64 + maxFrame * (longest + 9 + 5 + 9));
  }

  /** Encodes one frame; returns a view of the internal buffer (valid until the next call). */
  write(id: string, slots: ArrayLike<number>, values: ArrayLike<number>, times: ArrayLike<number>, n: number): Buffer {
    const b = this.buf;
    let o = 0;
    b[o++] = 0x83;
    o = putStr(b, o, "type");
    o = putStr(b, o, "ingest");
    o = putStr(b, o, "id");
    o = putStr(b, o, id);
    o = putStr(b, o, "readings");
    b[o++] = 0xdc; // array 16
    b.writeUInt16BE(n, o);
    o += 2;
    const tk = FrameWriter.TIME_KEY;
    for (let i = 0; i < n; i++) {
      const p = this.prefix[slots[i]];
      p.copy(b, o);
      o += p.length;
      b[o++] = 0xcb;
      b.writeDoubleBE(values[i], o);
      o += 8;
      tk.copy(b, o);
      o += tk.length;
      b[o++] = 0xcb;
      b.writeDoubleBE(times[i], o);
      o += 8;
    }
    return b.subarray(0, o);
  }
}

function str(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length >= 32) throw new Error(`string too long for fixstr: ${s}`);
  return Buffer.concat([Buffer.from([0xa0 | bytes.length]), bytes]);
}

function putStr(b: Buffer, o: number, s: string): number {
  // ASCII only, < 32 bytes
  b[o++] = 0xa0 | s.length;
  for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
  return o;
}

/** What the generators need from an ingest_result. */
export interface ResultHead {
  type: string;
  id?: string;
  accepted: number;
  rejected: number;
  /** Only from the full decode. */
  transitions?: number;
  /** Only from the full decode: readings triaged out_of_order (should be none). */
  outOfOrder?: number;
  rejectedCodes?: string[];
  code?: string;
}

/**
 * Reads type, id, accepted and the number of rejected readings from the start of the server's
 * ingest_result (`{type, id, accepted, duplicates, rejected, …}` in that key order), without
 * decoding the per-reading `readings` array. Anything unexpected falls back to a full decode.
 */
export function readResultHead(buf: Buffer, full = false): ResultHead {
  if (!full) {
    const fast = fastHead(buf);
    if (fast !== undefined) return fast;
  }
  const m = unpack(buf) as {
    type: string;
    id?: string;
    accepted?: number;
    rejected?: { code: string }[];
    transitions?: number;
    readings?: { triage?: string }[];
    code?: string;
  };
  return {
    type: m.type,
    id: m.id,
    accepted: m.accepted ?? 0,
    rejected: m.rejected?.length ?? 0,
    transitions: m.transitions,
    outOfOrder: m.readings?.reduce((n, r) => n + (r.triage === "out_of_order" ? 1 : 0), 0),
    rejectedCodes: m.rejected?.map((r) => r.code),
    code: m.code,
  };
}

/** A reader for the few MessagePack types of these frames; each method answers undefined on any other type. */
class Cursor {
  o = 0;
  constructor(private readonly b: Buffer) {}

  mapLen(): number | undefined {
    const t = this.b[this.o++];
    if ((t & 0xf0) === 0x80) return t & 0x0f;
    if (t !== 0xde) return undefined;
    this.o += 2;
    return this.b.readUInt16BE(this.o - 2);
  }

  str(): string | undefined {
    const b = this.b;
    const t = b[this.o++];
    let len: number;
    if ((t & 0xe0) === 0xa0) len = t & 0x1f;
    else if (t === 0xd9) len = b[this.o++];
    else if (t === 0xda) {
      len = b.readUInt16BE(this.o);
      this.o += 2;
    } else return undefined;
    const s = b.toString("latin1", this.o, this.o + len);
    this.o += len;
    return s;
  }

  uint(): number | undefined {
    const b = this.b;
    const t = b[this.o++];
    if (t <= 0x7f) return t;
    if (t === 0xcc) return b[this.o++];
    if (t === 0xcd) {
      this.o += 2;
      return b.readUInt16BE(this.o - 2);
    }
    if (t === 0xce) {
      this.o += 4;
      return b.readUInt32BE(this.o - 4);
    }
    return undefined;
  }

  arrayLen(): number | undefined {
    const b = this.b;
    const t = b[this.o++];
    if ((t & 0xf0) === 0x90) return t & 0x0f;
    if (t === 0xdc) {
      this.o += 2;
      return b.readUInt16BE(this.o - 2);
    }
    if (t === 0xdd) {
      this.o += 4;
      return b.readUInt32BE(this.o - 4);
    }
    return undefined;
  }
}

function fastHead(b: Buffer): ResultHead | undefined {
  const c = new Cursor(b);
  if (c.mapLen() === undefined) return undefined;
  if (c.str() !== "type") return undefined;
  const type = c.str();
  if (type !== "ingest_result") return undefined;
  if (c.str() !== "id") return undefined;
  const id = c.str();
  if (id === undefined) return undefined;
  if (c.str() !== "accepted") return undefined;
  const accepted = c.uint();
  if (accepted === undefined) return undefined;
  if (c.str() !== "duplicates") return undefined;
  if (c.arrayLen() !== 0) return undefined;
  if (c.str() !== "rejected") return undefined;
  const rejected = c.arrayLen();
  if (rejected === undefined || rejected > 0) return undefined; // rare: decode fully for the codes
  return { type, id, accepted, rejected };
}

/** The id and reading count of an ingest frame as FrameWriter writes it (`{type: "ingest", id, readings}`), or undefined. */
export function readFrameHead(b: Buffer): { id: string; readings: number } | undefined {
  const c = new Cursor(b);
  if (c.mapLen() === undefined || c.str() !== "type" || c.str() !== "ingest" || c.str() !== "id") return undefined;
  const id = c.str();
  if (id === undefined || c.str() !== "readings") return undefined;
  const readings = c.arrayLen();
  return readings === undefined ? undefined : { id, readings };
}

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>();

/**
 * Forks a TypeScript child under tsx (its stdout and stderr go to our stderr) and hands it
 * `config` over IPC once it asks (configs hold tokens and can be larger than one argv string).
 */
export function spawnChild(file: string, config: unknown, opts: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const env = { ...process.env, ...opts.env };
  delete env.VARSEL_TRANSPORT; // the benchmark picks the transport explicitly
  const child = fork(file, [], {
    execArgv: ["--import", "tsx", ...(opts.execArgv ?? [])],
    stdio: ["ignore", 2, 2, "ipc"],
    env,
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const onHello = (m: { type?: string }): void => {
    if (m?.type !== "hello") return;
    child.off("message", onHello);
    child.send({ type: "config", config });
  };
  child.on("message", onHello);
  return child;
}

/** For child entries: asks the parent for the configuration and waits for it. */
export function receiveConfig<T>(): Promise<T> {
  return new Promise((resolve) => {
    const onConfig = (m: { type?: string; config?: T }): void => {
      if (m?.type !== "config") return;
      process.off("message", onConfig);
      resolve(m.config as T);
    };
    process.on("message", onConfig);
    process.send?.({ type: "hello" });
  });
}

/** Waits for the first IPC message of `type` (or rejects on exit / timeout). */
export function waitMessage<T extends { type: string }>(child: ChildProcess, type: string, timeoutMs: number, what = type): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const msg = m as { type?: string; error?: string };
      if (msg?.type === "error") {
        done();
        reject(new Error(`${what}: child failed: ${msg.error}`));
      } else if (msg?.type === type) {
        done();
        resolve(m as T);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`${what}: child exited (${code ?? signal}) before '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Asks a child to stop, then kills it if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    // With a callback, a pipe that broke as the child exited is not an uncaught 'error'.
    if (child.connected) child.send({ type: "stop" }, () => undefined);
  } catch {
    /* already gone */
  }
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

/** Kills every child still running (by its own pid). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

let lifetime: NodeJS.Timeout | undefined;
/** For child entries: exit when the parent goes away, and after a hard lifetime in any case (a second call resets it). */
export function guardChild(maxLifetimeMs: number): void {
  if (lifetime === undefined) process.on("disconnect", () => process.exit(0));
  clearTimeout(lifetime);
  lifetime = setTimeout(() => {
    process.stderr.write(`[bench child ${process.pid}] lifetime ${maxLifetimeMs} ms over, exiting\n`);
    process.exit(3);
  }, maxLifetimeMs);
  lifetime.unref();
}

/** For child entries: report an error to the parent and exit. */
export function failChild(err: unknown): void {
  const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`[bench child ${process.pid}] ${msg}\n`);
  try {
    process.send?.({ type: "error", error: err instanceof Error ? err.message : String(err) });
  } catch {
    /* parent gone */
  }
  setTimeout(() => process.exit(1), 50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function bump(rec: Record<string, number>, key: string, n = 1): void {
  rec[key] = (rec[key] ?? 0) + n;
}
