// The reconnect-storm phase of bench:server (issue 16.6): `sockets` clinician sockets (team j mod
// teams) in client processes (storm-clients.ts) subscribed while device generators keep alerts
// flowing (loadgen.ts, rate mode); all of them are cut at one instant, stay away `offlineMs`
// (alerts keep coming), then reconnect at one instant with `resumeFrom`. Measures reconnect →
// every socket caught up (its replay received), and the server's RSS before, at its peak and
// after; checks every socket's events against a reference socket that never dropped: none
// missed, duplicated or out of order.
import type { ChildProcess } from "node:child_process";
import os from "node:os";
import { mergeHistograms, percentiles, sleep, spawnChild, stopChild, teamId, waitMessage, type LoadgenResult, type Percentiles } from "./common.js";
import { fmtCodes, mergeCounts, usage, type Harness } from "./harness.js";
import type { StormClientsConfig, StormClientsResult, StormReference } from "./storm-clients.js";

export interface StormOptions {
  sockets: number;
  procs: number;
  teams: number;
  /** Readings/s of the alert load (0.5 % out of band by default, as the latency phase). */
  rate: number;
  offlineMs: number;
  /** After the reconnect: how long the alert load goes on. */
  afterMs: number;
  transport: "uws" | "ws";
  /** The event window clients resume from (unset: server defaults). */
  eventWindow?: { maxEvents?: number; maxAgeMs?: number };
}

export interface StormRun {
  /** Reconnect → the last socket caught up (s); NaN when one never did. */
  catchupS: number;
  catchup: Percentiles;
  subscribed: Percentiles;
  replayed: number;
  expected: number;
  missed: number;
  duplicated: number;
  outOfOrder: number;
  unexpected: number;
  notCaughtUp: number;
  resyncs: number;
  retries: number;
  eventsWhileOffline: number;
  /** Alert-load frames the server answered `overloaded` (its documented backpressure, not a fault: counted, not failed). */
  loadOverloaded: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  serverCores: number;
  serverElu: number;
  /** Server CPU seconds from just before the cut until every socket caught up (the storm's own cost, whatever else the machine did). */
  serverCpuS: number;
  loopDelayMaxMs: number;
  loadAvg: [number, number];
  errorFrames: number;
  problems: string[];
}

export async function stormRun(h: Harness, o: StormOptions, run: number, alertLoad: (port: number, run: number) => Promise<ChildProcess[]>): Promise<StormRun> {
  const load0 = os.loadavg()[0];
  const server = await h.startServer(o.transport, `storm-${o.transport}-${run}`, { eventWindow: o.eventWindow });
  const children: ChildProcess[] = [];
  try {
    const tokens: string[] = [];
    for (let t = 0; t < o.teams; t++) tokens.push(await h.auth.sign({ sub: `storm-clin-${t}`, role: "clinician", teams: [teamId(t)] }, "1h"));
    const perProc = Math.ceil(o.sockets / o.procs);
    const procs: ChildProcess[] = [];
    for (let p = 0; p < o.procs; p++) {
      const subs: StormClientsConfig["subs"] = [];
      for (let j = p * perProc; j < Math.min(o.sockets, (p + 1) * perProc); j++) subs.push({ team: teamId(j % o.teams), token: tokens[j % o.teams] });
      const c: StormClientsConfig = { port: server.port, role: "clients", subs, concurrency: 50, connectTimeoutMs: 10_000, maxLifetimeMs: h.lifetimeMs };
      procs.push(spawnChild(h.child("storm-clients.ts"), c));
    }
    const refToken = await h.auth.sign({ sub: "storm-reference", role: "admin", teams: [] }, "1h");
    const reference = spawnChild(h.child("storm-clients.ts"), { port: server.port, role: "reference", subs: [{ team: "", token: refToken }], concurrency: 1, connectTimeoutMs: 10_000, maxLifetimeMs: h.lifetimeMs } satisfies StormClientsConfig);
    children.push(...procs, reference);
    await Promise.all([...procs, reference].map((p, i) => waitMessage(p, "subscribed", 120_000, `storm clients ${i}`)));
    const gens = await alertLoad(server.port, run);
    children.push(...gens);

    const warm = 1500;
    const t0 = Date.now() + 200;
    const drop = t0 + warm;
    const reconnect = drop + o.offlineMs;
    const t1 = reconnect + o.afterMs;
    const loadResults = Promise.all(gens.map((g, i) => waitMessage<LoadgenResult>(g, "result", t1 - Date.now() + 20_000, `storm alert load ${i}`)));
    loadResults.catch(() => undefined);
    for (const g of gens) g.send({ type: "go", t0, t1 });
    await sleep(drop - 800 - Date.now());
    await h.profile(server, "start"); // ahead: starting the profiler blocks the server ≈ 0.1 s
    await sleep(drop - 300 - Date.now());
    const before = await h.serverStats(server, true);
    const seqAtDrop = before.events;
    for (const p of procs) p.send({ type: "drop", at: drop });
    await sleep(reconnect - 100 - Date.now());
    const eventsWhileOffline = (await h.serverStats(server)).events - seqAtDrop;
    const caught = Promise.all(procs.map((p, i) => waitMessage(p, "caught", 60_000, `storm clients ${i} catching up`)));
    caught.catch(() => undefined);
    for (const p of procs) p.send({ type: "reconnect", at: reconnect });
    let caughtOk = true;
    try {
      await caught;
    } catch (err) {
      caughtOk = false;
      h.log(`storm: ${err instanceof Error ? err.message : String(err)}`);
    }
    const during = await h.serverStats(server);
    await h.profile(server, "stop");
    const lr = await loadResults;
    await sleep(1000); // quiet: the last events reach everyone
    const refP = waitMessage<StormReference>(reference, "reference", 10_000, "storm reference");
    reference.send({ type: "collect" });
    const ref = await refP;
    const results = await Promise.all(
      procs.map((p, i) => {
        const r = waitMessage<StormClientsResult>(p, "result", 30_000, `storm clients ${i} result`);
        p.send({ type: "collect", reference: ref });
        return r;
      }),
    );
    const after = await h.serverStats(server);
    const load1 = os.loadavg()[0];
    const sum = (f: (r: StormClientsResult) => number): number => results.reduce((a, r) => a + f(r), 0);
    const merge = mergeCounts;
    const catchup = percentiles(mergeHistograms(results.map((r) => r.catchup)));
    const loadErrors = merge(lr.map((r) => r.errors));
    const loadOverloaded = loadErrors.overloaded ?? 0;
    delete loadErrors.overloaded;
    const errors = merge([...results.map((r) => r.errors), ref.errors, loadErrors]);
    const closes = merge([...results.map((r) => r.closes), ref.closes, ...lr.map((r) => r.closes)]);
    const out: StormRun = {
      catchupS: caughtOk && sum((r) => r.notCaughtUp) === 0 ? catchup.max / 1000 : NaN,
      catchup,
      subscribed: percentiles(mergeHistograms(results.map((r) => r.subscribed))),
      replayed: sum((r) => r.replayed),
      expected: sum((r) => r.expected),
      missed: sum((r) => r.missed),
      duplicated: sum((r) => r.duplicated),
      outOfOrder: sum((r) => r.outOfOrder),
      unexpected: sum((r) => r.unexpected),
      notCaughtUp: sum((r) => r.notCaughtUp),
      resyncs: sum((r) => r.resyncs),
      retries: sum((r) => r.retries),
      eventsWhileOffline,
      loadOverloaded,
      rssBeforeMb: before.rssMb,
      rssPeakMb: Math.max(during.rssPeakMb, after.rssPeakMb),
      rssAfterMb: after.rssMb,
      serverCores: usage(before, during).cores,
      serverElu: usage(before, during).elu,
      serverCpuS: (during.cpuMicros - before.cpuMicros) / 1e6,
      loopDelayMaxMs: during.loopDelayMaxMs,
      loadAvg: [load0, load1],
      errorFrames: Object.values(errors).reduce((a, n) => a + n, 0),
      problems: [],
    };
    const p = out.problems;
    if (out.missed > 0) p.push(`storm: ${out.missed} of ${out.expected} events missed (${results.flatMap((r) => r.examples).slice(0, 3).join("; ")})`);
    if (out.duplicated > 0) p.push(`storm: ${out.duplicated} events received twice`);
    if (out.outOfOrder > 0) p.push(`storm: ${out.outOfOrder} events out of order`);
    if (out.unexpected > 0) p.push(`storm: ${out.unexpected} events outside the socket's team`);
    if (out.notCaughtUp > 0) p.push(`storm: ${out.notCaughtUp} sockets never caught up`);
    if (out.resyncs > 0) p.push(`storm: ${out.resyncs} resumes answered resync_required (events no longer retained)`);
    if (out.expected === 0) p.push("storm: no events to check (no alerts flowed)");
    if (Object.keys(errors).length > 0) p.push(`storm: errors ${fmtCodes(errors)}`);
    if (Object.keys(closes).length > 0) p.push(`storm: closes ${fmtCodes(closes)}`);
    h.log(
      `storm ${o.transport} run ${run + 1}: ${o.sockets} sockets cut, ${o.offlineMs} ms away (${eventsWhileOffline} events meanwhile), reconnected at once: ` +
        `caught up p50 ${catchup.p50} ms, p99 ${catchup.p99} ms, last ${catchup.max} ms; subscribed p99 ${out.subscribed.p99} ms; ${out.replayed} events replayed, ` +
        `${out.expected} checked: missed ${out.missed}, duplicated ${out.duplicated}, out of order ${out.outOfOrder}; ${out.retries} connect retries, ${out.resyncs} resyncs; ` +
        `${loadOverloaded} alert-load frames answered overloaded; ` +
        `server RSS ${before.rssMb.toFixed(0)} MB before, peak ${out.rssPeakMb.toFixed(0)}, after ${after.rssMb.toFixed(0)}; server ${out.serverCores.toFixed(2)} cores (${out.serverCpuS.toFixed(2)} CPU-s), ELU ${out.serverElu.toFixed(2)}, ` +
        `event-loop delay max ${out.loopDelayMaxMs.toFixed(0)} ms; load average ${load0.toFixed(1)} → ${load1.toFixed(1)}${p.length ? `; ${p.join("; ")}` : ""}`,
    );
    return out;
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    await stopChild(server.child);
  }
}
