// Event retention settings (issue 14.7): VARSEL_EVENT_RETENTION_COUNT / _AGE bound the in-memory
// window WebSocket clients resume from, VARSEL_STORED_EVENT_RETENTION the stored events (alert
// history). Parsed and refused like every setting; then shown to reach a real server: a resume
// past the window is answered resync_required, stored events older than the setting are pruned.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { serverSettings, SettingError } from "../server/cli/settings.js";
import { registerPatient, startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** The settings from an environment of only these variables (dev mode, no store checks). */
const settings = (env: Record<string, string>) => serverSettings({ memory: true }, env);

describe("event retention settings", () => {
  const accepted: { env: Record<string, string>; window: { maxEvents?: number; maxAgeMs?: number }; storedMs?: number }[] = [
    { env: {}, window: { maxEvents: undefined, maxAgeMs: undefined }, storedMs: undefined },
    { env: { VARSEL_EVENT_RETENTION_COUNT: "", VARSEL_EVENT_RETENTION_AGE: "", VARSEL_STORED_EVENT_RETENTION: "" }, window: { maxEvents: undefined, maxAgeMs: undefined } },
    { env: { VARSEL_EVENT_RETENTION_COUNT: "50000" }, window: { maxEvents: 50_000 } },
    { env: { VARSEL_EVENT_RETENTION_COUNT: " 5000 " }, window: { maxEvents: 5_000 } },
    { env: { VARSEL_EVENT_RETENTION_COUNT: "1000000" }, window: { maxEvents: 1_000_000 } },
    { env: { VARSEL_EVENT_RETENTION_AGE: "90m" }, window: { maxAgeMs: 90 * MIN } },
    { env: { VARSEL_EVENT_RETENTION_AGE: "1m" }, window: { maxAgeMs: MIN } },
    { env: { VARSEL_EVENT_RETENTION_AGE: "3d" }, window: { maxAgeMs: 3 * DAY } },
    { env: { VARSEL_STORED_EVENT_RETENTION: "90d" }, window: {}, storedMs: 90 * DAY },
    { env: { VARSEL_STORED_EVENT_RETENTION: "24h" }, window: {}, storedMs: DAY },
  ];
  for (const c of accepted) {
    it(`accepts ${JSON.stringify(c.env)}`, () => {
      const s = settings(c.env);
      expect(s.eventWindow).toMatchObject(c.window);
      if ("storedMs" in c) expect(s.storedEventRetentionMs).toBe(c.storedMs);
    });
  }

  const refused: [name: string, value: string, says: RegExp][] = [
    ["VARSEL_EVENT_RETENTION_COUNT", "abc", /^VARSEL_EVENT_RETENTION_COUNT must be a whole number from 5000 to 1000000, not "abc"$/],
    ["VARSEL_EVENT_RETENTION_COUNT", "100", /from 5000 to 1000000, not "100"/],
    ["VARSEL_EVENT_RETENTION_COUNT", "1e5", /whole number/],
    ["VARSEL_EVENT_RETENTION_COUNT", "10000.5", /whole number/],
    ["VARSEL_EVENT_RETENTION_COUNT", "2000000", /from 5000 to 1000000/],
    ["VARSEL_EVENT_RETENTION_AGE", "24", /^VARSEL_EVENT_RETENTION_AGE must be a duration such as 90m, 24h or 30d \(at most 366d\), not "24"$/],
    ["VARSEL_EVENT_RETENTION_AGE", "-1h", /must be a duration/],
    ["VARSEL_EVENT_RETENTION_AGE", "30s", /^VARSEL_EVENT_RETENTION_AGE must be at least 1m, not "30s"$/],
    ["VARSEL_EVENT_RETENTION_AGE", "400d", /at most 366d/],
    ["VARSEL_STORED_EVENT_RETENTION", "12h", /^VARSEL_STORED_EVENT_RETENTION must be at least 1d, not "12h"$/],
    ["VARSEL_STORED_EVENT_RETENTION", "0d", /at least 1d/],
    ["VARSEL_STORED_EVENT_RETENTION", "1y", /must be a duration such as/],
  ];
  for (const [name, value, says] of refused) {
    it(`refuses ${name}=${value}`, () => {
      let err: unknown;
      try {
        settings({ [name]: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SettingError);
      expect((err as Error).message).toMatch(says);
    });
  }
});

describe.each(TRANSPORTS)("the in-memory event window on %s", (transport) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  // One event, then the clock moves on; a client resumes from just before it.
  const cases = [
    { name: "default window (24 h): still replayed after 3 minutes", eventWindow: undefined, after: 3 * MIN, resumes: true },
    { name: "VARSEL_EVENT_RETENTION_AGE=1m: replayed within the minute", eventWindow: { maxAgeMs: MIN }, after: 30_000, resumes: true },
    { name: "VARSEL_EVENT_RETENTION_AGE=1m: resync_required and a snapshot after 3 minutes", eventWindow: { maxAgeMs: MIN }, after: 3 * MIN, resumes: false },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      h = await startServer(transport, {}, { eventWindow: c.eventWindow });
      await registerPatient(h, "pa", "team-a");
      const device = await h.token("device", ["team-a"]);
      const posted = await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pa", metric: "bp_sys", value: 190, time: new Date(h.clock.now()).toISOString() }] });
      expect(posted.status).toBe(200);
      const seq = h.server.pipeline.lifecycle.lastSeq();
      expect(seq).toBeGreaterThan(0);
      h.clock.advance(c.after);
      await h.server.tick();

      const s = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-a"]));
      try {
        s.send({ type: "subscribe", id: "r", resumeFrom: seq - 1 });
        if (c.resumes) {
          expect(await s.next((f) => f.type === "subscribed")).toMatchObject({ id: "r", resumedFrom: seq - 1, replayed: 1 });
          expect((await s.next((f) => f.type === "event")).event).toMatchObject({ seq, type: "raised" });
        } else {
          expect(await s.next((f) => f.type === "error")).toMatchObject({ id: "r", code: "resync_required", details: { oldestSeq: seq + 1 } });
          expect((await s.next((f) => f.type === "snapshot")).alerts.map((a: { rule: string }) => a.rule)).toEqual(["bp-sys-band"]);
        }
      } finally {
        s.close();
      }
    });
  }
});

describe("stored events (alert history) on a SQLite store", () => {
  let dir: string | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    h = dir = undefined;
  });

  const cases = [
    { name: "default (30 days): an alert's events are still there two days later", eventRetentionMs: undefined, kept: true },
    { name: "VARSEL_STORED_EVENT_RETENTION=1d: the two-day-old event is pruned at the next snapshot", eventRetentionMs: DAY, kept: false },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      dir = mkdtempSync(join(tmpdir(), "varsel-retention-"));
      h = await startServer(TRANSPORTS[1], {}, { store: await openStore(`sqlite:${join(dir, "varsel.db")}`), eventRetentionMs: c.eventRetentionMs });
      await registerPatient(h, "pa", "team-a");
      const device = await h.token("device", ["team-a"]);
      const nurse = await h.token("clinician", ["team-a"]);
      await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pa", metric: "bp_sys", value: 190, time: new Date(h.clock.now()).toISOString() }] });
      const id = h.server.pipeline.lifecycle.list({ state: ["firing"] })[0].id;
      const history = async () => (await h!.http("GET", `/v1/alerts/${id}/history`, { token: nurse })).body.events.map((e: { type: string }) => e.type);
      expect(await history()).toEqual(["raised"]);

      h.clock.advance(2 * DAY);
      await h.server.tick();
      await h.server.durable.snapshot();
      // The tick escalated the unacknowledged red alert: that event is new and stays either way.
      expect(await history()).toEqual(c.kept ? ["raised", "escalated"] : ["escalated"]);
    });
  }
});
