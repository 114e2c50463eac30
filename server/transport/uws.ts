// The uWebSockets.js transport. select.ts loads the native module and hands it in, so this
// file never imports the binary itself (a failed load must not take the process down).
//
// uWS rules kept here: the request object is only valid synchronously inside the route
// handler (everything is read before the first await); every response that is not answered
// synchronously has an onAborted handler; body chunks are copied (uWS neuters them after the
// callback); writes from outside a uWS callback are corked; nothing touches a response after
// it ended or was aborted, nor a WebSocket after its close event (both throw).
import { createServer, type AddressInfo } from "node:net";
import type * as uws from "uWebSockets.js";
import {
  SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON, TOO_BIG_CLOSE_CODE, TOO_BIG_REASON, TRANSPORT_HEADERS, addHeader, bodyless,
  checkResponse, errorResponse, formatIp, isWebSocketUpgrade, parseProtocols,
  resolveOptions, responseForError, safeCall, statusLine, delay, waitUntil, type ResolvedOptions, type ResolvedWsRoute,
} from "./common.js";
import { BaseConn } from "./conn.js";
import type {
  HttpRequest, HttpResponse, ProtocolChoice, SendResult, Transport, TransportOptions, UpgradeRequest,
} from "./types.js";

/** The uWebSockets.js module (the native binding). */
export type UwsModule = typeof uws;

/** uWS ListenOptions: fail when the port is in use. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
/** The native listen takes a host and options together; its type declarations list only port and options. */
type ListenWithOptions = { listen(host: string, port: number, options: number, cb: (ls: uws.us_listen_socket | false) => void): unknown };

const EMPTY = Buffer.alloc(0);
/** uWS's own status codes for WebSocket.send. */
const SEND_DROPPED = 2;

/**
 * uWS cuts a message over maxPayloadLength with 1006 and no close frame. So the native cap is
 * set above the app's limit and the transport itself closes with 1009 for messages between
 * the two; only a message over this native cap is still cut with 1006.
 */
export function nativePayloadCap(maxMessageBytes: number): number {
  return Math.min(2 * maxMessageBytes + 64 * 1024, 0x7fff_ffff);
}

/** Per-socket data uWS carries from upgrade to open. */
interface UserData {
  protocol: string;
  upReq: UpgradeRequest;
  conn?: UwsConn;
}

/** A copy of a uWS ArrayBuffer (uWS neuters it when the callback returns). */
function copy(ab: ArrayBuffer): Buffer {
  return Buffer.from(new Uint8Array(ab));
}

class UwsConn extends BaseConn {
  /** Frames sent while uWS is still inside the upgrade's cork (see holdSends). */
  private held: [data: string | Buffer | Uint8Array, binary: boolean][] | undefined;

  constructor(
    id: number,
    private readonly ws: uws.WebSocket<UserData>,
    protocol: string,
    remoteAddress: string,
    userData: Record<string, unknown>,
  ) {
    super(id, protocol, remoteAddress, userData);
  }

  /**
   * From here until the current microtask ends, frames are held and then sent. uWS calls `open`
   * inside `res.cork(() => res.upgrade(...))`; after an asynchronous upgrade, cork's epilogue
   * reads the new WebSocket's data as HTTP response state and, depending on what a send in `open`
   * left there, closes the socket at once (1006 right after open; uWebSockets issue 1928, fixed
   * upstream by PR 1929, not in this build; the reporter's workaround: no send inside `open`).
   */
  holdSends(): void {
    this.held = [];
    queueMicrotask(() => this.releaseHeld());
  }

  private releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    if (held.length > 0 && !this.closed) this.cork(() => held.forEach(([data, binary]) => this.write(data, binary)));
  }

  protected write(data: string | Buffer | Uint8Array, binary: boolean): SendResult {
    if (this.held !== undefined) {
      this.held.push([data, binary]);
      return "ok";
    }
    let r = 0;
    this.ws.cork(() => void (r = this.ws.send(data, binary, false))); // a no-op wrapper inside an outer cork
    if (r === SEND_DROPPED) {
      this.wantDrain = true;
      return "dropped";
    }
    if (this.ws.getBufferedAmount() > 0) {
      this.wantDrain = true;
      return "backpressure";
    }
    return "ok";
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  /** One cork for all of `fn`'s sends: outside a uWS callback, every uncorked send is a syscall. */
  cork(fn: () => void): void {
    if (this.closed) return fn();
    this.ws.cork(fn);
  }

  protected end(code: number, reason: string): void {
    this.releaseHeld(); // what was sent before close() goes before the close frame
    this.ws.cork(() => this.ws.end(code, reason)); // runs the close event synchronously
  }

  protected cut(): void {
    this.ws.close(); // runs the close event synchronously (1006)
  }
}

class UwsTransport implements Transport {
  readonly kind = "uws" as const;
  private readonly opts: ResolvedOptions;
  private readonly app: uws.TemplatedApp;
  private listenSocket: uws.us_listen_socket | undefined;
  private readonly conns = new Set<UwsConn>();
  private inflight = 0;
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(private readonly uws: UwsModule, options: TransportOptions) {
    this.opts = resolveOptions(options);
    this.app = uws.App();
    const route = this.opts.ws;
    if (route !== undefined) this.app.ws<UserData>(route.path, this.behavior(route));
    this.app.any("/*", (res, req) => this.onRequest(res, req));
  }

  connections(): number {
    return this.conns.size;
  }

  /**
   * uSockets sets SO_REUSEADDR only on a listener with a fixed port (its
   * bsd.c: `if (port != 0)`). Without it, the connections of a server killed with -9 hold the
   * port in TIME_WAIT / FIN_WAIT2 against every new listener for ~60 s. So port 0 is resolved
   * first: the kernel names a free port and uWS listens on it as on a fixed one (again if another
   * process took it meanwhile).
   */
  async listen(port: number, host: string): Promise<number> {
    if (port !== 0) return this.listenOn(port, host);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listenOn(await freePort(host), host);
      } catch (err) {
        if (attempt === 3 || this.closing !== undefined) throw err;
      }
    }
  }

  private listenOn(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closing !== undefined) return reject(new Error("transport is closed"));
      // Exclusive: without it uWS sets SO_REUSEPORT, and a second server on a port in use "listens" beside the first.
      (this.app as unknown as ListenWithOptions).listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (ls) => {
        if (ls === false) return reject(new Error(`uWS could not listen on ${host}:${port} (in use, or not an address of this machine)`));
        this.listenSocket = ls;
        resolve(this.uws.us_socket_local_port(ls as unknown as uws.us_socket));
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.listenSocket !== undefined) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    for (const conn of [...this.conns]) conn.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
    await waitUntil(() => this.conns.size === 0 && this.inflight === 0, this.opts.shutdownGraceMs);
    for (const conn of [...this.conns]) conn.terminate();
    // Give the close frames a moment on the wire before app.close() cuts every socket left
    // (peers still in their closing handshake, idle keep-alive HTTP connections).
    await delay(50);
    const app = this.app as uws.TemplatedApp & { close?: () => void };
    if (typeof app.close === "function") app.close();
  }

  // ------------------------------------------------------------ HTTP

  private onRequest(res: uws.HttpResponse, req: uws.HttpRequest): void {
    // Everything from `req` must be read now: it is stack-allocated in C++.
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const path = req.getUrl();
    const qs: string | undefined = req.getQuery(); // undefined (not "") when there is none
    const headers: Record<string, string> = {};
    req.forEach((k, v) => addHeader(headers, k, v));
    const remoteAddress = formatIp(new Uint8Array(res.getRemoteAddress()));

    if (isWebSocketUpgrade(headers)) {
      // A WebSocket upgrade that did not match the ws route (wrong path, or no route).
      return this.write(res, method, errorResponse("not_found"), true);
    }
    const limit = this.opts.maxBodyBytes;
    const declared = headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
      return this.write(res, method, errorResponse("payload_too_large"), true);
    }

    let done = false;
    let aborted = false;
    this.inflight++;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.inflight--;
    };
    res.onAborted(() => {
      aborted = true;
      done = true;
      settle();
    });
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((ab, isLast) => {
      if (done) return; // this uWS build keeps delivering the body after the response ended
      size += ab.byteLength;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        this.write(res, method, errorResponse("payload_too_large"), true);
        return settle();
      }
      if (!isLast) {
        chunks.push(copy(ab));
        return;
      }
      done = true;
      let body: Buffer;
      if (chunks.length === 0) body = ab.byteLength === 0 ? EMPTY : copy(ab);
      else {
        chunks.push(copy(ab));
        body = Buffer.concat(chunks, size);
      }
      const request: HttpRequest = { method, path, query: new URLSearchParams(qs ?? ""), headers, body, remoteAddress };
      void this.dispatch(request).then((r) => {
        if (!aborted) this.write(res, method, r, false);
        settle();
      });
    });
  }

  private async dispatch(req: HttpRequest): Promise<HttpResponse> {
    try {
      return checkResponse(await this.opts.http(req), this.opts.logger);
    } catch (err) {
      return responseForError(err, this.opts.logger, `${req.method} ${req.path}`);
    }
  }

  private write(res: uws.HttpResponse, method: string, r: HttpResponse, closeConnection: boolean): void {
    const body = r.body === undefined ? EMPTY : typeof r.body === "string" ? Buffer.from(r.body) : r.body;
    const close = closeConnection || this.closing !== undefined;
    res.cork(() => {
      res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers ?? {})) if (!TRANSPORT_HEADERS.has(k.toLowerCase())) res.writeHeader(k, v);
      if (r.status === 204 || r.status === 304) res.endWithoutBody(undefined, close);
      else if (bodyless(r.status, method)) res.endWithoutBody(body.length, close);
      else res.end(body, close);
    });
  }

  // ------------------------------------------------------------ WebSocket

  private behavior(route: ResolvedWsRoute): uws.WebSocketBehavior<UserData> {
    const { handlers } = route;
    const logger = this.opts.logger;
    return {
      maxPayloadLength: nativePayloadCap(route.maxMessageBytes),
      maxBackpressure: route.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: route.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      maxLifetime: 0,
      compression: this.uws.DISABLED,
      upgrade: (res, req, context) => this.onUpgrade(route, res, req, context),
      open: (ws) => {
        const ud = ws.getUserData();
        const conn = new UwsConn(this.nextId++, ws, ud.protocol, ud.upReq.remoteAddress, ud.upReq.userData);
        ud.conn = conn;
        this.conns.add(conn);
        conn.holdSends();
        const open = handlers.open;
        if (open !== undefined) safeCall(logger, "open", () => open.call(handlers, conn));
        if (this.closing !== undefined) conn.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
      },
      message: (ws, message, isBinary) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined) return;
        if (message.byteLength > route.maxMessageBytes) return conn.close(TOO_BIG_CLOSE_CODE, TOO_BIG_REASON);
        const data = copy(message);
        safeCall(logger, "message", () => handlers.message(conn, data, isBinary));
      },
      drain: (ws) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined || !conn.wantDrain || ws.getBufferedAmount() > 0) return;
        conn.wantDrain = false;
        const drain = handlers.drain;
        if (drain !== undefined) safeCall(logger, "drain", () => drain.call(handlers, conn));
      },
      close: (ws, code, message) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined) return;
        conn.markClosed();
        this.conns.delete(conn);
        const reason = Buffer.from(message).toString("utf8"); // copy now: neutered after return
        const close = handlers.close;
        // Never re-entrant: uWS runs this inside conn.close()/terminate(); ws runs it later.
        if (close !== undefined) queueMicrotask(() => safeCall(logger, "close", () => close.call(handlers, conn, code, reason)));
      },
    };
  }

  private onUpgrade(route: ResolvedWsRoute, res: uws.HttpResponse, req: uws.HttpRequest, context: uws.us_socket_context_t): void {
    const path = req.getUrl();
    const qs: string | undefined = req.getQuery();
    const headers: Record<string, string> = {};
    req.forEach((k, v) => addHeader(headers, k, v));
    const key = headers["sec-websocket-key"] ?? "";
    const extensions = headers["sec-websocket-extensions"] ?? "";
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const upReq: UpgradeRequest = {
      path,
      query: new URLSearchParams(qs ?? ""),
      headers,
      remoteAddress: formatIp(new Uint8Array(res.getRemoteAddress())),
      userData: {},
    };
    if (this.closing !== undefined) return this.write(res, method, errorResponse("shutting_down"), true);
    const offered = parseProtocols(headers["sec-websocket-protocol"]);
    let aborted = false;
    const decide = (choice: ProtocolChoice): void => {
      if (aborted) return;
      if (this.closing !== undefined) return this.write(res, method, errorResponse("shutting_down"), true);
      if (choice === false) return this.write(res, method, errorResponse("unauthorized"), true);
      if (choice !== undefined && !offered.includes(choice)) {
        const err = new Error(`selectProtocol chose ${JSON.stringify(choice)}, which the client did not offer`);
        return this.write(res, method, responseForError(err, this.opts.logger, "selectProtocol"), true);
      }
      const ud: UserData = { protocol: choice ?? "", upReq };
      res.cork(() => res.upgrade<UserData>(ud, key, choice ?? "", extensions, context));
    };
    const refuse = (err: unknown): void => {
      if (!aborted) this.write(res, method, responseForError(err, this.opts.logger, "selectProtocol"), true);
    };
    let choice: ProtocolChoice | Promise<ProtocolChoice>;
    try {
      choice = route.selectProtocol(offered, upReq);
    } catch (err) {
      return refuse(err);
    }
    if (choice instanceof Promise) {
      // Counted as in flight: close() lets it finish (it is then answered 503 shutting_down).
      this.inflight++;
      let settled = false;
      const settle = (): void => {
        if (!settled) this.inflight--;
        settled = true;
      };
      res.onAborted(() => {
        aborted = true;
        settle();
      });
      choice
        .then(decide, refuse)
        .catch((err: unknown) => this.opts.logger.error({ err }, "WebSocket upgrade failed"))
        .finally(settle);
    } else {
      decide(choice);
    }
  }
}

/** A port that is free on `host` now, named by the kernel. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port: 0, host, exclusive: true }, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The uWebSockets.js transport on an already loaded native module (see select.ts). */
export function createUwsTransport(uwsModule: UwsModule, options: TransportOptions): Transport {
  return new UwsTransport(uwsModule, options);
}
