// Floods (issue 11), on both transports and real sockets: a socket over its message budget gets
// one notice, silence, then close 4029, and costs nobody else anything; an unauthenticated one
// has a small budget; a client that does not wait for its answers is closed once too much waits;
// ingest past the engine's backlog bound is refused `overloaded` (503 + Retry-After over HTTP),
// and what was acknowledged stays durable. No timing assertions: the counts are the contract.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";
import type { BacklogLimits } from "../engine/durable/backlog.js";
import type { Limits } from "../server/context.js";
import type { TransportKind } from "../server/transport/types.js";
import { startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket, type Frame } from "./support/ws-client.js";

afterAll(removeFlakyStores);

const PATIENT = { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] };

/** The socket's close, or a failure after `ms` (a guard against hanging, not a timing claim). */
function closeOf(s: TestSocket, ms = 10_000): Promise<{ code: number; reason: string }> {
  return Promise.race([s.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not closed; got ${JSON.stringify(s.frames.slice(-3))}`)), ms))]);
}

function guard<T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer`)), ms))]);
}

/** A server for one test, closed after it whatever happens. */
async function withServer(transport: TransportKind, limits: Partial<Limits>, test: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startServer(transport, limits);
  try {
    await test(h);
  } finally {
    await h.close();
  }
}

/** A server whose store holds every commit until `release()`, with patient p1; `readings(from)`: three fresh readings. */
async function heldStore(name: string, transport: TransportKind, backlog: Partial<BacklogLimits>) {
  const h = await serverOnFlakyStore(name, transport, { backlog });
  expect((await h.send("/v1/patients/p1", PATIENT, "PUT")).status).toBe(200);
  const t = Date.now() - 60_000;
  const readings = (from: number) => [0, 1, 2].map((i) => ({ patient: "p1", metric: "pulse", value: 70, time: t + from + i, id: `m-${from + i}` }));
  let open = () => {};
  h.flaky.hold = new Promise<void>((r) => (open = r));
  return { h, readings, release: () => open() };
}

describe.each(TRANSPORTS)("floods on %s", (transport) => {
  it("a ping flood gets its budget's pongs, one rate_limited notice, silence, then close 4029; another socket is still answered", () =>
    withServer(transport, { messagesPerSecond: 20 }, async (h) => { // burst 40
      const token = await h.token("clinician", ["t"]);
      const flood = await TestSocket.connect(h.wsUrl, token);
      const bystander = await TestSocket.connect(h.wsUrl, token, "msgpack");
      for (let k = 0; k < 400; k++) flood.send({ type: "ping", id: `p${k}` });
      const closed = await closeOf(flood);
      expect(closed.code).toBe(4029);
      expect(closed.reason).toMatch(/^rate_limited: /);

      const answers = flood.frames.filter((f) => f.type !== "authenticated");
      const notices = answers.filter((f) => f.type === "error");
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatchObject({ code: "rate_limited" });
      expect(notices[0].details.retryAfterMs).toBeGreaterThan(0);
      expect(answers[answers.length - 1]).toBe(notices[0]); // silence after the notice
      const pongs = answers.filter((f) => f.type === "pong");
      expect(pongs.length).toBeGreaterThanOrEqual(40);
      expect(pongs.length).toBeLessThan(100); // the budget, not the flood
      expect(pongs.map((f) => f.id)).toEqual(pongs.map((_, k) => `p${k}`)); // the first ones, in order

      bystander.send({ type: "ping", id: "still-there" });
      expect(await bystander.next((f) => f.type === "pong")).toMatchObject({ id: "still-there" });
      const metrics = (await h.http("GET", "/metrics")).body as string;
      expect(metrics).toMatch(/varsel_ws_flood_disconnects_total\{reason="rate_limited"\} 1\n/);
      expect(metrics).toMatch(/varsel_requests_rejected_total\{code="rate_limited"\} 1\n/);
      bystander.close();
    }));

  it("a flooder closed 4029 that keeps writing and never answers the close is read no further: the server ends the connection", () =>
    withServer(transport, { messagesPerSecond: 20 }, async (h) => {
      const token = await h.token("clinician", ["t"]);
      const port = Number(new URL(h.wsUrl).port);
      const sock = net.connect({ host: "127.0.0.1", port });
      await once(sock, "connect");
      sock.write(
        `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: varsel.v1.json, bearer.${token}\r\n\r\n`,
      );
      // Masked text frames (all-zero mask key), 200 pings per write, written as fast as the socket drains.
      const ping = Buffer.from('{"type":"ping"}');
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | ping.length]), Buffer.alloc(4), ping]);
      const burst = Buffer.concat(Array.from({ length: 200 }, () => frame));
      let received = Buffer.alloc(0);
      let ended = false;
      let writtenAfterClose = 0;
      const closeFrame = (): number | undefined => {
        const at = received.indexOf(Buffer.from([0x88]));
        return at >= 0 && received.length >= at + 4 ? received.readUInt16BE(at + 2) : undefined;
      };
      sock.on("data", (d: Buffer) => {
        received = Buffer.concat([received, d]);
        // Told to go: it writes on all the same (and never answers with a close frame).
        if (closeFrame() !== undefined && sock.writable) {
          sock.write(burst);
          writtenAfterClose += burst.length;
        }
      });
      sock.on("error", () => undefined); // a reset once the server cut it is fine
      const gone = new Promise<void>((resolve) => {
        sock.once("end", resolve);
        sock.once("close", resolve);
      }).then(() => void (ended = true));
      const pump = (): void => {
        while (!ended && sock.writable && sock.writableLength < 1 << 20) {
          sock.write(burst);
        }
        if (!ended && sock.writable) setImmediate(pump);
      };
      await once(sock, "data"); // the 101
      pump();
      // ws would read on until the peer's close frame (30 s) and parse every frame on the way.
      await guard(gone, "the server ending the flooder's connection", 30_000);
      expect(closeFrame()).toBe(4029);
      expect(writtenAfterClose).toBeGreaterThan(0); // it was still flooding after the close frame
      sock.destroy();
    }));

  it("an unauthenticated flood is closed after a small, bounded number of answers", () =>
    withServer(transport, {}, async (h) => {
      const s = await TestSocket.open(h.wsUrl, ["varsel.v1.json"]);
      for (let k = 0; k < 500; k++) s.send({ type: "subscribe", id: `s${k}` });
      const closed = await closeOf(s, 5_000); // well inside the 10 s auth limit
      expect(closed.code).toBe(4029);
      // 10 messages/s, burst 20: twenty `unauthorized` answers and one notice.
      expect(s.frames.filter((f) => f.code === "unauthorized").length).toBeLessThanOrEqual(21);
      expect(s.frames.filter((f) => f.code === "rate_limited")).toHaveLength(1);
      expect(s.frames.length).toBeLessThanOrEqual(22);
    }));

  it("ping before auth is answered pong", () =>
    withServer(transport, {}, async (h) => {
      const s = await TestSocket.open(h.wsUrl, ["varsel.v1.json"]);
      s.send({ type: "ping", id: "before-auth" });
      const answer = await s.next();
      expect(answer).toMatchObject({ type: "pong", id: "before-auth" });
      expect(typeof answer.seq).toBe("number");
      s.close();
    }));

  it("a client that does not wait for its answers is closed 4029 once more than maxWaitingFrames wait", async () => {
    const h = await serverOnFlakyStore(`waiting-${transport}.db`, transport, { limits: { maxWaitingFrames: 16 } });
    expect((await h.send("/v1/patients/p1", PATIENT, "PUT")).status).toBe(200);
    let release = () => {};
    h.flaky.hold = new Promise<void>((r) => (release = r));
    try {
      const gw = await TestSocket.connect(h.wsUrl, await h.server.auth.sign({ sub: "gw", role: "device", teams: ["t"] }));
      gw.send({ type: "ingest", id: "a", readings: [{ patient: "p1", metric: "pulse", value: 70, time: Date.now() }] });
      // Each ping waits for the ingest's answer, which waits for the held commit.
      for (let k = 0; k < 30; k++) gw.send({ type: "ping", id: `p${k}` });
      const closed = await closeOf(gw);
      expect(closed).toMatchObject({ code: 4029 });
      expect(closed.reason).toMatch(/^rate_limited: more than 16 frames/);
      expect(gw.frames.filter((f: Frame) => f.type === "pong")).toEqual([]);
      expect(await h.metric('varsel_ws_flood_disconnects_total{reason="waiting_bound"}')).toBe(1);
    } finally {
      release();
      await h.server.close();
    }
  });

  it("ingest past the backlog bound is refused overloaded (503 + Retry-After, error on the socket); acks of what was admitted are durable", async () => {
    const { h, readings, release } = await heldStore(`overloaded-${transport}.db`, transport, { maxReadings: 5 });
    try {
      const start = h.server.durable.position();
      // 3 + 3 readings are admitted (the bound is checked before each: 0 < 5, 3 < 5) and held.
      const first = h.send("/v1/measurements", readings(0));
      const second = h.send("/v1/measurements", readings(10));
      const until = async () => {
        for (let i = 0; i < 200 && h.server.durable.uncommitted().readings < 6; i++) await new Promise((r) => setTimeout(r, 10));
      };
      await until();
      expect(h.server.durable.uncommitted().readings).toBe(6);

      const refused = await guard(h.send("/v1/measurements", readings(20)), "third POST");
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(await refused.json()).toMatchObject({ code: "overloaded", details: { retryAfterMs: 1000 } });

      const gw = await TestSocket.connect(h.wsUrl, await h.server.auth.sign({ sub: "gw", role: "device", teams: ["t"] }));
      gw.send({ type: "ingest", id: "ws-1", readings: readings(30) });
      expect(await guard(gw.next((f) => f.id === "ws-1"), "socket ingest")).toMatchObject({ type: "error", code: "overloaded", details: { retryAfterMs: 1000 } });

      // Not ingest: admitted past the bound (waits for its commit like everything else).
      const patient = h.send("/v1/patients/p2", PATIENT, "PUT");
      await new Promise((r) => setTimeout(r, 20));
      release();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
      expect((await patient).status).toBe(200);
      expect(h.server.durable.uncommitted()).toEqual({ readings: 0, bytes: 0 });
      expect(await h.metric('varsel_requests_rejected_total{code="overloaded"}')).toBe(2);

      // Durable: the journal holds exactly the two admitted batches (and the patient), nothing refused.
      const journal = await h.server.durable.store!.readJournal(start, 100);
      const ingests = journal.filter((e) => e.command.kind === "ingest");
      expect(ingests.map((e) => (e.command as { batch: { readings: { id?: string }[] } }).batch.readings.length)).toEqual([3, 3]);
      expect(journal.some((e) => e.command.kind === "patient")).toBe(true);
      // And accepted again once the backlog drained.
      expect((await h.send("/v1/measurements", readings(40))).status).toBe(200);
      gw.close();
    } finally {
      release();
      await h.server.close();
    }
  });

  it("one sender's share of the backlog is bounded: its flood is refused while another device's readings are admitted", async () => {
    const { h, readings, release } = await heldStore(`share-${transport}.db`, transport, { maxReadings: 100, maxReadingsPerSender: 5 });
    try {
      const start = h.server.durable.position();
      // The admin sends 3 + 3 readings (its share is checked before each: 0 < 5, 3 < 5); held.
      const held = [h.send("/v1/measurements", readings(0)), h.send("/v1/measurements", readings(10))];
      for (let i = 0; i < 200 && h.server.durable.position() < start + 2; i++) await new Promise((r) => setTimeout(r, 10));
      const flood = await guard(h.send("/v1/measurements", readings(20)), "the admin's third POST");
      expect([flood.status, (await flood.json()).code]).toEqual([503, "overloaded"]);
      // Another sender (a device with its own sub) is admitted past the admin's flood.
      const bystander = await TestSocket.connect(h.wsUrl, await h.server.auth.sign({ sub: "bystander", role: "device", teams: ["t"] }));
      bystander.send({ type: "ingest", id: "b-1", readings: readings(30) });
      for (let i = 0; i < 200 && h.server.durable.position() < start + 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(h.server.durable.uncommitted().readings).toBe(6 + 3); // applied, waiting for the store with the admin's
      release();
      expect(await guard(bystander.next((f) => f.id === "b-1"), "bystander ingest")).toMatchObject({ type: "ingest_result", accepted: 3 });
      for (const p of held) expect((await p).status).toBe(200);
      bystander.close();
    } finally {
      release();
      await h.server.close();
    }
  });
});
