// The backfill phase of bench:server (issue 16.5): `patients` CGM patients, each with 24 h of
// buffered readings (288: backfill-trace.ts), uploaded over `sockets` gateway sockets in
// generator processes (backfill-gen.ts) as fast as the server answers, while a live bystander
// gateway (bystander.ts) sends readings of now whose alerts one clinician socket receives
// (subscriber.ts). Measures readings/s over the whole upload and the bystander's ingest → alert
// latency meanwhile; checks that every reading was accepted, none out_of_order, and that no
// urgent alarm was raised for an event already past (the late-data policy,
// engine/lifecycle/late.ts) while every patient low now was alarmed.
import type { ChildProcess } from "node:child_process";
import os from "node:os";
import { BACKFILL_READINGS, judgeAlarms, type AlarmTally } from "./backfill-trace.js";
import type { BackfillGenConfig, BackfillGenResult } from "./backfill-gen.js";
import type { BystanderConfig, BystanderResult } from "./bystander.js";
import {
  BYSTANDER_TEAM,
  mergeHistograms,
  patientsOfTeams,
  percentiles,
  sleep,
  spawnChild,
  stopChild,
  teamId,
  teamsOfSocket,
  waitMessage,
  type Percentiles,
  type SubscriberConfig,
  type SubscriberResult,
} from "./common.js";
import { fmtCodes, mergeCounts, usage, type Harness } from "./harness.js";

export interface BackfillOptions {
  patients: number;
  teams: number;
  sockets: number;
  gens: number;
  patientsPerFrame: number;
  /** 1 (default): a day per request; n: each day split into n requests (shows the late-data policy's limit, see bench/README.md). */
  dayChunks: number;
  window: number;
  bystanders: number;
  bystanderTickMs: number;
  transport: "uws" | "ws";
}

export interface BackfillRun {
  rps: number;
  seconds: number;
  readings: number;
  accepted: number;
  /** Bystander: ingest → alert delivered (subscriber), and its ingest acks. */
  bystander: Percentiles;
  bystanderAck: Percentiles;
  bystanderDeliveries: number;
  bystanderTransitions: number;
  /** Gateway frame send → ingest_result. */
  frameAck: Percentiles;
  resent: number;
  alarms: AlarmTally;
  urgentForPast: number;
  urgentForPastExamples: string[];
  presentMissed: number;
  presentExpected: number;
  serverCores: number;
  serverElu: number;
  genCores: number;
  rssMb: number;
  rssPeakMb: number;
  loopDelayMaxMs: number;
  loadAvg: [number, number];
  /** Faults: wrong results whatever the speed. */
  rejected: number;
  outOfOrder: number;
  errorFrames: number;
  problems: string[];
}

export async function backfillRun(h: Harness, o: BackfillOptions, run: number): Promise<BackfillRun> {
  const load0 = os.loadavg()[0];
  const server = await h.startServer(o.transport, `backfill-${o.transport}-${run}`, { cohort: "cgm", patients: o.patients, teams: o.teams, bystanders: o.bystanders });
  const children: ChildProcess[] = [];
  try {
    // gateways: socket k owns the teams t with t mod sockets = k, hence their patients
    const plans: BackfillGenConfig["sockets"] = [];
    for (let k = 0; k < o.sockets; k++) {
      const teams = teamsOfSocket(k, o.sockets, o.teams);
      const token = await h.auth.sign({ sub: `bf-gw${k}`, role: "device", teams: teams.map(teamId) }, "1h");
      plans.push({ name: `bf${k}`, token, patients: patientsOfTeams(teams, o.patients, o.teams) });
    }
    const perGen = Math.ceil(o.sockets / o.gens);
    const gens: ChildProcess[] = [];
    for (let g = 0; g < o.gens; g++) {
      const c: BackfillGenConfig = { port: server.port, sockets: plans.slice(g * perGen, (g + 1) * perGen), patientsPerFrame: o.patientsPerFrame, dayChunks: o.dayChunks, window: o.window, maxLifetimeMs: h.lifetimeMs };
      gens.push(spawnChild(h.child("backfill-gen.ts"), c));
    }
    children.push(...gens);
    // the bystander: a clinician of its team, and a live gateway
    const sub: SubscriberConfig = {
      port: server.port,
      subs: [{ team: BYSTANDER_TEAM, token: await h.auth.sign({ sub: "clin-by", role: "clinician", teams: [BYSTANDER_TEAM] }, "1h") }],
      concurrency: 1,
      connectTimeoutMs: 30_000,
      maxLifetimeMs: h.lifetimeMs,
    };
    const subscriber = spawnChild(h.child("subscriber.ts"), sub);
    children.push(subscriber);
    const by: BystanderConfig = {
      port: server.port,
      tokens: await Promise.all(Array.from({ length: o.bystanders }, (_, i) => h.auth.sign({ sub: `by-gw${i}`, role: "device", teams: [BYSTANDER_TEAM] }, "1h"))),
      tickMs: o.bystanderTickMs,
      maxLifetimeMs: h.lifetimeMs,
    };
    const bystander = spawnChild(h.child("bystander.ts"), by);
    children.push(bystander);
    await Promise.all([
      ...gens.map((g, i) => waitMessage(g, "connected", 60_000, `backfill generator ${i}`)),
      waitMessage(subscriber, "subscribed", 30_000, "bystander subscriber"),
      waitMessage(bystander, "connected", 30_000, "bystander gateway"),
    ]);

    const readings = o.patients * BACKFILL_READINGS;
    const t0 = Date.now() + 300;
    // the subscriber counts events whose reading lies in [t0, t1): the bystander stops before t1
    subscriber.send({ type: "go", t0, t1: t0 + 3_600_000 });
    await h.profile(server, "start");
    await sleep(t0 - Date.now());
    const at0 = await h.serverStats(server, true);
    const results = Promise.all(gens.map((g, i) => waitMessage<BackfillGenResult & { type: "result" }>(g, "result", Math.max(120_000, (readings / 30_000) * 1000), `backfill generator ${i}`)));
    results.catch(() => undefined);
    bystander.send({ type: "go" });
    for (const g of gens) g.send({ type: "go" });
    const rs = await results;
    // the bystander stops with the backfill, before anything else asks the server for work
    const byResult = waitMessage<BystanderResult>(bystander, "result", 10_000, "bystander gateway");
    bystander.send({ type: "halt" });
    const at1 = await h.serverStats(server);
    await h.profile(server, "stop");
    const byR = await byResult;
    await sleep(300); // the bystander's last events on their way
    const subResult = waitMessage<SubscriberResult>(subscriber, "result", 10_000, "bystander subscriber");
    subscriber.send({ type: "collect" });
    const subR = await subResult;
    const end = await h.serverStats(server);
    const load1 = os.loadavg()[0];

    const first = Math.min(...rs.map((r) => r.firstSendAt));
    const last = Math.max(...rs.map((r) => r.lastResultAt));
    const seconds = (last - first) / 1000;
    const sum = (f: (r: BackfillGenResult) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const merge = (f: (r: BackfillGenResult) => Record<string, number>): Record<string, number> => mergeCounts(rs.map(f));
    const accepted = sum((r) => r.accepted);
    const rejected = sum((r) => r.rejected);
    const outOfOrder = sum((r) => r.outOfOrder);
    const errors = merge((r) => r.errors);
    const closes = merge((r) => r.closes);
    const alarms = end.alarms ?? { raisedByPriority: {}, lateEvents: 0, lateRaised: 0, alertEvents: 0, urgent: {} };
    const verdict = judgeAlarms(o.patients, alarms.urgent);
    const bystanderLat = percentiles(subR.latency);
    const problems: string[] = [];
    if (accepted !== readings) problems.push(`backfill: ${accepted} of ${readings} readings accepted`);
    if (rejected > 0) problems.push(`backfill: rejected ${rejected} (${fmtCodes(merge((r) => r.rejectedCodes))})`);
    if (outOfOrder > 0) problems.push(`backfill: ${outOfOrder} readings out_of_order`);
    if (Object.keys(errors).length > 0) problems.push(`backfill: gateway errors ${fmtCodes(errors)}`);
    if (Object.keys(closes).length > 0) problems.push(`backfill: gateway closes ${fmtCodes(closes)}`);
    if (verdict.forPast > 0) problems.push(`backfill: ${verdict.forPast} urgent alarm(s) for events already past (${verdict.forPastExamples.join("; ")})`);
    if (verdict.presentMissed > 0) problems.push(`backfill: ${verdict.presentMissed} of ${verdict.presentExpected} patients low now got no urgent alarm`);
    if (Object.keys(byR.errors).length > 0) problems.push(`backfill: bystander errors ${fmtCodes(byR.errors)}`);
    if (Object.keys(byR.closes).length > 0 || Object.keys(subR.closes).length > 0) problems.push(`backfill: bystander closes ${fmtCodes({ ...byR.closes, ...subR.closes })}`);
    if (Object.keys(subR.errors).length > 0) problems.push(`backfill: bystander subscriber errors ${fmtCodes(subR.errors)}`);
    if (bystanderLat.n !== byR.transitions) problems.push(`backfill: bystander ${bystanderLat.n} alert deliveries for ${byR.transitions} transitions`);
    const u = usage(at0, at1);
    const out: BackfillRun = {
      rps: accepted / seconds,
      seconds,
      readings,
      accepted,
      bystander: bystanderLat,
      bystanderAck: percentiles(byR.ack),
      bystanderDeliveries: bystanderLat.n,
      bystanderTransitions: byR.transitions,
      frameAck: percentiles(mergeHistograms(rs.map((r) => r.ack))),
      resent: sum((r) => r.resent),
      alarms,
      urgentForPast: verdict.forPast,
      urgentForPastExamples: verdict.forPastExamples,
      presentMissed: verdict.presentMissed,
      presentExpected: verdict.presentExpected,
      serverCores: u.cores,
      serverElu: u.elu,
      genCores: sum((r) => r.cpuMicros) / 1e6 / seconds,
      rssMb: end.rssMb,
      rssPeakMb: at1.rssPeakMb,
      loopDelayMaxMs: at1.loopDelayMaxMs,
      loadAvg: [load0, load1],
      rejected,
      outOfOrder,
      errorFrames: [errors, byR.errors, subR.errors].flatMap((e) => Object.values(e)).reduce((a, n) => a + n, 0),
      problems,
    };
    h.log(
      `backfill ${o.transport} run ${run + 1}: ${accepted} readings of ${o.patients} patients in ${seconds.toFixed(1)} s = ${(out.rps / 1000).toFixed(0)} k/s ` +
        `(${o.sockets} sockets, ${o.patientsPerFrame} patients × ${BACKFILL_READINGS} readings per frame, ${o.window} in flight; ${out.resent} frames resent after overloaded); ` +
        `frame ack p50 ${out.frameAck.p50} ms p99 ${out.frameAck.p99} ms; bystander ingest→alert p50 ${bystanderLat.p50} ms p99 ${bystanderLat.p99} ms max ${bystanderLat.max} ms ` +
        `(${bystanderLat.n} deliveries), ack p99 ${out.bystanderAck.p99} ms; raised ${fmtCodes(alarms.raisedByPriority)}, late events ${alarms.lateEvents} (raised ${alarms.lateRaised}), ` +
        `urgent alarms ${Object.values(alarms.urgent).reduce((a, x) => a + x.length, 0)} for ${Object.keys(alarms.urgent).length} patients (${verdict.presentExpected} low now, ${verdict.forPast} for the past); ` +
        `server ${u.cores.toFixed(2)} cores, ELU ${u.elu.toFixed(2)}, generators ${out.genCores.toFixed(2)} cores; RSS ${end.rssMb.toFixed(0)} MB (peak ${out.rssPeakMb.toFixed(0)}); ` +
        `event-loop delay max ${at1.loopDelayMaxMs.toFixed(0)} ms, clock tick longest ${at1.ticks.maxMs.toFixed(0)} ms (${at1.ticks.count}); load average ${load0.toFixed(1)} → ${load1.toFixed(1)}${problems.length ? `; ${problems.join("; ")}` : ""}`,
    );
    return out;
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    await stopChild(server.child);
  }
}
