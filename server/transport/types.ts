// The transport interface: what the routes in server/app.ts see of HTTP and WebSocket I/O.
// Two implementations pass the same suite (test/transport.test.ts): uws.ts on uWebSockets.js
// and node.ts on node:http + ws; select.ts picks one. Nothing here knows about routes or
// business logic.
import type { Logger } from "pino";

// ---------------------------------------------------------------- HTTP

/** One buffered HTTP request. */
export interface HttpRequest {
  /** Upper-case method: "GET", "POST", ... */
  readonly method: string;
  /** Path without the query string, as sent (not percent-decoded), e.g. "/v1/readings". */
  readonly path: string;
  /** The parsed query string. */
  readonly query: URLSearchParams;
  /** Header names in lower case; repeated headers are joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The whole body (empty when there is none); never more than `maxBodyBytes`. */
  readonly body: Buffer;
  /** Peer IP as text: "127.0.0.1", "::1" (IPv4-mapped IPv6 is shown as plain IPv4). */
  readonly remoteAddress: string;
}

/** The answer to an HTTP request. */
export interface HttpResponse {
  readonly status: number;
  /** Extra headers. content-length is computed by the transport (a given one is ignored). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

/**
 * Answers one request. A rejection or throw becomes 500 `internal_error` (JSON from the
 * catalogue), or the error's own status and body when it is a `VarselError`; it never
 * crashes the process.
 */
export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;

// ---------------------------------------------------------------- WebSocket

/** The HTTP upgrade request of a WebSocket, as offered to `selectProtocol`. */
export interface UpgradeRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  /** Starts empty; whatever `selectProtocol` puts here becomes `SocketConn.userData`. */
  readonly userData: Record<string, unknown>;
}

/**
 * The subprotocol decision:
 * - a string: accept and answer with that subprotocol (it must be one of `offered`);
 * - `undefined`: accept without a subprotocol;
 * - `false`: refuse with HTTP 401 `unauthorized` (no WebSocket is opened).
 * Throwing a `VarselError` refuses with that error's status and body (e.g. 401 token_expired,
 * 403 forbidden); any other throw refuses with 500 internal_error.
 */
export type ProtocolChoice = string | undefined | false;

/** `offered` is the client's Sec-WebSocket-Protocol list, in its order (may be empty). */
export type SelectProtocol = (
  offered: readonly string[],
  req: UpgradeRequest,
) => ProtocolChoice | Promise<ProtocolChoice>;

/** Result of `SocketConn.send`. */
export type SendResult =
  /** Handed to the kernel in full. */
  | "ok"
  /** Queued in user space: stop sending and wait for `drain` (or check `bufferedAmount()`). */
  | "backpressure"
  /** Not sent: the socket is closed, or more than `maxBackpressureBytes` were already queued. */
  | "dropped";

/** One open WebSocket connection, valid from `open` until `close`. */
export interface SocketConn {
  /** Unique within the transport instance, increasing. */
  readonly id: number;
  /** The subprotocol chosen at upgrade ("" for none). */
  readonly protocol: string;
  readonly remoteAddress: string;
  /**
   * Never throws; see `SendResult`. Takes ownership of `data`: do not modify a buffer after
   * sending it (the ws transport may still be holding it in its write queue; uWS copies).
   */
  send(data: string | Buffer | Uint8Array, binary: boolean): SendResult;
  /** Bytes queued in user space and not yet handed to the kernel. */
  bufferedAmount(): number;
  /**
   * Runs `fn` (synchronously) with this connection's writes held back and handed to the kernel
   * together: several frames, one syscall. Sends inside answer as usual. Nested calls just run.
   */
  cork(fn: () => void): void;
  /**
   * Starts a closing handshake with `code` (1000-1003, 1007-1014, 3000-4999; RangeError
   * otherwise) and `reason` (cut to 123 UTF-8 bytes). After this, `send` answers "dropped".
   * No-op when already closing or closed.
   */
  close(code: number, reason: string): void;
  /** Cuts the connection at once, without a close frame. `close` reports 1006. */
  terminate(): void;
  /**
   * Stops reading this connection's frames for `ms` (TCP backpressure: a flooding client is held
   * up by its own send buffer instead of costing the server a parse per frame). The ws transport
   * pauses the socket; uWebSockets.js has no pause for WebSockets and judges each frame as it
   * arrives, so there it does nothing.
   */
  pauseReading(ms: number): void;
  /** What `selectProtocol` put in `UpgradeRequest.userData`; free for the app to use. */
  readonly userData: Record<string, unknown>;
}

/**
 * Connection events. A throw (or a rejected promise) in any of them is logged and otherwise
 * ignored. `close` is called exactly once per opened connection, also when the server closes
 * it, and never re-entrantly from inside `conn.close()`/`terminate()`; `code` is 1006 when there
 * was no closing handshake (terminate, idle timeout, network). Once the server called
 * `conn.close()`, no further `message` is delivered.
 */
export interface SocketHandlers {
  open?(conn: SocketConn): void | Promise<void>;
  /** `data` is a copy owned by the handler. Text frames arrive UTF-8 encoded, `isBinary` false. */
  message(conn: SocketConn, data: Buffer, isBinary: boolean): void | Promise<void>;
  /** After a send answered "backpressure" (or "dropped"), once `bufferedAmount()` is back to 0. */
  drain?(conn: SocketConn): void;
  close?(conn: SocketConn, code: number, reason: string): void;
}

/** The WebSocket endpoint. */
export interface WebSocketRoute {
  /**
   * Exact path of the endpoint, e.g. "/v1/ws". A WebSocket upgrade elsewhere (or without a
   * valid Sec-WebSocket-Key, or not a GET) gets 404 `not_found`; one that arrives while the
   * transport is closing gets 503 `shutting_down`. A plain request to this path, and a request
   * with a non-WebSocket Upgrade header (h2c), go to the HTTP handler.
   */
  readonly path: string;
  readonly selectProtocol: SelectProtocol;
  readonly handlers: SocketHandlers;
  /**
   * Largest accepted message (after reassembly of fragments), default 64 KiB. A larger one
   * closes the connection with 1009. (uWS only: a message over its native cap, about twice
   * this, is cut with 1006 and no close frame; see `nativePayloadCap` in uws.ts.)
   */
  readonly maxMessageBytes?: number;
  /** Queued bytes beyond which `send` answers "dropped", default 1 MiB. */
  readonly maxBackpressureBytes?: number;
  /**
   * Seconds a connection may stay silent; the transport pings and cuts (1006) a peer that
   * does not answer. Default 120; 0 disables; otherwise at least 8 (uWS's floor — smaller
   * values make the native build abort the process, so both transports refuse them).
   */
  readonly idleTimeoutSeconds?: number;
}

export interface TransportOptions {
  readonly http: HttpHandler;
  readonly ws?: WebSocketRoute;
  /** Largest accepted request body, default 1 MiB; larger gets 413 `payload_too_large`. */
  readonly maxBodyBytes?: number;
  /** How long `close()` waits for peers and in-flight requests before cutting, default 5 s. */
  readonly shutdownGraceMs?: number;
  /** Handler errors and transport warnings go here (silent by default). */
  readonly logger?: Logger;
}

// ---------------------------------------------------------------- the server

export type TransportKind = "uws" | "ws";

export interface Transport {
  readonly kind: TransportKind;
  /** Starts listening; resolves the actual port (pass 0 for a random free one). */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops accepting, closes every WebSocket with 1001 "server shutting down", waits (up to
   * `shutdownGraceMs`) for closing handshakes and in-flight HTTP requests, then cuts what is
   * left. Idempotent.
   */
  close(): Promise<void>;
  /** Open WebSocket connections (HTTP connections are not counted). */
  connections(): number;
}
