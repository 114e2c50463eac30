// What both transports share: option defaults, error answers, address text, close-code checks.
import { STATUS_CODES } from "node:http";
import { pino, type Logger } from "pino";
import { ERRORS, VarselError, errorBody, type ErrorCode } from "../../engine/errors.js";
import type { HttpResponse, SocketHandlers, TransportOptions, WebSocketRoute } from "./types.js";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
export const DEFAULT_MAX_BACKPRESSURE_BYTES = 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 120;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
/** uWebSockets.js aborts the process (std::terminate) for 0 < idleTimeout < 8. */
export const MIN_IDLE_TIMEOUT_SECONDS = 8;

export const SHUTDOWN_CLOSE_CODE = 1001;
export const SHUTDOWN_REASON = "server shutting down";
export const TOO_BIG_CLOSE_CODE = 1009;
export const TOO_BIG_REASON = "message too big";
/** The message of a 405 for a method the server has no route for (router and node's parser alike). */
export const UNSUPPORTED_METHOD = "method is not supported";

/** Options with every default filled in and checked. */
export interface ResolvedOptions {
  readonly http: TransportOptions["http"];
  readonly maxBodyBytes: number;
  readonly shutdownGraceMs: number;
  readonly logger: Logger;
  readonly ws: ResolvedWsRoute | undefined;
}

export interface ResolvedWsRoute {
  readonly path: string;
  readonly selectProtocol: WebSocketRoute["selectProtocol"];
  readonly handlers: SocketHandlers;
  readonly maxMessageBytes: number;
  readonly maxBackpressureBytes: number;
  readonly idleTimeoutSeconds: number;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export function resolveOptions(options: TransportOptions): ResolvedOptions {
  const ws = options.ws;
  let route: ResolvedWsRoute | undefined;
  if (ws !== undefined) {
    if (!ws.path.startsWith("/") || ws.path.includes("?")) throw new RangeError(`ws.path must be an absolute path, got ${ws.path}`);
    const idle = ws.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS;
    if (!Number.isSafeInteger(idle) || idle < 0 || (idle > 0 && idle < MIN_IDLE_TIMEOUT_SECONDS)) {
      throw new RangeError(`ws.idleTimeoutSeconds must be 0 or an integer >= ${MIN_IDLE_TIMEOUT_SECONDS}, got ${idle}`);
    }
    route = {
      path: ws.path,
      selectProtocol: ws.selectProtocol,
      handlers: ws.handlers,
      maxMessageBytes: positiveInt("ws.maxMessageBytes", ws.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
      maxBackpressureBytes: positiveInt("ws.maxBackpressureBytes", ws.maxBackpressureBytes, DEFAULT_MAX_BACKPRESSURE_BYTES),
      idleTimeoutSeconds: idle,
    };
  }
  return {
    http: options.http,
    maxBodyBytes: positiveInt("maxBodyBytes", options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    shutdownGraceMs: positiveInt("shutdownGraceMs", options.shutdownGraceMs, DEFAULT_SHUTDOWN_GRACE_MS),
    logger: options.logger ?? pino({ enabled: false }),
    ws: route,
  };
}

// ---------------------------------------------------------------- HTTP answers

/** "413 Payload Too Large" */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? "Unknown"}`;
}

export function errorResponse(code: ErrorCode, message?: string): HttpResponse {
  return {
    status: ERRORS[code].status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(errorBody(code, message)),
  };
}

/** The answer for a thrown value: a VarselError answers itself, anything else is a 500. */
export function responseForError(err: unknown, logger: Logger, what: string): HttpResponse {
  if (err instanceof VarselError) {
    return { status: err.status, headers: { "content-type": "application/json" }, body: JSON.stringify(err.toBody()) };
  }
  logger.error({ err }, `${what} failed`);
  return errorResponse("internal_error");
}

/** Checks a handler's answer; a malformed one becomes a 500 (logged). */
export function checkResponse(res: unknown, logger: Logger): HttpResponse {
  const r = res as HttpResponse | undefined;
  if (
    r === null || typeof r !== "object" || !Number.isInteger(r.status) || r.status < 200 || r.status > 599 ||
    (r.body !== undefined && typeof r.body !== "string" && !Buffer.isBuffer(r.body))
  ) {
    logger.error({ response: r }, "http handler returned a malformed response");
    return errorResponse("internal_error");
  }
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    // uWS writes header bytes as given: refuse what node:http would refuse (and CRLF injection).
    if (!HEADER_NAME.test(name) || typeof value !== "string" || HEADER_VALUE_BAD.test(value)) {
      logger.error({ header: name }, "http handler returned an invalid header");
      return errorResponse("internal_error");
    }
  }
  return r;
}

const HEADER_NAME = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const HEADER_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;

/** Statuses whose response must not carry a body. */
export function bodyless(status: number, method: string): boolean {
  return method === "HEAD" || status === 204 || status === 304;
}

/** Headers the transport computes itself and never copies from a handler's answer. */
export const TRANSPORT_HEADERS = new Set(["content-length", "transfer-encoding", "connection"]);

/** Adds one header to a lower-cased record, joining repeats with ", ". */
export function addHeader(headers: Record<string, string>, name: string, value: string): void {
  const key = name.toLowerCase();
  const prev = headers[key];
  headers[key] = prev === undefined ? value : `${prev}, ${value}`;
}

export function isWebSocketUpgrade(headers: Readonly<Record<string, string>>): boolean {
  return (headers["upgrade"] ?? "").toLowerCase() === "websocket";
}

/** Splits a Sec-WebSocket-Protocol header into its tokens. */
export function parseProtocols(header: string | undefined): string[] {
  if (header === undefined || header === "") return [];
  return header.split(",").map((p) => p.trim()).filter((p) => p !== "");
}

// ---------------------------------------------------------------- addresses

/** Text of a 4- or 16-byte IP address, as Node prints it; IPv4-mapped IPv6 becomes IPv4. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return "";
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.subarray(12).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: the longest run (>= 2) of zero groups becomes "::", the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Normalises Node's socket.remoteAddress ("::ffff:127.0.0.1" -> "127.0.0.1"). */
export function normalizeAddress(addr: string | undefined): string {
  if (addr === undefined) return "";
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

// ---------------------------------------------------------------- WebSocket close

/** Close codes an endpoint may send (RFC 6455 7.4, minus the reserved/no-wire ones). */
export function checkCloseCode(code: number): void {
  const ok =
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
  if (!ok) throw new RangeError(`invalid WebSocket close code ${code}`);
}

/** Cuts a close reason to 123 UTF-8 bytes without splitting a character. */
export function clipReason(reason: string): string {
  const buf = Buffer.from(reason, "utf8");
  if (buf.length <= 123) return reason;
  let end = 123;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString("utf8");
}

/** Runs a connection handler; throws and rejections are logged, never propagated. */
export function safeCall(logger: Logger, what: string, fn: () => void | Promise<void>): void {
  try {
    const r = fn();
    if (r !== undefined && typeof (r as Promise<void>).then === "function") {
      (r as Promise<void>).then(undefined, (err: unknown) => logger.error({ err }, `ws ${what} handler failed`));
    }
  } catch (err) {
    logger.error({ err }, `ws ${what} handler failed`);
  }
}

/**
 * A plain (ref'd) timer: close() waits on these, and a process awaiting close() must not exit
 * half-way because the listen socket was the last thing holding the event loop.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `p`, or undefined after `ms`; the timer is cleared as soon as `p` settles. */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const expiry = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return await Promise.race([p, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `cond()` holds (checked every 10 ms) or after `ms`; true when it held. */
export async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= end) return false;
    await delay(10);
  }
  return true;
}
