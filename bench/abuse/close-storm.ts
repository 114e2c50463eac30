// npx tsx bench/abuse/close-storm.ts [--conns 12000] [--rounds 3] [--transport ws|uws] [--entry dist|tsx] [--cpu-prof DIR]:
// bench:abuse's idle phase alone, to measure what one thing costs: a server (compiled dist/ or
// server/main.ts through tsx) gets `conns` idle WebSocket connections (bench/abuse/flooder.ts,
// kind idle, token in the subprotocol), then the flooders cut them all at once; per round, the
// server's longest event-loop stall around the cut (bench/abuse/loop-probe.mjs), its RSS with
// the sockets open and after, and the CPU it spent on the cut. With --cpu-prof the server is
// stopped by SIGTERM at the end so that node writes its profile. Figures only: no goals.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Auth } from "../../server/auth.js";
import { CHILD_SECRET, startChildServer } from "../../test/support/child-server.js";
import { killAll, sleep, spawnChild, stopChild, waitMessage } from "../server/common.js";
import type { FloodConfig } from "./flooder.js";

const { values: opt } = parseArgs({
  options: {
    conns: { type: "string", default: "12000" },
    rounds: { type: "string", default: "3" },
    transport: { type: "string", default: "ws" },
    entry: { type: "string", default: "dist" },
    "cpu-prof": { type: "string" },
    /** Writes heap snapshots of the server into this folder, with the connections open and after each round (SIGUSR2, --heapsnapshot-signal). */
    "heap-snapshot": { type: "string" },
  },
});
const CONNS = Number(opt.conns), ROUNDS = Number(opt.rounds);
const dir = mkdtempSync(join(tmpdir(), "varsel-storm-"));
const probeDir = join(dir, "probe");
const nodeArgs = [`--import`, new URL("./loop-probe.mjs", import.meta.url).pathname];
if (opt["cpu-prof"] !== undefined) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${opt["cpu-prof"]}`);
if (opt["heap-snapshot"] !== undefined) nodeArgs.push("--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${opt["heap-snapshot"]}`);
process.env.VARSEL_CHILD_NODE_ARGS = nodeArgs.join(" ");
process.env.VARSEL_CHILD_ENTRY = opt.entry;
const { mkdirSync } = await import("node:fs");
mkdirSync(probeDir);
const server = await startChildServer(`sqlite:${join(dir, "storm.db")}`, { ABUSE_PROBE_DIR: probeDir, VARSEL_TRANSPORT: opt.transport! });
process.on("exit", () => (killAll(), server.child.exitCode === null && server.child.kill("SIGKILL")));
const token = await new Auth({ secret: CHILD_SECRET }).sign({ sub: "flood-gw", role: "device", teams: ["flood"] });

const status = (): { rss: number; ticks: number; user: number } => {
  const s = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
  const f = readFileSync(`/proc/${server.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024, ticks: Number(f[11]) + Number(f[12]), user: Number(f[11]) };
};
const stalls = (from: number, to: number, what = "stall"): number[] => {
  const out: number[] = [];
  for (const f of readdirSync(probeDir)) {
    for (const line of readFileSync(join(probeDir, f), "utf8").split("\n")) {
      const [kind, at, ms, , cpu] = line.split(" ");
      if (kind === what.split(":")[0] && Number(at) >= from && Number(at) <= to) out.push(Number(what.endsWith(":cpu") ? cpu : ms));
    }
  }
  return out;
};

/** SIGUSR2 (--heapsnapshot-signal): a snapshot with the connections open, and one after each round (after a full GC: what is still held). */
async function heapSnapshot(into: string): Promise<void> {
  const count = readdirSync(into).length;
  server.child.kill("SIGUSR2");
  while (readdirSync(into).length === count) await sleep(500);
  await sleep(8000); // written
}

const rows: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const procs = Math.max(1, Math.ceil(CONNS / 3000));
  const plan: FloodConfig[] = Array.from({ length: procs }, (_, i) => ({
    kind: "idle", port: server.port, token, connections: Math.ceil(CONNS / procs), localAddress: `127.0.${round + 1}.${10 + i}`,
    patients: [], frame: 0, highWater: 0, byteIntervalMs: 1000, rampConcurrency: 100, maxLifetimeMs: 180_000,
  }));
  const children = plan.map((cfg) => spawnChild(new URL("./flooder.ts", import.meta.url).pathname, cfg));
  await Promise.all(children.map((c, i) => waitMessage(c, "ready", 30_000, `flooder ${i}`)));
  const established = children.map((c) => waitMessage(c, "established", 60_000, "ramp"));
  for (const c of children) c.send({ type: "go" });
  await Promise.all(established);
  await sleep(3000); // the ramp's own stalls settle
  if (opt["heap-snapshot"] !== undefined) await heapSnapshot(opt["heap-snapshot"]);
  const open = status();
  const results = children.map((c) => waitMessage(c, "result", 30_000, "result"));
  const cutAt = Date.now();
  for (const c of children) c.send({ type: "stop" });
  await Promise.all(results);
  await Promise.all(children.map((c) => stopChild(c, 2000)));
  await sleep(3000);
  await sleep(1100); // the probe writes once a second
  const after = status();
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const clients = metrics.split("\n").filter((l) => l.startsWith("varsel_ws_clients{")).map((l) => l.split(" ").at(-1)).join("+") || "0";
  const s = stalls(cutAt - 50, Date.now());
  const gc = stalls(cutAt - 50, Date.now(), "gc");
  const cpu = stalls(cutAt - 50, Date.now(), "stall:cpu");
  rows.push(
    `round ${round}: ${CONNS} cut; stalls ${s.length}, longest ${Math.max(0, ...s).toFixed(0)} ms (CPU in the longest-CPU one ${Math.max(0, ...cpu).toFixed(0)} ms), summed ${s.reduce((a, b) => a + b, 0).toFixed(0)} ms; GC pauses over 5 ms ${gc.length}, longest ${Math.max(0, ...gc).toFixed(0)} ms; ` +
      `server CPU over the cut ${((after.ticks - open.ticks) * 10).toFixed(0)} ms (${(((after.ticks - open.ticks) * 10000) / CONNS).toFixed(0)} µs per close, of it user ${((after.user - open.user) * 10).toFixed(0)} ms); ` +
      `RSS open ${open.rss.toFixed(0)} MB, after ${after.rss.toFixed(0)} MB; clients gauge after ${clients}; load ${loadavg()[0].toFixed(1)}`,
  );
  process.stderr.write(rows.at(-1) + "\n");
  if (opt["heap-snapshot"] !== undefined) await heapSnapshot(opt["heap-snapshot"]);
}
server.child.kill("SIGTERM");
await Promise.race([server.exited, sleep(15_000)]);
if (process.env.STORM_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
else process.stderr.write(`kept ${dir}\n`);
process.stdout.write(`close-storm: entry ${opt.entry}, transport ${opt.transport}\n${rows.join("\n")}\n`);
process.exit(0);
