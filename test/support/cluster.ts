// Helpers of the cluster process tests: varsel role processes (the compiled dist/), the streams'
// contents, and what the commands stream must produce when applied per partition.
import { spawn, type ChildProcess } from "node:child_process";
import { DeliverPolicy } from "@nats-io/jetstream";
import { applyCommand, checkCommand } from "../../engine/durable/apply.js";
import { VarselError } from "../../engine/errors.js";
import type { LifecycleEvent } from "../../engine/lifecycle/types.js";
import { Pipeline } from "../../engine/pipeline.js";
import { decodeBody } from "../../engine/store/codec.js";
import type { CommandMessage } from "../../server/cluster/ingest.js";
import type { EventMessage } from "../../server/cluster/partition.js";
import type { Cluster } from "../../server/cluster/streams.js";
import { CHILD_SECRET, listeningAddress } from "./child-server.js";
import { NATS_URL, TestClusters } from "./nats.js";
import type { TestSocket } from "./ws-client.js";

const ROOT = new URL("../..", import.meta.url).pathname;

/** A role process and, for ingest and gateway, the port it listens on. */
export interface RoleProcess {
  child: ChildProcess;
  port: number | undefined;
  exited: Promise<unknown>;
  /** What an ingest or gateway wrote on stdout so far (pino lines; an engine's goes to the test's own). */
  output: () => string;
}

/** Starts `varsel serve --role <roles>` on the cluster; waits for its address when it listens. */
export async function startRole(cluster: Cluster, roles: string, partitions: number): Promise<RoleProcess> {
  const listens = roles.includes("ingest") || roles.includes("gateway");
  const args = ["dist/server/main.js", "serve", "--role", roles, "--nats", NATS_URL, "--cluster-prefix", cluster.names.prefix, "--partitions", String(partitions), "--port", "0"];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, VARSEL_JWT_SECRET: CHILD_SECRET, LOG_LEVEL: listens ? "info" : "warn" },
    stdio: ["ignore", listens ? "pipe" : "inherit", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d));
  return { child, port: listens ? await listeningAddress(child, 30_000) : undefined, exited, output: () => output };
}

/** One test's clusters, role processes and client sockets: `end` (afterEach) kills, closes and removes them all. */
export class RoleProcesses {
  private readonly clusters = new TestClusters();
  private readonly processes: RoleProcess[] = [];
  private readonly sockets: TestSocket[] = [];

  constructor(private readonly partitions: number) {}

  /** A fresh cluster of this many partitions. */
  cluster(): Promise<Cluster> {
    return this.clusters.open({ partitions: this.partitions });
  }

  async start(cluster: Cluster, roles: string): Promise<RoleProcess> {
    const p = await startRole(cluster, roles, this.partitions);
    this.processes.push(p);
    return p;
  }

  /** Keeps a socket to terminate at the end; returns it. */
  keep(socket: TestSocket): TestSocket {
    this.sockets.push(socket);
    return socket;
  }

  async end(): Promise<void> {
    for (const s of this.sockets.splice(0)) s.ws.terminate();
    for (const p of this.processes.splice(0)) await killHard(p);
    await this.clusters.destroyAll();
  }
}

/** kill -9 and wait until it is gone (a no-op for one already gone). */
export async function killHard(p: { child: ChildProcess; exited: Promise<unknown> }): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

/** Every message of a stream in order, with its subject and sequence (one pass of an ordered consumer). */
export async function messages(cluster: Cluster, stream: string): Promise<{ subject: string; seq: number; data: Uint8Array }[]> {
  const last = (await cluster.jsm.streams.info(stream)).state.last_seq;
  const out: { subject: string; seq: number; data: Uint8Array }[] = [];
  if (last === 0) return out;
  const consumer = await cluster.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const delivered = await consumer.consume();
  for await (const m of delivered) {
    out.push({ subject: m.subject, seq: m.seq, data: m.data });
    if (m.seq >= last) break;
  }
  await delivered.close();
  return out;
}

/** An event as expectedEvents and streamedEvents name it. */
export function eventKey(partition: number, e: LifecycleEvent): string {
  return `${partition}:${e.seq}:${e.type}:${"alert" in e ? e.alert.id : ""}`;
}

/** What one Pipeline per partition makes of the commands stream, applied as the engines apply it: `partition:seq:type:alert id` per event, sorted. */
export async function expectedEvents(cluster: Cluster): Promise<string[]> {
  const pipelines = new Map<number, { p: Pipeline; clock: number }>();
  const out: string[] = [];
  for (const m of await messages(cluster, cluster.names.commandStream)) {
    const partition = Number(m.subject.split(".").pop());
    const { at, command } = decodeBody<CommandMessage>(m.data);
    let s = pipelines.get(partition);
    if (s === undefined) pipelines.set(partition, (s = { p: new Pipeline(), clock: 0 }));
    s.clock = Math.max(s.clock, at);
    const entry = { pos: 0, at: s.clock, command };
    try {
      checkCommand(s.p, entry);
    } catch (err) {
      if (err instanceof VarselError) continue;
      throw err;
    }
    for (const e of applyCommand(s.p, entry).events) out.push(eventKey(partition, e));
  }
  return out.sort();
}

/** The events stream in the same form as expectedEvents, each with its stream sequence, in stream order. */
export async function streamedEventList(cluster: Cluster): Promise<{ key: string; seq: number }[]> {
  return (await messages(cluster, cluster.names.eventStream)).map((m) => {
    const { partition, event } = decodeBody<EventMessage>(m.data);
    return { key: eventKey(partition, event), seq: m.seq };
  });
}

/** The events stream as expectedEvents names it, sorted. */
export async function streamedEvents(cluster: Cluster): Promise<string[]> {
  return (await streamedEventList(cluster)).map((e) => e.key).sort();
}

/** The expected events when the events stream holds exactly them (nothing lost, nothing twice), else undefined. */
export async function eventsStreamComplete(cluster: Cluster): Promise<string[] | undefined> {
  const expected = await expectedEvents(cluster);
  const streamed = await streamedEvents(cluster);
  return streamed.length === expected.length && streamed.every((e, i) => e === expected[i]) ? expected : undefined;
}

/** Waits until `check` holds (polling every 100 ms), or throws after `limitMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Lease owners by partition: the owner's pid (an owner id ends in -<pid>-<8 hex>). */
export async function owners(cluster: Cluster, partitions: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (let p = 0; p < partitions; p++) {
    const e = await cluster.kv.get(`lease.${p}`);
    const pid = e?.operation === "PUT" ? /-(\d+)-[0-9a-f]{8}$/.exec(e.string())?.[1] : undefined;
    if (pid !== undefined) out.set(p, Number(pid));
  }
  return out;
}
