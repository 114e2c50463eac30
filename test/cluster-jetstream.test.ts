// The cluster's pieces against a real nats-server with JetStream (test/support/nats.ts: skipped
// with a message when none answers, failed in CI): setup, ingest de-duplication, an engine node
// applying its partitions and publishing what they caused, and failover after an engine stops
// renewing its leases. What the events stream holds is compared with what one Pipeline per
// partition, applying the same commands at the same times, produces: every event exactly once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import type { Command } from "../engine/durable/commands.js";
import { VarselError } from "../engine/errors.js";
import { Pipeline } from "../engine/pipeline.js";
import { decodeBody } from "../engine/store/codec.js";
import { ClusterAlertView, VIEW_SNAPSHOT } from "../server/cluster/alert-view.js";
import { EngineNode, type EngineReport } from "../server/cluster/engine-node.js";
import { ClusterIngest, type CommandMessage } from "../server/cluster/ingest.js";
import { PartitionEngine, type EventMessage, type PartitionReport } from "../server/cluster/partition.js";
import { route } from "../server/cluster/partitions.js";
import type { Cluster } from "../server/cluster/streams.js";
import { NATS_SKIP, requireNats, TestClusters } from "./support/nats.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const MIN = 60_000;
const PATIENTS = ["p1", "p2", "p3", "p4", "p5", "p6"];

/** A scripted stretch of care: patients, a threshold change, readings in and out of band, a silence. */
function script(): Command[] {
  const careTeams = [{ team: "team-a", role: "hospital" as const }];
  const out: Command[] = PATIENTS.map((id, i) => ({ kind: "patient", id, input: { programmes: [i % 2 === 0 ? "telekol" : "telehjerte"], careTeams, paused: false, references: { spo2: 95 } } }) as Command);
  out.push({ kind: "patient_thresholds", id: "p2", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 105, redHigh: 125 } }], author: "dr-a", reason: "known tachycardia" });
  for (let i = 0; i < 24; i++) {
    const items = PATIENTS.flatMap((patient, k) => [
      { patient, metric: "spo2", value: [96, 91, 87, 94][(i + k) % 4], time: T0 + i * MIN, id: `${patient}-s-${i}` },
      { patient, metric: "pulse", value: [70, 110, 130, 90][(i + k) % 4], time: T0 + i * MIN, id: `${patient}-p-${i}` },
    ]);
    out.push(readingsCommand(items, T0 + i * MIN));
    if (i === 8) out.push({ kind: "silence_add", patient: "p3", rule: "spo2-band", until: T0 + 20 * MIN, reason: "oxygen adjusted", author: "nurse" });
  }
  return out;
}

/** A test clock the ingest stamps commands with: a minute per command. */
class Clock {
  t = T0;
  now = () => this.t;
}

/** Publishes commands through the ingest, one minute apart on the clock. */
async function publishAll(ingest: ClusterIngest, clock: Clock, commands: Command[]): Promise<void> {
  for (const c of commands) {
    clock.t += MIN;
    await ingest.publish(c);
  }
}

/** What one Pipeline per partition produces for the same commands at the same times: [partition, seq, type, alert] per event. */
function reference(commands: Command[], n: number): string[] {
  const pipelines = new Map<number, Pipeline>();
  const out: string[] = [];
  let t = T0;
  for (const c of commands) {
    t += MIN;
    for (const { partition, command } of route(c, n)) {
      let p = pipelines.get(partition);
      if (p === undefined) pipelines.set(partition, (p = new Pipeline()));
      const entry = { pos: 0, at: t, command };
      try {
        checkCommand(p, entry);
      } catch (err) {
        if (err instanceof VarselError) continue;
        throw err;
      }
      for (const e of applyCommand(p, entry).events) out.push(describeEvent(partition, e));
    }
  }
  return out.sort();
}

function describeEvent(partition: number, e: EventMessage["event"]): string {
  return `${partition}:${e.seq}:${e.type}:${"alert" in e ? e.alert.id : ""}`;
}

/** Every event the events stream holds, described as `reference` does (duplicates kept). */
async function streamedEvents(cluster: Cluster): Promise<string[]> {
  const { jsm, names } = cluster;
  const info = await jsm.streams.info(names.eventStream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(names.eventStream, { seq });
    if (m === null) continue;
    const { partition, event } = decodeBody<EventMessage>(m.data);
    expect(m.subject).toBe(names.eventSubject(partition));
    expect(m.header.get("Nats-Msg-Id")).toBe(`${partition}-${event.seq}`);
    out.push(describeEvent(partition, event));
  }
  return out.sort();
}

/** Polls until `check` holds (a condition, not a timing: the limit only ends a hung test). */
async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ENGINE = { leaseMs: 1_200, scanMs: 200, tickMs: 0 };

describe.skipIf(NATS_SKIP)("cluster on JetStream", () => {
  const clusters = new TestClusters();
  const nodes: EngineNode[] = [];
  beforeAll(() => requireNats());
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.halt();
    await clusters.destroyAll();
  });
  afterAll(() => clusters.destroyAll());

  it("sets up idempotently and keeps its partition count", async () => {
    const a = await clusters.open({ partitions: 8 });
    const again = await clusters.open({ prefix: a.names.prefix });
    expect(again.partitions).toBe(8);
    await expect(clusters.open({ prefix: a.names.prefix, partitions: 4 })).rejects.toThrow(/8 partitions, not the 4/);
  });

  it("ingest: answers after JetStream stored the parts, de-duplicates by measurement id, publishes nothing refused", async () => {
    const cluster = await clusters.open({ partitions: 16 });
    const clock = new Clock();
    const ingest = new ClusterIngest(cluster, clock.now);
    const count = async () => (await cluster.jsm.streams.info(cluster.names.commandStream)).state.messages;

    const one = readingsCommand([{ patient: "p1", metric: "pulse", value: 80, time: T0, id: "m-1" }], T0);
    const [first] = await ingest.publish(one);
    expect(first).toMatchObject({ partition: 10, duplicate: false });
    const [again] = await ingest.publish(one);
    expect(again).toEqual({ ...first, duplicate: true });
    expect(await count()).toBe(1);
    const stored = await cluster.jsm.streams.getMessage(cluster.names.commandStream, { seq: first.seq });
    expect(stored!.subject).toBe(cluster.names.commandSubject(10));
    expect(decodeBody<CommandMessage>(stored!.data)).toEqual({ at: T0, command: route(one, 16)[0].command });

    // Without a measurement id only the same request (the ingest's own retry) is one message.
    const anonymous = readingsCommand([{ patient: "p1", metric: "pulse", value: 80, time: T0 }], T0);
    await ingest.publish(anonymous);
    await ingest.publish(anonymous);
    expect(await count()).toBe(3);
    await ingest.publish(anonymous, { requestId: "req-1" });
    const [retry] = await ingest.publish(anonymous, { requestId: "req-1" });
    expect(retry.duplicate).toBe(true);
    expect(await count()).toBe(4);

    // A batch for several patients: one message per partition concerned.
    const parts = await ingest.publish(readingsCommand(["p1", "a", "foobar"].map((patient, i) => ({ patient, metric: "pulse", value: 80, time: T0, id: `x-${i}` })), T0));
    expect(parts.map((p) => p.partition)).toEqual([8, 10, 12]);
    expect(await count()).toBe(7);

    // Refused on validation: nothing published.
    const bad: Command = { kind: "patient", id: "p\ud800", input: { programmes: ["telekol"], careTeams: [], paused: false, references: {} } };
    await expect(ingest.publish(bad)).rejects.toMatchObject({ code: "invalid_field" });
    expect(await count()).toBe(7);
  });

  it("an engine node takes every partition, applies them and publishes each event once", async () => {
    const cluster = await clusters.open({ partitions: 4 });
    const clock = new Clock();
    const commands = script();
    await publishAll(new ClusterIngest(cluster, clock.now), clock, commands);
    const node = EngineNode.start(cluster, ENGINE);
    nodes.push(node);
    const expected = reference(commands, 4);
    expect(expected.length).toBeGreaterThan(20);
    expect(expected.some((e) => e.includes(":raised:"))).toBe(true);
    await until(async () => (await streamedEvents(cluster)).length >= expected.length, "every event published");
    expect(node.partitions()).toEqual([0, 1, 2, 3]);
    expect(await streamedEvents(cluster)).toEqual(expected);
  });

  it("a partition held by its fence (lease renewal late) applies nothing until the lease is fresh again, then goes on without a restart", async () => {
    const cluster = await clusters.open({ partitions: 1 });
    const clock = new Clock();
    const commands = script();
    await publishAll(new ClusterIngest(cluster, clock.now), clock, commands);
    let fresh = false;
    const reports: PartitionReport[] = [];
    const engine = await PartitionEngine.start(cluster, 0, { tickMs: 0, holds: () => fresh, onReport: (r) => reports.push(r) }, (reason) => reports.push({ kind: "stopped", partition: 0, reason }));
    const delivered = async () => (await cluster.jsm.consumers.info(cluster.names.commandStream, cluster.names.consumer(0))).num_ack_pending > 0;
    try {
      await until(delivered, "the consumer delivered commands to the held partition");
      expect(engine.position()).toBe(0);
      expect(await streamedEvents(cluster)).toEqual([]);
      fresh = true; // a renewal succeeded
      const expected = reference(commands, 1);
      await until(async () => (await streamedEvents(cluster)).length >= expected.length, "every event published");
      expect(await streamedEvents(cluster)).toEqual(expected);
      // Paused, not stopped and restored from its snapshot (as the fence did before).
      expect(reports.filter((r) => r.kind === "paused")).toHaveLength(1);
      expect(reports.filter((r) => r.kind === "restored")).toHaveLength(1);
      expect(reports.filter((r) => r.kind === "stopped")).toEqual([]);
    } finally {
      await engine.stop(false);
    }
  });

  it("failover: a survivor takes the partitions of an engine that stopped renewing, restores its snapshots and replays after them", async () => {
    const cluster = await clusters.open({ partitions: 4 });
    const clock = new Clock();
    const ingest = new ClusterIngest(cluster, clock.now);
    const commands = script();
    const half = Math.floor(commands.length / 2);
    const reports: EngineReport[] = [];
    const a = EngineNode.start(cluster, { ...ENGINE, id: "engine-a", snapshotEveryCommands: 5 });
    nodes.push(a);
    await until(() => a.partitions().length === 4, "engine-a runs every partition");
    await publishAll(ingest, clock, commands.slice(0, half));
    const firstHalf = reference(commands.slice(0, half), 4);
    await until(async () => (await streamedEvents(cluster)).length >= firstHalf.length, "the first half's events published");
    await until(async () => (await cluster.snapshots.list()).length === 4, "a snapshot of every partition");

    await a.halt(); // as kill -9: no snapshot, no hand-over, leases left to go stale
    await publishAll(ingest, clock, commands.slice(half)); // accepted meanwhile: stored, not yet applied
    const b = EngineNode.start(cluster, { ...ENGINE, id: "engine-b", onReport: (r) => reports.push(r) });
    nodes.push(b);
    const expected = reference(commands, 4);
    await until(async () => (await streamedEvents(cluster)).length >= expected.length, "every event published after the takeover");
    expect(await streamedEvents(cluster)).toEqual(expected);
    expect(b.partitions()).toEqual([0, 1, 2, 3]);
    const acquired = reports.filter((r) => r.kind === "acquired");
    expect(acquired.map((r) => r.from).sort()).toEqual(["engine-a", "engine-a", "engine-a", "engine-a"]);
    const restored = reports.filter((r) => r.kind === "restored");
    expect(restored).toHaveLength(4);
    for (const r of restored) {
      expect(r.snapshotSeq).toBeGreaterThan(0);
      expect(r.bytes).toBeGreaterThan(0);
      expect(r.readMs).toBeLessThanOrEqual(r.ms);
    }
    // Each replayed what was stored after its snapshot (the second half, at least on some partitions).
    const replayed = reports.filter((r) => r.kind === "replayed");
    expect(replayed.map((r) => r.partition).sort()).toEqual([0, 1, 2, 3]);
    expect(replayed.reduce((sum, r) => sum + r.commands, 0)).toBeGreaterThanOrEqual(commands.length - half);
  });

  it("engines share the partitions and a graceful stop hands them over with a final snapshot", async () => {
    const cluster = await clusters.open({ partitions: 6 });
    const reports: EngineReport[] = [];
    const a = EngineNode.start(cluster, { ...ENGINE, id: "engine-a", onReport: (r) => reports.push(r) });
    const b = EngineNode.start(cluster, { ...ENGINE, id: "engine-b" });
    nodes.push(a, b);
    await until(() => a.partitions().length + b.partitions().length === 6 && a.partitions().length === 3, "three partitions each");
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const clock = new Clock();
    const commands = script();
    await publishAll(new ClusterIngest(cluster, clock.now), clock, commands);
    const expected = reference(commands, 6);
    await until(async () => (await streamedEvents(cluster)).length >= expected.length, "every event published");
    const handedOver = a.partitions();
    // Only what the stop did: under load the start may have rebalanced (a hand-over snapshots too).
    const before = reports.length;
    await a.stop();
    const byStop = reports.slice(before);
    expect(byStop.filter((r) => r.kind === "snapshot").map((r) => r.partition).sort()).toEqual(handedOver);
    expect(byStop.filter((r) => r.kind === "released").map((r) => r.partition).sort()).toEqual(handedOver);
    await until(() => b.partitions().length === 6, "engine-b took the rest");
    expect(await streamedEvents(cluster)).toEqual(expected);
  });

  it("a gateway view starts from the view's snapshot and the resume window, not the whole stream, and holds what a whole fold holds", async () => {
    const cluster = await clusters.open({ partitions: 4 });
    const clock = new Clock();
    const ingest = new ClusterIngest(cluster, clock.now);
    const commands = script();
    const half = Math.floor(commands.length / 2);
    const node = EngineNode.start(cluster, ENGINE);
    nodes.push(node);
    await publishAll(ingest, clock, commands.slice(0, half));
    const firstHalf = reference(commands.slice(0, half), 4);
    await until(async () => (await streamedEvents(cluster)).length >= firstHalf.length, "the first half's events published");

    // No snapshot yet: the whole stream is folded; then it writes one.
    const WINDOW = { maxEvents: 5, snapshotEveryMs: 0 };
    const whole = await ClusterAlertView.start(cluster, WINDOW);
    const views = [whole];
    try {
      expect(whole.started).toMatchObject({ snapshotSeq: undefined, from: 1 });
      await whole.saveSnapshot();
      const snapshotSeq = whole.lifecycle.lastSeq();
      expect(snapshotSeq).toBe(firstHalf.length);

      await publishAll(ingest, clock, commands.slice(half));
      const all = reference(commands, 4);
      await until(async () => (await streamedEvents(cluster)).length >= all.length, "every event published");
      const last = all.length;
      expect(last - snapshotSeq).toBeGreaterThan(WINDOW.maxEvents);

      // Starts at the snapshot: what came after it, and the window (here within it).
      const fromSnapshot = await ClusterAlertView.start(cluster, WINDOW);
      views.push(fromSnapshot);
      expect(fromSnapshot.started).toEqual({ snapshotSeq, from: snapshotSeq + 1, last });

      // With the snapshot newer than the window's start: from the window's start.
      const wide = { maxEvents: last - snapshotSeq + 3, snapshotEveryMs: 0 };
      const windowed = await ClusterAlertView.start(cluster, wide);
      views.push(windowed);
      expect(windowed.started).toEqual({ snapshotSeq, from: last - wide.maxEvents + 1, last });
      expect(windowed.started.from).toBeGreaterThan(1);
      // The same window folded from the whole stream (no snapshot to start from).
      await cluster.snapshots.delete(VIEW_SNAPSHOT);
      const wholeWide = await ClusterAlertView.start(cluster, wide);
      views.push(wholeWide);
      expect(wholeWide.started).toEqual({ snapshotSeq: undefined, from: 1, last });

      await until(() => whole.lifecycle.lastSeq() === last, "the whole fold caught up");
      const open = (v: ClusterAlertView) => [...v.lifecycle.snapshot().alerts].sort((a, b) => a.id.localeCompare(b.id));
      expect(open(whole).length).toBeGreaterThan(0);
      for (const v of [fromSnapshot, windowed, wholeWide]) {
        expect(v.lifecycle.snapshot().seq).toBe(last);
        expect(open(v)).toEqual(open(whole));
        for (const patient of PATIENTS) expect(v.teamsOf(patient)).toEqual(whole.teamsOf(patient));
      }
      // Resume: the same window as a view of that size that read the stream to here.
      const resumeFrom = last - WINDOW.maxEvents;
      expect(fromSnapshot.lifecycle.since(resumeFrom)).toEqual(whole.lifecycle.since(resumeFrom));
      expect(fromSnapshot.lifecycle.since(resumeFrom - 1)).toEqual(whole.lifecycle.since(resumeFrom - 1));
      expect(windowed.lifecycle.since(last - wide.maxEvents)).toEqual(wholeWide.lifecycle.since(last - wide.maxEvents));
    } finally {
      for (const v of views) await v.stop();
    }
  });
});
