// The server under test, in its own process: a VarselServer on 127.0.0.1 (port chosen by the OS)
// with the benchmark's patients registered through the pipeline before it listens — or, with
// app "transport-only", the bare transport of transport-only.ts.
// IPC config: ServerChildConfig as JSON; env BENCH_SECRET: the HS256 secret.
// IPC in: {type: "stats"} → ServerStats; {type: "stop"} → close and exit;
//   {type: "profile", action: "start"} / {type: "profile", action: "stop", file} → a CPU profile
//   of just that stretch (inspector, in process), written to `file`, answered {type: "profiled"}.
// IPC out: {type: "ready", port, transport, setupMs} or {type: "error", error}.
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { pino, type Logger } from "pino";
import { PROGRAMMES } from "../../engine/rules/programmes.js";
import { VarselServer } from "../../server/app.js";
import { openStore } from "../../engine/store/open-store.js";
import { startTransportOnly } from "./transport-only.js";
import { cgmPatientId, sounds, type AlarmTally } from "./backfill-trace.js";
import { BYSTANDER_TEAM, bystanderId, failChild, guardChild, receiveConfig, Histogram, HOST, patientId, teamId, teamOf, type ServerChildConfig, type ServerStats } from "./common.js";

guardChild(15 * 60_000); // until the configuration arrives (then its own limit)
const cfg = await receiveConfig<ServerChildConfig>();
guardChild(cfg.maxLifetimeMs);

/** What the rest of this file needs of the server under test. */
interface UnderTest {
  port: number;
  setupMs: number;
  /** Lifecycle events issued so far and alerts open now (0 for the bare transport). */
  events(): number;
  openAlerts(): number;
  /** cohort "cgm": the tally of CGM patients' alert events. */
  alarms?: AlarmTally;
  /** A durable server: takes a snapshot now (resolves once stored). */
  snapshot?(): Promise<void>;
  close(): Promise<void>;
}

async function startVarsel(secret: string, logger: Logger, ticks: TickStats, released: () => Histogram): Promise<UnderTest> {
  const started = performance.now();
  const options = { auth: { secret }, transport: cfg.transport, ingestThreads: cfg.ingestThreads ?? envThreads(), tickMs: cfg.tickMs, limits: cfg.limits, logger, eventWindow: cfg.eventWindow };
  // Durable (SQLite): snapshots only when the orchestrator asks, so one falls inside the window.
  const server =
    cfg.sqlite === undefined
      ? new VarselServer(options)
      : await VarselServer.open({ ...options, store: await openStore(`sqlite:${cfg.sqlite}`), snapshotEveryMs: 1e12, snapshotReplayBudgetMs: Number.MAX_SAFE_INTEGER });
  const now = Date.now();
  // telehjerte without its daily weight-missing rule: the generators send no weight, and 10 000
  // patients going overdue at once (12:00 + 1 h grace) would put a burst into a measurement.
  const rules = PROGRAMMES.telehjerte.rules.filter((r) => r.id !== "weight-missing");
  server.pipeline.setProgrammeThresholds("telehjerte", rules, "bench", "server benchmark: no weight readings are sent", now);
  const cgm = cfg.cohort === "cgm";
  for (let i = 0; i < cfg.patients; i++) {
    server.pipeline.upsertPatient(
      cgm ? cgmPatientId(i) : patientId(i),
      { programme: cgm ? "cgm" : "telehjerte", careTeams: [{ team: teamId(teamOf(i, cfg.teams)), role: "hospital" }], paused: false, references: {} },
      now,
    );
  }
  for (let i = 0; i < (cfg.bystanders ?? 0); i++) {
    server.pipeline.upsertPatient(bystanderId(i), { programme: "telehjerte", careTeams: [{ team: BYSTANDER_TEAM, role: "hospital" }], paused: false, references: {} }, now);
  }
  // The ingest thread starts with the first frame; under tsx its start (compiling its modules) would fall into the window.
  await server.ingestThread?.ready();
  const port = await server.listen(0, HOST);
  if (server.transportKind !== cfg.transport) throw new Error(`asked for transport ${cfg.transport}, got ${server.transportKind}`);
  const setupMs = performance.now() - started;
  timeTicks(server, ticks);
  const alarms: AlarmTally | undefined = cgm ? { raisedByPriority: {}, lateEvents: 0, lateRaised: 0, alertEvents: 0, urgent: {} } : undefined;
  server.durable.onEvent((event) => {
    if (event.type === "silence" || event.type === "review") return;
    const trigger = event.alert.why.readings.at(-1);
    if (trigger?.readingValue !== undefined) released().add(Date.now() - trigger.time);
    if (alarms !== undefined && event.patient.startsWith("c")) tally(alarms, event.type, event.type === "updated" ? event.change : undefined, event.alert.priority, event.late === true, event.patient, event.alert.rule);
  });
  return {
    port,
    setupMs,
    alarms,
    events: () => server.pipeline.lifecycle.lastSeq(),
    // A count of the lifecycle's open index: list() clones every open alert, which blocked the
    // server 0.9 s at the backfill's 80 000 late alerts — inside the bystander's window.
    openAlerts: () => (server.pipeline.lifecycle as unknown as { open: Map<string, string> }).open.size,
    snapshot: cfg.sqlite === undefined ? undefined : () => server.durable.snapshot(),
    close: () => server.close(),
  };
}

async function startBareTransport(logger: Logger): Promise<UnderTest> {
  const started = performance.now();
  const { transport, port } = await startTransportOnly(cfg.transport, HOST, logger);
  if (transport.kind !== cfg.transport) throw new Error(`asked for transport ${cfg.transport}, got ${transport.kind}`);
  return { port, setupMs: performance.now() - started, events: () => 0, openAlerts: () => 0, close: () => transport.close() };
}

/** Counts a CGM patient's alert event (backfill): raised by priority, late ones, and urgent alarms (high, not late, sounding) by patient. */
function tally(t: AlarmTally, type: string, change: string | undefined, priority: string, late: boolean, patient: string, rule: string): void {
  t.alertEvents++;
  if (type === "raised") t.raisedByPriority[priority] = (t.raisedByPriority[priority] ?? 0) + 1;
  if (late) {
    t.lateEvents++;
    if (type === "raised") t.lateRaised++;
  } else if (priority === "high" && sounds(type, change)) {
    (t.urgent[String(Number(patient.slice(1)))] ??= []).push(`${rule} ${type}${change === undefined ? "" : ` ${change}`}`);
  }
}

interface TickStats {
  count: number;
  maxMs: number;
  totalMs: number;
}

/** Diagnostics: how long the clock tick (missing data, timers, escalation, retention) takes — it runs on the ingest thread. */
function timeTicks(server: VarselServer, ticks: TickStats): void {
  const pipeline = server.pipeline as unknown as { tick?: (now: number) => unknown };
  if (typeof pipeline.tick !== "function") return;
  const tick = pipeline.tick.bind(pipeline);
  pipeline.tick = (now: number) => {
    const t = performance.now();
    try {
      return tick(now);
    } finally {
      const ms = performance.now() - t;
      ticks.count++;
      ticks.totalMs += ms;
      ticks.maxMs = Math.max(ticks.maxMs, ms);
    }
  };
}

async function main(): Promise<void> {
  const secret = process.env.BENCH_SECRET;
  if (secret === undefined) throw new Error("BENCH_SECRET is not set");
  const logger = pino({ level: "warn" }, pino.destination(2));
  const ticks: TickStats = { count: 0, maxMs: 0, totalMs: 0 };
  let released = new Histogram();
  const server = cfg.app === "transport-only" ? await startBareTransport(logger) : await startVarsel(secret, logger, ticks, () => released);
  const { port, setupMs } = server;

  // Diagnostics: event-loop delay.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  // Peak RSS between stats (a reconnect storm's replays are short-lived).
  let rssPeak = 0;
  setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 20).unref();
  const stats = (reset = false): ServerStats => {
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    const elu = performance.eventLoopUtilization();
    const out: ServerStats = {
      type: "stats",
      rssMb: m.rss / 1e6,
      heapUsedMb: m.heapUsed / 1e6,
      cpuMicros: cpu.user + cpu.system,
      mainCpuMicros: mainThreadCpuMicros(),
      elu: { idle: elu.idle, active: elu.active },
      at: Date.now(),
      events: server.events(),
      openAlerts: server.openAlerts(),
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: loopDelay.max / 1e6,
      ticks: { ...ticks },
      released: released.data(),
      rssPeakMb: Math.max(rssPeak, m.rss) / 1e6,
      alarms: server.alarms,
    };
    if (reset) {
      rssPeak = 0;
      released = new Histogram();
      loopDelay.reset();
      Object.assign(ticks, { count: 0, maxMs: 0, totalMs: 0 });
    }
    return out;
  };
  let stopping = false;
  let profiler: Session | undefined;
  const profile = (m: { action?: string; file?: string }): void => {
    if (m.action === "start") {
      profiler = new Session();
      profiler.connect();
      profiler.post("Profiler.enable", () => profiler!.post("Profiler.setSamplingInterval", { interval: 250 }, () => profiler!.post("Profiler.start")));
    } else if (m.action === "stop" && profiler !== undefined) {
      const session = profiler;
      profiler = undefined;
      session.post("Profiler.stop", (err, res) => {
        if (!err && m.file !== undefined) writeFileSync(m.file, JSON.stringify(res.profile));
        session.disconnect();
        process.send?.({ type: "profiled", file: m.file, error: err?.message });
      });
    }
  };
  process.on("message", (m: { type?: string; action?: string; file?: string; reset?: boolean }) => {
    if (m?.type === "stats") process.send?.(stats(m.reset === true));
    else if (m?.type === "profile") profile(m);
    else if (m?.type === "snapshot" && server.snapshot !== undefined) {
      const started = performance.now();
      void server.snapshot().then(
        () => process.send?.({ type: "snapshotted", ms: performance.now() - started }),
        (err: unknown) => process.send?.({ type: "snapshotted", error: String(err) }),
      );
    }
    else if (m?.type === "stop" && !stopping) {
      stopping = true;
      // close() waits for sockets; the parent kills us if it takes too long
      void server.close().finally(() => process.exit(0));
    }
  });
  process.send?.({ type: "ready", port, transport: cfg.transport, setupMs });
}

main().catch(failChild);

/** The main thread's CPU time in µs from /proc/self/task/<pid>/stat (utime + stime, clock ticks of 10 ms); undefined off Linux. */
function mainThreadCpuMicros(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after the command name, from field 3
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** VARSEL_INGEST_THREADS for the phases that do not set the ingest threads (latency, http): to compare them by hand. */
function envThreads(): 0 | 1 | undefined {
  const v = process.env.VARSEL_INGEST_THREADS;
  return v === "0" ? 0 : v === "1" ? 1 : undefined;
}
