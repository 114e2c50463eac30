// Issue 15.3: `serve --clock virtual`. Through a real server process: an admin call moves the
// engine's clock and the daily deadline of a missing rule fires exactly at deadline + grace,
// local time, on both sides of each daylight-saving change of Europe/Copenhagen; stale data fires
// exactly when it is due; the clock never goes back; the journal replays the advance exactly.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Auth } from "../server/auth.js";
import { simulate } from "../server/simulate/run.js";
import { CHILD_SECRET, killHard, startChildServer, type ChildServer } from "./support/child-server.js";

const dir = mkdtempSync(join(tmpdir(), "varsel-vclock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const auth = new Auth({ secret: CHILD_SECRET });
const VIRTUAL = ["--clock", "virtual", "--allow-virtual-clock"];

async function client(server: ChildServer) {
  const admin = await auth.sign({ sub: "admin-1", role: "admin", teams: [] }, "1h");
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  return {
    call,
    ok,
    register: (id: string, programme: string) => ok("PUT", `/v1/patients/${id}`, { programme, careTeams: [{ team: "team-a", role: "hospital" }] }),
    /** The patient's alerts of one rule. */
    alerts: async (patient: string, rule: string) => ((await ok("GET", `/v1/alerts?patient=${patient}`)).alerts as any[]).filter((a) => a.rule === rule),
  };
}

const t = (iso: string) => Date.parse(iso);

/**
 * Per change: the server's clock starts on a Friday afternoon; a patient registered then misses
 * Saturday's deadline (before the change), one registered on Saturday misses Sunday's (after it).
 * Weight is due by 12:00 local with 1 h grace (TeleHjerte); the override patient has 90 s grace
 * (a deadline off the minute). Expected raise times are written as local times with their offset.
 */
const CHANGES = [
  {
    change: "summer time begins (Sunday 28 March 2027, 02:00 → 03:00)",
    start: "2027-03-26T12:00:00Z",
    saturday: "2027-03-27T12:30:00Z",
    end: "2027-03-28T16:30:00Z",
    before: "2027-03-27T13:00:00+01:00",
    after: "2027-03-28T13:00:00+02:00",
    afterOffMinute: "2027-03-28T12:01:30+02:00",
  },
  {
    change: "summer time ends (Sunday 31 October 2027, 03:00 → 02:00)",
    start: "2027-10-29T12:00:00Z",
    saturday: "2027-10-30T12:30:00Z",
    end: "2027-10-31T16:30:00Z",
    before: "2027-10-30T13:00:00+02:00",
    after: "2027-10-31T13:00:00+01:00",
    afterOffMinute: "2027-10-31T12:01:30+01:00",
  },
];

describe.each(CHANGES)("a virtual clock across $change", (c) => {
  it("raises a missed daily deadline exactly at deadline + grace local time, the day before and the day after; a restart replays the same", async () => {
    const db = join(dir, `${c.start.slice(0, 10)}.db`);
    let server = await startChildServer(db, {}, 0, [...VIRTUAL, "--clock-start", c.start]);
    try {
      let api = await client(server);
      expect(await api.ok("GET", "/v1/clock")).toEqual({ clock: "virtual", now: t(c.start) });

      await api.register("fri", "telehjerte");
      const toSaturday = await api.ok("POST", "/v1/clock", { advanceTo: c.saturday });
      expect(toSaturday).toMatchObject({ clock: "virtual", from: t(c.start), now: t(c.saturday) });
      expect(toSaturday.events).toBeGreaterThan(0);
      await api.register("sat", "telehjerte");
      await api.register("sat-90s", "telehjerte");
      await api.ok("PUT", "/v1/patients/sat-90s/thresholds", {
        reason: "deadline off the minute",
        rules: [{ id: "weight-missing", kind: "missing", metric: "weight", daily: { deadline: "12:00", grace: "90s" } }],
      });
      const toSunday = await api.ok("POST", "/v1/clock", { advanceBy: "28h" });
      expect(toSunday).toMatchObject({ from: t(c.saturday), now: t(c.end) });
      expect(toSunday.ticks).toBeGreaterThanOrEqual(28 * 60);

      const raised = async () => ({
        fri: (await api.alerts("fri", "weight-missing")).map((a) => a.conditionSince),
        sat: (await api.alerts("sat", "weight-missing")).map((a) => [a.conditionSince, a.openedAt]),
        sat90: (await api.alerts("sat-90s", "weight-missing")).map((a) => a.conditionSince),
      });
      expect(await raised()).toEqual({ fri: [t(c.before)], sat: [[t(c.after), t(c.after)]], sat90: [t(c.afterOffMinute)] });
      const before = await api.ok("GET", "/v1/alerts");

      // kill -9: the restart replays the journal (the advance's ticks at their own instants).
      await killHard(server);
      server = await startChildServer(db, {}, 0, VIRTUAL);
      api = await client(server);
      const after = await api.ok("GET", "/v1/alerts");
      expect(after.alerts).toEqual(before.alerts);
      // The clock resumes where the journal left off (the last tick that changed something), never earlier.
      const resumed = (await api.ok("GET", "/v1/clock")).now;
      expect(resumed).toBeGreaterThanOrEqual(t(c.afterOffMinute));
      expect(resumed).toBeLessThanOrEqual(t(c.end));
    } finally {
      await killHard(server);
    }
  });
});

describe("a virtual clock", () => {
  it("raises stale data at the first tick after it is due (each minute, or each second), refuses to go back or too far (changing nothing), and runs on the system clock without the flag", async () => {
    const start = "2027-01-12T08:00:00Z";
    const server = await startChildServer(join(dir, "stale.db"), {}, 0, [...VIRTUAL, "--clock-start", start]);
    try {
      const api = await client(server);
      await api.register("cgm-1", "cgm");
      const reading = (patient: string, time: number) => api.call("POST", "/v1/measurements", [{ patient, metric: "cgm", value: 6.2, time }]);
      await api.ok("POST", "/v1/clock", { advanceBy: "1m" });
      expect((await reading("cgm-1", t("2027-01-12T08:00:40Z"))).body.accepted).toBe(1);
      // A reading from after the virtual now (beyond the 5-minute tolerance) is in the future.
      expect((await reading("cgm-1", t("2027-01-12T08:07:00Z"))).body.rejected.map((r: { code: string }) => r.code)).toEqual(["invalid_time"]);

      // Stale is strictly more than 15 min without data: due just after 08:15:40. Ticking every
      // minute (the default) raises it at the next whole minute ...
      await api.ok("POST", "/v1/clock", { advanceTo: "2027-01-12T08:20:00Z" });
      expect(await api.alerts("cgm-1", "cgm-stale")).toMatchObject([{ conditionSince: t("2027-01-12T08:16:00Z"), level: "yellow" }]);
      // ... every second as the system clock does, at the next second.
      await api.register("cgm-2", "cgm");
      expect((await reading("cgm-2", t("2027-01-12T08:20:00Z"))).body.accepted).toBe(1);
      const advanced = await api.ok("POST", "/v1/clock", { advanceBy: "20m", step: "1s" });
      expect(advanced).toMatchObject({ now: t("2027-01-12T08:40:00Z"), ticks: 20 * 60 });
      expect(await api.alerts("cgm-2", "cgm-stale")).toMatchObject([{ conditionSince: t("2027-01-12T08:35:01Z"), level: "yellow" }]);
      expect(await api.alerts("cgm-1", "cgm-stale")).toMatchObject([{ conditionSince: t("2027-01-12T08:16:00Z"), level: "red" }]);

      const refusals: [body: unknown, status: number, code: string][] = [
        [{ advanceTo: "2027-01-12T08:00:00Z" }, 409, "clock_backwards"],
        [{ advanceBy: "367d" }, 422, "invalid_clock_advance"],
        [{ advanceTo: t(start) + 367 * 86_400_000 }, 422, "invalid_clock_advance"],
        [{ advanceBy: "3 hours" }, 422, "invalid_clock_advance"],
        [{ advanceBy: "7d", step: "1s" }, 422, "invalid_clock_advance"], // a second's step: at most 6.1 days a call
        [{ advanceBy: "1h", step: "500ms" }, 422, "invalid_clock_advance"],
        [{ advanceBy: "1h", step: "2h" }, 422, "invalid_clock_advance"],
        [{ advanceTo: "tomorrow" }, 422, "invalid_clock_advance"],
        [{}, 422, "invalid_clock_advance"],
        [{ advanceBy: "1h", advanceTo: t(start) + 86_400_000 }, 422, "invalid_clock_advance"],
        [{ advanceBy: "1h", extra: 1 }, 422, "invalid_body"],
      ];
      const seq = (await api.ok("GET", "/v1/alerts")).seq;
      for (const [body, status, code] of refusals) {
        const res = await api.call("POST", "/v1/clock", body);
        expect([JSON.stringify(body), res.status, res.body.code]).toEqual([JSON.stringify(body), status, code]);
      }
      expect(await api.ok("GET", "/v1/clock")).toEqual({ clock: "virtual", now: advanced.now });
      expect((await api.ok("GET", "/v1/alerts")).seq).toBe(seq);
    } finally {
      await killHard(server);
    }

    const system = await startChildServer(join(dir, "system.db"));
    try {
      const api = await client(system);
      const clock = await api.ok("GET", "/v1/clock");
      expect(clock.clock).toBe("system");
      expect(Math.abs(clock.now - Date.now())).toBeLessThan(60_000);
      expect(await api.call("POST", "/v1/clock", { advanceBy: "1h" })).toMatchObject({ status: 409, body: { code: "clock_not_virtual" } });
    } finally {
      await killHard(system);
    }
  });
});

describe("a store a virtual clock wrote in the future", () => {
  it("is refused on the system clock: exit 2, one line naming the journal's time and the way out", async () => {
    const db = join(dir, "ahead.db");
    const start = new Date(Date.now() + 400 * 86_400_000).toISOString();
    const server = await startChildServer(db, {}, 0, [...VIRTUAL, "--clock-start", start]);
    try {
      await (await client(server)).register("ahead-1", "cgm");
    } finally {
      await killHard(server);
    }
    const r = spawnSync(process.execPath, ["--import", "tsx", "server/main.ts", "serve", "--port", "0", "--database", db], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, VARSEL_JWT_SECRET: CHILD_SECRET },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^varsel: the journal's last entry is at 20\d\d-.*Z, ahead of this clock by (399|400)d( \d+h)?( \d+m)?; start with --clock virtual --allow-virtual-clock or use another --database$/);
    // On the virtual clock it still starts, where the journal left off.
    const again = await startChildServer(db, {}, 0, VIRTUAL);
    try {
      expect((await (await client(again)).ok("GET", "/v1/clock")).now).toBeGreaterThanOrEqual(t(start));
    } finally {
      await killHard(again);
    }
  });
});

describe("varsel simulate --accelerate", () => {
  it("moves the server's virtual clock instead of waiting: a day in seconds, every reading at its upload time, the alert counts the server's", async () => {
    const start = "2027-02-01T06:00:00Z";
    const server = await startChildServer(join(dir, "simulate.db"), {}, 0, [...VIRTUAL, "--clock-start", start]);
    try {
      const api = await client(server);
      const token = await auth.sign({ sub: "simulator", role: "admin", teams: [] }, "1h");
      const url = `http://127.0.0.1:${server.port}`;
      const summary = await simulate({ url, token, patients: 8, programmes: ["telekol", "telehjerte", "cgm", "niv"], durationMs: 86_400_000, speed: 1, seed: 3, accelerate: true, progress: false });
      expect(summary.window).toEqual({ from: "2027-02-01T06:00:00.000Z", to: "2027-02-02T06:00:00.000Z" });
      expect(summary.reached).toBe(summary.window.to);
      expect(await api.ok("GET", "/v1/clock")).toEqual({ clock: "virtual", now: t(summary.window.to) });
      // Nothing refused: no reading was in the server's future, none in a lost order.
      expect(summary.readings.refused).toEqual({});
      expect(summary.readings.accepted).toBe(summary.readings.sent);
      expect(summary.readings.sent).toBeGreaterThan(500);
      // (A run longer than a day differs: the server forgets resolved alerts 24 h of its time on.)
      expect(summary.serverAlerts).toEqual(summary.alerts);
      // Clock-driven rules ran on the way: the CGM sensor dropouts (20–90 min) go stale.
      const alerts = (await api.ok("GET", "/v1/alerts")).alerts as { ruleKind: string }[];
      expect(alerts.some((a) => a.ruleKind === "missing")).toBe(true);
    } finally {
      await killHard(server);
    }
  });
});
