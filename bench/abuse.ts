// npm run bench:abuse [-- --quick] [-- --phases ping_token,idle] [-- --runs N] [-- --probe DIR] [-- --entry tsx]: floods
// from this machine against a real server process (dist/server/main.js on SQLite, as `npm start`
// runs it; --entry tsx: server/main.ts through tsx), one kind at a time, while a
// bystander device posts a reading every 100 ms (alternately past the yellow pulse limit and back,
// so each one raises or resolves an alert) and a clinician socket receives those alerts. Per phase:
// the server's peak RSS (VmRSS every 100 ms), the bystander's POST p50 / p99 and its event delay
// p99 (POST sent → event received by the clinician) beside the same figures in a baseline phase
// with no flood (ratio), what the flooders saw (closes, error frames, statuses), and the
// bystander's readings acknowledged vs found in the store. At the end: every acknowledged reading
// looked up over GET /v1/patients/:id/readings (admin), then kill -9, restart on the same
// database, the same look-up, and GET /v1/alerts compared with the list before the kill.
// Loopback only (flooders bind 127.0.x.y source addresses); every child is killed at the end, on
// error and by a watchdog. The last line is one JSON object.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, startChildServer, type ChildServer } from "../test/support/child-server.js";
import { renderTable } from "./lib/table.js";
import { killAll, sleep, spawnChild, stopChild, waitMessage } from "./server/common.js";
import type { FloodConfig, FloodResult } from "./abuse/flooder.js";

const ALL_PHASES = ["ping_token", "ping_no_token", "ingest", "http", "idle", "slowloris"] as const;
type Phase = "baseline" | (typeof ALL_PHASES)[number];

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    phases: { type: "string" },
    runs: { type: "string" },
    "phase-seconds": { type: "string" },
    idle: { type: "string" },
    slowloris: { type: "string" },
    keep: { type: "boolean", default: false },
    /** Instruments the server: event-loop stalls, GC pauses, loop delay per second (bench/abuse/loop-probe.mjs) into this folder. */
    probe: { type: "string" },
    /** dist: the compiled server as `npm start` runs it (default); tsx: server/main.ts through tsx, as the tests run it (~60 MB more RSS: the loader). */
    entry: { type: "string", default: "dist" },
  },
});
const quick = opt.quick!;
const PHASE_MS = Number(opt["phase-seconds"] ?? (quick ? 3 : 10)) * 1000;
const GAP_MS = quick ? 1000 : 3000;
const RUNS = Number(opt.runs ?? (quick ? 1 : 3));
const IDLE_CONNS = Number(opt.idle ?? (quick ? 3000 : 12_000));
const SLOW_CONNS = Number(opt.slowloris ?? (quick ? 1000 : 3000));
const RAMP_TIMEOUT_MS = 60_000;
const FLOOD_PATIENTS = 2000;
const BYSTANDER = "by-1";
const phases: Phase[] = ["baseline", ...(opt.phases ? (opt.phases.split(",").map((s) => s.trim()) as Phase[]) : ALL_PHASES).filter((p) => p !== "baseline")];
for (const p of phases) if (p !== "baseline" && !(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p} (phases: ${ALL_PHASES.join(",")})`);
const GOAL_RSS_MB = 500, GOAL_P99_MS = 250;
if (opt.entry !== "dist" && opt.entry !== "tsx") throw new Error(`--entry must be dist or tsx, got ${opt.entry}`);
// The product as deployed (npm start: node dist/server/main.js); `npm run bench:abuse` builds dist/ first.
process.env.VARSEL_CHILD_ENTRY = opt.entry;

// ---------------------------------------------------------------- cleanup: every child, always

let server: ChildServer | undefined;
const cleanup = (): void => {
  killAll();
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (cleanup(), process.exit(130)));
process.on("uncaughtException", (err) => (process.stderr.write(`${err.stack ?? err}\n`), cleanup(), process.exit(1)));
process.on("unhandledRejection", (err) => (process.stderr.write(`${(err as Error)?.stack ?? err}\n`), cleanup(), process.exit(1)));
const watchdog = setTimeout(() => (process.stderr.write("bench:abuse: watchdog, giving up\n"), cleanup(), process.exit(2)), (quick ? 10 : 40) * 60_000);
watchdog.unref();
const log = (s: string): void => void process.stderr.write(`[abuse ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

// ---------------------------------------------------------------- server, tokens, patients

const dir = mkdtempSync(join(tmpdir(), "varsel-abuse-"));
const database = `sqlite:${join(dir, "abuse.db")}`;
// The address is read from the "varsel listening" info line (stdout is drained); info logs under a flood are rate-limited.
const SERVER_ENV: Record<string, string> = { LOG_LEVEL: "info" };
if (opt.probe !== undefined) {
  // startChildServer passes VARSEL_CHILD_NODE_ARGS to node (before tsx).
  process.env.VARSEL_CHILD_NODE_ARGS = `${process.env.VARSEL_CHILD_NODE_ARGS ?? ""} --import ${new URL("./abuse/loop-probe.mjs", import.meta.url).pathname}`;
  SERVER_ENV.ABUSE_PROBE_DIR = opt.probe;
}
server = await startChildServer(database, SERVER_ENV);
let base = `http://127.0.0.1:${server.port}`;
const auth = new Auth({ secret: CHILD_SECRET });
const admin = await auth.sign({ sub: "admin", role: "admin", teams: [] });
const bystanderDevice = await auth.sign({ sub: "bystander-gw", role: "device", teams: ["bystander"] });
const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams: ["bystander"] });
const floodDevice = await auth.sign({ sub: "flood-gw", role: "device", teams: ["flood"] });

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, json: text.startsWith("{") ? JSON.parse(text) : text };
}

// telehjerte without its daily weight deadline: 2 000 flood patients going overdue at once would be a burst of their own.
const programme = await call("GET", "/v1/programmes/telehjerte/thresholds", admin);
const rules = (programme.json.rules as { id: string }[]).filter((r) => r.id !== "weight-missing");
if ((await call("PUT", "/v1/programmes/telehjerte/thresholds", admin, { rules, reason: "bench:abuse: no daily weight deadline" })).status !== 200) throw new Error("programme thresholds refused");
const floodPatients = Array.from({ length: FLOOD_PATIENTS }, (_, i) => `f${String(i).padStart(4, "0")}`);
{
  const todo = [{ id: BYSTANDER, team: "bystander" }, ...floodPatients.map((id) => ({ id, team: "flood" }))];
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let p = todo.shift(); p !== undefined; p = todo.shift()) {
        const res = await call("PUT", `/v1/patients/${p.id}`, admin, { programme: "telehjerte", careTeams: [{ team: p.team, role: "hospital" }] });
        if (res.status !== 200) throw new Error(`PUT patient ${p.id}: ${res.status} ${JSON.stringify(res.json)}`);
      }
    }),
  );
}
log(`server pid ${server.child.pid} on port ${server.port}, ${FLOOD_PATIENTS + 1} patients registered`);

// ---------------------------------------------------------------- RSS sampler

// VmRSS, and the anonymous part of it (RssAnon: the heap and buffers; the rest is mostly SQLite's
// mapped file pages, which the kernel may drop at any time).
const rssSamples: { t: number; mb: number; anonMb: number; cpuTicks: number }[] = [];
/** utime + stime of the server process, clock ticks (100 Hz). */
const cpuTicks = (): number => {
  try {
    const f = readFileSync(`/proc/${server!.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
};
const rssMb = (): { mb: number; anonMb: number } => {
  try {
    const status = readFileSync(`/proc/${server!.child.pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
    return { mb: kb("VmRSS") / 1024, anonMb: kb("RssAnon") / 1024 };
  } catch {
    return { mb: NaN, anonMb: NaN };
  }
};
const sampler = setInterval(() => rssSamples.push({ t: Date.now(), ...rssMb(), cpuTicks: cpuTicks() }), 100);

/** Whole-machine busy CPU (clock ticks, /proc/stat) and this process's own CPU (s): what else ran beside us. */
const machineCpu = (): { busy: number; total: number; self: number } => {
  try {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    const self = process.cpuUsage();
    return { busy, total: busy + idle + iowait, self: (self.user + self.system) / 1e6 };
  } catch {
    return { busy: NaN, total: NaN, self: NaN };
  }
};

// ---------------------------------------------------------------- bystander and clinician

interface Post {
  id: string;
  time: number;
  /** Date.now() at send. */
  sentAt: number;
  ms: number;
  status: number;
  accepted: boolean;
  /** The reading's triage in the answer (out_of_order: overtaken by a later POST on another connection). */
  triage?: string;
  /** Alert transitions the answer reports (0 for the POST that overtook another: its value left the alert as it was). */
  transitions?: number;
  phase: string;
  eventMs?: number;
}
const posts: Post[] = [];
const byId = new Map<string, Post>();
let currentPhase = "setup";
let lastTime = 0, seq = 0, inflight = 0;
const bystanderTimer = setInterval(() => {
  const now = Date.now();
  const time = now > lastTime ? now : lastTime + 1;
  lastTime = time;
  const n = seq++;
  const p: Post = { id: `by-${n}`, time, sentAt: now, ms: NaN, status: 0, accepted: false, phase: currentPhase };
  posts.push(p);
  byId.set(p.id, p);
  const t0 = performance.now();
  inflight++;
  fetch(`${base}/v1/measurements`, {
    method: "POST",
    headers: { authorization: `Bearer ${bystanderDevice}`, "content-type": "application/json" },
    body: JSON.stringify({ readings: [{ patient: BYSTANDER, metric: "pulse", value: n % 2 === 0 ? 110 : 70, time, id: p.id }] }),
    signal: AbortSignal.timeout(10_000),
  })
    .then(async (res) => {
      const body = (await res.json()) as { accepted?: number; transitions?: number; readings?: { triage?: string }[] };
      p.status = res.status;
      p.triage = body.readings?.[0]?.triage;
      p.transitions = body.transitions;
      p.accepted = res.status === 200 && body.accepted === 1;
    })
    .catch(() => (p.status = -1))
    .finally(() => {
      p.ms = performance.now() - t0;
      inflight--;
    });
}, 100);

let clinicianCloses: Record<string, number> = {};
let clinicianSocket: WebSocket | undefined;
function connectClinician(): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server!.port}/v1/ws`, ["varsel.v1.json", `bearer.${clinician}`]);
    clinicianSocket = ws;
    ws.on("message", (data) => {
      const at = Date.now();
      const f = JSON.parse(String(data));
      if (f.type === "authenticated") ws.send(JSON.stringify({ type: "subscribe", id: "sub", teams: ["bystander"] }));
      else if (f.type === "snapshot" || f.type === "subscribed") resolve();
      else if (f.type === "event" && process.env.ABUSE_DEBUG_EVENTS) process.stderr.write(`event ${f.event.seq} ${f.event.type} ${f.event.change ?? ""} ${f.event.alert?.state} ${JSON.stringify(f.event.alert?.why?.readings?.map((r: { measurementId?: string; transition: string }) => `${r.measurementId}:${r.transition}`))}\n`);
      if (f.type === "event" && f.event.alert?.why?.readings) {
        const trigger = f.event.alert.why.readings.at(-1) as { measurementId?: string } | undefined;
        const p = trigger?.measurementId !== undefined ? byId.get(trigger.measurementId) : undefined;
        if (p !== undefined && p.eventMs === undefined) p.eventMs = at - p.sentAt;
      }
    });
    ws.on("error", reject);
    ws.on("close", (code) => {
      if (ws !== clinicianSocket || shuttingDown) return;
      clinicianCloses[code] = (clinicianCloses[code] ?? 0) + 1;
      if (!shuttingDown) setTimeout(() => void connectClinician().catch(() => undefined), 200);
    });
  });
}
let shuttingDown = false;
await connectClinician();

// ---------------------------------------------------------------- phases

interface Window {
  run: number;
  phase: Phase;
  t0: number;
  t1: number;
  /** Ramp-up (idle, slowloris): go → every connection open. */
  rampMs?: number;
  flood: FloodResult[];
  /** Cores busy on the whole machine over the window, and this process's (the bystander, clinician and sampler). */
  machineCores: number;
  benchCores: number;
  /** 1-minute load average at the window's end. */
  load1: number;
}
const windows: Window[] = [];

function floodPlan(phase: Phase, run: number): FloodConfig[] {
  const common = { port: server!.port, patients: [] as string[], frame: 0, highWater: 256 * 1024, byteIntervalMs: 1000, rampConcurrency: 100, maxLifetimeMs: RAMP_TIMEOUT_MS + PHASE_MS + 120_000 };
  const addr = (i: number) => `127.0.${run + 1}.${10 + i}`;
  const split = (procs: number, i: number) => floodPatients.filter((_, k) => k % procs === i);
  switch (phase) {
    case "baseline":
      return [];
    case "ping_token":
      return [0, 1].map((i) => ({ ...common, kind: "ping", token: floodDevice, connections: 4, localAddress: addr(i) }));
    case "ping_no_token":
      return [0, 1].map((i) => ({ ...common, kind: "ping", connections: 4, localAddress: addr(i) }));
    case "ingest":
      return [0, 1].map((i) => ({ ...common, kind: "ingest", token: floodDevice, connections: 10, localAddress: addr(i), patients: split(2, i), frame: 100, highWater: 1024 * 1024 }));
    case "http":
      return [{ ...common, kind: "http", token: floodDevice, connections: 64, localAddress: addr(0), patients: floodPatients, frame: 10 }];
    case "idle": {
      const procs = Math.max(1, Math.ceil(IDLE_CONNS / 3000));
      return Array.from({ length: procs }, (_, i) => ({ ...common, kind: "idle", token: floodDevice, connections: Math.ceil(IDLE_CONNS / procs), localAddress: addr(i) }));
    }
    case "slowloris":
      return [0, 1].map((i) => ({ ...common, kind: "slowloris", connections: Math.ceil(SLOW_CONNS / 2), localAddress: addr(i) }));
  }
}

async function runPhase(phase: Phase, run: number): Promise<void> {
  const plan = floodPlan(phase, run);
  const children = plan.map((cfg) => spawnChild(new URL("./abuse/flooder.ts", import.meta.url).pathname, cfg));
  await Promise.all(children.map((c, i) => waitMessage(c, "ready", 30_000, `${phase} flooder ${i}`)));
  currentPhase = `${run}:${phase}`;
  const w: Window = { run, phase, t0: Date.now(), t1: 0, flood: [], machineCores: NaN, benchCores: NaN, load1: NaN };
  const m0 = machineCpu();
  const established = children.map((c) => (plan[0].kind === "idle" || plan[0].kind === "slowloris" ? waitMessage(c, "established", RAMP_TIMEOUT_MS, `${phase} ramp`).catch(() => undefined) : undefined));
  for (const c of children) c.send({ type: "go" });
  if (phase === "idle" || phase === "slowloris") {
    await Promise.all(established);
    w.rampMs = Date.now() - w.t0;
  }
  await sleep(PHASE_MS);
  const results = children.map((c, i) => waitMessage<FloodResult>(c, "result", 30_000, `${phase} flooder ${i} result`));
  for (const c of children) c.send({ type: "stop" });
  w.flood = await Promise.all(results);
  w.t1 = Date.now();
  const m1 = machineCpu();
  w.machineCores = ((m1.busy - m0.busy) / (m1.total - m0.total)) * cpus().length;
  w.benchCores = (m1.self - m0.self) / ((w.t1 - w.t0) / 1000);
  w.load1 = loadavg()[0];
  currentPhase = "gap";
  await Promise.all(children.map((c) => stopChild(c, 2000)));
  windows.push(w);
  if (process.env.ABUSE_DEBUG_POSTS) for (const p of posts.filter((x) => x.phase === `${run}:${phase}`)) log(`post ${p.id} +${((p.sentAt - w.t0) / 1000).toFixed(1)} s at ${p.sentAt} ${p.ms.toFixed(0)} ms ${p.status} ${p.triage ?? "-"} event ${p.eventMs ?? "none"}`);
  const peak = Math.max(...rssSamples.filter((s) => s.t >= w.t0 && s.t <= w.t1).map((s) => s.mb));
  const opens = w.flood.reduce((a, f) => a + f.peakOpen, 0);
  log(`run ${run} ${phase}: ${((w.t1 - w.t0) / 1000).toFixed(1)} s${w.rampMs !== undefined ? ` (ramp ${(w.rampMs / 1000).toFixed(1)} s, ${opens} open at peak)` : ""}, peak RSS ${peak.toFixed(0)} MB`);
}

for (let run = 0; run < RUNS; run++) {
  for (const phase of phases) {
    await runPhase(phase, run);
    await sleep(GAP_MS);
  }
}

// ---------------------------------------------------------------- the end: nothing acknowledged lost

clearInterval(bystanderTimer);
for (let i = 0; i < 200 && inflight > 0; i++) await sleep(50);
await sleep(500);
shuttingDown = true;
clinicianSocket?.close();

async function storedTimes(): Promise<Set<number> | string> {
  const res = await call("GET", `/v1/patients/${BYSTANDER}/readings?metric=pulse&limit=10000`, admin);
  if (res.status !== 200) return `GET readings: ${res.status}`;
  return new Set((res.json.readings as { time: number }[]).map((r) => r.time));
}
const acked = posts.filter((p) => p.accepted);
const lostIn = (stored: Set<number> | string) => (typeof stored === "string" ? acked.length : acked.filter((p) => !stored.has(p.time)).length);
const storedBefore = await storedTimes();
const alertsBefore = await call("GET", "/v1/alerts", admin);
const rssBeforeKill = rssMb().mb;
server.child.kill("SIGKILL");
await server.exited;
const restartAt = performance.now();
server = await startChildServer(database, SERVER_ENV);
const restartS = (performance.now() - restartAt) / 1000;
base = `http://127.0.0.1:${server.port}`;
const storedAfter = await storedTimes();
const alertsAfter = await call("GET", "/v1/alerts", admin);
clearInterval(sampler);

type AlertRow = { id: string } & Record<string, unknown>;
const alertMap = (a: { json: { alerts?: AlertRow[] } }) => new Map((a.json.alerts ?? []).map((x) => [x.id, JSON.stringify(x)]));
const before = alertMap(alertsBefore), after = alertMap(alertsAfter);
const alertDiff = { before: before.size, after: after.size, missing: 0, extra: 0, changed: 0, example: "" };
for (const [id, v] of before) {
  if (!after.has(id)) alertDiff.missing++;
  else if (after.get(id) !== v) {
    alertDiff.changed++;
    alertDiff.example ||= `${id}: before ${v.slice(0, 300)} / after ${after.get(id)!.slice(0, 300)}`;
  }
}
for (const id of after.keys()) if (!before.has(id)) alertDiff.extra++;
const alertsEqual = alertsBefore.status === 200 && alertsAfter.status === 200 && alertDiff.missing + alertDiff.extra + alertDiff.changed === 0;
const ackedLostBefore = lostIn(storedBefore), ackedLostAfter = lostIn(storedAfter);
const ackedLost = Math.max(ackedLostBefore, ackedLostAfter);

server.child.kill("SIGKILL");
await server.exited;
if (!opt.keep) rmSync(dir, { recursive: true, force: true });

// ---------------------------------------------------------------- figures

const pct = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const median = (xs: number[]): number => pct(xs.filter((x) => Number.isFinite(x)), 0.5);
const round = (x: number, d = 1): number | null => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

interface PhaseFigures {
  window_s: number;
  /** Peak RSS − RSS at the start of the window. */
  rss_rise_mb: number;
  /** Server CPU over the window ÷ its length. */
  server_cores: number;
  /** Cores busy on the machine beyond the server, the flooders and this process: other people's work, which the figures share the 2 cores with. */
  other_cores: number;
  load1: number;
  ramp_s: number | null;
  peak_rss_mb: number;
  /** The largest RssAnon (heap and buffers) in the window. */
  peak_anon_mb: number;
  post_p50_ms: number;
  post_p99_ms: number;
  post_max_ms: number;
  event_p99_ms: number;
  posts: number;
  posts_failed: number;
  events_missing: number;
  out_of_order: number;
  /** Bystander answers by status (-1: no answer within 10 s or a network error). */
  statuses: Record<string, number>;
  acked: number;
  found: number;
  flood: { sent: number; received: number; accepted: number; connects: number; peak_open: number; closes: Record<string, number>; errors: Record<string, number>; held_ms_p50: number | null; cpu_s: number };
}
function figuresOf(w: Window): PhaseFigures {
  const tag = `${w.run}:${w.phase}`;
  const ps = posts.filter((p) => p.phase === tag);
  const ok = ps.filter((p) => p.status === 200);
  const stored = typeof storedAfter === "string" ? new Set<number>() : storedAfter;
  const storedB = typeof storedBefore === "string" ? new Set<number>() : storedBefore;
  const sum = (k: "sent" | "received" | "accepted" | "connects" | "peakOpen") => w.flood.reduce((a, f) => a + f[k], 0);
  const merge = (k: "closes" | "errors") => {
    const out: Record<string, number> = {};
    for (const f of w.flood) for (const [c, n] of Object.entries(f[k])) out[c] = (out[c] ?? 0) + n;
    return out;
  };
  const held = w.flood.flatMap((f) => f.heldMs);
  const inside = rssSamples.filter((s) => s.t >= w.t0 && s.t <= w.t1);
  const serverCores = (inside.at(-1)!.cpuTicks - inside[0].cpuTicks) / 100 / ((inside.at(-1)!.t - inside[0].t) / 1000);
  return {
    window_s: (w.t1 - w.t0) / 1000,
    rss_rise_mb: Math.max(...inside.map((s) => s.mb)) - inside[0].mb,
    server_cores: serverCores,
    other_cores: Math.max(0, w.machineCores - serverCores - w.flood.reduce((a, f) => a + f.cpuMicros, 0) / 1e6 / ((w.t1 - w.t0) / 1000) - w.benchCores),
    load1: w.load1,
    ramp_s: w.rampMs === undefined ? null : w.rampMs / 1000,
    peak_rss_mb: Math.max(...inside.map((s) => s.mb)),
    peak_anon_mb: Math.max(...inside.map((s) => s.anonMb)),
    post_p50_ms: pct(ps.map((p) => p.ms), 0.5),
    post_p99_ms: pct(ps.map((p) => p.ms), 0.99),
    post_max_ms: pct(ps.map((p) => p.ms), 1),
    event_p99_ms: pct(ok.filter((p) => p.eventMs !== undefined).map((p) => p.eventMs!), 0.99),
    posts: ps.length,
    posts_failed: ps.length - ok.length,
    events_missing: ok.filter((p) => p.eventMs === undefined && p.triage !== "out_of_order" && p.transitions !== 0).length,
    out_of_order: ok.filter((p) => p.triage === "out_of_order").length,
    statuses: ps.reduce<Record<string, number>>((o, p) => ((o[p.status] = (o[p.status] ?? 0) + 1), o), {}),
    acked: ps.filter((p) => p.accepted).length,
    found: ps.filter((p) => p.accepted && stored.has(p.time) && storedB.has(p.time)).length,
    flood: {
      sent: sum("sent"), received: sum("received"), accepted: sum("accepted"), connects: sum("connects"), peak_open: sum("peakOpen"),
      closes: merge("closes"), errors: merge("errors"), held_ms_p50: held.length ? pct(held, 0.5) : null,
      cpu_s: w.flood.reduce((a, f) => a + f.cpuMicros, 0) / 1e6,
    },
  };
}

/** Per phase: medians over runs (peak RSS: the largest; counts: summed). */
const perPhase = new Map<Phase, { figs: PhaseFigures[]; agg: PhaseFigures }>();
for (const phase of phases) {
  const figs = windows.filter((w) => w.phase === phase).map(figuresOf);
  const addRec = (rs: Record<string, number>[]) => rs.reduce<Record<string, number>>((o, r) => (Object.entries(r).forEach(([k, n]) => (o[k] = (o[k] ?? 0) + n)), o), {});
  const total = (f: (x: PhaseFigures) => number) => figs.reduce((a, x) => a + f(x), 0);
  const agg: PhaseFigures = {
    window_s: median(figs.map((f) => f.window_s)),
    rss_rise_mb: median(figs.map((f) => f.rss_rise_mb)),
    server_cores: median(figs.map((f) => f.server_cores)),
    other_cores: median(figs.map((f) => f.other_cores)),
    load1: median(figs.map((f) => f.load1)),
    ramp_s: figs[0].ramp_s === null ? null : median(figs.map((f) => f.ramp_s!)),
    peak_rss_mb: Math.max(...figs.map((f) => f.peak_rss_mb)),
    peak_anon_mb: Math.max(...figs.map((f) => f.peak_anon_mb)),
    post_p50_ms: median(figs.map((f) => f.post_p50_ms)),
    post_p99_ms: median(figs.map((f) => f.post_p99_ms)),
    post_max_ms: Math.max(...figs.map((f) => f.post_max_ms)),
    event_p99_ms: median(figs.map((f) => f.event_p99_ms)),
    posts: total((f) => f.posts),
    posts_failed: total((f) => f.posts_failed),
    events_missing: total((f) => f.events_missing),
    out_of_order: total((f) => f.out_of_order),
    statuses: addRec(figs.map((f) => f.statuses)),
    acked: total((f) => f.acked),
    found: total((f) => f.found),
    flood: {
      sent: total((f) => f.flood.sent), received: total((f) => f.flood.received), accepted: total((f) => f.flood.accepted),
      connects: total((f) => f.flood.connects), peak_open: Math.max(...figs.map((f) => f.flood.peak_open)),
      closes: addRec(figs.map((f) => f.flood.closes)), errors: addRec(figs.map((f) => f.flood.errors)),
      held_ms_p50: figs[0].flood.held_ms_p50 === null ? null : median(figs.map((f) => f.flood.held_ms_p50 ?? NaN)),
      cpu_s: total((f) => f.flood.cpu_s),
    },
  };
  perPhase.set(phase, { figs, agg });
}
const baseAgg = perPhase.get("baseline")!.agg;
const ratio = (x: number, b: number) => (Number.isFinite(x) && b > 0 ? `${(x / b).toFixed(1)}×` : "–");
const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const short = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)} k` : String(n));
const recText = (r: Record<string, number>) => Object.entries(r).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${short(n)}`).join(" ") || "none";

function floodText(phase: Phase, f: PhaseFigures["flood"]): string {
  switch (phase) {
    case "baseline": return "none";
    case "ping_token": case "ping_no_token": return `${short(f.sent)} pings, ${short(f.received)} answers, ${short(f.connects)} connects`;
    case "ingest": return `${short(f.sent)} frames, ${short(f.accepted)} readings accepted, ${short(f.connects)} connects`;
    case "http": return `${short(f.sent)} requests, ${short(f.received)} 2xx`;
    case "idle": return `${short(f.peak_open)} open at peak, ${short(f.connects)} connects`;
    case "slowloris": return `${short(f.peak_open)} open at peak, ${short(f.connects)} connects, ${short(f.sent)} bytes, held p50 ${f.held_ms_p50 === null ? "–" : `${(f.held_ms_p50 / 1000).toFixed(1)} s`}`;
  }
}

const rows = phases.map((phase) => {
  const a = perPhase.get(phase)!.agg;
  return [
    phase, fmt(a.window_s, 1) + (a.ramp_s !== null ? ` (ramp ${fmt(a.ramp_s, 1)})` : ""), fmt(a.server_cores, 2), `${fmt(a.other_cores, 2)} (${fmt(a.load1, 1)})`, fmt(a.peak_rss_mb), fmt(a.peak_anon_mb), `+${fmt(a.rss_rise_mb)}`,
    fmt(a.post_p50_ms, 1), ratio(a.post_p50_ms, baseAgg.post_p50_ms), fmt(a.post_p99_ms, 1), ratio(a.post_p99_ms, baseAgg.post_p99_ms),
    fmt(a.event_p99_ms), ratio(a.event_p99_ms, baseAgg.event_p99_ms), `${a.posts_failed}/${a.posts}`, `${a.found}/${a.acked}`,
  ];
});
const floodRows = phases.filter((p) => p !== "baseline").map((phase) => {
  const f = perPhase.get(phase)!.agg.flood;
  return [phase, floodText(phase, f), recText(f.closes), recText(f.errors), fmt(f.cpu_s, 1)];
});

const peakRss = Math.max(...rssSamples.map((s) => s.mb).filter(Number.isFinite));
const peakAnon = Math.max(...rssSamples.map((s) => s.anonMb).filter(Number.isFinite));
const worst = phases.reduce((w, p) => (perPhase.get(p)!.agg.post_p99_ms > perPhase.get(w)!.agg.post_p99_ms ? p : w), phases[0]);
const bystanderP99 = perPhase.get(worst)!.agg.post_p99_ms;
const goals = {
  peak_rss_le_500mb: peakRss <= GOAL_RSS_MB,
  bystander_p99_le_250ms_every_phase: phases.every((p) => perPhase.get(p)!.agg.post_p99_ms <= GOAL_P99_MS),
  nothing_acked_lost: ackedLost === 0 && alertsEqual,
};

process.stdout.write(
  `\nbench:abuse — ${RUNS} run(s) × ${phases.length} phases of ${PHASE_MS / 1000} s (+ ramp-up for idle / slowloris), ${quick ? "quick" : "full"}; ` +
    `server: ${opt.entry === "dist" ? "dist/server/main.js" : "server/main.ts through tsx"} on SQLite, ${FLOOD_PATIENTS + 1} patients; bystander: 1 reading / 100 ms over HTTP, clinician subscribed; figures are medians over runs (peak RSS: the largest; RSS rise: peak − RSS at the window's start, median); others' cores: the machine's busy cores beyond the server, the flooders and this process (other people's work on the same ${cpus().length} cores), with the 1-minute load average at the window's end\n\n` +
    renderTable(
      ["phase", "window s", "server cores", "others' cores (load)", "peak RSS MB", "of it anon MB", "RSS rise MB", "POST p50 ms", "÷ base", "POST p99 ms", "÷ base", "event p99 ms", "÷ base", "POST failed", "found/acked"],
      rows,
      ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ) +
    "\n\nWhat the flooders did and saw (all runs summed; closes: WebSocket close code, 1006 = cut without a close frame; raw TCP: how it ended):\n\n" +
    renderTable(["phase", "flood", "closes", "error frames / statuses", "flooder CPU s"], floodRows) +
    `\n\nbystander answers by status (-1: none within 10 s): ${phases.map((p) => `${p} ${recText(perPhase.get(p)!.agg.statuses)}`).join(", ")}
clinician socket closes: ${recText(clinicianCloses)}; bystander readings triaged out_of_order (overtaken by a later POST on another keep-alive connection: no transition, no event): ${phases.map((p) => `${p} ${perPhase.get(p)!.agg.out_of_order}`).join(", ")}; events missing otherwise (a 200 POST, not out_of_order, whose answer reported a transition, and whose event never arrived; the POST that overtook an out_of_order one usually has none): ${phases.map((p) => `${p} ${perPhase.get(p)!.agg.events_missing}`).join(", ")}\n` +
    `after the last phase: ${acked.length} bystander readings acknowledged, ${ackedLostBefore} not in GET /v1/patients/${BYSTANDER}/readings` +
    `${typeof storedBefore === "string" ? ` (${storedBefore})` : ""}; after kill -9 + restart (${restartS.toFixed(1)} s, RSS before kill ${fmt(rssBeforeKill)} MB): ${ackedLostAfter} missing` +
    `${typeof storedAfter === "string" ? ` (${storedAfter})` : ""}; alerts ${alertDiff.before} before / ${alertDiff.after} after, ${alertDiff.missing} missing, ${alertDiff.extra} extra, ${alertDiff.changed} changed` +
    `${alertDiff.example ? `\n  e.g. ${alertDiff.example}` : ""}\n` +
    `\nGoals: peak server RSS ${fmt(peakRss)} MB ≤ ${GOAL_RSS_MB}: ${goals.peak_rss_le_500mb ? "met" : "NOT met"}; bystander POST p99 ≤ ${GOAL_P99_MS} ms in every phase (worst ${worst} ${fmt(bystanderP99, 1)} ms): ${goals.bystander_p99_le_250ms_every_phase ? "met" : "NOT met"}; nothing acknowledged lost (readings and alerts across kill -9): ${goals.nothing_acked_lost ? "met" : "NOT met"}\n\n`,
);
const phaseJson = Object.fromEntries(
  phases.map((p) => {
    const a = perPhase.get(p)!.agg;
    return [p, {
      peak_rss_mb: round(a.peak_rss_mb, 0), peak_anon_mb: round(a.peak_anon_mb, 0), rss_rise_mb: round(a.rss_rise_mb, 0), server_cores: round(a.server_cores, 2), other_cores: round(a.other_cores, 2), load1: round(a.load1, 1), post_p50_ms: round(a.post_p50_ms), post_p99_ms: round(a.post_p99_ms), post_max_ms: round(a.post_max_ms),
      post_p99_over_base: round(a.post_p99_ms / baseAgg.post_p99_ms, 2), event_p99_ms: round(a.event_p99_ms, 0), event_p99_over_base: round(a.event_p99_ms / baseAgg.event_p99_ms, 2),
      window_s: round(a.window_s), ramp_s: a.ramp_s === null ? null : round(a.ramp_s), posts: a.posts, posts_failed: a.posts_failed, events_missing: a.events_missing, out_of_order: a.out_of_order, statuses: a.statuses,
      acked: a.acked, found: a.found, flood: { ...a.flood, cpu_s: round(a.flood.cpu_s) },
    }];
  }),
);
process.stdout.write(
  `${JSON.stringify({
    peak_rss_mb: round(peakRss, 0), peak_anon_mb: round(peakAnon, 0), bystander_p99_ms: round(bystanderP99), bystander_p99_phase: worst, acked_lost: ackedLost, acked: acked.length,
    alerts_equal_after_restart: alertsEqual, alerts: alertDiff, restart_s: round(restartS, 2), clinician_closes: clinicianCloses,
    phases: phaseJson, runs: RUNS, phase_s: PHASE_MS / 1000, idle_connections: IDLE_CONNS, slowloris_connections: SLOW_CONNS, quick, goals,
  })}\n`,
);
cleanup();
process.exit(0);
