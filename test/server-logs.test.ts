// What operators read: a store outage and the recovery after it are logged (warn, then info with
// what was replayed and how long it took) and measured; refused tokens are logged with their
// reason; no info line names a patient or carries a token.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";

afterAll(removeFlakyStores);

/** A pino logger whose lines land in `lines`. */
function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const l of String(chunk).split("\n")) if (l !== "") lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: pino({ level: "info" }, stream) };
}

describe("operations log", () => {
  it("logs a store outage and the recovery after it, measures the recovery, and logs refused tokens without the token", async () => {
    const { lines, logger } = capture();
    const { server, base, send, flaky, metric } = await serverOnFlakyStore("logs.db", undefined, { logger });
    try {
      expect(lines.find((l) => l.msg === "engine recovered from the store")).toMatchObject({ after: "start", replayed: 0 });
      expect((await send("/v1/patients/p-secret-1", { programme: "telekol", careTeams: [{ team: "lung", role: "hospital" }] }, "PUT")).status).toBe(200);
      expect((await send("/v1/measurements", [{ patient: "p-secret-1", metric: "spo2", value: 84, time: Date.now() }])).status).toBe(200);
      flaky.down = true;
      expect((await send("/v1/measurements", [{ patient: "p-secret-1", metric: "spo2", value: 85, time: Date.now() }])).status).toBe(503);
      flaky.down = false;
      for (let i = 0; i < 100 && !(await fetch(`${base}/readyz`)).ok; i++) await new Promise((r) => setTimeout(r, 50));

      const warn = lines.findIndex((l) => l.level === 40 && /store unavailable/.test(l.msg));
      const back = lines.findIndex((l) => l.msg === "store available again: engine rebuilt from the store");
      expect(warn).toBeGreaterThan(-1);
      expect(back).toBeGreaterThan(warn);
      expect(lines[back]).toMatchObject({ after: "outage", snapshotPos: null, replayed: 2, pos: 2 });
      expect(lines[back]!.ms).toBeGreaterThanOrEqual(0);
      expect(await metric('varsel_recovery_replayed_commands{after="outage"}')).toBe(2);
      expect(await metric('varsel_recovery_duration_seconds{after="outage"}')).toBeGreaterThanOrEqual(0);

      const forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW5vdC12YWxpZA";
      // A burst of the same refusal is one line (at most one per reason a second).
      for (let i = 0; i < 5; i++) expect((await fetch(`${base}/v1/alerts`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
      const expired = await server.auth.sign({ sub: "gw", role: "device", teams: ["lung"] }, -10);
      expect((await fetch(`${base}/v1/alerts`, { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401);
      expect(lines.filter((l) => l.msg === "token refused").map((l) => l.reason)).toEqual(["ERR_JWS_SIGNATURE_VERIFICATION_FAILED", "token_expired"]);
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await fetch(`${base}/v1/alerts`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
      expect(lines.filter((l) => l.msg === "token refused").at(-1)).toMatchObject({ reason: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", alsoRefused: 4 });

      await server.durable.snapshot();
      expect(lines.find((l) => l.msg === "snapshot stored")).toMatchObject({ pos: 2 });
      const text = JSON.stringify(lines);
      expect(text).not.toContain(forged);
      expect(text).not.toContain(expired);
      for (const l of lines.filter((l) => l.level <= 30)) expect(JSON.stringify(l)).not.toContain("p-secret-1");
    } finally {
      await server.close();
    }
  });
});
