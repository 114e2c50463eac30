// npm run bench:server [-- --quick] — the server end to end on loopback: WebSocket MessagePack
// ingest throughput on uWebSockets.js and on the ws fallback, ingest → alert delivered latency at
// a fixed rate with subscribed clinician sockets, and HTTP ingest with autocannon. The server,
// the load generators and the subscribers are separate processes (bench/server/*.ts), a fresh
// server for every measured configuration. Prints a table, then as the last line one JSON
// object. See bench/README.md.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { ChildProcess } from "node:child_process";
import { Auth } from "../server/auth.js";
import { DEFAULT_LIMITS } from "../server/context.js";
import { fmtMs, fmtRate, fmtRatio, sig, summarize, type Summary } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";
import { backfillRun, type BackfillRun } from "./server/backfill.js";
import { usage, type Harness, type RunningServer } from "./server/harness.js";
import { phaseReport } from "./server/phase-report.js";
import { stormRun, type StormRun } from "./server/storm.js";
import {
  killAll,
  mergeHistograms,
  patientsOfTeams,
  percentiles,
  sleep,
  spawnChild,
  stopChild,
  teamId,
  teamsOfSocket,
  waitMessage,
  type Go,
  type HistogramData,
  type LoadgenConfig,
  type LoadgenResult,
  type Percentiles,
  type ServerChildConfig,
  type ServerStats,
  type SocketPlan,
  type SubscriberConfig,
  type SubscriberResult,
} from "./server/common.js";

// ---- options ----
const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    only: { type: "string" }, // comma list of: throughput,transport,latency,http
    transports: { type: "string" }, // for latency and http (throughput always measures both for the ratio)
    patients: { type: "string" },
    teams: { type: "string" },
    gens: { type: "string" },
    sockets: { type: "string" },
    frame: { type: "string" },
    window: { type: "string" },
    "tp-seconds": { type: "string" },
    warmup: { type: "string" },
    rate: { type: "string" },
    subscribers: { type: "string" },
    "sub-procs": { type: "string" },
    "lat-gens": { type: "string" },
    "lat-sockets": { type: "string" },
    "lat-tick-ms": { type: "string" },
    "lat-aligned": { type: "boolean", default: false },
    "lat-seconds": { type: "string" },
    "http-seconds": { type: "string" },
    "http-connections": { type: "string" },
    "http-batch": { type: "string" },
    oob: { type: "string" },
    "messages-per-second": { type: "string" },
    profile: { type: "string" }, // directory: a CPU profile of the server over each measured window goes there
    "bf-patients": { type: "string" },
    "bf-teams": { type: "string" },
    "bf-sockets": { type: "string" },
    "bf-gens": { type: "string" },
    "bf-frame-patients": { type: "string" },
    "bf-window": { type: "string" },
    "bf-day-chunks": { type: "string" },
    "bf-bystanders": { type: "string" },
    "bf-bystander-tick-ms": { type: "string" },
    "phase-transport": { type: "string" }, // backfill and storm
    "storm-sockets": { type: "string" },
    "storm-procs": { type: "string" },
    "storm-rate": { type: "string" },
    "storm-offline-ms": { type: "string" },
    "storm-after-ms": { type: "string" },
    "storm-retention-count": { type: "string" },
    "snap-patients": { type: "string" },
    "snap-rate": { type: "string" },
  },
  strict: true,
});
const quick = opt.quick === true;
const num = (s: string | undefined, d: number): number => (s === undefined ? d : Number(s.replace(/_/g, "")));
const cfg = {
  runs: num(opt.runs, quick ? 1 : 3),
  patients: num(opt.patients, 10_000),
  teams: num(opt.teams, 100),
  gens: num(opt.gens, 2),
  sockets: num(opt.sockets, 2),
  frame: num(opt.frame, 2_000),
  window: num(opt.window, 4),
  tpSeconds: num(opt["tp-seconds"], quick ? 3 : 8),
  warmup: num(opt.warmup, quick ? 1 : 2),
  rate: num(opt.rate, 50_000),
  subscribers: num(opt.subscribers, quick ? 200 : 1_000),
  subProcs: num(opt["sub-procs"], 2),
  latGens: num(opt["lat-gens"], 1),
  latSockets: num(opt["lat-sockets"], 4),
  latTickMs: num(opt["lat-tick-ms"], 10),
  latAligned: opt["lat-aligned"] === true,
  latSeconds: num(opt["lat-seconds"], quick ? 4 : 10),
  httpSeconds: num(opt["http-seconds"], quick ? 3 : 5),
  httpConnections: num(opt["http-connections"], 16),
  httpBatch: num(opt["http-batch"], 100),
  oob: num(opt.oob, 0.005),
  messagesPerSecond: num(opt["messages-per-second"], DEFAULT_LIMITS.messagesPerSecond),
  backfill: {
    patients: num(opt["bf-patients"], quick ? 10_000 : 100_000),
    teams: num(opt["bf-teams"], 128),
    sockets: num(opt["bf-sockets"], 64),
    gens: num(opt["bf-gens"], 2),
    patientsPerFrame: num(opt["bf-frame-patients"], 1),
    window: num(opt["bf-window"], 2),
    dayChunks: num(opt["bf-day-chunks"], 1),
    bystanders: num(opt["bf-bystanders"], 20),
    bystanderTickMs: num(opt["bf-bystander-tick-ms"], 25),
    transport: (opt["phase-transport"] ?? "uws") as "uws" | "ws",
  },
  /** Latency on a durable (SQLite) server with a snapshot taken inside the window, beside the same server without one. */
  snap: {
    patients: num(opt["snap-patients"], quick ? 10_000 : 100_000),
    rate: num(opt["snap-rate"], 10_000),
  },
  storm: {
    sockets: num(opt["storm-sockets"], quick ? 500 : 5_000),
    procs: num(opt["storm-procs"], 2),
    teams: num(opt.teams, 100),
    rate: num(opt["storm-rate"], num(opt.rate, 50_000)),
    offlineMs: num(opt["storm-offline-ms"], 2_000),
    afterMs: num(opt["storm-after-ms"], 3_000),
    transport: (opt["phase-transport"] ?? "uws") as "uws" | "ws",
    eventWindow: opt["storm-retention-count"] === undefined ? undefined : { maxEvents: num(opt["storm-retention-count"], 10_000) },
  },
};
const only = new Set((opt.only ?? `throughput,transport,latency,http,backfill,storm${quick ? "" : ",snapshot"}`).split(",").map((s) => s.trim()));
type Kind = "uws" | "ws";
const latHttpTransports = (opt.transports ?? (quick ? "uws" : "uws,ws")).split(",").map((s) => s.trim()) as Kind[];
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = (name: string): string => path.join(HERE, "server", name);
const LIFETIME_MS = quick ? 120_000 : 900_000; // every child exits by itself after this
const SECRET = randomBytes(36).toString("base64url");
const auth = new Auth({ secret: SECRET });
const TRANSPORT_NAME: Record<Kind, string> = { uws: "uWS", ws: "ws" };

/** Server start-up times (construct, register the patients, listen), ms. */
const setupTimes: number[] = [];

const log = (msg: string): void => void process.stderr.write(`[bench:server] ${msg}\n`);

// ---- the server child ----

async function startServer(transport: Kind, label: string, app: ServerChildConfig["app"] = "varsel", extra: Partial<ServerChildConfig> = {}): Promise<RunningServer> {
  const c: ServerChildConfig = {
    transport,
    app,
    patients: cfg.patients,
    teams: cfg.teams,
    limits: cfg.messagesPerSecond === DEFAULT_LIMITS.messagesPerSecond ? {} : { messagesPerSecond: cfg.messagesPerSecond },
    tickMs: 1000,
    maxLifetimeMs: LIFETIME_MS,
    ...extra,
  };
  // BENCH_SERVER_NODE_ARGS: extra Node flags for the server only (diagnostics, e.g. "--trace-gc").
  const execArgv = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const child = spawnChild(CHILD("server-child.ts"), c, { env: { BENCH_SECRET: SECRET }, execArgv });
  const ready = await waitMessage<{ type: "ready"; port: number; setupMs: number }>(child, "ready", 60_000, `server ${label}`);
  if (extra.cohort === undefined) setupTimes.push(ready.setupMs); // the backfill's 100 000 CGM patients are not this line's figure
  return { child, port: ready.port, setupMs: ready.setupMs, label };
}

async function serverStats(s: RunningServer, reset = false): Promise<ServerStats> {
  const p = waitMessage<ServerStats>(s.child, "stats", 10_000, "server stats");
  s.child.send({ type: "stats", reset });
  return p;
}

/** What the phases in bench/server/backfill.ts and storm.ts borrow from here. */
const harness: Harness = {
  auth,
  lifetimeMs: LIFETIME_MS,
  child: CHILD,
  log,
  startServer: (transport, label, extra) => startServer(transport, label, "varsel", extra),
  serverStats,
  profile: async (s, action) => {
    if (opt.profile === undefined) return;
    if (action === "start") return void s.child.send({ type: "profile", action: "start" });
    mkdirSync(opt.profile, { recursive: true });
    const file = path.resolve(opt.profile, `server-${s.label}.cpuprofile`);
    const done = waitMessage<{ type: "profiled"; error?: string }>(s.child, "profiled", 20_000, "server profile");
    s.child.send({ type: "profile", action: "stop", file });
    const r = await done;
    log(r.error === undefined ? `CPU profile: ${file}` : `profile failed: ${r.error}`);
  },
};

/** Whole-machine CPU from /proc/stat (Linux; undefined elsewhere) and this process's own CPU. */
interface MachineCpu {
  busy: number;
  total: number;
  self: number;
}
function machineCpu(): MachineCpu | undefined {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    const busy = user + nice + system + irq + softirq + steal;
    const self = process.cpuUsage();
    return { busy, total: busy + idle + iowait, self: (self.user + self.system) / 1e6 };
  } catch {
    return undefined;
  }
}
/** Cores busy on the whole machine between two readings, and this process's share (cores). */
function machineCores(a: MachineCpu | undefined, b: MachineCpu | undefined, seconds: number): { busy: number; self: number } {
  if (a === undefined || b === undefined || b.total === a.total) return { busy: NaN, self: NaN };
  return { busy: ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length, self: (b.self - a.self) / seconds };
}
/** CPU used by other processes on the machine (cores): everything busy minus the server, our children and us. */
function otherCores(m: { busy: number; self: number }, ours: number): number {
  return Math.max(0, m.busy - m.self - ours);
}

const PROFILE_LEAD_MS = 500;

/** Stats at t0 and t1 of a window, taken on time (and with --profile, a CPU profile of the window). */
async function statsWindow(s: RunningServer, t0: number, t1: number): Promise<{ at0: ServerStats; at1: ServerStats; machine: { busy: number; self: number } }> {
  if (opt.profile !== undefined) {
    // Starting the profiler blocks the server for ~0.1 s: do it in the warm-up, not in the window.
    await sleep(Math.max(0, t0 - PROFILE_LEAD_MS - Date.now()));
    s.child.send({ type: "profile", action: "start" });
  }
  await sleep(Math.max(0, t0 - Date.now()));
  const m0 = machineCpu();
  const at0 = await serverStats(s, true);
  await sleep(Math.max(0, t1 - Date.now()));
  const m1 = machineCpu();
  const at1 = await serverStats(s);
  const machine = machineCores(m0, m1, (at1.at - at0.at) / 1000);
  if (opt.profile !== undefined) {
    mkdirSync(opt.profile, { recursive: true });
    const file = path.resolve(opt.profile, `server-${s.label}.cpuprofile`);
    const done = waitMessage<{ type: "profiled"; error?: string }>(s.child, "profiled", 20_000, "server profile");
    s.child.send({ type: "profile", action: "stop", file });
    const r = await done;
    log(r.error === undefined ? `CPU profile of the window: ${file}` : `profile failed: ${r.error}`);
  }
  return { at0, at1, machine };
}

// ---- socket plans ----

async function devicePlans(count: number, prefix: string): Promise<SocketPlan[]> {
  const plans: SocketPlan[] = [];
  for (let k = 0; k < count; k++) {
    const teams = teamsOfSocket(k, count, cfg.teams);
    const token = await auth.sign({ sub: `${prefix}-gw${k}`, role: "device", teams: teams.map(teamId) }, "1h");
    plans.push({ name: `${prefix}${k}`, token, patients: patientsOfTeams(teams, cfg.patients, cfg.teams) });
  }
  return plans;
}

async function startLoadgens(port: number, gens: number, perGen: number, base: Omit<LoadgenConfig, "port" | "sockets" | "seed" | "rate">, totalRate: number, run: number): Promise<ChildProcess[]> {
  if (gens * perGen > cfg.teams) throw new Error(`${gens * perGen} device sockets > ${cfg.teams} teams`);
  const plans = await devicePlans(gens * perGen, "g");
  const children: ChildProcess[] = [];
  for (let g = 0; g < gens; g++) {
    const c: LoadgenConfig = { ...base, port, sockets: plans.slice(g * perGen, (g + 1) * perGen), seed: 7919 * (run + 1) + g, rate: totalRate / gens };
    children.push(spawnChild(CHILD("loadgen.ts"), c));
  }
  await Promise.all(children.map((c, g) => waitMessage(c, "connected", 30_000, `loadgen ${g}`)));
  return children;
}

function sumResults(rs: LoadgenResult[]): LoadgenResult {
  const out: LoadgenResult = { ...rs[0], rejectedCodes: {}, errors: {}, closes: {} };
  for (const k of ["accepted", "rejected", "sentReadings", "sentFrames", "ackedFrames", "transitions", "outOfOrder", "checkedResults", "skipped", "cpuMicros", "outstanding"] as const) {
    out[k] = rs.reduce((a, r) => a + r[k], 0);
  }
  for (const r of rs) {
    for (const [k, v] of Object.entries(r.rejectedCodes)) out.rejectedCodes[k] = (out.rejectedCodes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.closes)) out.closes[k] = (out.closes[k] ?? 0) + v;
  }
  out.ack = mergeHistograms(rs.map((r) => r.ack).filter((h) => h.counts.length > 0));
  return out;
}

const diag = (st: ServerStats): string =>
  `event-loop delay p99 ${st.loopDelayP99Ms.toFixed(1)} ms, max ${st.loopDelayMaxMs.toFixed(1)} ms; ${st.ticks.count} clock ticks, longest ${st.ticks.maxMs.toFixed(1)} ms`;

/** Marks a promise as handled now (it is awaited later), so an early rejection is not an unhandled one. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

const fmtRec = (r: Record<string, number>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(", ");

// ---- throughput ----

/** What a run saw go wrong, whatever the speed (the CI load test fails on these, never on figures). */
interface Faults {
  rejected: number;
  outOfOrder: number;
  /** error frames answered to generators or subscribers */
  errorFrames: number;
}

interface TpRun extends Faults {
  rps: number;
  serverCores: number;
  /** The server's main thread alone (NaN off Linux): what bounds it once the ingest thread has a core of its own. */
  mainCores: number;
  serverElu: number;
  genCores: number;
  otherCores: number;
  rssMb: number;
  problems: string[];
}

/**
 * WS ingest at full speed on the real server, or (`app` "transport-only") on the bare transport;
 * `ingestThreads` 0: the single-threaded server (frames decoded and validated on its main thread).
 */
async function throughputRun(transport: Kind, run: number, app: ServerChildConfig["app"] = "varsel", ingestThreads?: 0 | 1): Promise<TpRun> {
  const bare = app === "transport-only";
  const single = ingestThreads === 0;
  const server = await startServer(transport, `${bare ? "transport" : "tp"}-${transport}${single ? "-single" : ""}-${run}`, app, { ingestThreads });
  try {
    const gens = await startLoadgens(
      server.port,
      cfg.gens,
      cfg.sockets,
      { mode: "max", frame: cfg.frame, window: cfg.window, tickMs: 0, maxInFlight: cfg.window, oob: cfg.oob, maxLifetimeMs: LIFETIME_MS },
      0,
      run,
    );
    const t0 = Date.now() + cfg.warmup * 1000;
    const t1 = t0 + cfg.tpSeconds * 1000;
    const go: Go = { type: "go", t0, t1 };
    const results = later(Promise.all(gens.map((g, i) => waitMessage<LoadgenResult>(g, "result", t1 - Date.now() + 20_000, `loadgen ${i}`))));
    for (const g of gens) g.send(go);
    const { at0, at1, machine } = await statsWindow(server, t0, t1);
    const r = sumResults(await results);
    const end = await serverStats(server);
    await Promise.all(gens.map((g) => stopChild(g)));
    const seconds = (t1 - t0) / 1000;
    const u = usage(at0, at1);
    const others = otherCores(machine, u.cores + r.cpuMicros / 1e6 / seconds);
    const problems: string[] = [];
    if (r.rejected > 0) problems.push(`rejected ${r.rejected} (${fmtRec(r.rejectedCodes)})`);
    if (r.outOfOrder > 0) problems.push(`${r.outOfOrder} readings out_of_order in ${r.checkedResults} results checked`);
    if (r.checkedResults === 0 && !bare) problems.push("no ingest_result was checked for out_of_order readings");
    if (Object.keys(r.errors).length > 0) problems.push(`errors ${fmtRec(r.errors)}`);
    if (Object.keys(r.closes).length > 0) problems.push(`closes ${fmtRec(r.closes)}`);
    const errorFrames = Object.values(r.errors).reduce((a, n) => a + n, 0);
    const out = { rps: r.accepted / seconds, serverCores: u.cores, mainCores: u.mainCores, serverElu: u.elu, genCores: r.cpuMicros / 1e6 / seconds, otherCores: others, rssMb: end.rssMb, rejected: r.rejected, outOfOrder: r.outOfOrder, errorFrames, problems };
    log(
      `${bare ? "transport alone" : "throughput"} ${transport}${single ? " single-threaded" : ingestThreads === 1 ? " ingest thread" : ""} run ${run + 1}: ${fmtRate(out.rps)} accepted; ${((at1.events - at0.events) / seconds).toFixed(0)} alert events/s, ${end.openAlerts} open at end; server ${u.cores.toFixed(2)} cores (main thread ${u.mainCores.toFixed(2)}), ELU ${u.elu.toFixed(2)}; ` +
        `generators ${out.genCores.toFixed(2)} cores; other processes ${others.toFixed(2)} cores; RSS ${end.rssMb.toFixed(0)} MB; ${diag(at1)}${problems.length ? `; ${problems.join("; ")}` : ""}`,
    );
    return out;
  } finally {
    await stopChild(server.child);
  }
}

// ---- latency ----

interface LatRun extends Faults {
  lat: Percentiles;
  hist: HistogramData;
  ack: Percentiles;
  /** In the server: reading time → event released by the durable flush (before the sends). */
  released: Percentiles;
  sentRps: number;
  acceptedRps: number;
  deliveries: number;
  expectedDeliveries: number;
  transitions: number;
  skipped: number;
  serverCores: number;
  serverElu: number;
  genCores: number;
  subCores: number;
  otherCores: number;
  rssMb: number;
  loopDelayMaxMs: number;
  tickMaxMs: number;
  /** A durable server's snapshot taken inside the window: how long it took to be stored. */
  snapshotMs?: number;
  problems: string[];
}

/**
 * `durable`: the server on SQLite with cfg.snap's patients and rate; `snapshot`: one taken 1 s into
 * the window (the same run without it is its peer).
 */
async function latencyRun(transport: Kind, run: number, aligned = cfg.latAligned, durable?: { snapshot: boolean }): Promise<LatRun> {
  const dir = durable === undefined ? undefined : mkdtempSync(path.join(os.tmpdir(), "varsel-bench-snap-"));
  const label = `lat-${transport}${aligned ? "-aligned" : ""}${durable === undefined ? "" : durable.snapshot ? "-durable-snapshot" : "-durable"}-${run}`;
  const server = await startServer(transport, label, "varsel", dir === undefined ? {} : { sqlite: path.join(dir, "bench.db"), patients: cfg.snap.patients });
  const rate = durable === undefined ? cfg.rate : cfg.snap.rate;
  let snapshotMs: number | undefined;
  const subs: ChildProcess[] = [];
  try {
    // clinician sockets: subscriber j watches team j mod teams, with a token for that team
    const teamTokens: string[] = [];
    for (let t = 0; t < cfg.teams; t++) teamTokens.push(await auth.sign({ sub: `clin-${t}`, role: "clinician", teams: [teamId(t)] }, "1h"));
    const perProc = Math.ceil(cfg.subscribers / cfg.subProcs);
    for (let p = 0; p < cfg.subProcs; p++) {
      const list: SubscriberConfig["subs"] = [];
      for (let j = p * perProc; j < Math.min(cfg.subscribers, (p + 1) * perProc); j++) list.push({ team: teamId(j % cfg.teams), token: teamTokens[j % cfg.teams] });
      const c: SubscriberConfig = { port: server.port, subs: list, concurrency: 50, connectTimeoutMs: 30_000, maxLifetimeMs: LIFETIME_MS };
      subs.push(spawnChild(CHILD("subscriber.ts"), c));
    }
    await Promise.all(subs.map((s, i) => waitMessage(s, "subscribed", 60_000, `subscribers ${i}`)));
    const gens = await startLoadgens(
      server.port,
      cfg.latGens,
      cfg.latSockets,
      { mode: "rate", frame: cfg.frame, window: 0, tickMs: cfg.latTickMs, aligned, maxInFlight: 64, oob: cfg.oob, maxLifetimeMs: LIFETIME_MS },
      rate,
      run,
    );
    const t0 = Date.now() + cfg.warmup * 1000;
    const t1 = t0 + cfg.latSeconds * 1000;
    const go: Go = { type: "go", t0, t1 };
    const results = later(Promise.all(gens.map((g, i) => waitMessage<LoadgenResult>(g, "result", t1 - Date.now() + 20_000, `loadgen ${i}`))));
    for (const s of subs) s.send(go);
    for (const g of gens) g.send(go);
    let taken: Promise<void> | undefined;
    if (durable?.snapshot === true) {
      taken = later(
        sleep(t0 + 1000 - Date.now()).then(async () => {
          const done = waitMessage<{ type: string; ms?: number; error?: string }>(server.child, "snapshotted", t1 - Date.now() + 60_000, "server snapshot");
          server.child.send({ type: "snapshot" });
          const r = await done;
          if (r.error !== undefined) throw new Error(`snapshot failed: ${r.error}`);
          snapshotMs = r.ms;
        }),
      );
    }
    const { at0, at1, machine } = await statsWindow(server, t0, t1);
    const r = sumResults(await results);
    await taken;
    await sleep(500); // the last events of the window on their way
    const subResults = await Promise.all(
      subs.map((s, i) => {
        const p = waitMessage<SubscriberResult>(s, "result", 20_000, `subscribers ${i}`);
        s.send({ type: "collect" });
        return p;
      }),
    );
    const end = await serverStats(server);
    await Promise.all(gens.map((g) => stopChild(g)));
    const seconds = (t1 - t0) / 1000;
    const hist = mergeHistograms(subResults.map((s) => s.latency));
    const lat = percentiles(hist);
    const u = usage(at0, at1);
    const problems: string[] = [];
    const subErrors: Record<string, number> = {};
    const subCloses: Record<string, number> = {};
    for (const s of subResults) {
      for (const [k, v] of Object.entries(s.errors)) subErrors[k] = (subErrors[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.closes)) subCloses[k] = (subCloses[k] ?? 0) + v;
    }
    if (r.rejected > 0) problems.push(`rejected ${r.rejected} (${fmtRec(r.rejectedCodes)})`);
    if (r.outOfOrder > 0) problems.push(`${r.outOfOrder} readings out_of_order`);
    if (r.skipped > 0) problems.push(`generator skipped ${r.skipped} readings (server behind: ${64} frames unacknowledged)`);
    if (Object.keys(r.errors).length > 0) problems.push(`device errors ${fmtRec(r.errors)}`);
    if (Object.keys(r.closes).length > 0) problems.push(`device closes ${fmtRec(r.closes)}`);
    if (Object.keys(subErrors).length > 0) problems.push(`subscriber errors ${fmtRec(subErrors)}`);
    if (Object.keys(subCloses).length > 0) problems.push(`subscriber closes ${fmtRec(subCloses)}`);
    const retries = subResults.flatMap((s) => s.connectRetries);
    if (retries.length > 0) problems.push(`${retries.length} subscriber socket(s) lost before subscribing, reconnected (${retries.join("; ")})`);
    const perTeam = cfg.subscribers / cfg.teams;
    const out: LatRun = {
      lat,
      hist,
      ack: percentiles(r.ack),
      sentRps: r.sentReadings / (seconds + cfg.warmup),
      acceptedRps: r.accepted / seconds,
      deliveries: lat.n,
      expectedDeliveries: r.transitions * perTeam,
      transitions: r.transitions,
      skipped: r.skipped,
      serverCores: u.cores,
      serverElu: u.elu,
      genCores: r.cpuMicros / 1e6 / seconds,
      subCores: subResults.reduce((a, s) => a + s.cpuMicros, 0) / 1e6 / seconds,
      otherCores: NaN,
      rssMb: end.rssMb,
      loopDelayMaxMs: at1.loopDelayMaxMs,
      tickMaxMs: at1.ticks.maxMs,
      released: percentiles(at1.released),
      rejected: r.rejected,
      outOfOrder: r.outOfOrder,
      errorFrames: [r.errors, subErrors].flatMap((e) => Object.values(e)).reduce((a, n) => a + n, 0),
      snapshotMs,
      problems,
    };
    out.otherCores = otherCores(machine, u.cores + out.genCores + out.subCores);
    log(
      `latency ${label.slice(4)}: ${snapshotMs === undefined ? "" : `snapshot stored in ${snapshotMs.toFixed(0)} ms; `}${fmtRate(out.acceptedRps)} accepted, ${lat.n} alert deliveries ` +
        `(${r.transitions} transitions × ${perTeam} subscribers/team = ${out.expectedDeliveries}); ingest→alert p50 ${lat.p50} ms, p99 ${lat.p99} ms, ` +
        `p99.9 ${lat.p999} ms, max ${lat.max} ms; in the server (reading → event released) p50 ${out.released.p50} ms, p99 ${out.released.p99} ms; ` +
        `ingest ack p99 ${out.ack.p99} ms; server ${u.cores.toFixed(2)} cores, ELU ${u.elu.toFixed(2)}; ` +
        `clients ${(out.genCores + out.subCores).toFixed(2)} cores, other processes ${out.otherCores.toFixed(2)} cores; ` +
        `RSS ${end.rssMb.toFixed(0)} MB; ${diag(at1)}; ${end.openAlerts} alerts open at end${problems.length ? `; ${problems.join("; ")}` : ""}`,
    );
    return out;
  } finally {
    await Promise.all(subs.map((s) => stopChild(s)));
    await stopChild(server.child);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- HTTP ----

interface HttpRun {
  rps: number;
  readingsPerS: number;
  p50: number;
  p99: number;
  serverCores: number;
  serverElu: number;
  clientCores: number;
  otherCores: number;
  rssMb: number;
  /** Requests answered other than 2xx, failed or timed out. */
  failed: number;
  problems: string[];
}

async function httpRun(transport: Kind, run: number): Promise<HttpRun> {
  const server = await startServer(transport, `http-${transport}-${run}`);
  try {
    const token = await auth.sign({ sub: "http-gw", role: "device", teams: Array.from({ length: cfg.teams }, (_, t) => teamId(t)) }, "1h");
    const c = {
      port: server.port,
      token,
      patients: cfg.patients,
      perRequest: cfg.httpBatch,
      connections: cfg.httpConnections,
      pipelining: 1,
      warmupS: cfg.warmup,
      durationS: cfg.httpSeconds,
      seed: 31 * (run + 1),
      oob: cfg.oob,
      maxLifetimeMs: LIFETIME_MS,
    };
    const child = spawnChild(CHILD("http-load.ts"), c);
    try {
      // server stats over the measured run (after the check request and the warm-up run)
      const result = later(waitMessage<{ type: "result"; rps: number; readingsPerS: number; non2xx: number; errors: number; timeouts: number; latencyP50: number; latencyP99: number; cpuMicros: number; durationS: number }>(
        child,
        "result",
        (cfg.warmup + cfg.httpSeconds) * 1000 + 30_000,
        "http load",
      ));
      await waitMessage(child, "measuring", (cfg.warmup + 5) * 1000 + 30_000, "http load warm-up");
      const m0 = machineCpu();
      const before = await serverStats(server, true);
      const r = await result;
      const m1 = machineCpu();
      const after = await serverStats(server);
      const u = usage(before, after);
      const others = otherCores(machineCores(m0, m1, (after.at - before.at) / 1000), u.cores + r.cpuMicros / 1e6 / r.durationS);
      const problems: string[] = [];
      if (r.non2xx > 0) problems.push(`non-2xx ${r.non2xx}`);
      if (r.errors > 0) problems.push(`errors ${r.errors}`);
      if (r.timeouts > 0) problems.push(`timeouts ${r.timeouts}`);
      log(
        `http ${transport} run ${run + 1}: ${r.rps.toFixed(0)} requests/s = ${fmtRate(r.readingsPerS)} readings; latency p50 ${r.latencyP50} ms p99 ${r.latencyP99} ms; ` +
          `server ${u.cores.toFixed(2)} cores, ELU ${u.elu.toFixed(2)}, autocannon ${(r.cpuMicros / 1e6 / r.durationS).toFixed(2)} cores, other processes ${others.toFixed(2)} cores; RSS ${after.rssMb.toFixed(0)} MB${problems.length ? `; ${problems.join("; ")}` : ""}`,
      );
      return { rps: r.rps, readingsPerS: r.readingsPerS, p50: r.latencyP50, p99: r.latencyP99, serverCores: u.cores, serverElu: u.elu, clientCores: r.cpuMicros / 1e6 / r.durationS, otherCores: others, rssMb: after.rssMb, failed: r.non2xx + r.errors + r.timeouts, problems };
    } finally {
      await stopChild(child);
    }
  } finally {
    await stopChild(server.child);
  }
}

// ---- main ----

async function main(): Promise<void> {
  const tStart = performance.now();
  log(
    `${os.cpus().length} cores, Node ${process.version}; ${cfg.patients} patients × 3 metrics over ${cfg.teams} teams; runs ${cfg.runs}${quick ? " (quick)" : ""}; ` +
      `only ${[...only].join(",")}`,
  );
  const tp: Record<Kind, TpRun[]> = { uws: [], ws: [] };
  const bare: Record<Kind, TpRun[]> = { uws: [], ws: [] };
  const lat: Record<Kind, LatRun[]> = { uws: [], ws: [] };
  const http: Record<Kind, HttpRun[]> = { uws: [], ws: [] };
  const single: TpRun[] = [];
  // interleaved run by run so machine noise spreads over both transports
  // With the ingest thread (VARSEL_INGEST_THREADS=1), and the single-threaded server beside it, same load, same run.
  if (only.has("throughput")) {
    for (let r = 0; r < cfg.runs; r++) {
      for (const t of ["uws", "ws"] as Kind[]) tp[t].push(await throughputRun(t, r, "varsel", 1));
      single.push(await throughputRun("uws", r, "varsel", 0));
    }
  }
  if (only.has("transport")) for (let r = 0; r < cfg.runs; r++) for (const t of ["uws", "ws"] as Kind[]) bare[t].push(await throughputRun(t, r, "transport-only"));
  // Aligned: every gateway socket sends at the same instant of the tick (uWS, beside the staggered run).
  const aligned: LatRun[] = [];
  if (only.has("latency")) {
    for (let r = 0; r < cfg.runs; r++) {
      for (const t of latHttpTransports) lat[t].push(await latencyRun(t, r));
      if (!cfg.latAligned && latHttpTransports.includes("uws")) aligned.push(await latencyRun("uws", r, true));
    }
  }
  if (only.has("http")) for (let r = 0; r < cfg.runs; r++) for (const t of latHttpTransports) http[t].push(await httpRun(t, r));
  // A durable server (SQLite) at cfg.snap's size and rate: a snapshot inside the window, beside the same without one.
  const durableLat: { plain: LatRun[]; snapshot: LatRun[] } = { plain: [], snapshot: [] };
  if (only.has("snapshot")) {
    for (let r = 0; r < cfg.runs; r++) {
      durableLat.plain.push(await latencyRun("uws", r, false, { snapshot: false }));
      durableLat.snapshot.push(await latencyRun("uws", r, false, { snapshot: true }));
    }
  }
  const backfill: BackfillRun[] = [];
  if (only.has("backfill")) for (let r = 0; r < cfg.runs; r++) backfill.push(await backfillRun(harness, cfg.backfill, r));
  const storm: StormRun[] = [];
  // the alert load of the storm: the latency phase's generators at the storm's rate
  const alertLoad = (port: number, run: number): Promise<ChildProcess[]> =>
    startLoadgens(port, cfg.latGens, cfg.latSockets, { mode: "rate", frame: cfg.frame, window: 0, tickMs: cfg.latTickMs, maxInFlight: 64, oob: cfg.oob, maxLifetimeMs: LIFETIME_MS }, cfg.storm.rate, run);
  if (only.has("storm")) for (let r = 0; r < cfg.runs; r++) storm.push(await stormRun(harness, cfg.storm, r, alertLoad));

  report({ tp, bare, lat, aligned, durableLat, http, single, backfill, storm }, (performance.now() - tStart) / 1000);
}

/** Readings per second of server CPU (its thread plus GC threads): the server's own cost, whatever else the shared machine did. */
function perCore(r: TpRun): number {
  return r.rps / r.serverCores;
}

/**
 * Readings per second of the main thread's CPU: the most the server can ingest while its main
 * thread is the bottleneck and the rest (the ingest thread, GC helpers) has cores of its own.
 */
function perMainCore(r: TpRun): number {
  return r.rps / r.mainCores;
}

interface All {
  tp: Record<Kind, TpRun[]>;
  /** WS ingest on the bare transport (transport-only.ts). */
  bare: Record<Kind, TpRun[]>;
  lat: Record<Kind, LatRun[]>;
  /** Latency on uWS with every gateway socket sending at the same instant (none with --lat-aligned: lat is aligned then). */
  aligned: LatRun[];
  /** Durable (SQLite) latency, without and with a snapshot inside the window. */
  durableLat: { plain: LatRun[]; snapshot: LatRun[] };
  http: Record<Kind, HttpRun[]>;
  /** WS ingest on uWS with VARSEL_INGEST_THREADS=0 (the single-threaded server). */
  single: TpRun[];
  backfill: BackfillRun[];
  storm: StormRun[];
}

function report({ tp, bare, lat, aligned, durableLat, http, single, backfill, storm }: All, wallS: number): void {
  const S = (xs: number[]): Summary => summarize(xs);
  const med = (xs: number[]): number => S(xs).median;
  const rate3 = (s: Summary): string[] => [fmtRate(s.median), fmtRate(s.min), fmtRate(s.max)];
  const ms3 = (s: Summary): string[] => [fmtMs(s.median), fmtMs(s.min), fmtMs(s.max)];
  const cores = (xs: number[]): string => (xs.length === 0 ? "–" : `${med(xs).toFixed(2)}`);
  const mb = (xs: number[]): string => (xs.length === 0 ? "–" : `${med(xs).toFixed(0)} MB`);
  const rows: string[][] = [];
  const K: Kind[] = ["uws", "ws"];
  const blank = ["", "", "", "", ""];
  /** The per-configuration columns: server cores, ELU, client cores, other processes' cores, RSS (medians over runs). */
  const side = (runs: { serverCores: number; serverElu: number; otherCores: number; rssMb: number }[], client: number[]): string[] => [
    cores(runs.map((r) => r.serverCores)),
    med(runs.map((r) => r.serverElu)).toFixed(2),
    cores(client),
    cores(runs.map((r) => r.otherCores)),
    mb(runs.map((r) => r.rssMb)),
  ];

  for (const [mode, byKind] of [["WS ingest, max", tp], ["WS transport alone, max", bare]] as const) {
    for (const t of K) {
      const runs = byKind[t];
      if (runs.length === 0) continue;
      rows.push([mode, TRANSPORT_NAME[t], "readings/s accepted", ...rate3(S(runs.map((r) => r.rps))), ...side(runs, runs.map((r) => r.genCores))]);
      rows.push(["", "", "per server core (readings / server CPU-s)", ...rate3(S(runs.map(perCore))), ...blank]);
    }
    if (mode === "WS ingest, max" && single.length > 0) {
      rows.push([mode, "uWS, single-threaded", "readings/s accepted", ...rate3(S(single.map((r) => r.rps))), ...side(single, single.map((r) => r.genCores))]);
      rows.push(["", "", "per server core (readings / server CPU-s)", ...rate3(S(single.map(perCore))), ...blank]);
      rows.push(["", "", "per main-thread core (readings / main thread CPU-s)", ...rate3(S(single.map(perMainCore))), ...blank]);
      rows.push([mode, "uWS, ingest thread", "per main-thread core (readings / main thread CPU-s)", ...rate3(S(tp.uws.map(perMainCore))), ...blank]);
    }
  }
  for (const t of K) {
    const runs = lat[t];
    if (runs.length === 0) continue;
    const label = `latency @ ${fmtRate(cfg.rate)}`;
    rows.push([
      label,
      TRANSPORT_NAME[t],
      `ingest→alert p50 (${cfg.subscribers} subscribers)`,
      ...ms3(S(runs.map((r) => r.lat.p50))),
      ...side(runs, runs.map((r) => r.genCores + r.subCores)),
    ]);
    rows.push(["", "", "ingest→alert p99", ...ms3(S(runs.map((r) => r.lat.p99))), ...blank]);
    rows.push(["", "", "ingest→alert p99.9", ...ms3(S(runs.map((r) => r.lat.p999))), ...blank]);
    rows.push(["", "", "ingest→alert max", ...ms3(S(runs.map((r) => r.lat.max))), ...blank]);
    rows.push(["", "", "reading → event released by the server, p99", ...ms3(S(runs.map((r) => r.released.p99))), ...blank]);
    rows.push(["", "", "device ingest ack p99 (send→ingest_result)", ...ms3(S(runs.map((r) => r.ack.p99))), ...blank]);
    rows.push(["", "", "server event-loop delay max", ...ms3(S(runs.map((r) => r.loopDelayMaxMs))), ...blank]);
    rows.push(["", "", "server clock tick (1/s) longest", ...ms3(S(runs.map((r) => r.tickMaxMs))), ...blank]);
    rows.push(["", "", "readings/s accepted", ...rate3(S(runs.map((r) => r.acceptedRps))), ...blank]);
    rows.push(["", "", "alert events delivered/s", ...rate3(S(runs.map((r) => r.deliveries / cfg.latSeconds))), ...blank]);
    if (t === "uws" && aligned.length > 0) {
      rows.push([`${label}, aligned`, TRANSPORT_NAME[t], "ingest→alert p50", ...ms3(S(aligned.map((r) => r.lat.p50))), ...side(aligned, aligned.map((r) => r.genCores + r.subCores))]);
      rows.push(["", "", "ingest→alert p99", ...ms3(S(aligned.map((r) => r.lat.p99))), ...blank]);
      rows.push(["", "", "ingest→alert p99.9", ...ms3(S(aligned.map((r) => r.lat.p999))), ...blank]);
    }
  }
  if (durableLat.snapshot.length > 0) {
    const snapLabel = `durable (SQLite) @ ${fmtRate(cfg.snap.rate)}, ${cfg.snap.patients} patients`;
    for (const [name, runs] of [["no snapshot", durableLat.plain], ["a snapshot in the window", durableLat.snapshot]] as const) {
      rows.push([`${snapLabel}, ${name}`, TRANSPORT_NAME.uws, "ingest→alert p50", ...ms3(S(runs.map((r) => r.lat.p50))), ...side(runs, runs.map((r) => r.genCores + r.subCores))]);
      rows.push(["", "", "ingest→alert p99", ...ms3(S(runs.map((r) => r.lat.p99))), ...blank]);
      rows.push(["", "", "ingest→alert p99.9", ...ms3(S(runs.map((r) => r.lat.p999))), ...blank]);
      rows.push(["", "", "ingest→alert max", ...ms3(S(runs.map((r) => r.lat.max))), ...blank]);
      rows.push(["", "", "server event-loop delay max (the longest block)", ...ms3(S(runs.map((r) => r.loopDelayMaxMs))), ...blank]);
    }
    rows.push(["", "", "snapshot stored in", ...ms3(S(durableLat.snapshot.map((r) => r.snapshotMs ?? NaN))), ...blank]);
  }
  for (const t of K) {
    const runs = http[t];
    if (runs.length === 0) continue;
    rows.push([
      "HTTP ingest",
      TRANSPORT_NAME[t],
      `requests/s (${cfg.httpBatch} readings, JSON)`,
      ...rate3(S(runs.map((r) => r.rps))).map((x) => x.replace(" /s", "/s")),
      ...side(runs, runs.map((r) => r.clientCores)),
    ]);
    rows.push(["", "", "readings/s", ...rate3(S(runs.map((r) => r.readingsPerS))), ...blank]);
    rows.push(["", "", "request latency p99 (autocannon)", ...ms3(S(runs.map((r) => r.p99))), ...blank]);
  }

  const phases = phaseReport(backfill, storm, cfg.backfill, cfg.storm);
  rows.push(...phases.rows);

  const out: string[] = [];
  out.push(
    `varsel server benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, loopback; ` +
      `${cfg.patients} patients (telehjerte band rules on pulse, bp_sys, bp_dia: ${cfg.patients * 3} slots) over ${cfg.teams} teams; ` +
      `${cfg.runs} run(s) per row, a fresh server each${quick ? "; --quick" : ""}`,
  );
  out.push("");
  out.push(
    renderTable(
      ["mode", "transport", "measure", "median", "min", "max", "server cores", "server ELU", "client cores", "other cores", "server RSS"],
      rows,
      ["l", "l", "l", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  out.push("");
  out.push(
    `WS ingest, max: ${cfg.gens} generator processes × ${cfg.sockets} device sockets, MessagePack frames of ${cfg.frame} readings, ${cfg.window} frames in flight per socket; ` +
      `${cfg.tpSeconds} s measured after ${cfg.warmup} s warm-up; readings/s = accepted (from ingest_result) received in the window / window.`,
  );
  out.push(
    `WS transport alone: the same load on the same transports (server/transport/*, the server's limits) answering each frame from its id and reading count only ` +
      `(bench/server/transport-only.ts: no validation, evaluation or alerts) — the part of WS ingest that uWS or ws can make cheaper.`,
  );
  out.push(
    `Latency: open loop at ${fmtRate(cfg.rate)} from ${cfg.latGens} process${cfg.latGens === 1 ? "" : "es"} × ${cfg.latSockets} device sockets (a frame per socket every ${cfg.latTickMs} ms, ≈ ${Math.round(cfg.rate / (cfg.latGens * cfg.latSockets) / (1000 / cfg.latTickMs))} readings, ${cfg.latAligned ? "all sockets at the same instant" : "the sockets taking turns spread over the tick"}); ` +
      `${cfg.subscribers} clinician sockets in ${cfg.subProcs} processes, ${cfg.subscribers / cfg.teams} per team, each subscribed to its team; ` +
      `latency = subscriber's Date.now() at receipt − reading time (= send time), whole ms, every alert event (raised/updated/resolved) whose reading is in the ${cfg.latSeconds} s window.`,
  );
  out.push(
    `HTTP: autocannon, ${cfg.httpConnections} connections, POST /v1/measurements, JSON {readings: [${cfg.httpBatch}]} with times increasing per slot (none out_of_order, no ids), ` +
      `${cfg.httpSeconds} s after ${cfg.warmup} s warm-up; readings/s = 2xx × ${cfg.httpBatch}.`,
  );
  out.push(
    `Readings: ${(cfg.oob * 100).toFixed(1)} % out of band (¾ past yellow, ¼ past red). Server limits: defaults` +
      (cfg.messagesPerSecond !== DEFAULT_LIMITS.messagesPerSecond ? ` except messagesPerSecond ${cfg.messagesPerSecond}` : ` (messagesPerSecond ${DEFAULT_LIMITS.messagesPerSecond} per socket is not reached)`) +
      `; telehjerte without weight-missing. The generators, subscribers and the server share the ${os.cpus().length} cores: "server cores" is the server's CPU time / window, ` +
      `"client cores" that of the generators (and subscribers; autocannon for HTTP), "other cores" what the rest of the machine used meanwhile ` +
      `(/proc/stat busy − server − clients − this process), ELU the server's event-loop utilisation; all medians over the runs, in the measured window.`,
  );
  const latRuns = [...lat.uws, ...lat.ws, ...aligned, ...durableLat.plain, ...durableLat.snapshot];
  if (latRuns.length > 0) {
    const off = latRuns.filter((r) => r.deliveries !== r.expectedDeliveries);
    out.push(
      off.length === 0
        ? `Deliveries: in every latency run each alert transition of the window reached all ${cfg.subscribers / cfg.teams} subscribers of its team (deliveries = transitions × ${cfg.subscribers / cfg.teams}).`
        : `Deliveries ≠ transitions × subscribers per team in ${off.length} run(s): ${off.map((r) => `${r.deliveries} vs ${r.expectedDeliveries}`).join(", ")}.`,
    );
  }
  out.push(...phases.notes);
  const problems = [...[...tp.uws, ...tp.ws, ...bare.uws, ...bare.ws, ...lat.uws, ...lat.ws, ...http.uws, ...http.ws].flatMap((r) => r.problems), ...phases.problems];
  out.push(problems.length === 0 ? "No rejected readings, errors or closed sockets." : `PROBLEMS: ${[...new Set(problems)].join("; ")}`);
  out.push("");

  const wsUws = med(tp.uws.map((r) => r.rps));
  const wsWs = med(tp.ws.map((r) => r.rps));
  const ratio = wsUws / wsWs;
  // Where the ratio can come from: the transport-alone cost per reading against the whole server's, on ws.
  const bareRatio = med(bare.uws.map(perCore)) / med(bare.ws.map(perCore));
  const wsTransportShare = med(tp.ws.map(perCore)) / med(bare.ws.map(perCore));
  const ratioBound = 1 / (1 - wsTransportShare);
  const latU = lat.uws;
  const p50 = med(latU.map((r) => r.lat.p50));
  const p99 = med(latU.map((r) => r.lat.p99));
  const atLeast = (x: number, min: number): boolean | null => (Number.isNaN(x) ? null : x >= min);
  const atMost = (x: number, max: number): boolean | null => (Number.isNaN(x) ? null : x <= max);
  const atLoad = cfg.rate === 50_000 && cfg.subscribers === 1000;
  const p999 = med(latU.map((r) => r.lat.p999));
  const p99Aligned = cfg.latAligned ? p99 : med(aligned.map((r) => r.lat.p99));
  const p999Aligned = cfg.latAligned ? p999 : med(aligned.map((r) => r.lat.p999));
  const singleRps = med(single.map((r) => r.rps));
  // Issue 16's goals (the earlier "≥ 500 k/s" and "uWS ≥ 3× ws" are replaced by them).
  const goals = {
    ws_ingest_1_3m: atLeast(wsUws, 1_300_000),
    p99_le_5ms_at_50k: atLoad ? atMost(p99, 5) : null,
    p999_le_10ms_at_50k: atLoad ? atMost(p999, 10) : null,
    p99_aligned_le_5ms: atLoad ? atMost(p99Aligned, 5) : null,
    p999_aligned_le_10ms: atLoad ? atMost(p999Aligned, 10) : null,
  };
  const goal = (ok: boolean | null): string => (ok === null ? "n/a" : ok ? "met" : "NOT met");
  const loadNote = atLoad ? undefined : "n/a (not that load)";
  out.push(
    renderTable(
      ["goal (medians; benchmark only)", "value", "goal", ""],
      [
        ["WS MessagePack ingest, uWS, both cores (ingest thread), readings/s", fmtRate(wsUws), "≥ 1.3 M/s on this 2-core machine", goal(goals.ws_ingest_1_3m)],
        ["  the single-threaded server, same run (peer)", fmtRate(singleRps), "", ""],
        ["  ingest thread ÷ single-threaded, run by run", fmtRatio(med(single.map((r, i) => (tp.uws[i]?.rps ?? NaN) / r.rps))), "", ""],
        [`ingest→alert p99 at ${fmtRate(cfg.rate)}, ${cfg.subscribers} subscribers, uWS, staggered`, fmtMs(p99), "≤ 5 ms at 50 k/s, 1 000 subscribers", loadNote ?? goal(goals.p99_le_5ms_at_50k)],
        ["  p99.9, staggered", fmtMs(p999), "≤ 10 ms", loadNote ?? goal(goals.p999_le_10ms_at_50k)],
        ["  p99, aligned gateways", fmtMs(p99Aligned), "≤ 5 ms", loadNote ?? goal(goals.p99_aligned_le_5ms)],
        ["  p99.9, aligned gateways", fmtMs(p999Aligned), "≤ 10 ms", loadNote ?? goal(goals.p999_aligned_le_10ms)],
        ...(durableLat.snapshot.length === 0
          ? []
          : [
              [`durable server, ${cfg.snap.patients} patients: longest event-loop block with a snapshot in the window`, fmtMs(med(durableLat.snapshot.map((r) => r.loopDelayMaxMs))), "≤ 20 ms at 100 000 patients", cfg.snap.patients >= 100_000 ? goal(atMost(med(durableLat.snapshot.map((r) => r.loopDelayMaxMs)), 20)) : "n/a (not that size)"],
              ["  without a snapshot, same server (peer)", fmtMs(med(durableLat.plain.map((r) => r.loopDelayMaxMs))), "", ""],
              ["  ingest→alert p99.9 with the snapshot / without", `${fmtMs(med(durableLat.snapshot.map((r) => r.lat.p999)))} / ${fmtMs(med(durableLat.plain.map((r) => r.lat.p999)))}`, "(reported)", ""],
            ]),
        ["uWS ÷ ws fallback, WS ingest readings/s", fmtRatio(ratio), "(goal ≥ 3× withdrawn by issue 16)", ""],
        ["  the same, transport alone (per server core)", fmtRatio(bareRatio), "(where the ratio comes from)", ""],
        ["  ws transport's share of the ws server's CPU per reading", Number.isFinite(wsTransportShare) ? `${(wsTransportShare * 100).toFixed(0)} %` : "–", "", ""],
        ["  uWS ÷ ws if uWS's transport cost nothing (1 ÷ (1 − share))", fmtRatio(ratioBound), "the most any transport can give here", ""],
        ...phases.goalRows,
      ],
      ["l", "r", "l", "l"],
    ),
  );
  out.push("");
  out.push(
    `server start-up (register ${cfg.patients} patients, listen), median ${(summarize(setupTimes).median / 1000).toFixed(2)} s over ${setupTimes.length} servers, not measured; ` +
      `total wall ${wallS.toFixed(1)} s (without the wasm build)`,
  );

  // Correctness under load (CI fails on these, never on a figure): every transition reached every
  // subscriber of its team, and no reading of the real server was rejected, out of order or answered with an error.
  const varselRuns = [...tp.uws, ...tp.ws, ...single, ...lat.uws, ...lat.ws, ...aligned, ...durableLat.plain, ...durableLat.snapshot];
  const checks = {
    deliveries_complete: latRuns.length === 0 ? null : latRuns.every((r) => r.deliveries === r.expectedDeliveries),
    no_rejected_readings: varselRuns.every((r) => r.rejected === 0),
    no_out_of_order: varselRuns.every((r) => r.outOfOrder === 0),
    no_error_frames: [...varselRuns, ...bare.uws, ...bare.ws].every((r) => r.errorFrames === 0),
    http_all_2xx: [...http.uws, ...http.ws].every((r) => r.failed === 0),
    ...phases.checks,
  };
  const rss = [...tp.uws, ...tp.ws, ...bare.uws, ...bare.ws, ...lat.uws, ...lat.ws, ...http.uws, ...http.ws].map((r) => r.rssMb);
  const n = (x: number, d = 4): number | null => (Number.isFinite(x) ? sig(x, d) : null);
  const rssOf = (xs: { rssMb: number }[]): number | null => n(Math.max(...xs.map((r) => r.rssMb)), 3);
  const json = {
    ws_ingest_rps: n(wsUws),
    ws_ingest_rps_min: n(S(tp.uws.map((r) => r.rps)).min),
    ws_ingest_rps_max: n(S(tp.uws.map((r) => r.rps)).max),
    ws_ingest_rps_single: n(med(single.map((r) => r.rps))),
    ws_ingest_rps_single_min: n(S(single.map((r) => r.rps)).min),
    ws_ingest_rps_single_max: n(S(single.map((r) => r.rps)).max),
    // Run by run (the same machine noise), the ingest thread's gain over the single-threaded server.
    ws_ingest_threaded_over_single: n(med(single.map((r, i) => (tp.uws[i]?.rps ?? NaN) / r.rps)), 3),
    // The same per main-thread CPU-second: the gain once the ingest thread has a core of its own (a shared machine hides it).
    ws_ingest_rps_per_main_core: n(med(tp.uws.map(perMainCore))),
    ws_ingest_rps_per_main_core_single: n(med(single.map(perMainCore))),
    ws_ingest_main_core_gain: n(med(tp.uws.map(perMainCore)) / med(single.map(perMainCore)), 3),
    ws_ingest_rps_ws: n(wsWs),
    ws_ingest_rps_ws_min: n(S(tp.ws.map((r) => r.rps)).min),
    ws_ingest_rps_ws_max: n(S(tp.ws.map((r) => r.rps)).max),
    uws_over_ws: n(ratio, 3),
    transport_only_rps: n(med(bare.uws.map((r) => r.rps))),
    transport_only_rps_ws: n(med(bare.ws.map((r) => r.rps))),
    transport_only_rps_per_server_core: n(med(bare.uws.map(perCore))),
    transport_only_rps_per_server_core_ws: n(med(bare.ws.map(perCore))),
    uws_over_ws_transport_only: n(bareRatio, 3),
    ws_transport_share: n(wsTransportShare, 3),
    uws_over_ws_bound: n(ratioBound, 3),
    p50_ms_at_50k: n(p50),
    p99_ms_at_50k: n(p99),
    p99_ms_at_50k_min: n(S(latU.map((r) => r.lat.p99)).min),
    p99_ms_at_50k_max: n(S(latU.map((r) => r.lat.p99)).max),
    p999_ms_at_50k: n(med(latU.map((r) => r.lat.p999))),
    max_ms_at_50k: n(med(latU.map((r) => r.lat.max))),
    p99_ms_at_50k_ws: n(med(lat.ws.map((r) => r.lat.p99))),
    // Gateways aligned (all sockets at the same instant); with --lat-aligned the main latency series is aligned.
    p99_ms_aligned: n(cfg.latAligned ? p99 : med(aligned.map((r) => r.lat.p99))),
    // A durable server (SQLite, cfg.snap): ingest→alert with a snapshot taken inside the window, and without.
    snapshot_p99_ms: n(med(durableLat.snapshot.map((r) => r.lat.p99))),
    snapshot_p999_ms: n(med(durableLat.snapshot.map((r) => r.lat.p999))),
    snapshot_loop_block_ms: n(med(durableLat.snapshot.map((r) => r.loopDelayMaxMs))),
    snapshot_stored_ms: n(med(durableLat.snapshot.map((r) => r.snapshotMs ?? NaN))),
    no_snapshot_p999_ms: n(med(durableLat.plain.map((r) => r.lat.p999))),
    no_snapshot_loop_block_ms: n(med(durableLat.plain.map((r) => r.loopDelayMaxMs))),
    snapshot_patients: cfg.snap.patients,
    snapshot_rate: cfg.snap.rate,
    p999_ms_aligned: n(cfg.latAligned ? med(latU.map((r) => r.lat.p999)) : med(aligned.map((r) => r.lat.p999))),
    released_p99_ms_at_50k: n(med(latU.map((r) => r.released.p99))),
    latency_rate: cfg.rate,
    latency_accepted_rps: n(med(latU.map((r) => r.acceptedRps))),
    alert_deliveries: n(med(latU.map((r) => r.deliveries)), 6),
    subscribers: cfg.subscribers,
    http_rps: n(med(http.uws.map((r) => r.rps))),
    http_readings_per_s: n(med(http.uws.map((r) => r.readingsPerS))),
    http_rps_ws: n(med(http.ws.map((r) => r.rps))),
    http_readings_per_s_ws: n(med(http.ws.map((r) => r.readingsPerS))),
    server_rss_mb: rss.length ? n(Math.max(...rss), 3) : null,
    server_rss_mb_by_mode: {
      ws_ingest_uws: tp.uws.length ? rssOf(tp.uws) : null,
      ws_ingest_ws: tp.ws.length ? rssOf(tp.ws) : null,
      transport_only_uws: bare.uws.length ? rssOf(bare.uws) : null,
      transport_only_ws: bare.ws.length ? rssOf(bare.ws) : null,
      latency_uws: lat.uws.length ? rssOf(lat.uws) : null,
      latency_ws: lat.ws.length ? rssOf(lat.ws) : null,
      http_uws: http.uws.length ? rssOf(http.uws) : null,
      http_ws: http.ws.length ? rssOf(http.ws) : null,
    },
    server_cores_ws_ingest: n(med(tp.uws.map((r) => r.serverCores)), 3),
    ws_ingest_rps_per_server_core: n(med(tp.uws.map(perCore))),
    ws_ingest_rps_per_server_core_ws: n(med(tp.ws.map(perCore))),
    runs: cfg.runs,
    quick,
    patients: cfg.patients,
    teams: cfg.teams,
    frame: cfg.frame,
    lat_tick_ms: cfg.latTickMs,
    lat_aligned: cfg.latAligned,
    generators: cfg.gens,
    device_sockets: cfg.gens * cfg.sockets,
    cores: os.cpus().length,
    problems: problems.length,
    ...phases.json,
    checks,
    checks_ok: Object.values(checks).every((ok) => ok !== false),
    goals: { ...goals, ...phases.goals },
  };
  process.stdout.write(out.join("\n") + "\n\n" + JSON.stringify(json) + "\n");
  if (!json.checks_ok) process.exitCode = 1; // a wrong result fails the run (a slow one never does)
}


// ---- cleanup: children never outlive us ----
let watchdog: NodeJS.Timeout | undefined;
const bail = (why: string, code = 1): never => {
  log(why);
  killAll();
  process.exit(code);
};
process.on("SIGINT", () => bail("interrupted", 130));
process.on("SIGTERM", () => bail("terminated", 143));
process.on("exit", () => killAll());
watchdog = setTimeout(() => bail(`watchdog: still running after ${LIFETIME_MS / 1000} s, giving up`), LIFETIME_MS);
watchdog.unref();

main()
  .then(() => {
    clearTimeout(watchdog);
    killAll();
  })
  .catch((e: unknown) => bail(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
