// npm run bench:durability [-- --quick] — what durability costs: ingest throughput through
// DurablePipeline with a store (SQLite, the embedded default; PostgreSQL when reachable) against
// the same pipeline in memory, and the time to recover 100 000 patients with a day of history
// (latest snapshot + journal tail) in a fresh process. Prints tables, then as the last line one
// JSON object. See bench/README.md.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import pg from "pg";
import { DurablePipeline, type DurableReport } from "../engine/durable/durable-pipeline.js";
import { batchRows } from "../engine/store/codec.js";
import { openStore, redact } from "../engine/store/open-store.js";
import type { Store } from "../engine/store/store.js";
import { drive, instrument, percentile, type DriveResult, type SimClock, type StoreStats } from "./durability/drive.js";
import {
  backlogBurst,
  DAY_START,
  deviceUploads,
  gatewayBatches,
  generateDay,
  patientCommands,
  sessionAfterReadings,
  sessionAt,
  type Timed,
} from "./durability/workload.js";
import { fmtCount, fmtRate, fmtRatio, sig, summarize } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";
import { Rng } from "./lib/workload.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..");

// ---- options ----
const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    patients: { type: "string" },
    runs: { type: "string" },
    "upload-runs": { type: "string" },
    inflight: { type: "string" },
    "upload-inflight": { type: "string" },
    "recovery-runs": { type: "string" },
    "tail-min": { type: "string" },
    "longest-tail": { type: "string" },
    "cgm-share": { type: "string" },
    "out-of-band": { type: "string" },
    seed: { type: "string" },
    pg: { type: "string" },
    "no-pg": { type: "boolean", default: false },
    "pg-recovery": { type: "boolean", default: false },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});
const quick = opt.quick === true;
const num = (s: string | undefined, d: number): number => (s === undefined ? d : Number(s.replace(/_/g, "")));
const cfg = {
  patients: num(opt.patients, quick ? 10_000 : 100_000),
  runs: num(opt.runs, 3),
  uploadRuns: num(opt["upload-runs"], quick ? 2 : 3),
  inflight: num(opt.inflight, 32),
  uploadInflight: num(opt["upload-inflight"], 256),
  recoveryRuns: num(opt["recovery-runs"], 2),
  tailMin: num(opt["tail-min"], 5),
  /** Default: the commands the default cadence lets accumulate at saturation (computed). */
  longestTail: opt["longest-tail"] === undefined ? undefined : num(opt["longest-tail"], 0),
  cgmShare: num(opt["cgm-share"], 0.01),
  hfShare: 0.55,
  outOfBand: num(opt["out-of-band"], 0.02),
  seed: num(opt.seed, 20250115),
  /** Shares of the day's readings (before the tail): warm-up, each gateway run, each device-upload run; the rest is built on the store(s) only. */
  warmShare: quick ? 0.08 : 0.02,
  gatewayShare: quick ? 0.2 : 0.1,
  uploadShare: quick ? 0.08 : 0.025,
  setupInflight: 128,
  buildInflight: 64,
};
const PG_URL = opt.pg ?? process.env.VARSEL_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const PG_SCHEMA = `varsel_bench_${process.pid}`;
/** Snapshots only when the bench asks (the default cadence is accounted for separately, see README). */
const NO_AUTO_SNAPSHOT = { snapshotEveryMs: Number.MAX_SAFE_INTEGER, snapshotReplayBudgetMs: Number.MAX_SAFE_INTEGER };
/** DurablePipeline's default cadence (engine/durable/durable-pipeline.ts): 60 s, 1 s of replay, at most 10 % of the time. */
const DEFAULT_SNAPSHOT_EVERY_MS = 60_000;
const DEFAULT_REPLAY_BUDGET_MS = 1_000;
const DEFAULT_SNAPSHOT_SHARE = 0.1;

/**
 * The default cadence at saturation: replay cost accrues at `ratio` seconds per second (the
 * durable pipeline applies commands at `ratio` × the in-memory rate), and a snapshot that
 * blocks `blocking` seconds is followed by at least blocking / share seconds without one.
 */
function cadenceAtSaturation(ratio: number, blocking: number): { interval: number; keep: number } {
  const interval = Math.max(Math.min(DEFAULT_SNAPSHOT_EVERY_MS / 1000, DEFAULT_REPLAY_BUDGET_MS / 1000 / ratio), blocking / DEFAULT_SNAPSHOT_SHARE);
  return { interval, keep: interval / (interval + blocking) };
}

const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

// Three pipelines of 100 000 patients plus the day's traffic need more than Node's default heap.
if (getHeapStatistics().heap_size_limit < 7e9 && process.env.VARSEL_BENCH_REEXEC === undefined) {
  const r = spawnSync(process.execPath, ["--max-old-space-size=10240", "--import", "tsx", fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    cwd: process.cwd(),
    env: { ...process.env, VARSEL_BENCH_REEXEC: "1" },
  });
  process.exit(r.status ?? 1);
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");
async function settle(): Promise<void> {
  gc();
  await new Promise((r) => setTimeout(r, 25));
}

// ---- the engines under test ----

interface Mode {
  key: "memory" | "sqlite" | "postgres";
  d: DurablePipeline;
  clock: SimClock;
  store?: Store;
  stats?: { stats: StoreStats; reset: () => void };
  setupSeconds: number;
  gateway: DriveResult[];
  uploads: DriveResult[];
  gatewayStats: StoreStats[];
  uploadStats: StoreStats[];
  /** Each stored snapshot's longest block of the event loop (ms), in order (DurableReport "snapshot"). */
  snapshotBlocks: number[];
}

async function makeMode(key: Mode["key"], store: Store | undefined): Promise<Mode> {
  const clock: SimClock = { now: DAY_START - 3_600_000 };
  const stats = store === undefined ? undefined : instrument(store);
  const snapshotBlocks: number[] = [];
  const onReport = (r: DurableReport): void => {
    if (r.kind === "snapshot") snapshotBlocks.push(r.maxBlockMs);
  };
  const d =
    store === undefined
      ? DurablePipeline.inMemory({ now: () => clock.now })
      : await DurablePipeline.open({ store, now: () => clock.now, ...NO_AUTO_SNAPSHOT, onReport, onError: (err, what) => log(`${key} ${what}: ${String(err)}`) });
  return { key, d, clock, store, stats, setupSeconds: 0, gateway: [], uploads: [], gatewayStats: [], uploadStats: [], snapshotBlocks };
}

/** Runs a recovery child process; resolves its JSON line. */
function recoverChild(url: string, mode: "open" | "split"): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const args = ["--import", "tsx", join(HERE, "durability", "recover.ts"), "--store", url, "--mode", mode];
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, VARSEL_BENCH_REEXEC: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`recovery child exited ${code}: ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
      }
    });
  });
}

interface RecoveryRow {
  store: string;
  tail: string;
  tailCommands: number;
  tailReadings: number;
  runs: number[];
  error?: string;
  errorAt?: string;
  split?: Record<string, unknown>;
  rss?: number;
}

/** `runs` fresh-process recoveries through DurablePipeline.open, then one split run; stops at the first failure. */
async function measureRecovery(url: string, storeName: string, tail: string, tailCommands: number, tailReadings: number, runs: number, split: boolean): Promise<RecoveryRow> {
  const row: RecoveryRow = { store: storeName, tail, tailCommands, tailReadings, runs: [] };
  while (row.runs.length < runs) {
    const r = await recoverChild(url, "open");
    if (r.error !== undefined) {
      row.error = String(r.error);
      row.errorAt = r.error_at === undefined ? undefined : String(r.error_at);
      log(`recovery (${storeName}, ${tail}) FAILED: ${row.error} at ${row.errorAt ?? "?"}`);
      return row;
    }
    row.runs.push(Number(r.open_store_s) + Number(r.recover_s));
    row.rss = Number(r.rss_mb);
    log(`recovery (${storeName}, ${tail}) run ${row.runs.length}: ${row.runs.at(-1)!.toFixed(2)} s, rss ${r.rss_mb} MB`);
  }
  if (split) {
    row.split = await recoverChild(url, "split");
    if (row.split.error !== undefined) log(`split recovery error: ${String(row.split.error)}`);
  }
  return row;
}

/** fsync'd one-row commits on the same disk (the floor under SQLite's group commit). */
function fsyncProbe(dir: string, n = 40): number[] {
  const db = new Database(join(dir, "fsync-probe.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE t (x INTEGER)");
  const ins = db.prepare("INSERT INTO t VALUES (?)");
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    ins.run(i);
    ms.push(performance.now() - t);
  }
  db.close();
  return ms;
}

function dirBytes(path: string): number {
  let total = 0;
  for (const f of readdirSync(path)) total += statSync(join(path, f)).size;
  return total;
}

async function main(): Promise<void> {
  const tStart = performance.now();
  const dir = mkdtempSync(join(opt.dir ?? tmpdir(), "varsel-bench-durability-"));
  const sqliteFile = join(dir, "varsel.db");
  const sqliteUrl = `sqlite:${sqliteFile}`;
  const pgUrl = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${PG_SCHEMA}`;
  let pgNote = "";
  const all: Mode[] = [];
  let pgCreated = false;
  try {
    // ---- workload ----
    let t = performance.now();
    const day = generateDay({ patients: cfg.patients, seed: cfg.seed, cgmShare: cfg.cgmShare, hfShare: cfg.hfShare, outOfBand: cfg.outOfBand });
    const genSeconds = (performance.now() - t) / 1000;
    const dayEnd = DAY_START + 24 * 3_600_000;
    const tailFrom = sessionAt(day, dayEnd - cfg.tailMin * 60_000);
    const bodyReadings = day.first[tailFrom];
    log(
      `workload: ${day.patients.length} patients, ${day.readings} readings in ${day.sessions} sessions over the day ` +
        `(${Object.entries(day.perProgramme).map(([k, v]) => `${k} ${v.patients} pts / ${v.readings}`).join(", ")}), generated in ${genSeconds.toFixed(1)} s`,
    );
    // slices of the day (before the tail): warm-up, gateway runs, device-upload runs; the rest is built on the store only
    const cut = (fromSession: number, share: number) => Math.min(tailFrom, sessionAfterReadings(day, fromSession, Math.round(bodyReadings * share)));
    const warmEnd = cut(0, cfg.warmShare);
    const gatewaySlices: [number, number][] = [];
    const uploadSlices: [number, number][] = [];
    let s0 = warmEnd;
    for (let r = 0; r < cfg.runs; r++) gatewaySlices.push([s0, (s0 = cut(s0, cfg.gatewayShare))]);
    for (let r = 0; r < cfg.uploadRuns; r++) uploadSlices.push([s0, (s0 = cut(s0, cfg.uploadShare))]);
    const runsEnd = s0;

    // ---- engines ----
    all.push(await makeMode("memory", undefined));
    all.push(await makeMode("sqlite", await openStore(sqliteUrl)));
    if (opt["no-pg"]) pgNote = "skipped (--no-pg)";
    else {
      try {
        const store = await openStore(pgUrl, { postgres: { connectTimeoutMs: 2_000 } });
        pgCreated = true;
        all.push(await makeMode("postgres", store));
      } catch (err) {
        pgNote = `skipped: ${redact(PG_URL)} not reachable (${err instanceof Error ? err.message : String(err)})`;
        log(`PostgreSQL ${pgNote}`);
      }
    }
    let modes = [...all];
    const mem = all[0];
    const sq = all[1];
    const pgMode = all.find((m) => m.key === "postgres");
    const fsyncMs = fsyncProbe(dir);

    // ---- setup: patients, one command each ----
    const pcmds: Timed[] = patientCommands(day).map((command) => ({ now: DAY_START - 3_600_000, command, readings: 0 }));
    for (const m of modes) {
      await settle();
      const r = await drive(m.d, m.clock, pcmds, cfg.setupInflight);
      m.setupSeconds = r.seconds;
      log(`setup ${m.key}: ${day.patients.length} patients in ${r.seconds.toFixed(1)} s`);
    }

    // ---- warm-up (untimed) ----
    const gwClock = { tick: DAY_START };
    const rng = new Rng(cfg.seed ^ 0x5eed);
    t = performance.now();
    const warm = gatewayBatches(day, 0, warmEnd, rng, gwClock);
    for (const m of modes) await drive(m.d, m.clock, warm, cfg.inflight);
    log(`warm-up: ${fmtCount(day.first[warmEnd])} readings per engine (${((performance.now() - t) / 1000).toFixed(1)} s)`);

    // ---- timed runs: engines interleaved, order rotated per run, the same commands for each ----
    const runShape = async (shape: "gateway" | "uploads", cmds: Timed[], run: number): Promise<void> => {
      const t1 = performance.now();
      const parts: string[] = [];
      for (let k = 0; k < modes.length; k++) {
        const m = modes[(k + run) % modes.length];
        m.stats?.reset();
        await settle();
        const r = await drive(m.d, m.clock, cmds, shape === "gateway" ? cfg.inflight : cfg.uploadInflight);
        (shape === "gateway" ? m.gateway : m.uploads).push(r);
        if (m.stats) {
          (shape === "gateway" ? m.gatewayStats : m.uploadStats).push(m.stats.stats);
          m.stats.reset(); // later commits (the rest of the day) must not count for this run
        }
        if (r.rejected > 0 || r.duplicates > 0) log(`WARNING ${m.key}: ${r.rejected} rejected, ${r.duplicates} duplicates`);
        const st = m.stats === undefined ? undefined : (shape === "gateway" ? m.gatewayStats : m.uploadStats).at(-1);
        parts.push(
          `${m.key} ${fmtRate(r.accepted / r.seconds)}` +
            (st ? ` [${st.commits} commits, ${st.commitSeconds.toFixed(2)} of ${r.seconds.toFixed(2)} s, max ${Math.max(...st.commitMs).toFixed(0)} ms]` : ""),
        );
      }
      log(`run ${run + 1} ${shape}: ${parts.join(", ")} (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
    };
    for (let r = 0; r < cfg.runs; r++) await runShape("gateway", gatewayBatches(day, gatewaySlices[r][0], gatewaySlices[r][1], rng, gwClock), r);
    for (let r = 0; r < cfg.uploadRuns; r++) await runShape("uploads", deviceUploads(day, uploadSlices[r][0], uploadSlices[r][1], gwClock), r);

    // ---- the rest of the day on the store(s) only (the recovery store needs the whole day) ----
    mem.d = undefined as unknown as DurablePipeline; // the in-memory engine is done
    if (pgMode && !opt["pg-recovery"]) await pgMode.store!.close();
    modes = opt["pg-recovery"] && pgMode ? [sq, pgMode] : [sq];
    await settle();
    const buildCmds = gatewayBatches(day, runsEnd, tailFrom, rng, gwClock);
    const buildReadings = day.first[tailFrom] - day.first[runsEnd];
    const build: Record<string, number> = {};
    for (const m of modes) {
      const r = await drive(m.d, m.clock, buildCmds, cfg.buildInflight);
      build[m.key] = r.seconds;
      log(`rest of the day on ${m.key}: ${fmtCount(buildReadings)} readings in ${r.seconds.toFixed(1)} s (${fmtRate(r.accepted / r.seconds)})`);
    }
    buildCmds.length = 0;

    // ---- the explicit snapshot just before the tail; exportState timed on the instance ----
    const snapInfo: Record<string, { seconds: number; write: number; exportState: number; kernel: number; state: number; pos: number; maxBlockMs: number; again: { seconds: number; write: number; maxBlockMs: number } }> = {};
    for (const m of modes) {
      const p = m.d.pipeline;
      const exportState = p.exportState.bind(p);
      let exportSeconds = 0;
      p.exportState = (options) => {
        const t2 = performance.now();
        const x = exportState(options);
        exportSeconds += (performance.now() - t2) / 1000;
        return x;
      };
      const timedSnapshot = async () => {
        m.stats!.reset();
        await settle();
        const started = performance.now();
        await m.d.snapshot();
        return { seconds: (performance.now() - started) / 1000, stats: { ...m.stats!.stats } };
      };
      const { seconds, stats: st } = await timedSnapshot();
      const exportFirst = exportSeconds;
      const maxBlockMs = m.snapshotBlocks.at(-1) ?? NaN;
      // A second one at once: every snapshot after a process's first (packed into the memory of the one before).
      const next = await timedSnapshot();
      const again = { seconds: next.seconds, write: next.stats.snapshotSeconds, maxBlockMs: m.snapshotBlocks.at(-1) ?? NaN };
      p.exportState = exportState;
      snapInfo[m.key] = { seconds, write: st.snapshotSeconds, exportState: exportFirst, kernel: st.snapshotBytes.kernel, state: st.snapshotBytes.state, pos: m.d.position(), maxBlockMs, again };
      log(`snapshot ${m.key}: ${(st.snapshotBytes.kernel / 1e6).toFixed(1)} MB kernel + ${(st.snapshotBytes.state / 1e6).toFixed(1)} MB state in ${snapInfo[m.key].seconds.toFixed(2)} s (exportState ${exportFirst.toFixed(2)} s, write ${st.snapshotSeconds.toFixed(2)} s); the next one ${again.seconds.toFixed(2)} s (capture ${(again.seconds - again.write).toFixed(2)} s); longest event-loop block ${maxBlockMs.toFixed(0)} ms, the next one's ${again.maxBlockMs.toFixed(0)} ms`);
    }

    // ---- the tail: the last minutes of the day as device uploads, a tick every second (as the server) ----
    // First one snapshot interval of the default cadence (the longest tail it leaves at this
    // load: the headline recovery), then the rest of the --tail-min minutes (a second recovery).
    const tailCmds = deviceUploads(day, tailFrom, day.sessions, { tick: gwClock.tick }, 1000);
    const cadenceEnd = dayEnd - cfg.tailMin * 60_000 + DEFAULT_SNAPSHOT_EVERY_MS;
    const split = Math.min(tailCmds.length, Math.max(0, tailCmds.findIndex((c) => c.now >= cadenceEnd)));
    const tailParts = cfg.tailMin * 60_000 > DEFAULT_SNAPSHOT_EVERY_MS ? [tailCmds.slice(0, split), tailCmds.slice(split)] : [tailCmds];
    const tailInfo: Record<string, { commands: number; journaled: number; seconds: number }>[] = [];
    const recoveries: RecoveryRow[] = [];
    let dbBytesDay = 0;
    let tailReadings = 0;
    for (const [part, cmds] of tailParts.entries()) {
      const info: Record<string, { commands: number; journaled: number; seconds: number }> = {};
      tailReadings += cmds.reduce((a, c) => a + c.readings, 0);
      for (const m of modes) {
        const r = await drive(m.d, m.clock, cmds, cfg.uploadInflight);
        info[m.key] = { commands: cmds.length, journaled: m.d.position() - snapInfo[m.key].pos, seconds: r.seconds };
      }
      tailInfo.push(info);
      const minutes = part === 0 && tailParts.length > 1 ? DEFAULT_SNAPSHOT_EVERY_MS / 60_000 : cfg.tailMin;
      log(`tail to ${minutes} min: +${cmds.length} commands (${cmds.filter((c) => c.command.kind === "tick").length} ticks), journaled ${info.sqlite.journaled} after the snapshot`);
      if (part === tailParts.length - 1) dbBytesDay = dirBytes(dir);
      // ---- recovery in fresh processes; the writer stays open (as after kill -9: no final snapshot, WAL not checkpointed) ----
      const label = `${minutes} min (evening peak)${part === 0 && tailParts.length > 1 ? ", one default interval" : ""}`;
      recoveries.push(await measureRecovery(sqliteUrl, "SQLite", label, info.sqlite.journaled, tailReadings, cfg.recoveryRuns, part === 0));
      if (opt["pg-recovery"] && pgMode) recoveries.push(await measureRecovery(pgUrl, "PostgreSQL", label, info.postgres.journaled, tailReadings, 1, false));
    }
    const lastTail = tailInfo[tailInfo.length - 1];

    // ---- the longest tail the default cadence allows at saturation: a backlog burst of device uploads on top ----
    const paired = (rs: DriveResult[], base: DriveResult[]): number => summarize(rs.map((r, i) => r.accepted / r.seconds / (base[i].accepted / base[i].seconds))).median;
    const uploadCmdRate = sq.uploads.reduce((a, r) => a + r.commands, 0) / sq.uploads.reduce((a, r) => a + r.seconds, 0);
    const saturated = cadenceAtSaturation(paired(sq.uploads, mem.uploads), snapInfo.sqlite.seconds);
    const longestTail = cfg.longestTail ?? Math.round(uploadCmdRate * saturated.interval);
    const burstCount = Math.max(0, longestTail - lastTail.sqlite.journaled);
    const burst = backlogBurst(day, dayEnd + 1000, burstCount, 60_000, new Rng(cfg.seed ^ 0xb0257));
    const burstReadings = burst.reduce((a, c) => a + c.readings, 0);
    t = performance.now();
    await drive(sq.d, sq.clock, burst, cfg.uploadInflight);
    log(`longest tail: +${burstCount} upload commands (${burstReadings} readings) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const worstJournaled = sq.d.position() - snapInfo.sqlite.pos;
    recoveries.push(
      await measureRecovery(sqliteUrl, "SQLite", `${fmtCount(worstJournaled)} commands (${saturated.interval.toFixed(0)} s at saturation)`, worstJournaled, tailReadings + burstReadings, 1, false),
    );
    // done with the stores (SQLite checkpoints its WAL into the file on close)
    for (const m of modes) await m.store?.close();
    const dbBytes = statSync(sqliteFile).size;

    // ---- report ----
    /** Share of commit time that is encoding: batchRows alone on sampled groups (after the runs) ÷ those groups' commit times. */
    const encodeShare = (stats: StoreStats[]): number => {
      const samples = stats.flatMap((s) => s.samples);
      if (samples.length === 0) return NaN;
      for (const x of samples.slice(0, 2)) batchRows(x.batch); // warm
      let enc = 0;
      for (const x of samples) {
        const t2 = performance.now();
        batchRows(x.batch);
        enc += performance.now() - t2;
      }
      return enc / samples.reduce((a, x) => a + x.ms, 0);
    };
    const rowsT: string[][] = [];
    const res: Record<string, { median: number; ratio: number; cmdRate: number }> = {};
    /** Median over runs of this engine's rate ÷ memory's in the same run (same commands, same state). */
    const pairedRatio = (rs: DriveResult[], base: DriveResult[]): number =>
      summarize(rs.map((r, i) => r.accepted / r.seconds / (base[i].accepted / base[i].seconds))).median;
    for (const shape of ["gateway", "uploads"] as const) {
      for (const m of all) {
        const rs = shape === "gateway" ? m.gateway : m.uploads;
        const st = shape === "gateway" ? m.gatewayStats : m.uploadStats;
        const S = summarize(rs.map((r) => r.accepted / r.seconds));
        const lat = rs.flatMap((r) => Array.from(r.latencyMs));
        const commits = st.reduce((a, x) => a + x.commits, 0);
        const entries = st.reduce((a, x) => a + x.entries, 0);
        const commitS = st.reduce((a, x) => a + x.commitSeconds, 0);
        const wall = rs.reduce((a, r) => a + r.seconds, 0);
        const enc = m.key === "memory" ? NaN : encodeShare(st);
        const durable = m.key !== "memory";
        rowsT.push([
          m.key === "memory" ? "in memory" : m.key === "sqlite" ? "SQLite" : "PostgreSQL",
          shape === "gateway" ? `gateway, ${Math.round(rs[0].readings / Math.max(1, rs[0].commands))}/cmd` : `device, ${(rs[0].readings / rs[0].commands).toFixed(1)}/cmd`,
          String(shape === "gateway" ? cfg.inflight : cfg.uploadInflight),
          fmtCount(rs[0].accepted),
          fmtRate(S.min),
          fmtRate(S.median),
          fmtRate(S.max),
          durable ? fmtRatio(pairedRatio(rs, shape === "gateway" ? mem.gateway : mem.uploads)) : "1",
          `${percentile(lat, 50).toFixed(0)} / ${percentile(lat, 99).toFixed(0)}`,
          durable ? (entries / commits).toFixed(1) : "–",
          durable ? percentile(st.flatMap((x) => x.commitMs), 50).toFixed(1) : "–",
          durable && !Number.isNaN(enc) ? `${(100 * enc).toFixed(0)} %` : "–",
          durable ? `${((100 * commitS) / wall).toFixed(0)} %` : "–",
          `${((100 * rs.reduce((a, r) => a + r.gcSeconds, 0)) / wall).toFixed(0)} %`,
        ]);
        res[`${m.key}_${shape}`] = { median: S.median, ratio: durable ? pairedRatio(rs, shape === "gateway" ? mem.gateway : mem.uploads) : 1, cmdRate: rs.reduce((a, r) => a + r.commands, 0) / wall };
      }
    }
    const ratio = res.sqlite_gateway.ratio;
    const ratioUploads = res.sqlite_uploads.ratio;
    const ratioPg = res.postgres_gateway?.ratio ?? NaN;
    const ratioPgUploads = res.postgres_uploads?.ratio ?? NaN;

    // Snapshots at the default cadence, amortised: each blocks the event loop for its capture and (SQLite) its write.
    const snapSq = snapInfo.sqlite;
    const captureSeconds = snapSq.seconds - snapSq.write;
    const amortised = (x: { median: number; ratio: number }, blocking: number): { interval: number; rps: number; ratio: number } => {
      const { interval, keep } = cadenceAtSaturation(x.ratio, blocking);
      return { interval, rps: x.median * keep, ratio: x.ratio * keep };
    };
    const amGw = amortised(res.sqlite_gateway, snapSq.seconds);
    const amUp = amortised(res.sqlite_uploads, snapSq.seconds);

    const rec = recoveries[0];
    const recS = summarize(rec.runs);
    const recoveryOk = rec.error === undefined;
    const worst = recoveries[recoveries.length - 1];
    const worstS = summarize(worst.runs);
    // the whole --tail-min tail (when longer than one interval: the second SQLite recovery)
    const sqliteRecs = recoveries.filter((r) => r.store === "SQLite");
    const fullTail = sqliteRecs.length > 2 ? sqliteRecs[1] : undefined;
    const fullTailS = fullTail ? summarize(fullTail.runs) : undefined;
    const pgRec = recoveries.find((r) => r.store === "PostgreSQL");
    const pgRecS = pgRec ? summarize(pgRec.runs) : undefined;

    const out: string[] = [];
    const pp = day.perProgramme;
    const runsAll = [...mem.gateway, ...mem.uploads];
    const sum = (f: (r: DriveResult) => number): number => runsAll.reduce((a, r) => a + f(r), 0);
    const oob = sum((r) => r.offNormal) / sum((r) => r.accepted);
    const oobNonCgm = sum((r) => r.offNormal - r.offNormalCgm) / sum((r) => r.accepted - r.cgm);
    const oobCgm = sum((r) => r.offNormalCgm) / sum((r) => r.cgm);
    const hhmm = (ms: number): string => new Date(ms + 3_600_000).toISOString().slice(11, 16);
    out.push(
      `varsel durability benchmark (${quick ? "--quick" : "full"}): ${day.patients.length} patients ` +
        `(telehjerte ${pp.telehjerte?.patients ?? 0}, telekol ${pp.telekol?.patients ?? 0}, cgm ${pp.cgm?.patients ?? 0}), ` +
        `a simulated day of ${fmtCount(day.readings)} readings in ${fmtCount(day.sessions)} device sessions (${(day.readings / day.patients.length).toFixed(1)} per patient, ` +
        `${pp.cgm?.readings ?? 0} of them CGM), each with a measurement id; out of band (L/H/LL/HH): ${(100 * oobNonCgm).toFixed(1)} % of non-CGM readings, ${(100 * oobCgm).toFixed(1)} % of CGM. ` +
        `Accepted readings/s, min / median / max over ${cfg.runs} + ${cfg.uploadRuns} runs; the engines interleaved, each run the next slice of the day ` +
        `(runs cover ${hhmm(day.time[warmEnd])}–${hhmm(day.time[runsEnd - 1])} local).`,
    );
    out.push("");
    out.push(
      renderTable(
        ["store", "commands", "in flight", "readings/run", "min", "median", "max", "÷ memory", "ack p50/p99 ms", "cmds/commit", "commit ms", "encode", "in commit", "GC"],
        rowsT,
        ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
      ),
    );
    out.push("");
    out.push(
      `"gateway": batches of 100–1000 readings of many patients, ${cfg.inflight} in flight; "device": one command per device session (1–4 readings), ${cfg.uploadInflight} in flight, as the HTTP server receives them. ` +
        `A tick follows each simulated minute. "÷ memory": median over the runs of this rate ÷ the in-memory rate on the same commands. ack: execute() → resolved (durable), at saturation, so mostly queueing (≈ in flight ÷ commands/s). ` +
        `"commit ms": median wall time of one store.commit (one group); "encode": the share of commit time that is batchRows (msgpack of commands, events, alerts; timed again afterwards on sampled groups), the rest is SQL + fsync (+ GC pauses that land there). ` +
        `"in commit": share of the run's wall time inside store.commit (SQLite blocks the event loop for all of it; PostgreSQL only for the encoding); "GC": share of the run's wall time in garbage collection. ` +
        `No snapshot is taken inside the runs (see "default cadence" below).${pgNote ? ` PostgreSQL ${pgNote}.` : ""}`,
    );
    out.push(`disk: a one-row fsync'd SQLite commit (WAL, synchronous FULL) takes p50 ${percentile(fsyncMs, 50).toFixed(2)} ms, p90 ${percentile(fsyncMs, 90).toFixed(2)} ms here.`);
    out.push("");

    const rRows = recoveries.map((r) => {
      const S = summarize(r.runs);
      return [
        r.store,
        r.tail,
        `${fmtCount(r.tailCommands)} / ${fmtCount(r.tailReadings)}`,
        String(r.runs.length),
        `${S.min.toFixed(2)} s`,
        `${S.median.toFixed(2)} s`,
        `${S.max.toFixed(2)} s`,
        r.rss === undefined ? "–" : `${r.rss} MB`,
        r.error === undefined ? "ok" : `FAILS (${r.error.split(":")[0]})`,
      ];
    });
    out.push(renderTable(["recovery (fresh process)", "journal tail", "tail cmds / readings", "runs", "min", "median", "max", "rss", "DurablePipeline.open"], rRows, ["l", "l", "r", "r", "r", "r", "r", "r", "l"]));
    out.push("");
    const sp = rec.split ?? {};
    const n = (k: string): number => Number(sp[k] ?? NaN);
    const steps: [string, string, number][] = [
      ["open store (connect, migrations)", "store/open-store.ts openStore", n("open_store_s")],
      ["read the snapshot row", "store latestSnapshot", n("load_snapshot_s")],
      ["unpack state (msgpack)", "DurablePipeline.recover", n("unpack_state_s")],
      ["compile wasm module", "WasmKernel.load", n("wasm_compile_s")],
      ["restore kernel (copy region)", "WasmKernel.restore", n("kernel_restore_s")],
      ["import patients", "Pipeline.fromState", n("import_patients_s")],
      [`import idempotency keys (${fmtCount(n("seen_keys"))})`, "IdempotencyWindow.importState", n("import_seen_s")],
      ["import thresholds", "ThresholdHistory.importState", n("import_thresholds_s")],
      [`import registry (${fmtCount(n("slots"))} slots, ${fmtCount(n("rules"))} rules)`, "PatientRegistry.importState", n("import_registry_s")],
      [`import lifecycle (${fmtCount(n("alerts"))} alerts, ${fmtCount(n("retained_events"))} events)`, "AlertLifecycle.importState", n("import_lifecycle_s")],
      [`read + decode journal (${fmtCount(n("replayed_commands"))} cmds)`, "store readJournal", n("read_journal_s")],
      [`replay (${fmtCount(n("replayed_readings"))} readings)`, "durable/apply.ts applyCommand", n("replay_s")],
    ];
    const splitTotal = steps.reduce((a, x) => a + (Number.isNaN(x[2]) ? 0 : x[2]), 0);
    out.push(
      renderTable(
        [`where recovery time goes (${rec.store}, ${rec.tail}, one run)`, "code (engine/)", "seconds", "share"],
        [...steps.map(([a, b, x]) => [a, b, Number.isNaN(x) ? "–" : x.toFixed(3), Number.isNaN(x) ? "" : `${((100 * x) / splitTotal).toFixed(0)} %`]), ["total (sum of the steps)", "", splitTotal.toFixed(3), ""]],
        ["l", "l", "r", "r"],
      ),
    );
    out.push("");
    const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
    const parts = (sp.state_parts ?? {}) as Record<string, number>;
    out.push(
      `snapshot (SQLite, taken explicitly at ${hhmm(dayEnd - cfg.tailMin * 60_000)} local): kernel ${mb(snapSq.kernel)} + state ${mb(snapSq.state)} = ${mb(snapSq.kernel + snapSq.state)}; ` +
        `longest block of the event loop ${snapSq.maxBlockMs.toFixed(0)} ms (the next snapshot's ${snapSq.again.maxBlockMs.toFixed(0)} ms); ` +
        `it took ${snapSq.seconds.toFixed(2)} s: capture and packing ${captureSeconds.toFixed(2)} s (exportState ${snapSq.exportState.toFixed(2)} s + msgpack ${(captureSeconds - snapSq.exportState).toFixed(2)} s), SQLite write ${snapSq.write.toFixed(2)} s; ` +
        `the next snapshot (every one after a process's first) captured in ${(snapSq.again.seconds - snapSq.again.write).toFixed(2)} s` +
        (snapInfo.postgres ? `; PostgreSQL ${snapInfo.postgres.seconds.toFixed(2)} s (write ${snapInfo.postgres.write.toFixed(2)} s).` : "."),
    );
    if (Object.keys(parts).length > 0) {
      out.push(
        `state bytes (each part packed alone, long arrays estimated from a prefix): ${["patients", "seen", "thresholds", "registry", "lifecycle"].map((k) => `${k} ${mb(parts[k] ?? NaN)}`).join(", ")}; ` +
          `registry = patients ${mb(parts["registry.patients"] ?? NaN)} + definitions ${mb(parts["registry.definitions"] ?? NaN)} + slot columns ${mb(parts["registry.slots"] ?? NaN)} + rule columns ${mb(parts["registry.rules"] ?? NaN)}.`,
      );
    }
    out.push(
      `store: SQLite database + WAL after the day ${mb(dbBytesDay)}, database after the burst and a checkpoint ${mb(dbBytes)}. ` +
        `Rest of the day written on the store alone (not in the figures): ${fmtCount(buildReadings)} readings, ${Object.entries(build).map(([k, v]) => `${k} ${v.toFixed(1)} s (${fmtRate(buildReadings / v)})`).join(", ")}.`,
    );
    out.push(
      `default cadence (a snapshot every ${DEFAULT_SNAPSHOT_EVERY_MS / 1000} s or ${DEFAULT_REPLAY_BUDGET_MS / 1000} s of replay, at most ${100 * DEFAULT_SNAPSHOT_SHARE} % of the time), with this snapshot's cost, at saturation: ` +
        `gateway one every ${amGw.interval.toFixed(1)} s → SQLite ${fmtRate(amGw.rps)} (${fmtRatio(amGw.ratio)} of memory); ` +
        `device uploads one every ${amUp.interval.toFixed(1)} s → ${fmtRate(amUp.rps)} (${fmtRatio(amUp.ratio)}).`,
    );
    out.push("");
    const atLeast = (x: number, min: number): boolean | null => (Number.isNaN(x) ? null : x >= min);
    const goal = (ok: boolean | null): string => (ok === null ? "n/a" : ok ? "met" : "NOT met");
    const r3 = (x: number): string => (Number.isNaN(x) ? "–" : `${x.toFixed(3)}×`);
    const goals = {
      durable_ge_70pct: atLeast(ratio, 0.7),
      durable_ge_70pct_uploads: atLeast(ratioUploads, 0.7),
      durable_ge_70pct_pg: atLeast(ratioPg, 0.7),
      durable_ge_70pct_default_cadence: atLeast(amGw.ratio, 0.7),
      recovery_le_2s: recoveryOk && recS.median <= 2,
    };
    const gRows: string[][] = [
      ["SQLite ÷ memory, gateway batches", r3(ratio), "≥ 0.70×", goal(goals.durable_ge_70pct)],
      ["SQLite ÷ memory, device uploads", r3(ratioUploads), "(≥ 0.70×)", goal(goals.durable_ge_70pct_uploads)],
      ["PostgreSQL ÷ memory, gateway batches", r3(ratioPg), "(≥ 0.70×)", goal(goals.durable_ge_70pct_pg)],
      ["PostgreSQL ÷ memory, device uploads", r3(ratioPgUploads), "(≥ 0.70×)", goal(atLeast(ratioPgUploads, 0.7))],
      ["SQLite ÷ memory, gateway, default snapshot cadence", r3(amGw.ratio), "(≥ 0.70×)", goal(goals.durable_ge_70pct_default_cadence)],
      ["SQLite ÷ memory, device uploads, default snapshot cadence", r3(amUp.ratio), "(≥ 0.70×)", goal(atLeast(amUp.ratio, 0.7))],
      [
        `recovery, ${day.patients.length} patients, ${rec.tail} (median)`,
        recoveryOk ? `${recS.median.toFixed(2)} s` : "FAILS",
        "≤ 2 s",
        goal(goals.recovery_le_2s),
      ],
      ...(fullTail && fullTailS
        ? [[`recovery, ${fullTail.tail} (median)`, fullTail.error === undefined ? `${fullTailS.median.toFixed(2)} s` : "FAILS", "(≤ 2 s)", goal(fullTail.error === undefined && fullTailS.median <= 2)]]
        : []),
      [`recovery, tail of ${fmtCount(worst.tailCommands)} commands`, worst.error === undefined ? `${worstS.median.toFixed(2)} s` : "FAILS", "(≤ 2 s)", goal(worst.error === undefined && worstS.median <= 2)],
    ];
    if (pgRecS) gRows.push([`recovery from PostgreSQL, ${pgRec!.tail}`, pgRec!.error === undefined ? `${pgRecS.median.toFixed(2)} s` : "FAILS", "(≤ 2 s)", goal(pgRec!.error === undefined && pgRecS.median <= 2)]);
    out.push(renderTable(["goal (medians)", "value", "goal", ""], gRows, ["l", "r", "l", "l"]));
    if (!recoveryOk) {
      out.push("");
      out.push(
        `RECOVERY FAILS: DurablePipeline.open → ${rec.error} (${rec.errorAt ?? ""}).`,
      );
    }
    out.push("");
    out.push(
      `setup (not in the figures): workload ${genSeconds.toFixed(1)} s; ${day.patients.length} patients via execute({kind:"patient"}), ${cfg.setupInflight} in flight: ` +
        all.map((m) => `${m.key} ${m.setupSeconds.toFixed(1)} s`).join(", ") +
        `; total wall ${((performance.now() - tStart) / 1000).toFixed(1)} s`,
    );

    const json: Record<string, unknown> = {
      durable_over_nondurable: sig(ratio, 3),
      recovery_s_100k: recoveryOk ? sig(recS.median, 3) : null,
      recovery_patients: day.patients.length,
      recovery_ok: recoveryOk,
      ...(recoveryOk ? {} : { recovery_error: rec.error }),
      durable_rps: sig(res.sqlite_gateway.median),
      nondurable_rps: sig(res.memory_gateway.median),
      durable_over_nondurable_uploads: sig(ratioUploads, 3),
      durable_rps_uploads: sig(res.sqlite_uploads.median),
      nondurable_rps_uploads: sig(res.memory_uploads.median),
      durable_over_nondurable_pg: res.postgres_gateway ? sig(ratioPg, 3) : null,
      durable_rps_pg: res.postgres_gateway ? sig(res.postgres_gateway.median) : null,
      durable_over_nondurable_pg_uploads: res.postgres_uploads ? sig(ratioPgUploads, 3) : null,
      durable_over_nondurable_default_cadence: sig(amGw.ratio, 3),
      durable_over_nondurable_uploads_default_cadence: sig(amUp.ratio, 3),
      snapshot_mb: sig((snapSq.kernel + snapSq.state) / 1e6, 4),
      snapshot_kernel_mb: sig(snapSq.kernel / 1e6, 4),
      snapshot_state_mb: sig(snapSq.state / 1e6, 4),
      snapshot_s: sig(snapSq.seconds, 3),
      snapshot_capture_s: sig(captureSeconds, 3),
      snapshot_capture_again_s: sig(snapSq.again.seconds - snapSq.again.write, 3),
      /** The longest the event loop was held at once by a snapshot (the process's first or the next, whichever is longer). */
      snapshot_max_block_ms: sig(Math.max(snapSq.maxBlockMs, snapSq.again.maxBlockMs), 3),
      snapshot_max_block_ms_again: sig(snapSq.again.maxBlockMs, 3),
      replayed_commands: Number(sp.replayed_commands ?? rec.tailCommands),
      replayed_readings: Number(sp.replayed_readings ?? rec.tailReadings),
      recovery_split_s: Object.fromEntries(
        ["open_store_s", "load_snapshot_s", "unpack_state_s", "wasm_compile_s", "kernel_restore_s", "import_patients_s", "import_seen_s", "import_thresholds_s", "import_registry_s", "import_lifecycle_s", "read_journal_s", "replay_s"].map((k) => [
          k.replace(/_s$/, ""),
          sig(n(k), 3),
        ]),
      ),
      recovery_rss_mb: rec.rss ?? null,
      recovery_tail_min: DEFAULT_SNAPSHOT_EVERY_MS / 60_000,
      recovery_s_tail_full: fullTailS ? sig(fullTailS.median, 3) : null,
      tail_full_min: cfg.tailMin,
      recovery_s_longest_tail: sig(worstS.median, 3),
      longest_tail_commands: worst.tailCommands,
      recovery_s_pg: pgRecS ? sig(pgRecS.median, 3) : null,
      setup_s: Object.fromEntries(all.map((m) => [m.key, sig(m.setupSeconds, 3)])),
      readings_per_day: day.readings,
      patients: day.patients.length,
      runs: cfg.runs,
      upload_runs: cfg.uploadRuns,
      inflight: cfg.inflight,
      upload_inflight: cfg.uploadInflight,
      out_of_band: sig(oob, 3),
      out_of_band_non_cgm: sig(oobNonCgm, 3),
      pg: res.postgres_gateway ? true : pgNote,
      quick,
      goals,
    };
    const line = JSON.stringify(json, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
    process.stdout.write(out.join("\n") + "\n\n" + line + "\n");
  } finally {
    for (const m of all) await m.store?.close().catch(() => undefined); // no-op when already closed
    if (pgCreated) {
      const c = new pg.Client({ connectionString: PG_URL });
      try {
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`);
      } catch (err) {
        log(`could not drop schema ${PG_SCHEMA}: ${String(err)}`);
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
