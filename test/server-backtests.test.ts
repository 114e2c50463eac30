// POST /v1/backtests through a real server on a SQLite store (issue 15.1, HTTP): the report of a
// job over the stored readings, and of one over the same readings uploaded, equals the engine's
// report on those readings (engine/backtest, as `varsel backtest` runs it); a clinician backtests
// only patients of their teams (an unknown patient and another team's are answered alike) and
// sees only their own jobs; at most N jobs run at once; a running job can be cancelled.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backtest } from "../engine/backtest/backtest.js";
import { patientCsv } from "../engine/backtest/csv.js";
import type { BacktestOptions, BacktestPatient } from "../engine/backtest/types.js";
import { canonicalReadings, type CanonicalReading } from "../engine/ingest/canonical.js";
import type { ProgrammeId } from "../engine/rules/programmes.js";
import { PROGRAMMES } from "../engine/rules/programmes.js";
import { openStore } from "../engine/store/open-store.js";
import type { Store } from "../engine/store/store.js";
import { VarselServer } from "../server/app.js";
import type { Role } from "../server/auth.js";
import { Random } from "../server/simulate/random.js";
import { TestClock } from "./support/server.js";

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const SECRET = "test-secret-that-is-long-enough-for-hs256!";
/** Copenhagen midnight before the test clock's now (2026-11-23 09:00 UTC). */
const TO = Date.UTC(2026, 10, 22, 23);
const FROM = TO - 6 * DAY;

/** Team A's patients (and their programmes), and team B's one. */
const TEAM_A: [string, ProgrammeId[]][] = [
  ["kol-0", ["telekol"]],
  ["kol-1", ["telekol"]],
  ["hf-0", ["telehjerte"]],
  ["both-0", ["telehjerte", "telekol"]],
  ["cgm-0", ["cgm"]],
];
const TEAM_B: [string, ProgrammeId[]][] = [["other-0", ["telekol"]]];

/** TeleKOL's pulse yellow-high 100 → 105. */
const PROPOSED = [{ name: "pulse-105", programmes: { telekol: PROGRAMMES.telekol.rules.map((r) => (r.id === "pulse-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r)) } }];

function history(): CanonicalReading[] {
  const random = Random.seeded(3);
  const r = () => random.next();
  const raw: { patient: string; metric: string; value: number; time: number }[] = [];
  for (const [id, programmes] of [...TEAM_A, ...TEAM_B]) {
    if (programmes.includes("cgm")) {
      let g = 7;
      for (let t = FROM + 2 * MIN; t < TO; t += 5 * MIN) {
        if (r() < 0.01) continue;
        g = Math.max(2.5, Math.min(20, g + (r() - 0.5) * 1.5 + (7.5 - g) * 0.03));
        raw.push({ patient: id, metric: "cgm", value: Math.round(g * 10) / 10, time: t });
      }
      continue;
    }
    let weight = 80;
    for (let d = 0; d < 6; d++) {
      if (r() < 0.2) continue;
      const time = FROM + d * DAY + 7 * HOUR + Math.floor(r() * 600) * MIN;
      weight += (r() - 0.3) * 1.8;
      raw.push({ patient: id, metric: "spo2", value: Math.round(87 + r() * 11), time });
      raw.push({ patient: id, metric: "pulse", value: Math.round(70 + r() * 50), time });
      raw.push({ patient: id, metric: "weight", value: Math.round(weight * 10) / 10, time: time + MIN });
    }
  }
  // A pulse the proposal no longer alarms on.
  raw.push({ patient: "kol-0", metric: "pulse", value: 103, time: FROM + 2 * DAY + 20 * HOUR }, { patient: "kol-0", metric: "pulse", value: 80, time: FROM + 2 * DAY + 21 * HOUR });
  raw.sort((a, b) => a.time - b.time);
  const batch = canonicalReadings(raw, TO + DAY);
  expect(batch.rejected).toEqual([]);
  return batch.readings;
}

/** The engine's report on the same readings (as `varsel backtest` computes it). */
function engineReport(options: Omit<BacktestOptions, "patients">, ids: string[], readings: CanonicalReading[]) {
  const all = new Map([...TEAM_A, ...TEAM_B]);
  const patients: BacktestPatient[] = ids.map((id) => ({ id, programmes: all.get(id)! }));
  const bt = new Backtest({ ...options, patients });
  bt.pushReadings(readings);
  return bt.finish();
}

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

describe("POST /v1/backtests", () => {
  let dir: string;
  let server: VarselServer;
  let base: string;
  let store: Store;
  const clock = new TestClock();
  const readings = history();
  /** Stored reads wait for this (a job held running until the test lets it go). */
  let gate: Promise<void> = Promise.resolve();
  const token = (role: Role, teams: string[], sub = `${role}-1`) => server.auth.sign({ sub, role, teams }, "1h");
  async function http(method: string, path: string, tok?: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (tok !== undefined) headers.authorization = `Bearer ${tok}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text, headers: res.headers };
  }
  /** Polls the job until it is no longer running. */
  async function settled(id: string, tok: string): Promise<any> {
    for (;;) {
      const job = await http("GET", `/v1/backtests/${id}`, tok);
      expect(job.status).toBe(200);
      if (job.body.status !== "running") return job.body;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "varsel-backtests-"));
    store = await openStore(`sqlite:${join(dir, "varsel.db")}`);
    const read = store.readings.bind(store);
    store.readings = async (q) => {
      await gate;
      return read(q);
    };
    server = await VarselServer.open({ auth: { secret: SECRET }, transport: "ws", now: clock.now, tickMs: 0, logger: pino({ level: "silent" }), store, backtests: { maxRunning: 1 } });
    base = `http://127.0.0.1:${await server.listen(0, "127.0.0.1")}`;
    const admin = await token("admin", []);
    for (const [team, patients] of [["team-a", TEAM_A], ["team-b", TEAM_B]] as const) {
      for (const [id, programmes] of patients) {
        const put = await http("PUT", `/v1/patients/${id}`, admin, { programmes, careTeams: [{ team, role: "hospital" }] });
        expect(put.status).toBe(200);
      }
    }
    const items = readings.map((r) => ({ patient: r.patient, metric: r.metric, value: r.value, time: r.time }));
    for (let i = 0; i < items.length; i += 5000) {
      const res = await http("POST", "/v1/measurements", admin, items.slice(i, i + 5000));
      expect(res.body.accepted).toBe(Math.min(5000, items.length - i));
    }
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports over the stored readings, and over the same readings uploaded, what the engine reports on them", async () => {
    const nurse = await token("clinician", ["team-a"], "nurse-a");
    const ids = ["kol-0", "both-0", "hf-0", "cgm-0"];
    const markers = [{ patient: "kol-0", time: TO - DAY, label: "admission" }];
    const request = { patients: ids, from: new Date(FROM).toISOString(), to: TO, proposed: PROPOSED, markers, step: "5m", markerWindow: "3d" };
    const started = await http("POST", "/v1/backtests", nurse, request);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: "running", source: "stored", patients: 4, ruleSets: ["current", "pulse-105"] });
    expect(started.headers.get("location")).toBe(`/v1/backtests/${started.body.id}`);
    const job = await settled(started.body.id, nurse);
    expect(job.status).toBe("done");

    const options = { from: FROM, to: TO, proposed: PROPOSED, markers, markerWindowMs: 3 * DAY, tickStepMs: 5 * MIN };
    const mine = readings.filter((r) => ids.includes(r.patient));
    const expected = engineReport(options, ids, mine);
    expect(expected.ruleSets[0].alerts.all).toBeGreaterThan(0);
    expect(expected.ruleSets[1].diff!.disappeared).toBeGreaterThan(0);
    expect(job.report).toEqual(expected);
    expect(job.progress).toEqual({ readings: mine.length, total: mine.length, share: 1 });
    const csv = await http("GET", `/v1/backtests/${job.id}/patients.csv`, nurse);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.body).toBe(patientCsv(expected));

    // The same readings as an upload (every patient's: the cohort's are replayed, the others skipped).
    const ndjson = readings.map((r) => JSON.stringify({ patient: r.patient, metric: r.metric, value: r.value, time: r.time })).join("\n");
    const uploaded = await http("POST", "/v1/backtests", nurse, { ...request, upload: `${ndjson}\nnot a reading\n` });
    expect(uploaded.status).toBe(202);
    const up = await settled(uploaded.body.id, nurse);
    expect(up).toMatchObject({ status: "done", source: "upload", rejected: { count: 1, items: [{ index: readings.length, code: "invalid_field" }] } });
    expect(up.report).toEqual(engineReport(options, ids, readings));
    expect(up.report.readings.skipped).toBe(readings.length - mine.length);
  });

  it("lets a clinician backtest only patients of their teams, and see only their own jobs", async () => {
    const nurse = await token("clinician", ["team-a"], "nurse-a");
    const other = await token("clinician", ["team-b"], "nurse-b");
    const period = { from: FROM, to: TO };
    const unknown = await http("POST", "/v1/backtests", nurse, { ...period, patients: ["nobody"] });
    const outside = await http("POST", "/v1/backtests", nurse, { ...period, patients: ["kol-0", "other-0"] });
    expect(unknown.status).toBe(404);
    expect(outside).toMatchObject({ status: 404, body: unknown.body });
    expect(unknown.body).toEqual({ code: "not_found", message: "unknown patient" });
    const markerOutside = await http("POST", "/v1/backtests", nurse, { ...period, patients: ["kol-0"], markers: [{ patient: "other-0", time: TO - DAY }] });
    expect(markerOutside).toMatchObject({ status: 404, body: unknown.body });
    expect((await http("POST", "/v1/backtests", await token("device", ["team-a"]), period)).status).toBe(403);

    // Everyone in scope: team A's patients, none of team B's; a programme: its patients among them.
    const everyone = await settled((await http("POST", "/v1/backtests", nurse, period)).body.id, nurse);
    expect(everyone.report.perPatient.map((p: { id: string }) => p.id)).toEqual(TEAM_A.map(([id]) => id));
    const kol = await settled((await http("POST", "/v1/backtests", nurse, { ...period, programme: "telekol" })).body.id, nurse);
    expect(kol.report.perPatient.map((p: { id: string }) => p.id)).toEqual(["kol-0", "kol-1", "both-0"]);
    expect(JSON.stringify(everyone)).not.toContain("other-0");

    // Another clinician gets the unknown job's answer; an admin sees it.
    const theirs = await http("GET", `/v1/backtests/${everyone.id}`, other);
    expect(theirs).toMatchObject({ status: 404, body: { code: "not_found", message: "unknown backtest" } });
    expect((await http("GET", "/v1/backtests/nope", other)).body).toEqual(theirs.body);
    expect((await http("GET", `/v1/backtests/${everyone.id}/patients.csv`, other)).body).toEqual(theirs.body);
    expect((await http("DELETE", `/v1/backtests/${everyone.id}`, other)).body).toEqual(theirs.body);
    expect((await http("GET", `/v1/backtests/${everyone.id}`, await token("admin", []))).body.status).toBe("done");
  });

  it("runs at most N jobs at once (backtests_busy), and cancels a running one", async () => {
    const admin = await token("admin", []);
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    try {
      const period = { from: FROM, to: TO };
      const first = await http("POST", "/v1/backtests", admin, period);
      expect(first.body.status).toBe("running");
      const busy = await http("POST", "/v1/backtests", admin, period);
      expect(busy).toMatchObject({ status: 503, body: { code: "backtests_busy", details: { running: 1, max: 1 } } });
      expect(busy.headers.get("retry-after")).toBe("10");
      expect((await http("GET", `/v1/backtests/${first.body.id}/patients.csv`, admin)).body).toMatchObject({ code: "backtest_not_done" });

      const cancelled = await http("DELETE", `/v1/backtests/${first.body.id}`, admin);
      expect(cancelled).toMatchObject({ status: 200, body: { status: "cancelled" } });
      expect((await http("GET", `/v1/backtests/${first.body.id}`, admin)).body).toMatchObject({ status: "cancelled", progress: { readings: 0 } });
      expect((await http("GET", `/v1/backtests/${first.body.id}/patients.csv`, admin)).status).toBe(409);

      // Its place is free: the next one runs, and finishes once the store answers.
      const second = await http("POST", "/v1/backtests", admin, period);
      expect(second.status).toBe(202);
      release();
      expect((await settled(second.body.id, admin)).status).toBe("done");
      expect((await http("GET", `/v1/backtests/${first.body.id}`, admin)).body.status).toBe("cancelled");
      // A finished job is forgotten by DELETE.
      expect((await http("DELETE", `/v1/backtests/${second.body.id}`, admin)).body.status).toBe("done");
      expect((await http("GET", `/v1/backtests/${second.body.id}`, admin)).status).toBe(404);
    } finally {
      release();
      gate = Promise.resolve();
    }
  });

  it("refuses a bad request with its catalogued code before starting anything", async () => {
    const admin = await token("admin", []);
    const period = { from: FROM, to: TO };
    const cases: [unknown, number, string][] = [
      [{ ...period, patients: ["kol-0"], programme: "telekol" }, 422, "invalid_body"],
      [{ ...period, unknown: 1 }, 422, "invalid_body"],
      [{ from: TO, to: FROM }, 422, "invalid_field"],
      [{ from: FROM - 400 * DAY, to: TO }, 422, "invalid_field"],
      [{ ...period, step: "10s" }, 422, "invalid_field"],
      [{ ...period, proposed: [{ name: "current", programmes: {} }] }, 422, "invalid_body"],
      [{ ...period, proposed: [{ name: "x", programmes: { telekol: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { redHigh: 90, yellowHigh: 100 } }] } }] }, 422, "invalid_threshold"],
      [{ ...period, programme: "niv" }, 422, "invalid_body"], // nobody on it: an empty cohort
    ];
    // A file that cannot be read at all fails the job (on its thread) with the code ingest would answer.
    const broken = await http("POST", "/v1/backtests", admin, { ...period, upload: "{\"resourceType\": \"Bundle\", ", format: "fhir" });
    expect(broken.status).toBe(202);
    expect(await settled(broken.body.id, admin)).toMatchObject({ status: "failed", error: { code: "invalid_body" } });
    for (const [body, status, code] of cases) {
      const res = await http("POST", "/v1/backtests", admin, body);
      expect([JSON.stringify(body), res.status, res.body.code]).toEqual([JSON.stringify(body), status, code]);
    }
  });
});
