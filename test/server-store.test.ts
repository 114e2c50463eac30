// The server on a real store: a store outage answers 503 store_unavailable (never 500, never a
// silent accept), /readyz turns false, and the server recovers by itself when the store returns.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { VarselServer } from "../server/app.js";
import { TestSocket } from "./support/ws-client.js";

const dir = mkdtempSync(join(tmpdir(), "varsel-server-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = "server-store-secret-long-enough-for-hs256";

/**
 * A server on a real SQLite store whose faults the test controls: `down` fails commits and pings
 * (a full disk, a lost connection) until it is cleared; commits wait for `hold` while it is set
 * (a slow disk). `send` calls the API as an admin.
 */
async function serverOnFlakyStore(name: string) {
  const store = await openStore(`sqlite:${join(dir, name)}`);
  const flaky: { down: boolean; hold?: Promise<void> } = { down: false };
  const { commit, ping } = { commit: store.commit.bind(store), ping: store.ping.bind(store) };
  store.commit = async (b) => {
    await flaky.hold;
    if (flaky.down) throw new Error("disk full");
    return commit(b);
  };
  store.ping = () => (flaky.down ? Promise.reject(new Error("unreachable")) : ping());
  const server = await VarselServer.open({ auth: { secret: SECRET }, store, tickMs: 0, logger: pino({ level: "silent" }) });
  const port = await server.listen(0);
  const base = `http://127.0.0.1:${port}`;
  const admin = await server.auth.sign({ sub: "admin", role: "admin", teams: [] });
  const send = (path: string, body: unknown, method = "POST") =>
    fetch(base + path, { method, headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { server, port, base, send, flaky };
}

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

  it("applies a device socket's frames without waiting for the previous frame's commit, and answers them in order", async () => {
    const { server, port, send, flaky } = await serverOnFlakyStore("pipelined.db");
    let release = () => {};
    const device = await server.auth.sign({ sub: "gw", role: "device", teams: ["t"] });
    const gw = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, device);
    try {
      expect((await send("/v1/patients/p1", { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] }, "PUT")).status).toBe(200);
      const before = server.durable.position();
      flaky.hold = new Promise((r) => (release = r));
      const t = Date.now();
      gw.send({ type: "ingest", id: "a", readings: [{ patient: "p1", metric: "pulse", value: 70, time: t }] });
      gw.send({ type: "ingest", id: "b", readings: [{ patient: "p1", metric: "pulse", value: 71, time: t + 1 }] });
      gw.send({ type: "ingest", id: "c", readings: "not a list" });
      gw.send({ type: "ping", id: "d" });
      // Both frames are applied while the first commit is still held (one at a time, b would wait for a's commit).
      for (let i = 0; i < 100 && server.durable.position() < before + 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server.durable.position()).toBe(before + 2);
      expect(gw.frames.filter((f) => f.type !== "authenticated")).toEqual([]); // nothing answered before it is durable

      release();
      await gw.next((f) => f.id === "d");
      const order = gw.frames.filter((f) => f.type !== "authenticated").map((f) => `${f.type}:${f.id}`);
      expect(order).toEqual(["ingest_result:a", "ingest_result:b", "error:c", "pong:d"]);
    } finally {
      release();
      gw.close();
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
