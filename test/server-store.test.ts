// The server on a real store: a store outage answers 503 store_unavailable (never 500, never a
// silent accept), /readyz turns false, and the server recovers by itself when the store returns.
// (A socket's commands and a held commit: server-pipelining.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { VarselServer } from "../server/app.js";
import { FLAKY_SECRET, removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";
import { TestSocket } from "./support/ws-client.js";

const dir = mkdtempSync(join(tmpdir(), "varsel-server-store-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  removeFlakyStores();
});
const SECRET = FLAKY_SECRET;

describe("server on a store", () => {
  it("answers 503 store_unavailable during an outage, turns /readyz false, and recovers by itself", async () => {
    const { server, base, send: post, flaky } = await serverOnFlakyStore("outage.db");
    try {
      expect((await post("/v1/patients/p1", { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] }, "PUT")).status).toBe(200);
      flaky.down = true;
      const refused = await post("/v1/measurements", [{ patient: "p1", metric: "pulse", value: 70, time: Date.now(), id: "r1" }]);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe("store_unavailable");
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect((await post("/v1/measurements", [])).status).toBe(503);

      flaky.down = false;
      let ready = 503;
      for (let i = 0; i < 100 && ready !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ready = (await fetch(`${base}/readyz`)).status;
      }
      expect(ready).toBe(200);
      const again = await post("/v1/measurements", [{ patient: "p1", metric: "pulse", value: 70, time: Date.now(), id: "r1" }]);
      expect(again.status).toBe(200);
      expect(((await again.json()) as { accepted: number }).accepted).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("after the engine rebuilt itself from the store, subscribers get resync_required and a fresh snapshot, then live events again", async () => {
    const { server, port, send, flaky } = await serverOnFlakyStore("resync.db");
    const socket = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, await server.auth.sign({ sub: "nurse", role: "clinician", teams: ["t"] }));
    try {
      expect((await send("/v1/patients/p1", { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] }, "PUT")).status).toBe(200);
      socket.send({ type: "subscribe" });
      const before = (await socket.next((f) => f.type === "snapshot")).seq as number;
      flaky.down = true;
      // raised in memory, then refused: the commit failed, so it never happened
      expect((await send("/v1/measurements", [{ patient: "p1", metric: "pulse", value: 130, time: Date.now() }])).status).toBe(503);
      flaky.down = false;
      const resync = await socket.next((f) => f.type === "error", 10_000);
      expect(resync.code).toBe("resync_required");
      const fresh = await socket.next((f) => f.type === "snapshot");
      expect(fresh).toMatchObject({ seq: before, alerts: [] });
      expect((await send("/v1/measurements", [{ patient: "p1", metric: "pulse", value: 131, time: Date.now() }])).status).toBe(200);
      const raised = await socket.next((f) => f.type === "event");
      expect(raised.event).toMatchObject({ type: "raised", patient: "p1", seq: before + 1 });
    } finally {
      socket.close();
      await server.close();
    }
  });

  it("while an event waits for its commit, pongs and resumes promise only committed events; the held event then follows once", async () => {
    const { server, port, send, flaky } = await serverOnFlakyStore("held.db");
    let release = () => {};
    const clinician = await server.auth.sign({ sub: "nurse", role: "clinician", teams: ["t"] });
    const sockets: TestSocket[] = [];
    try {
      expect((await send("/v1/patients/p1", { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] }, "PUT")).status).toBe(200);
      const live = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, clinician);
      sockets.push(live);
      live.send({ type: "subscribe" });
      const committed = (await live.next((f) => f.type === "snapshot")).seq as number;

      flaky.hold = new Promise((r) => (release = r));
      const answer = send("/v1/measurements", [{ patient: "p1", metric: "pulse", value: 130, time: Date.now() }]);
      for (let i = 0; i < 100 && server.pipeline.lifecycle.lastSeq() === committed; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server.pipeline.lifecycle.lastSeq()).toBeGreaterThan(committed); // raised in memory, not yet durable

      live.send({ type: "ping", id: "p" });
      expect((await live.next((f) => f.type === "pong")).seq).toBe(committed);
      const resumed = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, clinician);
      sockets.push(resumed);
      resumed.send({ type: "subscribe", resumeFrom: committed });
      expect(await resumed.next((f) => f.type === "subscribed")).toMatchObject({ seq: committed, replayed: 0 });

      release();
      expect((await answer).status).toBe(200);
      for (const s of [live, resumed]) {
        const raised = await s.next((f) => f.type === "event");
        expect(raised.event).toMatchObject({ type: "raised", patient: "p1", seq: committed + 1 });
        await s.sync();
        expect(s.events().map((e) => e.seq)).toEqual([committed + 1]);
      }
    } finally {
      release();
      sockets.forEach((s) => s.close());
      await server.close();
    }
  });

  it("verifies tokens with a JWKS file and sends heartbeats with the last event number", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwksFile = join(dir, "jwks.json");
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }));
    const server = new VarselServer({ auth: { jwksFile }, tickMs: 0, limits: { heartbeatMs: 100 }, logger: pino({ level: "silent" }) });
    const port = await server.listen(0);
    try {
      const token = await new SignJWT({ role: "clinician", teams: ["t"] })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setSubject("nurse")
        .setExpirationTime("1h")
        .sign(privateKey);
      const s = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, token);
      s.send({ type: "subscribe" });
      await s.next((f) => f.type === "snapshot");
      const beat = await s.next((f) => f.type === "heartbeat", 2000);
      expect(beat.seq).toBe(0);
      s.close();
      const forged = await new SignJWT({ role: "admin", teams: [] }).setProtectedHeader({ alg: "HS256" }).setSubject("x").sign(new TextEncoder().encode(SECRET));
      const refused = await TestSocket.open(`ws://127.0.0.1:${port}/v1/ws`, ["varsel.v1.json", `bearer.${forged}`]);
      expect(await refused.next((f) => f.type === "error")).toMatchObject({ code: "unauthorized" });
      expect((await refused.closed).code).toBe(4001);
    } finally {
      await server.close();
    }
  });
});
