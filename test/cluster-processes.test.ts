// Three engine processes (`varsel serve --role engine`, the compiled dist/) on a real nats-server;
// the test publishes through the ingest library and kills -9 the engine owning partition 0
// mid-stream. Afterwards the events stream must be exactly what the commands stream (ticks
// included) produces when applied per partition by one Pipeline each: no event lost, none twice.
// (The ingest and gateway processes of issue 17 come with those roles.)
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterIngest } from "../server/cluster/ingest.js";
import { eventsStreamComplete, owners as ownersOf, until } from "./support/cluster.js";
import { NATS_SKIP, NATS_URL, requireNats, TestClusters } from "./support/nats.js";
import { readingsCommand } from "./support/ingest.js";

const N = 6;
const PATIENTS = Array.from({ length: 12 }, (_, i) => `patient-${i}`);

describe.skipIf(NATS_SKIP)("cluster processes", () => {
  const clusters = new TestClusters();
  const children: ChildProcess[] = [];
  beforeAll(() => requireNats());
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGKILL");
        await exited;
      }
    }
    await clusters.destroyAll();
  });

  const ROOT = new URL("..", import.meta.url).pathname;
  it("kill -9 of an engine mid-stream: a survivor takes its partitions and every event is in the stream exactly once", async () => {
    const cluster = await clusters.open({ partitions: N });
    const owners = (c: typeof cluster) => ownersOf(c, N);
    const engine = () => {
      const child = spawn(process.execPath, ["dist/server/main.js", "serve", "--role", "engine", "--nats", NATS_URL, "--cluster-prefix", cluster.names.prefix, "--partitions", String(N)], {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: "warn" },
        stdio: ["ignore", "inherit", "inherit"],
      });
      children.push(child);
      return child;
    };
    const engines = [engine(), engine(), engine()];
    await until(async () => new Set((await owners(cluster)).values()).size === 3 && (await owners(cluster)).size === N, "three engines own two partitions each");

    const ingest = new ClusterIngest(cluster);
    const careTeams = [{ team: "team-a", role: "hospital" as const }];
    for (const id of PATIENTS) await ingest.publish({ kind: "patient", id, input: { programmes: ["telekol"], careTeams, paused: false, references: { spo2: 95 } } });
    let victim: ChildProcess | undefined;
    for (let i = 0; i < 40; i++) {
      const now = Date.now();
      await ingest.publish(readingsCommand(PATIENTS.map((patient, k) => ({ patient, metric: "spo2", value: [96, 91, 87, 94][(i + k) % 4], time: now, id: `${patient}-${i}` })), now));
      if (i === 15) {
        const pid = (await owners(cluster)).get(0);
        victim = engines.find((c) => c.pid === pid);
        victim!.kill("SIGKILL");
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(victim).toBeDefined();
    const survivors = new Set(engines.filter((c) => c !== victim).map((c) => c.pid));
    await until(async () => {
      const o = await owners(cluster);
      return o.size === N && [...o.values()].every((pid) => survivors.has(pid));
    }, "the survivors own every partition");

    let expected: string[] = [];
    await until(async () => (expected = (await eventsStreamComplete(cluster)) ?? []).length > 0, "the events stream equals what the commands stream produces");
    expect(expected.filter((e) => e.includes(":raised:")).length).toBeGreaterThan(5);
    expect(new Set(expected).size).toBe(expected.length);
  });
});
