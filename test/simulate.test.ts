// `varsel simulate` (server/simulate/): the generator is deterministic and realistic enough to
// pass varsel's own validation, and a whole run against a real server process registers every
// patient, has its readings accepted, raises the alerts its physiology should raise, and prints a
// summary whose alert counts equal what the server reports.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import { VarselServer } from "../server/app.js";
import { Auth } from "../server/auth.js";
import { cohort, uploads } from "../server/simulate/cohort.js";
import { startSimulatedDemo } from "../server/simulate/pipeline-target.js";
import type { Summary } from "../server/simulate/summary.js";
import { PROGRAMME_IDS, type SimPatient, type Upload, type Window } from "../server/simulate/types.js";
import { HttpTarget } from "../server/simulate/http-target.js";
import { CHILD_SECRET, killHard, startChildServer, type ChildServer } from "./support/child-server.js";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";

const ROOT = new URL("..", import.meta.url).pathname;
const DAY = 86_400_000;
const WINDOW: Window = { from: Date.UTC(2026, 10, 20, 13, 7), to: Date.UTC(2026, 10, 22, 13, 7) };

function inWindow(p: SimPatient, w: Window = WINDOW): Upload[] {
  const out: Upload[] = [];
  for (const u of uploads(p, w)) {
    if (u.time > w.to) break;
    out.push(u);
  }
  return out;
}

describe("the simulator's generator", () => {
  const make = (seed: number) => cohort({ patients: 24, programmes: PROGRAMME_IDS, seed, prefix: "sim" });

  it("gives the same cohort and readings for the same seed, other ones for another seed", () => {
    const a = make(7).map((p) => ({ p: { ...p, random: undefined }, readings: inWindow(p) }));
    const b = make(7).map((p) => ({ p: { ...p, random: undefined }, readings: inWindow(p) }));
    expect(b).toEqual(a);
    // Drawing a patient's readings again, or in another order, changes nothing.
    const again = make(7);
    expect(inWindow(again[5])).toEqual(inWindow(again[5]));
    expect(inWindow(make(8)[5])).not.toEqual(a[5].readings);
    expect(a.reduce((n, x) => n + x.readings.length, 0)).toBeGreaterThan(3000);
  });

  it("spreads patients over the programmes, a quarter of each deteriorating, with their care teams", () => {
    const patients = make(1);
    for (const programme of PROGRAMME_IDS) {
      const mine = patients.filter((p) => p.programme === programme);
      expect(mine).toHaveLength(6);
      expect(mine.filter((p) => p.deteriorates)).toHaveLength(2);
    }
    expect(new Set(patients.map((p) => p.id)).size).toBe(24);
    expect(patients.find((p) => p.programme === "telekol")!.teams).toContain("hospital-lung");
  });

  it("produces readings varsel's validation accepts, in upload order, uploaded after they were measured", () => {
    for (const p of make(3)) {
      const readings = inWindow(p);
      const batch = canonicalReadings(readings.map((u) => ({ patient: p.id, metric: u.metric, value: u.value, time: u.time })), WINDOW.to + DAY);
      expect(batch.rejected).toEqual([]);
      for (let i = 0; i < readings.length; i++) {
        expect(readings[i].uploadAt).toBeGreaterThanOrEqual(readings[i].time);
        if (i > 0) expect(readings[i].uploadAt).toBeGreaterThanOrEqual(readings[i - 1].uploadAt);
      }
    }
  });

  it("has CGM every 5 minutes with gaps, a falling SpO2 in an exacerbation, and late uploads from flaky gateways", () => {
    const patients = cohort({ patients: 40, programmes: PROGRAMME_IDS, seed: 2, prefix: "sim" });
    const cgm = inWindow(patients.find((p) => p.programme === "cgm")!);
    const steps = cgm.slice(1).map((u, i) => u.time - cgm[i].time);
    expect(steps.filter((s) => s === 300_000).length).toBeGreaterThan(steps.length * 0.9);
    expect(cgm.length).toBeLessThan(2 * 288); // dropouts
    const spo2 = patients.filter((p) => p.programme === "telekol" && p.deteriorates).map((p) => inWindow(p).filter((u) => u.metric === "spo2").map((u) => u.value));
    expect(spo2.some((v) => Math.min(...v.slice(1)) <= v[0] - 4)).toBe(true);
    const late = patients.filter((p) => p.flakyGateway).flatMap((p) => inWindow(p, { from: WINDOW.from, to: WINDOW.from + 10 * DAY }));
    expect(late.some((u) => u.uploadAt - u.time > 2 * 3_600_000)).toBe(true);
  });
});

describe("varsel simulate against a server process", () => {
  let dir: string;
  let server: ChildServer;
  let base: string;
  let admin: string;
  const api = async (path: string) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${admin}` } })).json() as Promise<any>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "varsel-simulate-"));
    server = await startChildServer(join(dir, "varsel.db"));
    base = `http://127.0.0.1:${server.port}`;
    admin = await new Auth({ secret: CHILD_SECRET }).sign({ sub: "admin-1", role: "admin", teams: [] }, "1h");
  });
  afterAll(async () => {
    if (server !== undefined) await killHard(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers every patient, has every reading accepted, raises SpO2, weight and hypoglycaemia alerts, and counts the alerts the server reports", async () => {
    const { code, stdout } = await simulateCli(["--patients", "50", "--duration", "2d", "--speed", "100000", "--seed", "1", "--prefix", "t1", "--url", base, "--token", admin, "--json"]);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.patients).toEqual({ telekol: 13, telehjerte: 13, cgm: 12, niv: 12 });

    const ids = cohort({ patients: 50, programmes: PROGRAMME_IDS, seed: 1, prefix: "t1" }).map((p) => p.id);
    for (const id of ids) expect((await api(`/v1/patients/${id}`)).id).toBe(id);

    expect(summary.readings.sent).toBeGreaterThan(5000);
    expect(summary.readings.accepted).toBe(summary.readings.sent);
    expect(summary.readings.refused).toEqual({});

    const { alerts } = (await api("/v1/alerts")) as { alerts: { patient: string; rule: string; priority: "high" | "medium" | "low" }[] };
    const fired = (programme: string, rules: string[]) => alerts.some((a) => a.patient.startsWith(`t1-${programme}-`) && rules.includes(a.rule));
    expect(fired("kol", ["spo2-band", "spo2-drop"])).toBe(true);
    expect(fired("hjerte", ["weight-change"])).toBe(true);
    expect(fired("cgm", ["cgm-low", "cgm-predicted-low"])).toBe(true);

    // The summary (counted from the alert stream) equals GET /v1/alerts, counted here on its own.
    const short: Record<string, string> = { telekol: "kol", telehjerte: "hjerte", cgm: "cgm", niv: "niv" };
    for (const programme of PROGRAMME_IDS) {
      for (const priority of ["high", "medium", "low"] as const) {
        const n = alerts.filter((a) => a.patient.startsWith(`t1-${short[programme]}-`) && a.priority === priority).length;
        expect(summary.alerts[programme][priority], `${programme} ${priority}`).toBe(n);
      }
    }
    expect(summary.serverAlerts).toEqual(summary.alerts);
    expect(Object.values(summary.alerts).reduce((n, row) => n + row.high + row.medium + row.low, 0)).toBeGreaterThan(10);
  }, 60_000);

  it("refuses a bad option with one line and exit code 2, and a token that is not an admin's with exit code 1", async () => {
    const bad = await simulateCli(["--speed", "0", "--url", base, "--token", admin]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/--speed/);
    const device = await new Auth({ secret: CHILD_SECRET }).sign({ sub: "gw", role: "device", teams: ["hospital-lung"] }, "1h");
    const refused = await simulateCli(["--patients", "4", "--duration", "1h", "--speed", "1000", "--url", base, "--token", device]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/needs an admin token/);
  }, 30_000);
});

describe("the simulator's HTTP client", () => {
  afterAll(removeFlakyStores);

  it("waits out 503 overloaded (Retry-After) and resends the batch, and counts refused readings by code", async () => {
    const { server, base, flaky } = await serverOnFlakyStore("overloaded.db", "ws", { backlog: { maxReadings: 5, maxBytes: 1 << 26, maxReadingsPerSender: 5, retryAfterMs: 200 } });
    try {
      const target = new HttpTarget(base, await server.auth.sign({ sub: "sim", role: "admin", teams: [] }));
      const [patient] = cohort({ patients: 1, programmes: ["telekol"], seed: 1, prefix: "o" });
      await target.register(patient);
      const at = Date.now() - 60_000;
      const batch = (from: number) => Array.from({ length: 5 }, (_, i) => ({ patient: patient.id, metric: "pulse", value: 70 + i, time: at + from + i, id: `m-${from + i}` }));
      expect(await target.ingest([{ patient: patient.id, metric: "spo2", value: 200, time: at, id: "bad" }])).toMatchObject({ accepted: 0, rejected: { implausible_value: 1 } });

      // A slow disk: the first batch waits for its commit and fills the backlog, so the second is refused until it is released.
      let release!: () => void;
      flaky.hold = new Promise((r) => (release = r));
      const first = target.ingest(batch(0));
      await new Promise((r) => setTimeout(r, 100));
      const second = target.ingest(batch(10));
      await new Promise((r) => setTimeout(r, 700));
      release();
      flaky.hold = undefined;
      expect(await first).toMatchObject({ accepted: 5, rejected: {}, retried: {} });
      const resent = await second;
      expect(resent).toMatchObject({ accepted: 5, rejected: {} });
      expect(resent.retried.overloaded).toBeGreaterThanOrEqual(1);
    } finally {
      await server.close();
    }
  }, 30_000);
});

describe("the demo's simulator (in the server process)", () => {
  it("registers its patients, replays their history and raises alerts", async () => {
    const server = new VarselServer({ auth: { secret: CHILD_SECRET }, transport: "ws", logger: pino({ level: "silent" }) });
    let accepted = 0;
    const stop = await startSimulatedDemo(server.durable, { historyMs: DAY, speed: 200_000, onAccepted: (n) => (accepted += n) });
    try {
      for (let i = 0; i < 100 && accepted < 1000; i++) await new Promise((r) => setTimeout(r, 50));
      expect(accepted).toBeGreaterThan(1000);
      const open = server.durable.pipeline.lifecycle.list().filter((a) => a.patient.startsWith("demo-"));
      expect(open.length).toBeGreaterThan(0);
    } finally {
      stop();
      await server.close();
    }
  }, 30_000);
});

function simulateCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "server/simulate/main.ts", ...args], { cwd: ROOT, env: { ...process.env, VARSEL_JWT_SECRET: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}
