// npm run bench:cluster [-- --quick] — varsel as a cluster on the local nats-server (issue 17,
// docs/cluster.md, docs/capacity.md). Every node is a separate process (`varsel serve --role …`):
//
// 1. Engine throughput with 1, 2 and 3 engine processes: patients and readings are put in the
//    commands stream first, then the engines start and drain it; readings/s is measured over the
//    middle 80 % of the drain (the total of the consumers' pending messages, sampled), so process
//    start and restore are not counted. With 1 engine also: its memory before and after (RSS) and
//    its CPU time per reading, and the snapshots' size per patient.
// 2. End to end on the 3-engine cluster plus 1 ingest and 1 gateway: readings POSTed to the
//    ingest at a steady rate, a clinician's socket on the gateway; ingest→alert latency is the
//    client's receipt minus the event's `at` (the ingest's clock when it received the reading;
//    one machine, one clock). Then kill -9 of the engine owning partition 0 under the same load:
//    failover time is from the kill until every partition it owned has a new owner that has
//    applied a command stored after the kill. Its parts, per partition taken over (from the
//    engines' own reports, pino lines on their stdout): detection (the kill until a survivor
//    took the lease), restore (snapshot read, of which the object store read is shown too, and
//    state rebuilt) and replay (the commands stored
//    since that snapshot applied), the worst partition of each shown.
// 3. Lost and duplicated: the events stream must equal what the commands stream produces (one
//    Pipeline per partition), and the client must have received every event after its snapshot
//    exactly once. `alerts_lost` / `alerts_duplicated` count alert events (raised, updated, …).
//
// Tables, then the last line JSON with cluster_rps_1, cluster_rps_3, cluster_p99_ms, failover_s,
// alerts_lost, alerts_duplicated (and the rest). Needs nats-server with JetStream at
// VARSEL_NATS_URL (default nats://127.0.0.1:4222). The machine has 2 cores: engines, the
// nats-server and this driver share them, so more engine processes cannot scale far here.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import WebSocket from "ws";
import { applyCommand } from "../engine/durable/apply.js";
import type { Command } from "../engine/durable/commands.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import { Auth } from "../server/auth.js";
import { ClusterIngest } from "../server/cluster/ingest.js";
import { destroyCluster, openCluster, type Cluster } from "../server/cluster/streams.js";
import { listeningAddress } from "../test/support/child-server.js";
import { expectedEvents, owners as ownersOf, streamedEventList } from "../test/support/cluster.js";
import { fmtRate, sig } from "./lib/stats.js";
import { renderTable } from "./lib/table.js";
import { Rng } from "./lib/workload.js";

const { values: opt } = parseArgs({ options: { quick: { type: "boolean" }, partitions: { type: "string" }, patients: { type: "string" }, readings: { type: "string" }, "per-command": { type: "string" } } });
const quick = opt.quick === true;
const NATS = process.env.VARSEL_NATS_URL || "nats://127.0.0.1:4222";
const ROOT = new URL("..", import.meta.url).pathname;
const SECRET = "bench-cluster-secret-long-enough-for-hs256";
const N = Number(opt.partitions ?? 12);
const CFG = {
  patients: Number(opt.patients ?? (quick ? 2_000 : 20_000)),
  readings: Number(opt.readings ?? (quick ? 40_000 : 400_000)),
  /** In-process memory measurement: patients in one Pipeline (one engine's share), 6 readings each. */
  memoryPatients: quick ? 20_000 : 100_000,
  /** Readings per ingest command (a gateway's batch), spread over random patients. */
  perCommand: Number(opt["per-command"] ?? 20),
  /** End to end: readings per second POSTed, in requests of this many. */
  rate: quick ? 200 : 500,
  perRequest: 10,
  steadyS: quick ? 8 : 30,
  failoverS: quick ? 12 : 30,
  /** The ingest node at full speed, before the steady run. */
  burstS: quick ? 5 : 15,
};
const CARE = [{ team: "team-a", role: "hospital" as const }];
const auth = new Auth({ secret: SECRET });

// ---- processes ----

interface Role {
  child: ChildProcess;
  port?: number;
  exited: Promise<unknown>;
}

/** Every process and cluster this run started: ended and removed even when the run fails. */
const started: Role[] = [];
const clusters: Cluster[] = [];

async function cleanUp(): Promise<void> {
  for (const r of started) await kill(r);
  for (const c of clusters) {
    if (c.nc.isClosed()) continue;
    await destroyCluster(c).catch(() => undefined);
    await c.close().catch(() => undefined);
  }
}

async function open(prefix: string): Promise<Cluster> {
  const cluster = await openCluster({ servers: NATS, prefix, partitions: N, name: "varsel-bench" });
  clusters.push(cluster);
  return cluster;
}

/** A takeover step an engine reported (its pino line): when (epoch ms, this machine's clock) and what. */
interface TakeoverReport {
  pid: number;
  time: number;
  kind: "acquired" | "restored" | "replayed";
  partition: number;
  ms?: number;
  readMs?: number;
  bytes?: number;
  commands?: number;
}
const takeovers: TakeoverReport[] = [];

async function startRole(prefix: string, roles: string): Promise<Role> {
  const listens = roles !== "engine";
  // BENCH_CLUSTER_NODE_ARGS: extra Node flags for the role processes (diagnostics, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
  const nodeArgs = (process.env.BENCH_CLUSTER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "server/main.ts", "serve", "--role", roles, "--nats", NATS, "--cluster-prefix", prefix, "--partitions", String(N), "--port", "0"], {
    cwd: ROOT,
    env: { ...process.env, VARSEL_JWT_SECRET: SECRET, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => child.once("exit", r));
  started.push({ child, exited });
  if (!listens) {
    // An engine's reports of its partitions: the takeover steps are kept, the rest read and dropped.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.includes('"kind":"acquired"') && !line.includes('"kind":"restored"') && !line.includes('"kind":"replayed"')) return;
      const r = JSON.parse(line) as Omit<TakeoverReport, "pid">;
      takeovers.push({ pid: child.pid!, time: r.time, kind: r.kind, partition: r.partition, ms: r.ms, readMs: r.readMs, bytes: r.bytes, commands: r.commands });
    });
  }
  return { child, port: listens ? await listeningAddress(child, 60_000) : undefined, exited };
}

async function kill(r: Role): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
  await r.exited;
}

/** Resident memory (bytes) and CPU time (ms) of a process, from /proc. */
function usage(pid: number): { rss: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { rss, cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 };
}

// ---- cluster helpers ----

const owners = (cluster: Cluster) => ownersOf(cluster, N);

/** Commands not yet applied, over every partition's consumer (a consumer not created yet: all of its subject). */
async function pending(cluster: Cluster, total: number): Promise<number> {
  let sum = 0;
  let seen = 0;
  for (let p = 0; p < N; p++) {
    const info = await cluster.jsm.consumers.info(cluster.names.commandStream, cluster.names.consumer(p)).catch(() => undefined);
    if (info === undefined) continue;
    seen++;
    sum += info.num_pending + info.num_ack_pending;
  }
  return seen < N ? Math.max(sum, total) : sum;
}

/** |a − b| and |b − a| as multisets. */
function multisetDiff(a: string[], b: string[]): { onlyA: string[]; onlyB: string[] } {
  const count = new Map<string, number>();
  for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
  const onlyB: string[] = [];
  for (const x of b) {
    const c = count.get(x) ?? 0;
    if (c > 0) count.set(x, c - 1);
    else onlyB.push(x);
  }
  const onlyA = [...count.entries()].flatMap(([x, c]) => Array<string>(c).fill(x));
  return { onlyA, onlyB };
}

// ---- workload ----

const patientId = (i: number) => `bench-${i}`;

async function register(ingest: ClusterIngest): Promise<void> {
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < CFG.patients; i++) {
    all.push(ingest.publish({ kind: "patient", id: patientId(i), input: { programmes: ["telekol"], careTeams: CARE, paused: false, references: { spo2: 95 } } }));
    if (all.length >= 256) await Promise.all(all.splice(0));
  }
  await Promise.all(all);
}

/** A reading: SpO2 mostly normal, now and then yellow or red (alerts raised and cleared), pulse normal. */
function reading(rng: Rng, time: number, n: number): Record<string, unknown> {
  const patient = patientId(Math.floor(rng.next() * CFG.patients));
  const r = rng.next();
  if (n % 2 === 0) return { patient, metric: "spo2", value: r < 0.9 ? 95 + Math.floor(rng.next() * 4) : r < 0.96 ? 91 : 86, time, id: `r${n}` };
  return { patient, metric: "pulse", value: 60 + Math.floor(rng.next() * 30), time, id: `r${n}` };
}

async function preload(ingest: ClusterIngest, rng: Rng): Promise<void> {
  const all: Promise<unknown>[] = [];
  let n = 0;
  const t0 = Date.now() - 3_600_000;
  for (let c = 0; (c + 1) * CFG.perCommand <= CFG.readings; c++) {
    const time = t0 + c;
    const items = Array.from({ length: CFG.perCommand }, () => reading(rng, time, n++));
    const command: Command = { kind: "ingest", source: "readings", batch: canonicalReadings(items, Date.now()), channel: "bench" };
    all.push(ingest.publish(command));
    if (all.length >= 128) await Promise.all(all.splice(0));
  }
  await Promise.all(all);
}

// ---- phases ----

interface Throughput {
  engines: number;
  rps: number;
  drainS: number;
  rssBefore?: number;
  rssAfter?: number;
  cpuMsPerReading?: number;
  snapshotBytes?: number;
}

async function throughput(engines: number, baselineRss: number | undefined): Promise<{ result: Throughput; cluster: Cluster; roles: Role[] }> {
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const cluster = await open(prefix);
  const ingest = new ClusterIngest(cluster);
  const rng = new Rng(17);
  await register(ingest);
  await preload(ingest, rng);
  const total = (await cluster.jsm.streams.info(cluster.names.commandStream)).state.messages;
  const readingMessages = total - CFG.patients;
  // Started together: the first scan only announces, so they share the partitions at once.
  const roles = await Promise.all(Array.from({ length: engines }, () => startRole(prefix, "engine")));
  // Measured from the moment the engines share the partitions evenly and the registrations
  // (first on every partition) are behind them, to 10 % of the readings left.
  const share = Math.ceil(N / engines);
  const balanced = async () => {
    const o = await owners(cluster);
    const counts = new Map<number, number>();
    for (const pid of o.values()) counts.set(pid, (counts.get(pid) ?? 0) + 1);
    return o.size === N && counts.size === engines && [...counts.values()].every((c) => c <= share);
  };
  const cpu = () => roles.reduce((sum, r) => sum + usage(r.child.pid!).cpuMs, 0);
  let high: { t: number; left: number; cpuMs: number } | undefined;
  let low: { t: number; left: number; cpuMs: number } | undefined;
  const started = performance.now();
  for (;;) {
    const left = await pending(cluster, total);
    const now = performance.now();
    if (high === undefined && left <= 0.9 * readingMessages && (await balanced())) high = { t: now, left, cpuMs: cpu() };
    if (high !== undefined && low === undefined && left <= 0.1 * readingMessages) low = { t: now, left, cpuMs: cpu() };
    if (left === 0) break;
    if (now - started > 900_000) throw new Error("the engines did not drain the commands stream in 15 min");
    await sleep(100);
  }
  // A drain too short for the window (fast engines, few readings): the whole drain, start included.
  const from = high ?? { t: started, left: total, cpuMs: 0 };
  const to = low ?? { t: performance.now(), left: 0, cpuMs: cpu() };
  const measured = (from.left - to.left) * (CFG.readings / readingMessages);
  const rps = measured / ((to.t - from.t) / 1000);
  const result: Throughput = { engines, rps, drainS: (performance.now() - started) / 1000, cpuMsPerReading: (to.cpuMs - from.cpuMs) / measured };
  if (engines === 1) {
    result.rssBefore = baselineRss;
    result.rssAfter = usage(roles[0].child.pid!).rss;
    // A snapshot of every partition now (a graceful stop writes them), then the engine again.
    roles[0].child.kill("SIGTERM");
    await roles[0].exited;
    let bytes = 0;
    for await (const info of await cluster.snapshots.list()) bytes += info.size;
    result.snapshotBytes = bytes;
    roles[0] = await startRole(prefix, "engine");
  }
  return { result, cluster, roles };
}

/** An engine alone on an empty cluster: its memory before any patient. */
async function baselineRss(): Promise<number> {
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const cluster = await open(prefix);
  const engine = await startRole(prefix, "engine");
  await until(async () => (await owners(cluster)).size === N, "the engine owns every partition");
  await sleep(1_000);
  const rss = usage(engine.child.pid!).rss;
  await kill(engine);
  await destroyCluster(cluster);
  await cluster.close();
  return rss;
}

interface EndToEnd {
  ingestRps: number;
  steadyP50: number;
  steadyP99: number;
  failoverP99: number;
  failoverS: number;
  /** The worst partition's detection (s), restore (ms), replay (ms, and its commands). */
  detectS: number;
  restoreMs: number;
  restoreReadMs: number;
  restoreBytes: number;
  replayMs: number;
  replayCommands: number;
  sent: number;
  refused: number;
  eventsExpected: number;
  alertsLost: number;
  alertsDuplicated: number;
  clientMissed: number;
  clientDuplicated: number;
}

async function endToEnd(cluster: Cluster, engines: Role[]): Promise<EndToEnd> {
  const prefix = cluster.names.prefix;
  const ingest = await startRole(prefix, "ingest");
  const gateway = await startRole(prefix, "gateway");
  const clinician = await auth.sign({ sub: "bench-nurse", role: "clinician", teams: ["team-a"] });
  const device = await auth.sign({ sub: "bench-hub", role: "device", teams: ["team-a"] });
  await until(async () => (await owners(cluster)).size === N, "every partition owned");

  // The client: every event frame, with its arrival time.
  const received: { event: LifecycleEvent; at: number }[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/v1/ws`, ["varsel.v1.json", `bearer.${clinician}`]);
  let snapshotSeq = -1;
  ws.on("message", (data: Buffer) => {
    const f = JSON.parse(data.toString()) as { type: string; event?: LifecycleEvent; seq?: number };
    if (f.type === "event") received.push({ event: f.event!, at: Date.now() });
    else if (f.type === "snapshot") snapshotSeq = f.seq!;
    else if (f.type === "authenticated") ws.send(JSON.stringify({ type: "subscribe" }));
  });
  await until(() => snapshotSeq >= 0, "the subscription's snapshot");

  const rng = new Rng(99);
  let n = 10_000_000;
  let sent = 0;
  let refused = 0;
  let sending = true;
  const post = async (items: Record<string, unknown>[]): Promise<boolean> => {
    try {
      const res = await fetch(`http://127.0.0.1:${ingest.port}/v1/measurements`, { method: "POST", headers: { authorization: `Bearer ${device}`, "content-type": "application/json" }, body: JSON.stringify(items) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  };

  // The ingest node alone at full speed: 8 senders, requests of perRequest readings, no pause.
  let burst = 0;
  const burstEnd = performance.now() + CFG.burstS * 1000;
  const burstStart = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < burstEnd) {
        const items = Array.from({ length: CFG.perRequest }, () => reading(rng, Date.now(), n++));
        if (await post(items)) burst += items.length;
      }
    }),
  );
  const ingestRps = burst / ((performance.now() - burstStart) / 1000);
  await until(async () => (await pending(cluster, 1)) === 0, "the engines applied the burst", 300_000);

  const interval = (1000 * CFG.perRequest) / CFG.rate;
  const lanes = Array.from({ length: 4 }, async (_, lane) => {
    let next = performance.now() + (lane * interval) / 4;
    while (sending) {
      const items = Array.from({ length: CFG.perRequest }, () => reading(rng, Date.now(), n++));
      if (await post(items)) sent += items.length;
      else refused += items.length;
      next += interval * 4;
      await sleep(Math.max(0, next - performance.now()));
    }
  });
  const latencies = (from: number, to: number) =>
    received
      .filter((r) => r.at >= from && r.at < to && (r.event.type === "raised" || r.event.type === "updated" || r.event.type === "resolved"))
      .map((r) => r.at - r.event.at)
      .sort((a, b) => a - b);

  const steadyFrom = Date.now() + 2_000; // after the first requests warm up
  await sleep(CFG.steadyS * 1000);
  const steady = latencies(steadyFrom, Date.now());

  // kill -9 of partition 0's owner under the same load.
  const victimPid = (await owners(cluster)).get(0)!;
  const victim = engines.find((e) => e.child.pid === victimPid)!;
  const parts = [...(await owners(cluster)).entries()].filter(([, pid]) => pid === victimPid).map(([p]) => p);
  const killedAt = Date.now();
  const cutSeq = (await cluster.jsm.streams.info(cluster.names.commandStream)).state.last_seq;
  await kill(victim);
  let failoverS = NaN;
  const failoverEnd = Date.now() + CFG.failoverS * 1000;
  while (Date.now() < failoverEnd) {
    if (Number.isNaN(failoverS)) {
      const o = await owners(cluster);
      let done = true;
      for (const p of parts) {
        if (o.get(p) === undefined || o.get(p) === victimPid) done = false;
        else {
          const info = await cluster.jsm.consumers.info(cluster.names.commandStream, cluster.names.consumer(p)).catch(() => undefined);
          if (info === undefined || info.ack_floor.stream_seq <= cutSeq) done = false;
        }
        if (!done) break;
      }
      if (done) failoverS = (Date.now() - killedAt) / 1000;
    }
    await sleep(100);
  }
  const breakdown = failoverBreakdown(parts, killedAt, victimPid);
  const duringFailover = latencies(killedAt, Date.now());
  sending = false;
  await Promise.all(lanes);

  // Settle: every command applied and every event delivered.
  await until(async () => (await pending(cluster, 1)) === 0, "the survivors applied every command", 120_000);
  const expected = await expectedEvents(cluster);
  let streamed = await streamedEventList(cluster);
  await until(async () => {
    streamed = await streamedEventList(cluster);
    return streamed.length >= expected.length && received.length >= streamed.filter((s) => s.seq > snapshotSeq).length;
  }, "the events stream and the client caught up", 60_000).catch(() => undefined);
  const isAlert = (k: string) => !k.endsWith(":");
  const { onlyA: lost, onlyB: extra } = multisetDiff(expected.filter(isAlert), streamed.map((s) => s.key).filter(isAlert));
  const wantSeqs = streamed.filter((s) => s.seq > snapshotSeq).map((s) => String(s.seq));
  const gotSeqs = received.map((r) => String(r.event.seq));
  const client = multisetDiff(wantSeqs, gotSeqs);
  ws.terminate();
  await kill(ingest);
  await kill(gateway);
  const pct = (xs: number[], q: number) => (xs.length === 0 ? NaN : xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]);
  return {
    ingestRps,
    steadyP50: pct(steady, 0.5),
    steadyP99: pct(steady, 0.99),
    failoverP99: pct(duringFailover, 0.99),
    failoverS,
    ...breakdown,
    sent,
    refused,
    eventsExpected: expected.length,
    alertsLost: lost.length + client.onlyA.length,
    alertsDuplicated: extra.length + client.onlyB.length,
    clientMissed: client.onlyA.length,
    clientDuplicated: client.onlyB.length,
  };
}

/** The takeover steps of the partitions the victim owned, from the survivors' reports: the worst of each. */
function failoverBreakdown(
  parts: number[],
  killedAt: number,
  victimPid: number,
): { detectS: number; restoreMs: number; restoreReadMs: number; restoreBytes: number; replayMs: number; replayCommands: number } {
  const out = { detectS: NaN, restoreMs: NaN, restoreReadMs: NaN, restoreBytes: NaN, replayMs: NaN, replayCommands: NaN };
  const worst = (a: number, b: number | undefined) => (b === undefined ? a : Number.isNaN(a) ? b : Math.max(a, b));
  for (const p of parts) {
    const steps = takeovers.filter((r) => r.partition === p && r.pid !== victimPid && r.time >= killedAt);
    const acquired = steps.find((r) => r.kind === "acquired");
    if (acquired === undefined) continue;
    const restored = steps.find((r) => r.kind === "restored" && r.time >= acquired.time);
    const replayed = steps.find((r) => r.kind === "replayed" && r.time >= acquired.time);
    out.detectS = worst(out.detectS, (acquired.time - killedAt) / 1000);
    out.restoreMs = worst(out.restoreMs, restored?.ms);
    out.restoreReadMs = worst(out.restoreReadMs, restored?.readMs);
    out.restoreBytes = worst(out.restoreBytes, restored?.bytes);
    out.replayMs = worst(out.replayMs, replayed?.ms);
    out.replayCommands = worst(out.replayCommands, replayed?.commands);
  }
  return out;
}

/**
 * Memory of engine state per patient, in this process: one Pipeline (the wasm kernel and the
 * lifecycle, as one partition runs them) with `patients` registered and six readings each, the
 * heap collected before and after. Without the per-process and per-partition overheads the
 * RSS difference of an engine process carries at small patient counts.
 */
function memoryPerPatient(patients: number): { rss: number; heap: number } {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  const before = process.memoryUsage();
  const pipeline = new Pipeline();
  let pos = 0;
  const at = Date.now();
  for (let i = 0; i < patients; i++) {
    applyCommand(pipeline, { pos: ++pos, at, command: { kind: "patient", id: patientId(i), input: { programmes: ["telekol"], careTeams: CARE, paused: false, references: { spo2: 95 } } } });
  }
  const rng = new Rng(5);
  for (let start = 0; start < patients; start += 500) {
    const items = [];
    for (let i = start; i < Math.min(patients, start + 500); i++) {
      for (const [metric, value] of [["spo2", 96], ["pulse", 70], ["bp_sys", 125], ["bp_dia", 80], ["temp", 36.8], ["weight", 80]] as const) {
        items.push({ patient: patientId(i), metric, value: value + Math.floor(rng.next() * 3), time: at - 60_000 });
      }
    }
    applyCommand(pipeline, { pos: ++pos, at, command: { kind: "ingest", source: "readings", batch: canonicalReadings(items, at), channel: "bench" } });
  }
  gc();
  const after = process.memoryUsage();
  if (pipeline.patient(patientId(0)) === undefined) throw new Error("no patient"); // keeps the pipeline alive until measured
  return { rss: (after.rss - before.rss) / patients, heap: (after.heapUsed - before.heapUsed) / patients };
}

// ---- main ----

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await sleep(100);
  }
}

async function main(): Promise<void> {
  console.log(`varsel cluster benchmark (${quick ? "--quick" : "full"}): ${N} partitions, ${CFG.patients} patients, ${CFG.readings} readings in commands of ${CFG.perCommand}; nats ${NATS}`);
  const mem = memoryPerPatient(CFG.memoryPatients);
  console.log(`  one Pipeline, ${CFG.memoryPatients} patients × 6 readings: ${(mem.rss / 1024).toFixed(1)} KiB RSS, ${(mem.heap / 1024).toFixed(1)} KiB heap per patient`);
  const base = await baselineRss();
  const runs: Throughput[] = [];
  let last: { cluster: Cluster; roles: Role[] } | undefined;
  for (const k of [1, 2, 3]) {
    const { result, cluster, roles } = await throughput(k, base);
    runs.push(result);
    console.log(`  ${k} engine(s): ${fmtRate(result.rps)} (drained in ${result.drainS.toFixed(1)} s)`);
    if (k < 3) {
      for (const r of roles) await kill(r);
      await destroyCluster(cluster);
      await cluster.close();
    } else last = { cluster, roles };
  }
  const e2e = await endToEnd(last!.cluster, last!.roles);
  for (const r of last!.roles) await kill(r);
  await destroyCluster(last!.cluster);
  await last!.cluster.close();

  const one = runs[0];
  const perPatient = (one.rssAfter! - one.rssBefore!) / CFG.patients;
  console.log(
    renderTable(
      ["engines", "readings/s", "vs 1 engine", "engine CPU per reading (all engines)"],
      runs.map((r) => [String(r.engines), fmtRate(r.rps), `${(r.rps / one.rps).toFixed(2)}×`, `${(r.cpuMsPerReading! * 1000).toFixed(1)} µs`]),
      ["r", "r", "r", "r"],
    ),
  );
  console.log(
    renderTable(
      ["measure", "value"],
      [
        ["engine RSS, no patients", `${(one.rssBefore! / 2 ** 20).toFixed(0)} MiB`],
        [`engine RSS, ${CFG.patients} patients after ${CFG.readings} readings`, `${(one.rssAfter! / 2 ** 20).toFixed(0)} MiB`],
        ["engine process RSS difference / patients", `${(perPatient / 1024).toFixed(1)} KiB`],
        [`one Pipeline, ${CFG.memoryPatients} patients: RSS / heap per patient`, `${(mem.rss / 1024).toFixed(1)} / ${(mem.heap / 1024).toFixed(1)} KiB`],
        ["snapshot bytes per patient", `${(one.snapshotBytes! / CFG.patients).toFixed(0)} B`],
        [`ingest node, HTTP, requests of ${CFG.perRequest} readings, 8 senders`, `${fmtRate(e2e.ingestRps)}`],
        [`ingest→alert p50 / p99, steady (${CFG.rate} readings/s, 3 engines)`, `${e2e.steadyP50} / ${e2e.steadyP99} ms`],
        ["ingest→alert p99 during failover", `${e2e.failoverP99} ms`],
        ["failover (kill -9 → partitions applying again)", `${e2e.failoverS.toFixed(1)} s`],
        ["  detection (kill -9 → lease taken), worst partition", `${e2e.detectS.toFixed(2)} s`],
        [
          "  restore (snapshot read, state rebuilt), worst partition",
          `${e2e.restoreMs.toFixed(0)} ms (object store read ${e2e.restoreReadMs.toFixed(0)} ms, ${(e2e.restoreBytes / 1024).toFixed(0)} KiB)`,
        ],
        ["  replay (commands since the snapshot), worst partition", `${e2e.replayMs.toFixed(0)} ms (${e2e.replayCommands} commands)`],
        ["readings sent (2xx) / refused", `${e2e.sent} / ${e2e.refused}`],
        ["events expected (whole run)", String(e2e.eventsExpected)],
        ["alert events lost / duplicated (stream vs commands, client vs stream)", `${e2e.alertsLost} / ${e2e.alertsDuplicated}`],
      ],
      ["l", "r"],
    ),
  );
  console.log(
    JSON.stringify({
      quick,
      partitions: N,
      patients: CFG.patients,
      readings: CFG.readings,
      cluster_rps_1: sig(runs[0].rps),
      cluster_rps_2: sig(runs[1].rps),
      cluster_rps_3: sig(runs[2].rps),
      ingest_rps: sig(e2e.ingestRps),
      cluster_p50_ms: e2e.steadyP50,
      cluster_p99_ms: e2e.steadyP99,
      failover_p99_ms: e2e.failoverP99,
      failover_s: sig(e2e.failoverS, 3),
      failover_detect_s: sig(e2e.detectS, 3),
      failover_restore_ms: sig(e2e.restoreMs, 3),
      failover_restore_read_ms: sig(e2e.restoreReadMs, 3),
      failover_replay_ms: sig(e2e.replayMs, 3),
      failover_replay_commands: e2e.replayCommands,
      alerts_lost: e2e.alertsLost,
      alerts_duplicated: e2e.alertsDuplicated,
      engine_rss_base_mib: sig(one.rssBefore! / 2 ** 20, 3),
      engine_rss_loaded_mib: sig(one.rssAfter! / 2 ** 20, 3),
      rss_per_patient_kib: sig(perPatient / 1024, 3),
      pipeline_rss_per_patient_kib: sig(mem.rss / 1024, 3),
      pipeline_heap_per_patient_kib: sig(mem.heap / 1024, 3),
      snapshot_bytes_per_patient: sig(one.snapshotBytes! / CFG.patients, 3),
      cpu_us_per_reading: sig(one.cpuMsPerReading! * 1000, 3),
    }),
  );
}

await main().catch(async (err: unknown) => {
  console.error(err);
  await cleanUp();
  process.exit(1);
});
await cleanUp();
process.exit(0);
