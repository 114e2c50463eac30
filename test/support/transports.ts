// Test harness for server/transport: one server per test on 127.0.0.1:0, handlers that can be
// swapped per test, and small promise helpers around the ws client and raw sockets.
import http from "node:http";
import net from "node:net";
import { pathToFileURL } from "node:url";
import { WebSocket, type ClientOptions } from "ws";
import { createNodeTransport } from "../../server/transport/node.js";
import { loadNativeUws } from "../../server/transport/select.js";
import type {
  HttpHandler, HttpRequest, ProtocolChoice, SelectProtocol, SocketConn, Transport, TransportKind, TransportOptions,
  UpgradeRequest, WebSocketRoute,
} from "../../server/transport/types.js";
import { createUwsTransport } from "../../server/transport/uws.js";

export const WS_PATH = "/v1/ws";

export function makeTransport(kind: TransportKind, options: TransportOptions): Transport {
  return kind === "uws" ? createUwsTransport(loadNativeUws(), options) : createNodeTransport(options);
}

export interface ServerEvent {
  type: "open" | "message" | "drain" | "close";
  conn: SocketConn;
  data?: Buffer;
  isBinary?: boolean;
  code?: number;
  reason?: string;
  /** bufferedAmount() when drain was called. */
  buffered?: number;
}

/** A running transport whose handlers delegate to replaceable fields. */
export class Harness {
  transport!: Transport;
  port = 0;
  /** Every HTTP request the handler saw. */
  readonly requests: HttpRequest[] = [];
  /** Every selectProtocol call. */
  readonly upgrades: { offered: readonly string[]; req: UpgradeRequest }[] = [];
  readonly events: ServerEvent[] = [];

  http: HttpHandler = (req) => ({
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      method: req.method, path: req.path, query: [...req.query], bodyLength: req.body.length,
      remoteAddress: req.remoteAddress, header: req.headers["x-test"] ?? null,
    }),
  });
  select: SelectProtocol = (offered) => (offered.includes("varsel.v1.json") ? "varsel.v1.json" : undefined);
  /** Default: nothing. */
  onOpen = (_conn: SocketConn): void => {};
  /** Default: echo. */
  onMessage = (conn: SocketConn, data: Buffer, isBinary: boolean): void => void conn.send(data, isBinary);

  constructor(readonly kind: TransportKind, readonly overrides: Partial<TransportOptions> & { wsRoute?: Partial<WebSocketRoute> } = {}) {}

  async start(): Promise<this> {
    const { wsRoute, ...rest } = this.overrides;
    this.transport = makeTransport(this.kind, {
      http: (req) => {
        this.requests.push(req);
        return this.http(req);
      },
      ws: {
        path: WS_PATH,
        selectProtocol: (offered, req): ProtocolChoice | Promise<ProtocolChoice> => {
          this.upgrades.push({ offered, req });
          return this.select(offered, req);
        },
        handlers: {
          open: (conn) => {
            this.events.push({ type: "open", conn });
            this.onOpen(conn);
          },
          message: (conn, data, isBinary) => {
            this.events.push({ type: "message", conn, data, isBinary });
            this.onMessage(conn, data, isBinary);
          },
          drain: (conn) => void this.events.push({ type: "drain", conn, buffered: conn.bufferedAmount() }),
          close: (conn, code, reason) => void this.events.push({ type: "close", conn, code, reason }),
        },
        ...wsRoute,
      },
      shutdownGraceMs: 2000,
      ...rest,
    });
    this.port = await this.transport.listen(0, "127.0.0.1");
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  wsUrl(path = WS_PATH): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  eventsOf(type: ServerEvent["type"]): ServerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  async stop(): Promise<void> {
    await this.transport?.close();
  }
}

/** Polls `cond` every 5 ms; throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens a ws client; rejects on error or an HTTP answer instead of 101. */
export function openClient(url: string, protocols?: string[], options?: ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** The HTTP answer to an upgrade that was refused. */
export function refusedUpgrade(url: string, protocols?: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once("open", () => {
      ws.terminate();
      reject(new Error("upgrade was accepted"));
    });
    ws.once("error", reject); // a connection cut before any HTTP answer
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
  });
}

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

/** Collects every message a client receives. */
export function collect(ws: WebSocket): Received[] {
  const got: Received[] = [];
  ws.on("message", (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
  return got;
}

export function nextMessage(ws: WebSocket): Promise<Received> {
  return new Promise((resolve) => ws.once("message", (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error("already closed"));
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A raw TCP client: everything it reads, and whether the peer closed. */
export class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  isClosed = false;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.socket.on("data", (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => (this.isClosed = true));
  }

  text(): string {
    return this.received.toString("latin1");
  }

  /** Sends a WebSocket handshake and never answers anything afterwards. */
  async handshake(path = WS_PATH, protocols?: string): Promise<void> {
    await this.ready;
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        (protocols !== undefined ? `Sec-WebSocket-Protocol: ${protocols}\r\n` : "") +
        "\r\n",
    );
  }
}

/**
 * Child-process fixture (`node --import tsx test/support/transports.ts exit <kind>`): listens,
 * opens a WebSocket and a keep-alive HTTP connection, awaits close() and prints "closed". The
 * process must then exit on its own, promptly: close() must neither let it exit half-way
 * (nothing left holding the event loop while close() still waits: exit code 13) nor keep it
 * alive afterwards.
 */
async function exitFixture(kind: TransportKind): Promise<void> {
  const t = makeTransport(kind, {
    http: () => ({ status: 200, body: "ok" }),
    ws: { path: "/ws", selectProtocol: () => undefined, handlers: { message: () => undefined } },
    shutdownGraceMs: 5000,
  });
  const port = await t.listen(0, "127.0.0.1");
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((r) => ws.once("open", r));
  ws.on("close", (code) => console.log(`client closed ${code}`));
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve) => http.get(`http://127.0.0.1:${port}/`, { agent }, (res) => res.resume().on("end", resolve)));
  await t.close();
  console.log("closed");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === "exit") {
  await exitFixture(process.argv[3] as TransportKind);
}
