// One suite, both transports: uWebSockets.js (native) and node:http + ws. Real sockets on
// 127.0.0.1, port 0, fetch and the ws client.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { VarselError } from "../engine/errors.js";
import { ENDS_PER_TURN, createNodeTransport } from "../server/transport/node.js";
import { TRANSPORT_ENV, TransportSelector, loadNativeUws } from "../server/transport/select.js";
import type { SendResult, TransportKind } from "../server/transport/types.js";
import { nativePayloadCap } from "../server/transport/uws.js";
import { clipReason, formatIp, normalizeAddress } from "../server/transport/common.js";
import {
  Harness, RawClient, WS_PATH, closed, collect, makeTransport, nextMessage, openClient, refusedUpgrade, sleep, until,
} from "./support/transports.js";

const KINDS: TransportKind[] = ["uws", "ws"];

let running: Harness[] = [];
const clients: WebSocket[] = [];

async function harness(kind: TransportKind, overrides?: ConstructorParameters<typeof Harness>[1]): Promise<Harness> {
  const h = await new Harness(kind, overrides).start();
  running.push(h);
  return h;
}

async function client(url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = await openClient(url, protocols);
  clients.push(ws);
  return ws;
}

afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(running.map((h) => h.stop()));
  running = [];
});

function sha(buf: Uint8Array): string {
  return createHash("sha256").update(buf).digest("hex");
}

/** A request body streamed in chunks (chunked transfer encoding, no content-length). */
function streamed(total: number, chunk = 16 * 1024): { body: ReadableStream<Uint8Array>; bytes: Buffer } {
  const bytes = Buffer.alloc(total);
  for (let i = 0; i < total; i++) bytes[i] = (i * 31 + 7) & 0xff;
  let off = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= total) return c.close();
      c.enqueue(bytes.subarray(off, Math.min(total, off + chunk)));
      off += chunk;
    },
  });
  return { body, bytes };
}

/** A raw HTTP/1.1 exchange: the whole answer as text (the server closes, or we stop after ms). */
async function rawHttp(port: number, request: string, ms = 500): Promise<string> {
  const c = new RawClient(port);
  await c.ready;
  c.socket.write(request);
  await until(() => c.isClosed || c.received.includes("\r\n\r\n"), ms).catch(() => undefined);
  await sleep(50);
  c.socket.destroy();
  return c.text();
}

describe.each(KINDS)("transport %s", (kind) => {
  it("is the transport it claims to be", async () => {
    const h = await harness(kind);
    expect(h.transport.kind).toBe(kind);
    expect(h.port).toBeGreaterThan(0);
  });

  it("rejects listen() on a port that is taken", async () => {
    const h = await harness(kind);
    const other = makeTransport(kind, { http: () => ({ status: 200 }) });
    await expect(other.listen(h.port, "127.0.0.1")).rejects.toThrow();
    await other.close();
    expect((await fetch(h.url("/"))).status).toBe(200);
  });

  // ---------------------------------------------------------------- HTTP

  describe("HTTP", () => {
    it("answers a GET with method, raw path, query, lower-cased headers and the peer address", async () => {
      const h = await harness(kind);
      const res = await fetch(h.url("/v1/a%20b/c?x=1&y=%C3%A6&x=2"), { headers: { "X-Test": "hello" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(await res.json()).toEqual({
        method: "GET", path: "/v1/a%20b/c", query: [["x", "1"], ["y", "æ"], ["x", "2"]], bodyLength: 0,
        remoteAddress: "127.0.0.1", header: "hello",
      });
      expect(h.requests).toHaveLength(1);
      expect(h.requests[0]!.body).toEqual(Buffer.alloc(0));
    });

    it("joins a repeated request header with ', '", async () => {
      const h = await harness(kind);
      const text = await rawHttp(h.port, "GET /r HTTP/1.1\r\nHost: x\r\nX-Test: a\r\nX-Test: b\r\nConnection: close\r\n\r\n");
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(h.requests[0]!.headers["x-test"]).toBe("a, b");
    });

    it("delivers a POST body exactly (content-length and chunked), and the handler's status and headers", async () => {
      const h = await harness(kind, { maxBodyBytes: 512 * 1024 });
      h.http = (req) => ({
        status: 201,
        headers: { "x-sha": sha(req.body), "x-len": String(req.body.length), "content-type": "text/plain" },
        body: `got ${req.method} ${req.query.get("id")}`,
      });
      const fixed = Buffer.alloc(300_000, 0xab);
      fixed[123_456] = 7;
      const r1 = await fetch(h.url("/v1/readings?id=p1"), { method: "POST", body: fixed });
      expect(r1.status).toBe(201);
      expect(r1.headers.get("x-sha")).toBe(sha(fixed));
      expect(r1.headers.get("x-len")).toBe("300000");
      expect(await r1.text()).toBe("got POST p1");

      const { body, bytes } = streamed(400_000);
      const r2 = await fetch(h.url("/v1/readings?id=p2"), { method: "POST", body, duplex: "half" } as RequestInit);
      expect(r2.status).toBe(201);
      expect(r2.headers.get("x-len")).toBe("400000");
      expect(r2.headers.get("x-sha")).toBe(sha(bytes));
      expect(h.requests.map((r) => r.headers["transfer-encoding"] ?? null)).toEqual([null, "chunked"]);
    });

    it("accepts a body of exactly maxBodyBytes", async () => {
      const h = await harness(kind, { maxBodyBytes: 10_000 });
      const res = await fetch(h.url("/b"), { method: "POST", body: Buffer.alloc(10_000, 1) });
      expect(res.status).toBe(200);
      expect((await res.json()).bodyLength).toBe(10_000);
    });

    it("holds the limit exactly for a streamed body too: maxBodyBytes passes, one more byte is 413", async () => {
      const h = await harness(kind, { maxBodyBytes: 100_000 });
      const ok = streamed(100_000, 7_000);
      const r1 = await fetch(h.url("/s"), { method: "POST", body: ok.body, duplex: "half" } as RequestInit);
      expect(r1.status).toBe(200);
      expect((await r1.json()).bodyLength).toBe(100_000);
      const over = streamed(100_001, 7_000);
      const r2 = await fetch(h.url("/s"), { method: "POST", body: over.body, duplex: "half" } as RequestInit);
      expect(r2.status).toBe(413);
      expect(h.requests).toHaveLength(1);
    });

    it("answers 413 payload_too_large to a declared oversized body without calling the handler, and stays up", async () => {
      const h = await harness(kind, { maxBodyBytes: 64 * 1024 });
      for (const size of [64 * 1024 + 1, 5_000_000]) {
        const res = await fetch(h.url("/big"), { method: "POST", body: Buffer.alloc(size, 1) });
        expect(res.status).toBe(413);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(await res.json()).toEqual({ code: "payload_too_large", message: "body is too large" });
      }
      expect(h.requests).toHaveLength(0);
      const next = await fetch(h.url("/after"), { method: "POST", body: "small" });
      expect(next.status).toBe(200);
      expect((await next.json()).bodyLength).toBe(5);
    });

    it("answers 413 from the declared Content-Length alone, before any of the body arrives", async () => {
      const h = await harness(kind, { maxBodyBytes: 64 * 1024 });
      const text = await rawHttp(h.port, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 1000);
      expect(text).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
      expect(text.toLowerCase()).toContain("connection: close\r\n");
      expect(text).toContain('"code":"payload_too_large"');
      expect(h.requests).toHaveLength(0);
    });

    it("answers 413 to a streamed (chunked) body once it passes the limit, and stays up", async () => {
      const h = await harness(kind, { maxBodyBytes: 64 * 1024 });
      const { body } = streamed(2_000_000);
      const res = await fetch(h.url("/big"), { method: "POST", body, duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      expect((await res.json()).code).toBe("payload_too_large");
      expect(h.requests).toHaveLength(0);
      const next = await fetch(h.url("/after"));
      expect(next.status).toBe(200);
    });

    it("turns a handler throw or rejection into 500 internal_error JSON and keeps serving", async () => {
      const h = await harness(kind);
      h.http = (req) => {
        if (req.path === "/sync") throw new Error("boom");
        if (req.path === "/async") return Promise.reject(new Error("boom"));
        return { status: 200, body: "fine" };
      };
      for (const path of ["/sync", "/async"]) {
        const res = await fetch(h.url(path));
        expect(res.status).toBe(500);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(await res.json()).toEqual({ code: "internal_error", message: "internal error" });
      }
      expect(await (await fetch(h.url("/ok"))).text()).toBe("fine");
    });

    it("answers a thrown VarselError with its own status and body", async () => {
      const h = await harness(kind);
      h.http = async () => {
        throw new VarselError("rate_limited", "slow down", { retryAfter: 3 });
      };
      const res = await fetch(h.url("/x"));
      expect(res.status).toBe(429);
      expect(await res.json()).toEqual({ code: "rate_limited", message: "slow down", details: { retryAfter: 3 } });
    });

    it("refuses a malformed answer or a header with CR/LF with 500 (no header injection)", async () => {
      const h = await harness(kind);
      h.http = (req) =>
        req.path === "/inject"
          ? { status: 200, headers: { "x-a": "v\r\nSet-Cookie: evil=1" }, body: "x" }
          : ({ status: "200" } as never);
      const inj = await fetch(h.url("/inject"));
      expect(inj.status).toBe(500);
      expect(inj.headers.get("set-cookie")).toBeNull();
      expect((await inj.json()).code).toBe("internal_error");
      const bad = await fetch(h.url("/bad"));
      expect(bad.status).toBe(500);
    });

    it("sends no body for 204 and HEAD, and ignores a handler's content-length", async () => {
      const h = await harness(kind);
      h.http = (req) =>
        req.path === "/204"
          ? { status: 204, body: "ignored" }
          : { status: 200, headers: { "content-length": "999", "content-type": "text/plain" }, body: "four" };
      const r204 = await rawHttp(h.port, "GET /204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(r204).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
      expect(r204.endsWith("\r\n\r\n")).toBe(true);
      const head = await rawHttp(h.port, "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head.toLowerCase()).toContain("content-length: 4\r\n");
      expect(head.endsWith("\r\n\r\n")).toBe(true);
      const get = await fetch(h.url("/g"));
      expect(get.headers.get("content-length")).toBe("4");
      expect(await get.text()).toBe("four");
    });

    it("survives a client that aborts mid-request and answers the next one", async () => {
      const h = await harness(kind);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      h.http = async (req) => {
        if (req.path === "/slow") await gate;
        return { status: 200, body: req.path };
      };
      const ac = new AbortController();
      const pending = fetch(h.url("/slow"), { signal: ac.signal });
      await until(() => h.requests.length === 1, 2000, "slow request");
      ac.abort();
      await expect(pending).rejects.toThrow();
      await sleep(20);
      release(); // the handler answers a response that is gone
      await sleep(20);
      expect(await (await fetch(h.url("/next"))).text()).toBe("/next");
      // and a body cut off half-way
      const raw = new RawClient(h.port);
      await raw.ready;
      raw.socket.write("POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + "x".repeat(10));
      await sleep(30);
      raw.socket.destroy();
      await sleep(30);
      expect(h.requests.map((r) => r.path)).not.toContain("/half");
      expect((await fetch(h.url("/again"))).status).toBe(200);
    });

    it("serves a request with a non-WebSocket Upgrade header (curl --http2's h2c) as plain HTTP", async () => {
      const h = await harness(kind);
      const c = new RawClient(h.port);
      await c.ready;
      c.socket.write(
        "POST /h2c?q=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
          "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhe",
      );
      await sleep(30);
      c.socket.write("llo");
      await until(() => c.text().includes("}"), 2000, "answer");
      c.socket.destroy();
      expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(h.requests).toHaveLength(1);
      expect(h.requests[0]!).toMatchObject({ method: "POST", path: "/h2c" });
      expect(h.requests[0]!.body.toString()).toBe("hello");
      expect(h.requests[0]!.query.get("q")).toBe("1");
    });

    it(kind === "uws" ? "serves a chunked body under a non-WebSocket Upgrade header" : "refuses a chunked body under a non-WebSocket Upgrade header with 411", async () => {
      // A documented difference: node has already dropped its HTTP parser for such a request.
      const h = await harness(kind);
      const text = await rawHttp(
        h.port,
        "POST /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      );
      if (kind === "uws") {
        expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(h.requests[0]!.body.toString()).toBe("hello");
      } else {
        expect(text).toMatch(/^HTTP\/1\.1 411 Length Required\r\n/);
        expect(text).toContain('"code":"length_required"');
        expect(h.requests).toHaveLength(0);
      }
    });
  });

  // ---------------------------------------------------------------- WebSocket

  describe("WebSocket", () => {
    it("offers the client's subprotocols to selectProtocol and answers with the chosen one", async () => {
      const h = await harness(kind);
      h.select = (offered, req) => {
        req.userData.token = offered.find((p) => p.startsWith("bearer."))?.slice("bearer.".length);
        return offered.includes("varsel.v1.json") ? "varsel.v1.json" : false;
      };
      const ws = await client(h.wsUrl() + "?since=42", ["varsel.v1.json", "bearer.eyJhbGciOi.x-y_z"]);
      expect(ws.protocol).toBe("varsel.v1.json");
      expect(h.upgrades).toHaveLength(1);
      const { offered, req } = h.upgrades[0]!;
      expect(offered).toEqual(["varsel.v1.json", "bearer.eyJhbGciOi.x-y_z"]);
      expect(req.path).toBe(WS_PATH);
      expect(req.query.get("since")).toBe("42");
      expect(req.remoteAddress).toBe("127.0.0.1");
      expect(req.headers["sec-websocket-protocol"]).toBe("varsel.v1.json,bearer.eyJhbGciOi.x-y_z"); // as the ws client sends it
      await until(() => h.eventsOf("open").length === 1, 2000, "open");
      const conn = h.eventsOf("open")[0]!.conn;
      expect(conn.protocol).toBe("varsel.v1.json");
      expect(conn.remoteAddress).toBe("127.0.0.1");
      expect(conn.userData).toEqual({ token: "eyJhbGciOi.x-y_z" });
      expect(h.transport.connections()).toBe(1);
    });

    it("accepts without a subprotocol when selectProtocol answers undefined", async () => {
      const h = await harness(kind);
      h.select = () => undefined;
      const ws = await client(h.wsUrl());
      expect(ws.protocol).toBe("");
      await until(() => h.eventsOf("open").length === 1, 2000, "open");
      expect(h.eventsOf("open")[0]!.conn.protocol).toBe("");
    });

    it("refuses with 401 unauthorized when selectProtocol answers false (no connection opened)", async () => {
      const h = await harness(kind);
      h.select = () => false;
      const r = await refusedUpgrade(h.wsUrl(), ["varsel.v1.json", "bearer.bad"]);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({ code: "unauthorized", message: "authentication required" });
      await sleep(30);
      expect(h.eventsOf("open")).toHaveLength(0);
      expect(h.transport.connections()).toBe(0);
    });

    it("supports an async selectProtocol: accept, and refuse with a thrown VarselError's status", async () => {
      const h = await harness(kind);
      h.select = async (offered) => {
        await sleep(20);
        if (offered.includes("bearer.expired")) throw new VarselError("token_expired");
        return "varsel.v1.json";
      };
      const ws = await client(h.wsUrl(), ["varsel.v1.json", "bearer.good"]);
      expect(ws.protocol).toBe("varsel.v1.json");
      const r = await refusedUpgrade(h.wsUrl(), ["varsel.v1.json", "bearer.expired"]);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body).code).toBe("token_expired");
      expect(h.transport.connections()).toBe(1);
    });

    it("answers 500 when selectProtocol throws or picks a protocol the client did not offer", async () => {
      const h = await harness(kind);
      h.select = (offered) => {
        if (offered.includes("throw")) throw new Error("bug");
        return "not-offered";
      };
      const a = await refusedUpgrade(h.wsUrl(), ["throw"]);
      expect(a.status).toBe(500);
      expect(JSON.parse(a.body).code).toBe("internal_error");
      const b = await refusedUpgrade(h.wsUrl(), ["varsel.v1.json"]);
      expect(b.status).toBe(500);
      expect(h.transport.connections()).toBe(0);
    });

    it("answers 404 to an upgrade at another path, and gives a plain GET on the ws path to the HTTP handler", async () => {
      const h = await harness(kind);
      const r = await refusedUpgrade(h.wsUrl("/elsewhere"), ["varsel.v1.json"]);
      expect(r.status).toBe(404);
      expect(JSON.parse(r.body).code).toBe("not_found");
      expect(h.upgrades).toHaveLength(0);
      const plain = await fetch(h.url(WS_PATH));
      expect(plain.status).toBe(200);
      expect((await plain.json()).path).toBe(WS_PATH);
    });

    it("answers 404 to a WebSocket upgrade without a valid key or with another method, without asking selectProtocol", async () => {
      const h = await harness(kind);
      const base = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
      const noKey = await rawHttp(h.port, `GET ${WS_PATH} HTTP/1.1\r\n${base}\r\n`);
      const post = await rawHttp(h.port, `POST ${WS_PATH} HTTP/1.1\r\n${base}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n`);
      for (const text of [noKey, post]) {
        expect(text).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
        expect(text).toContain('{"code":"not_found","message":"not found"}');
      }
      expect(h.upgrades).toHaveLength(0);
      expect(h.requests).toHaveLength(0);
      expect((await fetch(h.url("/still-up"))).status).toBe(200);
    });

    it("echoes text and binary messages with their kind", async () => {
      const h = await harness(kind);
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      const got = collect(ws);
      const bin = Buffer.from([0, 1, 2, 255, 254, 0x80]);
      ws.send("hælló 🫀");
      ws.send(bin);
      ws.send(Buffer.from("as text"), { binary: false });
      await until(() => got.length === 3, 2000, "echoes");
      expect(got[0]!.isBinary).toBe(false);
      expect(got[0]!.data.toString("utf8")).toBe("hælló 🫀");
      expect(got[1]!.isBinary).toBe(true);
      expect(Buffer.compare(got[1]!.data, bin)).toBe(0);
      expect(got[2]!).toMatchObject({ isBinary: false });
      expect(got[2]!.data.toString()).toBe("as text");
      const seen = h.eventsOf("message");
      expect(seen.map((e) => e.isBinary)).toEqual([false, true, false]);
      expect(seen[0]!.data!.toString("utf8")).toBe("hælló 🫀");
    });

    it("sends frames corked outside a socket callback complete and in order (nested cork just runs)", async () => {
      const h = await harness(kind);
      const results: SendResult[] = [];
      h.onMessage = (conn) => {
        setImmediate(() =>
          conn.cork(() => {
            for (let i = 0; i < 40; i++) results.push(conn.send(`frame ${i}`, false));
            conn.cork(() => results.push(conn.send(Buffer.from([1, 2, 3]), true)));
          }),
        );
      };
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      const got = collect(ws);
      ws.send("go");
      await until(() => got.length === 41, 2000, "41 frames");
      expect(got.slice(0, 40).map((m) => m.data.toString())).toEqual(Array.from({ length: 40 }, (_, i) => `frame ${i}`));
      expect(got[40]!.isBinary).toBe(true);
      expect(results.filter((r) => r === "dropped")).toEqual([]);
    });

    it("delivers frames sent from open after an asynchronous upgrade, first and in order, on every connection", async () => {
      const h = await harness(kind);
      h.select = async (offered) => {
        await sleep(1);
        return offered.includes("varsel.v1.json") ? "varsel.v1.json" : undefined;
      };
      // Greetings of many lengths (the uWS upgrade bug this guards against depends on what a send in open leaves behind).
      h.onOpen = (conn) => {
        conn.send(`hello ${conn.id} ${"x".repeat(conn.id % 97)}`, false);
        conn.send(Buffer.from([conn.id & 0xff]), true);
        if (conn.id % 10 === 0) conn.close(4000, "closed in open");
      };
      const results = await Promise.all(
        Array.from({ length: 60 }, async () => {
          // Listening from the start: the greeting can arrive with the 101 answer, before "open".
          const ws = new WebSocket(h.wsUrl(), ["varsel.v1.json"]);
          clients.push(ws);
          const got = collect(ws);
          const closedWith = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
          ws.once("open", () => ws.send("echo me"));
          const first = await Promise.race([until(() => got.length >= 3, 3000, "3 frames").then(() => "frames"), closedWith]);
          return { got, code: first === "frames" ? undefined : first };
        }),
      );
      for (const { got, code } of results) {
        expect(got[0]!.data.toString()).toMatch(/^hello \d+ x*$/);
        expect(got[1]!.isBinary).toBe(true);
        if (code === undefined) expect(got[2]!.data.toString()).toBe("echo me");
        else expect(code).toBe(4000);
      }
      expect(results.filter((r) => r.code === 1006)).toEqual([]);
    });

    it("keeps a connection when a message handler throws", async () => {
      const h = await harness(kind);
      h.onMessage = (conn, data) => {
        if (data.toString() === "throw") throw new Error("handler bug");
        conn.send(data, false);
      };
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      ws.send("throw");
      const next = nextMessage(ws);
      ws.send("still here");
      expect((await next).data.toString()).toBe("still here");
      expect(ws.readyState).toBe(WebSocket.OPEN);
    });

    it("accepts a message of exactly maxMessageBytes and closes with 1009 on a larger one", async () => {
      const max = 4096;
      const h = await harness(kind, { wsRoute: { maxMessageBytes: max } });
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      const echo = nextMessage(ws);
      ws.send(Buffer.alloc(max, 1));
      expect((await echo).data.length).toBe(max);
      const done = closed(ws);
      ws.send(Buffer.alloc(max + 1, 2));
      const { code } = await done;
      expect(code).toBe(1009);
      await until(() => h.eventsOf("close").length === 1, 2000, "server close");
      expect(h.eventsOf("message")).toHaveLength(1);
      expect(h.transport.connections()).toBe(0);
    });

    it(kind === "uws" ? "cuts a message over uWS's native cap with 1006 (no close frame)" : "closes with 1009 however large the message", async () => {
      // A documented difference: this uWS build force-closes past maxPayloadLength.
      const max = 4096;
      const h = await harness(kind, { wsRoute: { maxMessageBytes: max } });
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      const done = closed(ws);
      ws.send(Buffer.alloc(nativePayloadCap(max) + 1));
      expect((await done).code).toBe(kind === "uws" ? 1006 : 1009);
      await until(() => h.transport.connections() === 0, 2000, "server close");
      expect(h.eventsOf("message")).toHaveLength(0);
    });

    it("reports backpressure to a client that stops reading, drops past maxBackpressureBytes, then drains", async () => {
      const maxBackpressure = 512 * 1024;
      const h = await harness(kind, { wsRoute: { maxBackpressureBytes: maxBackpressure } });
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.eventsOf("open").length === 1, 2000, "open");
      const conn = h.eventsOf("open")[0]!.conn;
      const got = collect(ws);
      (ws as unknown as { _socket: import("node:net").Socket })._socket.pause();

      const results: SendResult[] = [];
      const buffered: number[] = [];
      // Bounded: loopback kernel buffers hold a few MB at most; 2000 frames is 128 MB.
      for (let i = 0; i < 2000; i++) {
        const frame = Buffer.alloc(64 * 1024, 0x5a); // a fresh one each time: send takes ownership
        frame.writeUInt32BE(i, 0);
        const r = conn.send(frame, true);
        results.push(r);
        buffered.push(conn.bufferedAmount());
        if (r === "dropped") break;
      }
      const firstBackpressure = results.indexOf("backpressure");
      expect(firstBackpressure).toBeGreaterThan(-1);
      expect(results.slice(0, firstBackpressure).every((r) => r === "ok")).toBe(true);
      expect(results.at(-1)).toBe("dropped");
      // bufferedAmount rises while backpressured, up to past the limit
      const during = buffered.slice(firstBackpressure, -1);
      expect(during[0]).toBeGreaterThan(0);
      for (let i = 1; i < during.length; i++) expect(during[i]).toBeGreaterThan(during[i - 1]!);
      expect(buffered.at(-1)).toBeGreaterThan(maxBackpressure);
      expect(conn.send("more", false)).toBe("dropped");
      expect(h.eventsOf("drain")).toHaveLength(0);

      (ws as unknown as { _socket: import("node:net").Socket })._socket.resume();
      const sent = results.filter((r) => r !== "dropped").length;
      await until(() => got.length === sent && h.eventsOf("drain").length === 1, 10_000, "drain and delivery");
      expect(got.map((m) => m.data.readUInt32BE(0))).toEqual([...Array(sent).keys()]);
      expect(conn.bufferedAmount()).toBe(0);
      expect(conn.send("after drain", false)).toBe("ok");
      expect((await nextMessage(ws)).data.toString()).toBe("after drain");
    });

    it("calls drain once, with nothing left buffered, after backpressure that never reached the drop limit", async () => {
      const h = await harness(kind, { wsRoute: { maxBackpressureBytes: 64 * 1024 * 1024 } });
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.eventsOf("open").length === 1, 2000, "open");
      const conn = h.eventsOf("open")[0]!.conn;
      const got = collect(ws);
      const socket = (ws as unknown as { _socket: import("node:net").Socket })._socket;
      socket.pause();
      let sent = 0;
      let last: SendResult = "ok";
      for (let i = 0; i < 2000 && last !== "backpressure"; i++) {
        last = conn.send(Buffer.alloc(64 * 1024, i & 0xff), true);
        sent++;
      }
      expect(last).toBe("backpressure");
      expect(conn.bufferedAmount()).toBeGreaterThan(0);
      await sleep(50);
      expect(h.eventsOf("drain")).toHaveLength(0);
      socket.resume();
      await until(() => h.eventsOf("drain").length === 1 && got.length === sent, 10_000, "drain");
      expect(h.eventsOf("drain")[0]!.buffered).toBe(0);
      await sleep(50);
      expect(h.eventsOf("drain")).toHaveLength(1);
    });

    it("closes from the server with a code and reason; terminate cuts with 1006; bad codes throw", async () => {
      const h = await harness(kind);
      const a = await client(h.wsUrl(), ["varsel.v1.json"]);
      const b = await client(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.eventsOf("open").length === 2, 2000, "opens");
      const [ca, cb] = h.eventsOf("open").map((e) => e.conn);
      expect(ca!.id).not.toBe(cb!.id);
      expect(() => ca!.close(1006, "no")).toThrow(RangeError);
      expect(() => ca!.close(999, "no")).toThrow(RangeError);
      const aClosed = closed(a);
      ca!.close(4001, "x".repeat(200));
      expect(ca!.send("late", false)).toBe("dropped");
      const ra = await aClosed;
      expect(ra.code).toBe(4001);
      expect(ra.reason).toBe("x".repeat(123));
      const bClosed = closed(b);
      cb!.terminate();
      expect((await bClosed).code).toBe(1006);
      await until(() => h.eventsOf("close").length === 2, 2000, "server closes");
      const codes = new Map(h.eventsOf("close").map((e) => [e.conn.id, e.code]));
      expect(codes.get(ca!.id)).toBe(4001);
      expect(codes.get(cb!.id)).toBe(1006);
      expect(h.transport.connections()).toBe(0);
    });

    it("delivers no message once the server has closed the connection", async () => {
      const h = await harness(kind);
      h.onMessage = (conn, data) => {
        if (data.toString() === "close-me") conn.close(4002, "done");
      };
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      const done = closed(ws);
      ws.send("close-me");
      ws.send("after 1");
      ws.send("after 2");
      expect((await done).code).toBe(4002);
      await until(() => h.eventsOf("close").length === 1, 2000, "server close");
      expect(h.eventsOf("message").map((e) => e.data!.toString())).toEqual(["close-me"]);
    });

    it("reports a client's close code and reason once", async () => {
      const h = await harness(kind);
      const ws = await client(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.transport.connections() === 1, 2000, "open");
      ws.close(4100, "bye now");
      await until(() => h.eventsOf("close").length === 1, 2000, "close");
      await sleep(30);
      expect(h.eventsOf("close")).toHaveLength(1);
      expect(h.eventsOf("close")[0]).toMatchObject({ code: 4100, reason: "bye now" });
      expect(h.transport.connections()).toBe(0);
    });

    it(
      kind === "ws"
        ? `reports every close of many peers cutting at once (1006), at most ${ENDS_PER_TURN} per turn of the event loop`
        : "reports every close of many peers cutting at once (1006)",
      async () => {
        const n = 3 * ENDS_PER_TURN + 17;
        let turn = 0;
        let turning = true;
        const tick = (): void => void (turning && (turn++, setImmediate(tick)));
        const closeTurns: number[] = [];
        const h = new Harness(kind);
        h.transport = makeTransport(kind, {
          http: () => ({ status: 404 }),
          ws: { path: WS_PATH, selectProtocol: () => undefined, handlers: { message: () => undefined, close: (_conn, code) => void closeTurns.push(code === 1006 ? turn : -1) } },
        });
        running.push(h);
        h.port = await h.transport.listen(0, "127.0.0.1");
        const peers = await Promise.all(Array.from({ length: n }, () => openClient(h.wsUrl())));
        await until(() => h.transport.connections() === n, 5000, "opens");
        tick();
        for (const ws of peers) ws.terminate(); // the TCP connection ends, no close frame
        await until(() => closeTurns.length === n, 10_000, "closes");
        turning = false;
        expect(closeTurns.filter((t) => t < 0)).toEqual([]);
        expect(h.transport.connections()).toBe(0);
        if (kind === "ws") {
          const perTurn = new Map<number, number>();
          for (const t of closeTurns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
          expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(ENDS_PER_TURN);
        }
      },
      20_000,
    );
  });

  // ---------------------------------------------------------------- addresses

  it("reports peer addresses as node prints them on a dual-stack listener (IPv4-mapped shown as IPv4)", async () => {
    const h = new Harness(kind);
    h.transport = makeTransport(kind, {
      http: (req) => ({ status: 200, body: req.remoteAddress }),
      ws: { path: WS_PATH, selectProtocol: (_o, req) => ((req.userData.addr = req.remoteAddress), undefined), handlers: { message: () => undefined, open: (conn) => void h.events.push({ type: "open", conn }) } },
    });
    running.push(h);
    h.port = await h.transport.listen(0, "::");
    expect(await (await fetch(`http://127.0.0.1:${h.port}/`)).text()).toBe("127.0.0.1");
    expect(await (await fetch(`http://[::1]:${h.port}/`)).text()).toBe("::1");
    await client(`ws://127.0.0.1:${h.port}${WS_PATH}`);
    await client(`ws://[::1]:${h.port}${WS_PATH}`);
    await until(() => h.events.length === 2, 2000, "opens");
    expect(h.events.map((e) => [e.conn.remoteAddress, e.conn.userData.addr])).toEqual([["127.0.0.1", "127.0.0.1"], ["::1", "::1"]]);
  });

  // ---------------------------------------------------------------- shutdown

  describe("close()", () => {
    it("closes open sockets with 1001, stops accepting, and resolves", async () => {
      const h = await harness(kind);
      const a = await client(h.wsUrl(), ["varsel.v1.json"]);
      const b = await client(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.transport.connections() === 2, 2000, "opens");
      expect((await fetch(h.url("/before"))).status).toBe(200);
      const done = [closed(a), closed(b)];
      await h.transport.close();
      for (const c of await Promise.all(done)) expect(c).toEqual({ code: 1001, reason: "server shutting down" });
      expect(h.transport.connections()).toBe(0);
      expect(h.eventsOf("close").map((e) => e.code)).toEqual([1001, 1001]);
      await expect(fetch(h.url("/after"))).rejects.toThrow();
      await expect(openClient(h.wsUrl(), ["varsel.v1.json"])).rejects.toThrow();
      await h.transport.close(); // idempotent
    });

    it("lets a process that awaits close() finish it, then exit promptly on its own", async () => {
      const started = Date.now();
      const r = spawnSync(process.execPath, ["--import", "tsx", "test/support/transports.ts", "exit", kind], {
        cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8", timeout: 20_000,
      });
      const elapsed = Date.now() - started;
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0); // 13 = exited with close() still pending
      expect(r.stdout.split("\n").filter(Boolean).sort()).toEqual(["client closed 1001", "closed"]);
      expect(elapsed).toBeLessThan(4000); // well under the 5 s grace the fixture configures
    });

    it("answers an upgrade whose selectProtocol was still pending at close() with 503 shutting_down", async () => {
      const h = await harness(kind);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      h.select = async () => {
        await gate;
        return "varsel.v1.json";
      };
      const refused = refusedUpgrade(h.wsUrl(), ["varsel.v1.json"]);
      await until(() => h.upgrades.length === 1, 2000, "upgrade");
      const closing = h.transport.close();
      await sleep(200);
      release();
      const r = await refused;
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body).code).toBe("shutting_down");
      await closing;
      expect(h.eventsOf("open")).toHaveLength(0);
    });

    it("lets an in-flight request finish and closes idle keep-alive connections", async () => {
      const h = await harness(kind);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      h.http = async (req) => {
        if (req.path === "/slow") await gate;
        return { status: 200, body: req.path };
      };
      const agent = new http.Agent({ keepAlive: true });
      const get = (path: string): Promise<{ status: number; body: string; socket: import("node:net").Socket }> =>
        new Promise((resolve, reject) => {
          let socket!: import("node:net").Socket;
          http
            .get(h.url(path), { agent }, (res) => {
              let body = "";
              res.on("data", (c) => (body += c));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body, socket }));
            })
            .on("socket", (s) => (socket = s))
            .on("error", reject);
        });
      const idle = await get("/idle");
      const idleClosed = new Promise<void>((r) => (idle.socket.destroyed ? r() : idle.socket.once("close", () => r())));
      const slow = get("/slow");
      await until(() => h.requests.some((r) => r.path === "/slow"), 2000, "slow request");
      let closeDone = false;
      const closing = h.transport.close().then(() => void (closeDone = true));
      await sleep(300); // well past the transport's own settling delays, well inside the grace
      expect(closeDone).toBe(false);
      release();
      const r = await slow;
      expect(r).toMatchObject({ status: 200, body: "/slow" });
      await closing;
      await Promise.race([idleClosed, sleep(3000).then(() => Promise.reject(new Error("keep-alive socket left open")))]);
      agent.destroy();
    });
  });
});

// ---------------------------------------------------------------- idle timeout (slow: uWS's floor is 8 s)

describe.concurrent("idle timeout", () => {
  // Concurrent (both take ~9 s), so each test owns and closes its server and clients itself.
  it.for(KINDS)("%s pings, cuts a silent peer with 1006, and keeps a peer that answers pings", { timeout: 30_000 }, async (kind, { expect }) => {
    const h = await new Harness(kind, { wsRoute: { idleTimeoutSeconds: 8 } }).start();
    const live = await openClient(h.wsUrl(), ["varsel.v1.json"]);
    try {
      let pings = 0;
      live.on("ping", () => pings++);
      const silent = new RawClient(h.port);
      await silent.handshake(WS_PATH, "varsel.v1.json");
      await until(() => silent.text().includes("\r\n\r\n"), 2000, "101");
      expect(silent.text()).toMatch(/^HTTP\/1\.1 101 /);
      const t0 = Date.now();
      await until(() => silent.isClosed, 14_000, "silent peer cut");
      const cutAfter = Date.now() - t0;
      expect(cutAfter).toBeLessThanOrEqual(12_500);
      const afterHead = silent.received.subarray(silent.received.indexOf("\r\n\r\n") + 4);
      expect(afterHead[0]).toBe(0x89); // a ping frame reached the silent peer first
      await until(() => h.eventsOf("close").length === 1, 2000, "server close");
      expect(h.eventsOf("close")[0]!.code).toBe(1006);
      // the live client stays beyond the idle timeout and was pinged
      await sleep(Math.max(0, 9_000 - cutAfter));
      expect(live.readyState).toBe(WebSocket.OPEN);
      expect(pings).toBeGreaterThan(0);
      expect(h.transport.connections()).toBe(1);
    } finally {
      live.terminate();
      await h.stop();
    }
  });
});

// ---------------------------------------------------------------- options and selection

describe("address text", () => {
  it("formats 4- and 16-byte addresses like node (RFC 5952), IPv4-mapped as IPv4", () => {
    expect(formatIp(Uint8Array.from([127, 0, 0, 1]))).toBe("127.0.0.1");
    const v6 = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/:/g, ""), "hex"));
    expect(formatIp(v6("0000:0000:0000:0000:0000:ffff:0a00:0001"))).toBe("10.0.0.1");
    expect(formatIp(v6("0000:0000:0000:0000:0000:0000:0000:0001"))).toBe("::1");
    expect(formatIp(v6("0000:0000:0000:0000:0000:0000:0000:0000"))).toBe("::");
    expect(formatIp(v6("2001:0db8:0000:0000:0001:0000:0000:0001"))).toBe("2001:db8::1:0:0:1");
    expect(formatIp(v6("2001:0db8:0000:0001:0001:0001:0001:0001"))).toBe("2001:db8:0:1:1:1:1:1");
    expect(formatIp(v6("fe80:0000:0000:0000:0202:b3ff:fe1e:8329"))).toBe("fe80::202:b3ff:fe1e:8329");
    expect(formatIp(v6("2001:0db8:0000:0000:0000:0000:0000:0000"))).toBe("2001:db8::");
    expect(normalizeAddress("::ffff:192.168.1.9")).toBe("192.168.1.9");
    expect(normalizeAddress("::1")).toBe("::1");
  });

  it("cuts a close reason to 123 UTF-8 bytes without splitting a character", () => {
    expect(clipReason("short")).toBe("short");
    expect(clipReason("a".repeat(130))).toBe("a".repeat(123));
    const clipped = clipReason("a" + "æ".repeat(80)); // 1 + 160 bytes; 123 would split an "æ"
    expect(Buffer.byteLength(clipped)).toBe(123);
    expect(clipped).toBe("a" + "æ".repeat(61));
    const emoji = clipReason("🫀".repeat(40)); // 4-byte characters: 30 fit in 120 bytes
    expect(emoji).toBe("🫀".repeat(30));
  });
});

describe("options", () => {
  it.each(KINDS)("%s refuses an idle timeout under uWS's 8 s floor (which would abort the process)", (kind) => {
    const make = (idleTimeoutSeconds: number) => () =>
      makeTransport(kind, { http: () => ({ status: 200 }), ws: { path: "/ws", selectProtocol: () => undefined, handlers: { message() {} }, idleTimeoutSeconds } });
    expect(make(4)).toThrow(RangeError);
    expect(make(7)).toThrow(RangeError);
    expect(make(0)).not.toThrow();
    expect(make(8)).not.toThrow();
  });

  it("sets the native uWS payload cap above the app's limit (so the transport can answer 1009 itself)", () => {
    expect(nativePayloadCap(4096)).toBeGreaterThan(4096);
    expect(nativePayloadCap(64 * 1024)).toBe(192 * 1024);
  });
});

describe("createTransport selection", () => {
  const options = { http: () => ({ status: 200 }) };
  const failing = () => {
    throw new Error("invalid ELF header");
  };
  function logger() {
    const warn = vi.fn();
    return { warn, logger: { warn, error: vi.fn(), info: vi.fn(), debug: vi.fn() } as never };
  }

  it("loads the native uWS binary on this machine (not the package's JS emulation)", () => {
    const mod = loadNativeUws();
    expect(typeof mod.App).toBe("function");
    expect(typeof (mod as unknown as Record<string, unknown>).getParts).toBe("function"); // native only
  });

  it("takes ws by default without loading the native binary, and uws when asked", async () => {
    const load = vi.fn(loadNativeUws);
    const s = new TransportSelector(load, {});
    expect((await s.create(options)).kind).toBe("ws");
    expect(load).not.toHaveBeenCalled();
    expect((await s.create(options, "uws")).kind).toBe("uws");
  });

  it("falls back to ws when uws is preferred but its native binary does not load, and logs why once", async () => {
    const { warn, logger: log } = logger();
    const load = vi.fn(failing);
    const s = new TransportSelector(load, {});
    expect((await s.create({ ...options, logger: log }, "uws")).kind).toBe("ws");
    expect((await s.create({ ...options, logger: log }, "uws")).kind).toBe("ws");
    expect(load).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String((warn.mock.calls[0]![0] as { err: Error }).err.message)).toContain("invalid ELF header");
  });

  it(`obeys ${TRANSPORT_ENV}`, async () => {
    const load = vi.fn(loadNativeUws);
    expect((await new TransportSelector(load, { [TRANSPORT_ENV]: "ws" }).create(options, "uws")).kind).toBe("ws");
    expect(load).not.toHaveBeenCalled();
    expect((await new TransportSelector(loadNativeUws, { [TRANSPORT_ENV]: "uws" }).create(options, "ws")).kind).toBe("uws");
    await expect(new TransportSelector(failing, { [TRANSPORT_ENV]: "uws" }).create(options)).rejects.toThrow(/does not load/);
    await expect(new TransportSelector(loadNativeUws, { [TRANSPORT_ENV]: "both" }).create(options)).rejects.toThrow(/must be/);
  });

  it("the ws transport serves on its own too (createNodeTransport)", async () => {
    const t = createNodeTransport({ http: (req) => ({ status: 200, body: req.path }) });
    const port = await t.listen(0, "127.0.0.1");
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/solo`)).text()).toBe("/solo");
    } finally {
      await t.close();
    }
  });
});
