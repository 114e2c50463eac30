// Helpers of the cluster process tests: varsel role processes (the compiled dist/), the streams'
// contents, and what the commands stream must produce when applied per partition.
import { spawn, type ChildProcess } from "node:child_process";
import { applyCommand, checkCommand } from "../../engine/durable/apply.js";
import { VarselError } from "../../engine/errors.js";
import { Pipeline } from "../../engine/pipeline.js";
import { decodeBody } from "../../engine/store/codec.js";
import type { CommandMessage } from "../../server/cluster/ingest.js";
import type { EventMessage } from "../../server/cluster/partition.js";
import type { Cluster } from "../../server/cluster/streams.js";
import { CHILD_SECRET, listeningPort } from "./child-server.js";
import { NATS_URL } from "./nats.js";

const ROOT = new URL("../..", import.meta.url).pathname;

/** A role process and, for ingest and gateway, the port it listens on. */
export interface RoleProcess {
  child: ChildProcess;
  port: number | undefined;
  exited: Promise<unknown>;
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
  if (!listens) return { child, port: undefined, exited };
  let out = "";
  const collect = (d: Buffer) => (out += d);
  child.stdout!.on("data", collect);
  for (let i = 0; i < 600; i++) {
    const port = listeningPort(out);
    if (port !== undefined) {
      child.stdout!.off("data", collect).resume();
      return { child, port, exited };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`${roles} did not start: ${out}`);
}

/** kill -9 and wait until it is gone (a no-op for one already gone). */
export async function killHard(p: { child: ChildProcess; exited: Promise<unknown> }): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

/** Every message of a stream in order, with its subject and sequence. */
export async function messages(cluster: Cluster, stream: string): Promise<{ subject: string; seq: number; data: Uint8Array }[]> {
  const info = await cluster.jsm.streams.info(stream);
  const out: { subject: string; seq: number; data: Uint8Array }[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await cluster.jsm.streams.getMessage(stream, { seq });
    if (m !== null) out.push({ subject: m.subject, seq, data: m.data });
  }
  return out;
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
    for (const e of applyCommand(s.p, entry).events) out.push(`${partition}:${e.seq}:${e.type}:${"alert" in e ? e.alert.id : ""}`);
  }
  return out.sort();
}

/** The events stream in the same form as expectedEvents. */
export async function streamedEvents(cluster: Cluster): Promise<string[]> {
  return (await messages(cluster, cluster.names.eventStream))
    .map((m) => {
      const { partition, event } = decodeBody<EventMessage>(m.data);
      return `${partition}:${event.seq}:${event.type}:${"alert" in event ? event.alert.id : ""}`;
    })
    .sort();
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
