// Hostile peers ending their connections in every way TCP allows (FIN after a message, FIN in
// the middle of a frame, FIN right after the handshake, a close frame then FIN, RST, many at
// once while others talk). Both transports: each connection's close is reported exactly once,
// nothing is delivered after it, the server ends its side, connections() comes back to what is
// open. Real sockets on 127.0.0.1, raw TCP clients writing masked frames by hand.
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { SocketConn, TransportKind } from "../server/transport/types.js";
import { Harness, RawClient, collect, openClient, sleep, until } from "./support/transports.js";

const KINDS: TransportKind[] = ["uws", "ws"];

let running: Harness[] = [];
const raws: RawClient[] = [];
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of raws.splice(0)) c.socket.destroy();
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(running.map((h) => h.stop()));
  running = [];
});

async function harness(kind: TransportKind, overrides?: ConstructorParameters<typeof Harness>[1]): Promise<Harness> {
  const h = await new Harness(kind, overrides).start();
  running.push(h);
  return h;
}

/** A client frame (masked), payload under 126 bytes; `declared` lies about its length when given. */
function frame(opcode: number, payload: Buffer, declared = payload.length): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | declared]), mask, masked]);
}

const text = (s: string): Buffer => frame(0x1, Buffer.from(s));
const closeFrame = (code: number, reason: string): Buffer => {
  const p = Buffer.alloc(2 + Buffer.byteLength(reason));
  p.writeUInt16BE(code, 0);
  p.write(reason, 2);
  return frame(0x8, p);
};

/** A raw client through the handshake (101 read). */
async function upgraded(h: Harness): Promise<RawClient> {
  const c = new RawClient(h.port);
  raws.push(c);
  await c.handshake(undefined, "varsel.v1.json");
  await until(() => c.text().includes("\r\n\r\n"), 5000, "101");
  expect(c.text()).toMatch(/^HTTP\/1\.1 101 /);
  return c;
}

/** Every close reported, by connection id: exactly once each. */
function closesById(h: Harness): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of h.eventsOf("close")) m.set(e.conn.id, (m.get(e.conn.id) ?? 0) + 1);
  return m;
}

/** No message reported after its connection's close. */
function nothingAfterClose(h: Harness): void {
  const closedIds = new Set<number>();
  for (const e of h.events) {
    if (e.type === "close") closedIds.add(e.conn.id);
    else expect(closedIds.has(e.conn.id), `${e.type} after close`).toBe(false);
  }
}

describe.each(KINDS)("transport %s: peers ending their connections", (kind) => {
  it("a peer that sends a message then half-closes (FIN): delivered, answered, closed once (1006), the server ends its side", async () => {
    const h = await harness(kind);
    const c = await upgraded(h);
    await until(() => h.eventsOf("open").length === 1);
    const before = c.received.length;
    c.socket.end(text("last words"));
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await until(() => c.isClosed, 5000, "server ended its side");
    expect(h.eventsOf("message").map((e) => e.data!.toString())).toEqual(["last words"]);
    expect(h.eventsOf("close")[0]!.code).toBe(1006);
    // The echo was written before the server's FIN: a half-closed peer still reads.
    expect(c.received.subarray(before).includes(Buffer.from("last words"))).toBe(true);
    await sleep(50);
    expect([...closesById(h).values()]).toEqual([1]);
    expect(h.transport.connections()).toBe(0);
    nothingAfterClose(h);
  });

  it("a peer that half-closes: a send after the close is reported is dropped, never written", async () => {
    const h = await harness(kind);
    let conn: SocketConn | undefined;
    const late: string[] = [];
    h.onMessage = (cn) => void (conn = cn);
    h.onOpen = () => undefined;
    const c = await upgraded(h);
    c.socket.end(text("x"));
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    late.push(conn!.send("after close", false));
    await until(() => c.isClosed, 5000, "closed");
    expect(late).toEqual(["dropped"]);
    expect(c.received.includes(Buffer.from("after close"))).toBe(false);
  });

  it("a peer that ends in the middle of a frame: no message, closed once", async () => {
    const h = await harness(kind);
    const c = await upgraded(h);
    await until(() => h.eventsOf("open").length === 1);
    const half = frame(0x1, Buffer.alloc(100, 0x61)).subarray(0, 40);
    c.socket.end(half);
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await until(() => c.isClosed, 5000, "server ended its side");
    await sleep(50);
    expect(h.eventsOf("message")).toEqual([]);
    expect([...closesById(h).values()]).toEqual([1]);
    expect(h.transport.connections()).toBe(0);
  });

  it.each([
    ["at once", 0],
    ["while the server is still deciding (async selectProtocol)", 30],
  ])("a peer that ends right after its handshake, %s: never open, or opened and closed once", async (_what, delay) => {
    const h = await harness(kind);
    if (delay > 0) h.select = async (offered) => (await sleep(delay), offered.includes("varsel.v1.json") ? "varsel.v1.json" : undefined);
    const peers = Array.from({ length: 20 }, () => new RawClient(h.port));
    raws.push(...peers);
    await Promise.all(peers.map((p) => p.ready));
    for (const p of peers) {
      p.socket.write(
        "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: varsel.v1.json\r\n\r\n",
      );
      p.socket.end(text("hello"));
    }
    await until(() => peers.every((p) => p.isClosed), 5000, "every peer closed by the server");
    await until(() => h.eventsOf("close").length === h.eventsOf("open").length, 5000, "closes");
    await sleep(50);
    expect([...closesById(h).values()].every((n) => n === 1)).toBe(true);
    expect(h.eventsOf("close").length).toBe(h.eventsOf("open").length);
    expect(h.transport.connections()).toBe(0);
    nothingAfterClose(h);
  });

  it("a peer that half-closes while the server has paused reading it: what it sent before its FIN is delivered after the pause, then closed once", async () => {
    const h = await harness(kind);
    h.onMessage = (conn, data) => void (data.toString() === "m1" && conn.pauseReading(100));
    const c = await upgraded(h);
    c.socket.write(text("m1"));
    await until(() => h.eventsOf("message").length === 1);
    c.socket.end(text("m2"));
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await until(() => c.isClosed, 5000, "server ended its side");
    expect(h.eventsOf("message").map((e) => e.data!.toString())).toEqual(["m1", "m2"]);
    await sleep(50);
    expect([...closesById(h).values()]).toEqual([1]);
    expect(h.transport.connections()).toBe(0);
    nothingAfterClose(h);
  });

  it("a peer whose last message (sent with its FIN) makes the server close it: the close frame reaches it, closed once", async () => {
    const h = await harness(kind);
    h.onMessage = (conn, data) => void (data.toString() === "quit" && conn.close(4000, "as asked"));
    const c = await upgraded(h);
    await until(() => h.eventsOf("open").length === 1);
    const before = c.received.length;
    c.socket.end(Buffer.concat([text("one"), text("quit"), text("ignored")]));
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await until(() => c.isClosed, 5000, "server ended its side");
    await sleep(50);
    // The server's close frame: 0x88, length, code 4000.
    const got = c.received.subarray(before);
    const at = got.indexOf(Buffer.from([0x88]));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(got.readUInt16BE(at + 2)).toBe(4000);
    expect(h.eventsOf("message").map((e) => e.data!.toString())).toEqual(["one", "quit"]);
    expect([...closesById(h).values()]).toEqual([1]);
    expect(h.transport.connections()).toBe(0);
  });

  it("a close frame then FIN: closed once, with the peer's code", async () => {
    const h = await harness(kind);
    const c = await upgraded(h);
    await until(() => h.eventsOf("open").length === 1);
    c.socket.end(closeFrame(4001, "bye"));
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await until(() => c.isClosed, 5000, "server ended its side");
    await sleep(50);
    expect(h.eventsOf("close").map((e) => [e.code, e.reason])).toEqual([[4001, "bye"]]);
    expect(h.transport.connections()).toBe(0);
  });

  it("RST: closed once (1006)", async () => {
    const h = await harness(kind);
    const c = await upgraded(h);
    await until(() => h.eventsOf("open").length === 1);
    c.socket.write(text("then reset"));
    await until(() => h.eventsOf("message").length === 1);
    c.socket.resetAndDestroy();
    await until(() => h.eventsOf("close").length === 1, 5000, "close reported");
    await sleep(50);
    expect(h.eventsOf("close").map((e) => e.code)).toEqual([1006]);
    expect(h.transport.connections()).toBe(0);
  });

  it(
    "peers ending while the server broadcasts to every connection: a send to a closed connection is dropped, each close once",
    async () => {
      const h = await harness(kind);
      const afterClose: string[] = [];
      h.onMessage = (conn, data) => {
        conn.send(data, false);
        const closedIds = new Set(h.eventsOf("close").map((e) => e.conn.id));
        for (const e of h.eventsOf("open")) {
          const r = e.conn.send("news", false);
          if (closedIds.has(e.conn.id) && r !== "dropped") afterClose.push(r);
        }
      };
      const talkers = await Promise.all(Array.from({ length: 4 }, () => openClient(h.wsUrl(), ["varsel.v1.json"])));
      clients.push(...talkers);
      const enders = await Promise.all(Array.from({ length: 300 }, () => upgraded(h)));
      await until(() => h.transport.connections() === 304, 10_000, "all open");
      const echoes = talkers.map((t) => collect(t));
      enders.forEach((c, i) => (i % 2 === 0 ? c.socket.end() : c.socket.end(text("bye"))));
      for (let k = 0; k < 30; k++) {
        talkers.forEach((t) => t.send(`k${k}`));
        await sleep(0);
      }
      await until(() => h.eventsOf("close").length === 300, 20_000, "every close");
      await until(() => echoes.every((g) => g.filter((m) => m.data.toString().startsWith("k")).length === 30), 20_000, "echoes");
      expect(afterClose).toEqual([]);
      expect([...closesById(h).values()].filter((n) => n !== 1)).toEqual([]);
      expect(h.transport.connections()).toBe(4);
    },
    60_000,
  );

  it(
    "a thousand peers ending at once (FIN, half a frame, close frame, RST) while others talk: every close once, every echo delivered, the count right",
    async () => {
      const h = await harness(kind);
      const talkers = await Promise.all(Array.from({ length: 10 }, () => openClient(h.wsUrl(), ["varsel.v1.json"])));
      clients.push(...talkers);
      const enders = await Promise.all(Array.from({ length: 1000 }, () => upgraded(h)));
      await until(() => h.transport.connections() === 1010, 10_000, "all open");
      const got = talkers.map((t) => collect(t));
      const N = 200;
      enders.forEach((c, i) => {
        if (i % 4 === 0) c.socket.end();
        else if (i % 4 === 1) c.socket.end(frame(0x1, Buffer.alloc(100, 0x61)).subarray(0, 20));
        else if (i % 4 === 2) c.socket.end(closeFrame(1000, ""));
        else c.socket.resetAndDestroy();
      });
      for (let k = 0; k < N; k++) {
        talkers.forEach((t, i) => t.send(`t${i}-${k}`));
        if (k % 20 === 0) await sleep(1);
      }
      await until(() => got.every((g) => g.length === N), 20_000, "every echo");
      await until(() => h.eventsOf("close").length === 1000, 20_000, "every close");
      await until(() => enders.every((c) => c.isClosed), 20_000, "every ender closed by the server");
      await sleep(50);
      expect([...closesById(h).values()].filter((n) => n !== 1)).toEqual([]);
      expect(h.transport.connections()).toBe(10);
      got.forEach((g, i) => expect(g.map((m) => m.data.toString())).toEqual(Array.from({ length: N }, (_, k) => `t${i}-${k}`)));
      nothingAfterClose(h);
    },
    60_000,
  );
});
