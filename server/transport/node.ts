// The fallback transport: node:http for HTTP, ws (noServer) for WebSocket. Same behaviour and
// limits as uws.ts; test/transport.test.ts runs one suite on both.
import http from "node:http";
import type net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { BaseConn } from "./conn.js";
import {
  SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON, TRANSPORT_HEADERS, addHeader, bodyless, checkResponse,
  errorResponse, isWebSocketUpgrade, normalizeAddress, parseProtocols, resolveOptions, responseForError,
  safeCall, statusLine, waitUntil, withTimeout, UNSUPPORTED_METHOD, type ResolvedOptions, type ResolvedWsRoute,
} from "./common.js";
import type {
  HttpRequest, HttpResponse, ProtocolChoice, SendResult, Transport, TransportOptions, UpgradeRequest,
} from "./types.js";

const EMPTY = Buffer.alloc(0);
/**
 * After the server's close frame, at most this much more is read from the peer (its close frame
 * and what it had in flight); past it the connection is ended without reading further. A ping
 * flood closed 4029 kept its socket full: ws parsed every frame still in the pipe until the
 * peer's close frame came, about a million frames a second that were dropped unread anyway,
 * stalling the event loop 50–300 ms at each close (issue 11, bench:abuse).
 */
export const MAX_READ_AFTER_CLOSE_BYTES = 64 * 1024;
/** A connection ended unread is cut this long after, whether the peer has closed or not. */
export const UNREAD_CLOSE_GRACE_MS = 1_000;
/**
 * Peers that end their connections are handed to ws at most this many per turn of the event loop
 * (see EndQueue). 12 000 idle sockets cut at once cost ~55 µs each in node's and ws's teardown,
 * one 0.67 s stall when done in a row (bench:abuse, idle phase); in slices, timers and other
 * requests run between them.
 */
export const ENDS_PER_TURN = 200;
/** Where the upgrade path leaves the chosen subprotocol for ws's handleProtocols hook. */
const CHOSEN = Symbol("varsel.chosenProtocol");
type UpgradeMessage = http.IncomingMessage & { [CHOSEN]?: string | false };

const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What ws's own Sec-WebSocket-Protocol parser accepts: distinct tokens separated by commas. */
function validProtocolList(header: string): boolean {
  const list = header.split(",").map((p) => p.trim());
  return list.every((p) => TOKEN.test(p)) && new Set(list).size === list.length;
}

/**
 * A socket's error listener, declared here rather than as a closure: a closure made in
 * onUpgrade stays on the socket for its whole life and holds onUpgrade's scope with it (the
 * request, its headers, the token): ~12 % of an idle connection's heap (heap snapshot, 12 000
 * idle sockets).
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function collectHeaders(raw: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) addHeader(headers, raw[i]!, raw[i + 1]!);
  return headers;
}

function splitUrl(url: string | undefined): [string, string] {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q < 0 ? [u, ""] : [u.slice(0, q), u.slice(q + 1)];
}

/**
 * Runs the deferred ends, ENDS_PER_TURN per turn (setImmediate: I/O and timers come between).
 * Order is kept; a socket destroyed meanwhile is skipped by the task itself.
 */
class EndQueue {
  private tasks: (() => void)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  push(task: () => void): void {
    this.tasks.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    const end = Math.min(this.tasks.length, this.head + ENDS_PER_TURN);
    for (; this.head < end; this.head++) {
      const task = this.tasks[this.head]!;
      this.tasks[this.head] = undefined as never;
      try {
        task();
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.head < this.tasks.length) return void setImmediate(this.run);
    this.tasks = [];
    this.head = 0;
    this.scheduled = false;
  };
}

type WsInternals = WebSocket & { _socket?: net.Socket; _receiver?: { end: (...args: unknown[]) => unknown; _writableState?: { ending?: boolean; destroyed?: boolean } } };

/**
 * Two changes to how ws tears a connection down when the peer ends it (both measured with
 * bench/abuse/close-storm.ts, 12 000 idle sockets cut at once):
 * - ws's own 'end' listener (socketOnEnd: end the parser, end our side) is deferred to `ends`,
 *   which runs them in slices, so the teardown is spread over turns of the loop instead of being
 *   one stall. `listenersBefore` are the socket's 'end' listeners before ws took the socket:
 *   what ws added is the difference. A socket destroyed meanwhile is skipped: ws's 'close'
 *   listener then does the same work (and ws's end on a closed socket would throw).
 * - ws ends its frame parser again in its 'close' listener, after socketOnEnd already did; a
 *   second end() of a finished stream builds an ERR_STREAM_ALREADY_FINISHED error (message
 *   formatting, stack capture: a quarter of the teardown's CPU) that nothing reads. A repeated
 *   end() without arguments returns at once instead; with arguments it goes through as before.
 */
function spreadTeardown(ws: WebSocket, listenersBefore: readonly Function[], ends: EndQueue): void {
  const internals = ws as WsInternals;
  const socket = internals._socket;
  const receiver = internals._receiver;
  if (receiver !== undefined && typeof receiver.end === "function") {
    const end = receiver.end;
    receiver.end = function (this: typeof receiver, ...args: unknown[]) {
      const state = this._writableState;
      if (args.length === 0 && state !== undefined && (state.ending === true || state.destroyed === true)) return this;
      return end.apply(this, args);
    };
  }
  if (socket === undefined) return;
  for (const listener of socket.listeners("end")) {
    if (listenersBefore.includes(listener)) continue;
    const wsEnd = listener as (this: net.Socket) => void;
    socket.off("end", wsEnd);
    socket.on("end", () => ends.push(() => void (socket.destroyed || wsEnd.call(socket))));
  }
}

class NodeConn extends BaseConn {
  /** Set by the idle sweep; any frame from the peer clears it. */
  alive = true;
  private corked = false;

  constructor(
    id: number,
    readonly ws: WebSocket,
    protocol: string,
    remoteAddress: string,
    userData: Record<string, unknown>,
    private readonly route: ResolvedWsRoute,
    private readonly opts: ResolvedOptions,
  ) {
    super(id, protocol, remoteAddress, userData);
  }

  private readonly afterWrite = (err?: Error): void => {
    if (err !== undefined && err !== null) return;
    if (this.wantDrain && !this.closed && this.ws.bufferedAmount === 0) {
      this.wantDrain = false;
      const drain = this.route.handlers.drain;
      if (drain !== undefined) safeCall(this.opts.logger, "drain", () => drain.call(this.route.handlers, this));
    }
  };

  protected write(data: string | Buffer | Uint8Array, binary: boolean): SendResult {
    if (this.ws.readyState !== WebSocket.OPEN) return "dropped";
    if (this.ws.bufferedAmount > this.route.maxBackpressureBytes) {
      this.wantDrain = true;
      return "dropped";
    }
    this.ws.send(data, { binary, compress: false, fin: true }, this.afterWrite);
    if (this.ws.bufferedAmount > 0) {
      this.wantDrain = true;
      return "backpressure";
    }
    return "ok";
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.bufferedAmount;
  }

  override pauseReading(ms: number): void {
    if (this.closing || this.ws.isPaused) return;
    this.ws.pause();
    setTimeout(() => {
      // A connection closed meanwhile stays paused (see boundReadsAfterClose).
      if (!this.closing) this.ws.resume();
    }, ms).unref();
  }

  /** Holds the TCP writes of `fn`'s sends and hands them to the kernel together on the next tick. */
  cork(fn: () => void): void {
    const socket = (this.ws as WebSocket & { _socket?: net.Socket })._socket;
    if (this.corked || socket === undefined || this.closed) return fn();
    this.corked = true;
    socket.cork();
    try {
      fn();
    } finally {
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
  }

  protected end(code: number, reason: string): void {
    this.ws.close(code, reason);
    this.boundReadsAfterClose();
  }

  /**
   * Reads at most MAX_READ_AFTER_CLOSE_BYTES more; past that (or at once, when reading was
   * paused, e.g. a muted flooder) stops reading, ends the TCP connection after the close frame
   * and cuts it UNREAD_CLOSE_GRACE_MS later. The peer has the close frame with its code either
   * way; ws would otherwise read, unmask and validate everything until the peer's close frame.
   */
  private boundReadsAfterClose(): void {
    const socket = (this.ws as WebSocket & { _socket?: net.Socket })._socket;
    if (socket === undefined || socket.destroyed) return;
    const stop = (): void => {
      socket.off("data", count);
      this.ws.pause(); // ws.pause, not socket.pause: ws resumes a socket it did not see paused
      socket.end(); // after the close frame, already written
      setTimeout(() => socket.destroy(), UNREAD_CLOSE_GRACE_MS).unref();
    };
    let left = MAX_READ_AFTER_CLOSE_BYTES;
    const count = (chunk: Buffer): void => {
      left -= chunk.length;
      if (left < 0) stop();
    };
    if (this.ws.isPaused) return stop();
    socket.prependListener("data", count);
  }

  protected cut(): void {
    this.ws.terminate();
  }
}

class NodeTransport implements Transport {
  readonly kind = "ws" as const;
  private readonly opts: ResolvedOptions;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer | undefined;
  private readonly conns = new Set<NodeConn>();
  /** Raw sockets between the upgrade request and the WebSocket opening (or refusal). */
  private readonly upgrading = new Set<Duplex>();
  /** Peers' ends waiting for ws, handled in slices (spreadTeardown). */
  private readonly ends: EndQueue;
  private inflight = 0;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: TransportOptions) {
    this.opts = resolveOptions(options);
    this.ends = new EndQueue((err) => this.opts.logger.error({ err }, "ws connection end failed"));
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // A body that never finishes must not pin a connection for node's default 5 minutes.
    this.server.requestTimeout = 60_000;
    const route = this.opts.ws;
    if (route !== undefined) {
      this.wss = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        maxPayload: route.maxMessageBytes,
        handleProtocols: (_offered, req) => (req as UpgradeMessage)[CHOSEN] ?? false,
      });
    }
    this.server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    // CONNECT reaches the handler as uWS hands it over (node gives it to 'connect' and, without a
    // listener, drops the connection); a method node's parser does not know: see onClientError.
    this.server.on("connect", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => socket.destroy());
      this.serveUpgradeAsHttp(req, socket as net.Socket, head, collectHeaders(req.rawHeaders));
    });
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
  }

  /**
   * What node does for a request its parser refuses (408, otherwise 400, each only when nothing
   * is being answered on that connection), except that an unknown method (405
   * method_not_allowed) and headers over node's 16 KiB (431 headers_too_large) get the JSON error
   * body, as the router answers.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const answering = (socket as Duplex & { _httpMessage?: unknown })._httpMessage;
    if (!socket.writable || (answering !== undefined && answering !== null)) return void socket.destroy();
    if (err.code === "HPE_INVALID_METHOD") return this.rawReply(socket, errorResponse("method_not_allowed", UNSUPPORTED_METHOD));
    if (err.code === "HPE_HEADER_OVERFLOW") return this.rawReply(socket, errorResponse("headers_too_large"));
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.once("finish", () => socket.destroy());
    socket.end(`HTTP/1.1 ${statusLine(status)}\r\nConnection: close\r\n\r\n`);
  }

  connections(): number {
    return this.conns.size;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, host, () => {
        this.server.off("error", onError);
        const addr = this.server.address();
        this.startSweep();
        resolve(typeof addr === "object" && addr !== null ? addr.port : port);
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    const serverClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    for (const conn of this.conns) conn.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
    const grace = this.opts.shutdownGraceMs;
    // Upgrades still waiting on selectProtocol are answered 503 shutting_down when it returns.
    await waitUntil(() => this.conns.size === 0 && this.inflight === 0 && this.upgrading.size === 0, grace);
    for (const conn of this.conns) conn.terminate();
    for (const socket of this.upgrading) socket.destroy();
    this.server.closeAllConnections();
    await waitUntil(() => this.conns.size === 0, grace);
    await withTimeout(serverClosed, grace);
  }

  // ------------------------------------------------------------ HTTP

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inflight++;
    res.once("close", () => this.inflight--);
    req.on("error", () => undefined); // aborted by the peer: the response is dropped below
    const headers = collectHeaders(req.rawHeaders);
    const [path, qs] = splitUrl(req.url);
    const method = (req.method ?? "GET").toUpperCase();
    const limit = this.opts.maxBodyBytes;

    const declared = headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
      this.write(res, method, errorResponse("payload_too_large"), true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        this.write(res, method, errorResponse("payload_too_large"), true);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      const request: HttpRequest = {
        method,
        path,
        query: new URLSearchParams(qs),
        headers,
        body: chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size),
        remoteAddress: normalizeAddress(req.socket.remoteAddress),
      };
      void this.dispatch(request).then((r) => this.write(res, method, r, false));
    });
  }

  private async dispatch(req: HttpRequest): Promise<HttpResponse> {
    try {
      return checkResponse(await this.opts.http(req), this.opts.logger);
    } catch (err) {
      return responseForError(err, this.opts.logger, `${req.method} ${req.path}`);
    }
  }

  private write(res: http.ServerResponse, method: string, r: HttpResponse, closeConnection: boolean): void {
    if (res.destroyed || res.writableEnded) return;
    const body = r.body === undefined ? EMPTY : typeof r.body === "string" ? Buffer.from(r.body) : r.body;
    try {
      res.statusCode = r.status;
      for (const [k, v] of Object.entries(r.headers ?? {})) if (!TRANSPORT_HEADERS.has(k.toLowerCase())) res.setHeader(k, v);
    } catch (err) {
      // Invalid header name or value from the handler.
      for (const k of res.getHeaderNames()) res.removeHeader(k);
      return this.write(res, method, responseForError(err, this.opts.logger, "writing response headers"), closeConnection);
    }
    if (closeConnection || this.closing !== undefined) res.setHeader("connection", "close");
    if (r.status === 204 || r.status === 304) {
      res.end();
    } else {
      res.setHeader("content-length", body.length);
      if (bodyless(r.status, method)) res.end();
      else res.end(body);
    }
  }

  // ------------------------------------------------------------ WebSocket

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // node removed its own error listener from the socket when it handed the upgrade over.
    socket.on("error", destroyOnError);
    const headers = collectHeaders(req.rawHeaders);
    const [path, qs] = splitUrl(req.url);
    const route = this.opts.ws;
    const wss = this.wss;
    // Not a WebSocket (e.g. curl's "Upgrade: h2c"): uWS ignores such an Upgrade header, so do we.
    if (!isWebSocketUpgrade(headers)) return this.serveUpgradeAsHttp(req, socket as net.Socket, head, headers);
    if (this.closing !== undefined) return this.rawReply(socket, errorResponse("shutting_down"));
    // uWS only routes a GET with a 24-character key to the WebSocket handler; the rest is a 404.
    if (route === undefined || wss === undefined || path !== route.path || req.method !== "GET" || !WS_KEY.test(headers["sec-websocket-key"] ?? "")) {
      return this.rawReply(socket, errorResponse("not_found"));
    }
    const version = headers["sec-websocket-version"];
    const protocols = headers["sec-websocket-protocol"];
    if ((version !== "13" && version !== "8") || (protocols !== undefined && !validProtocolList(protocols))) {
      // ws answers these with 400 (uWS lets them through); selectProtocol is not asked.
      return void wss.handleUpgrade(req, socket, head, (ws) => ws.terminate());
    }
    const upReq: UpgradeRequest = {
      path,
      query: new URLSearchParams(qs),
      headers,
      remoteAddress: normalizeAddress(req.socket.remoteAddress),
      userData: {},
    };
    const offered = parseProtocols(headers["sec-websocket-protocol"]);
    // Taken off once decided: a listener made here and left on the socket would hold this whole
    // scope (the request, its headers, the token) for the connection's life (heap snapshot).
    const forget = (): void => void this.upgrading.delete(socket);
    const decide = (choice: ProtocolChoice): void => {
      this.upgrading.delete(socket);
      socket.off("close", forget);
      if (socket.destroyed) return;
      if (this.closing !== undefined) return this.rawReply(socket, errorResponse("shutting_down"));
      if (choice === false) return this.rawReply(socket, errorResponse("unauthorized"));
      if (choice !== undefined && !offered.includes(choice)) {
        const err = new Error(`selectProtocol chose ${JSON.stringify(choice)}, which the client did not offer`);
        return this.rawReply(socket, responseForError(err, this.opts.logger, "selectProtocol"));
      }
      (req as UpgradeMessage)[CHOSEN] = choice ?? false;
      const endListeners = socket.listeners("end");
      wss.handleUpgrade(req, socket, head, (ws) => {
        spreadTeardown(ws, endListeners, this.ends);
        this.onOpen(ws, choice ?? "", upReq, route);
      });
    };
    const refuse = (err: unknown): void => {
      this.upgrading.delete(socket);
      socket.off("close", forget);
      if (socket.destroyed) return;
      this.rawReply(socket, responseForError(err, this.opts.logger, "selectProtocol"));
    };
    this.upgrading.add(socket);
    socket.once("close", forget);
    let choice: ProtocolChoice | Promise<ProtocolChoice>;
    try {
      choice = route.selectProtocol(offered, upReq);
    } catch (err) {
      return refuse(err);
    }
    if (choice instanceof Promise) {
      choice.then(decide, refuse).catch((err: unknown) => {
        this.opts.logger.error({ err }, "WebSocket upgrade failed");
        socket.destroy();
      });
    } else {
      decide(choice);
    }
  }

  /**
   * node hands every request with an Upgrade header to 'upgrade' (and CONNECT to 'connect'), its HTTP parser already gone.
   * Answer it as a plain request over the raw socket (then close): the body is what follows the
   * head, up to Content-Length; a chunked one is refused (411), we have no parser for it here.
   */
  private serveUpgradeAsHttp(req: http.IncomingMessage, socket: net.Socket, head: Buffer, headers: Record<string, string>): void {
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once("finish", () => {
      res.detachSocket(socket);
      socket.destroySoon();
    });
    const method = (req.method ?? "GET").toUpperCase();
    this.inflight++;
    let counted = true;
    const settle = (): void => {
      if (counted) this.inflight--;
      counted = false;
    };
    res.once("finish", settle);
    socket.once("close", settle);
    socket.setTimeout(this.server.requestTimeout, () => socket.destroy());
    if (headers["transfer-encoding"] !== undefined) return this.write(res, method, errorResponse("length_required"), true);
    const declared = Number(headers["content-length"] ?? "0");
    if (!Number.isSafeInteger(declared) || declared < 0) return void socket.destroy();
    if (declared > this.opts.maxBodyBytes) return this.write(res, method, errorResponse("payload_too_large"), true);
    const chunks: Buffer[] = head.length > 0 ? [head] : [];
    let size = head.length;
    const complete = (): void => {
      socket.off("data", onData);
      const [path, qs] = splitUrl(req.url);
      const body = Buffer.concat(chunks, size).subarray(0, declared);
      const request: HttpRequest = {
        method, path, query: new URLSearchParams(qs), headers, body, remoteAddress: normalizeAddress(socket.remoteAddress),
      };
      void this.dispatch(request).then((r) => this.write(res, method, r, true));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= declared) complete();
    };
    if (size >= declared) return complete();
    socket.on("data", onData);
  }

  /** Answers an upgrade request with a plain HTTP response and closes the socket. */
  private rawReply(socket: Duplex, r: HttpResponse): void {
    if (!socket.writable) return void socket.destroy();
    const body = r.body === undefined ? EMPTY : typeof r.body === "string" ? Buffer.from(r.body) : r.body;
    let head = `HTTP/1.1 ${statusLine(r.status)}\r\nConnection: close\r\nContent-Length: ${body.length}\r\n`;
    for (const [k, v] of Object.entries(r.headers ?? {})) if (!TRANSPORT_HEADERS.has(k.toLowerCase())) head += `${k}: ${v}\r\n`;
    socket.once("finish", () => socket.destroy());
    socket.end(Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), body]));
  }

  private onOpen(ws: WebSocket, protocol: string, upReq: UpgradeRequest, route: ResolvedWsRoute): void {
    const conn = new NodeConn(this.nextId++, ws, protocol, upReq.remoteAddress, upReq.userData, route, this.opts);
    const { handlers } = route;
    const logger = this.opts.logger;
    this.conns.add(conn);
    ws.on("error", (err) => logger.debug({ err, conn: conn.id }, "ws connection error"));
    ws.on("pong", () => void (conn.alive = true));
    ws.on("ping", () => void (conn.alive = true));
    ws.on("message", (data: RawData, isBinary: boolean) => {
      conn.alive = true;
      if (conn.isClosing) return; // as uWS: nothing is delivered once the server closed it
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      safeCall(logger, "message", () => handlers.message(conn, buf, isBinary));
    });
    ws.on("close", (code: number, reason: Buffer) => {
      conn.markClosed();
      this.conns.delete(conn);
      const close = handlers.close;
      if (close !== undefined) safeCall(logger, "close", () => close.call(handlers, conn, code, reason.toString("utf8")));
    });
    const open = handlers.open;
    if (open !== undefined) safeCall(logger, "open", () => open.call(handlers, conn));
    if (this.closing !== undefined) conn.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
  }

  /** Every idleTimeout/2: cut connections silent since the last sweep, ping the others. */
  private startSweep(): void {
    const idle = this.opts.ws?.idleTimeoutSeconds ?? 0;
    if (idle === 0 || this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => {
      for (const conn of this.conns) {
        if (!conn.alive) {
          conn.terminate();
          continue;
        }
        conn.alive = false;
        try {
          conn.ws.ping();
        } catch {
          // not open any more: the close event is on its way
        }
      }
    }, (idle * 1000) / 2);
    this.sweepTimer.unref();
  }
}

/** The node:http + ws transport. */
export function createNodeTransport(options: TransportOptions): Transport {
  return new NodeTransport(options);
}
