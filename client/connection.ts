// One logical connection that outlives its sockets: opens a socket, authenticates by first
// message (the token stays out of request headers and proxy logs), watches that frames keep
// arriving, refreshes the token, and reconnects with backoff when the socket is lost.
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { decodeMessage, encodeMessage, PROTOCOLS, type Format } from "./codec.js";
import { closedError, CommandError } from "./errors.js";
import { Feed } from "./feed.js";
import type { Authenticated, ClientMessage, ErrorCode, ServerMessage } from "./protocol.js";

/** What the client needs of a WebSocket: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What a UI shows: a banner for anything but "open". */
export type Status =
  | { state: "connecting"; attempt: number }
  | { state: "open"; user: Authenticated }
  | { state: "reconnecting"; attempt: number; delayMs: number; retryAt: number; reason: string }
  | { state: "closed"; reason: string; code?: ErrorCode };

export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectionOptions {
  url: string;
  format: Format;
  WebSocket: WebSocketConstructor;
  token: TokenSource;
  /** Reconnect when nothing arrives for this long (a ping is sent at half of it). */
  heartbeatTimeoutMs: number;
  /** Give up on a socket that is not authenticated this long after it was opened. */
  connectTimeoutMs: number;
  /** With a token function: fetch a new token this long before the current one expires. */
  refreshBeforeMs: number;
  backoff: BackoffOptions;
  onError: (error: unknown) => void;
}

export interface ConnectionHandler {
  /** A new socket is authenticated: subscribe again here. */
  opened(user: Authenticated): void;
  /** Every frame after authentication. */
  message(message: ServerMessage): void;
  /** The socket is gone: what waited for an answer on it will get none. */
  lost(): void;
}

const OPEN = 1;
const AUTH_FAILURES: readonly string[] = ["unauthorized", "token_expired", "forbidden"];
/** Close codes after which the same token cannot succeed (docs/websocket.md, Close codes). */
const AUTH_CLOSE: Record<number, ErrorCode> = { 4001: "unauthorized", 4002: "token_expired" };

interface Waiter {
  resolve: (user: Authenticated) => void;
  reject: (error: CommandError) => void;
  /** Its `auth` went out on the current socket (answered in order); otherwise the next socket's authentication answers it. */
  sent: boolean;
}

export class Connection {
  readonly statuses: Feed<Status>;
  private current: Status = { state: "connecting", attempt: 0 };
  private ws: WebSocketLike | undefined;
  private authenticated = false;
  private attempt = 0;
  private lastToken: string | undefined;
  private lastHeard = 0;
  private pinged = false;
  private pings = 0;
  private waiters: Waiter[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly handler: ConnectionHandler,
  ) {
    this.statuses = new Feed(options.onError);
  }

  get status(): Status {
    return this.current;
  }

  /** Authenticated: commands can go over the socket. */
  get isOpen(): boolean {
    return this.authenticated;
  }

  start(): void {
    void this.open();
  }

  /** Sends on an authenticated socket; false when there is none (the caller decides what then). */
  send(message: ClientMessage): boolean {
    if (!this.authenticated || this.ws === undefined) return false;
    this.ws.send(encodeMessage(message, this.options.format));
    return true;
  }

  /** The token in force (for HTTP requests), fetched when there is none yet. */
  async token(): Promise<string> {
    return this.lastToken ?? (this.lastToken = await this.fetchToken());
  }

  /**
   * Authenticates again: with `token` (which then replaces the token source), or a fresh one
   * from the token function. On an open socket this is the protocol's refresh (`auth`); when
   * disconnected or refused, it reconnects at once. Settles on the server's answer.
   */
  refresh(token?: string): Promise<Authenticated> {
    if (this.stopped) return Promise.reject(closedError());
    if (token !== undefined) this.options.token = token;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, sent: false };
      this.waiters.push(waiter);
      if (this.authenticated) {
        this.sendAuth(waiter);
      } else if (this.ws === undefined) {
        // Waiting to retry, or closed after a refused token: try now.
        clearTimeout(this.retryTimer);
        this.attempt = 0;
        void this.open();
      }
    });
  }

  /** The protocol's refresh on the open socket; answered in order (an `authenticated` or an `error` without id). */
  private sendAuth(waiter: Waiter): void {
    this.fetchToken().then(
      (fresh) => {
        if (!this.authenticated || !this.waiters.includes(waiter)) return; // the next socket answers it
        this.lastToken = fresh;
        waiter.sent = true;
        this.ws!.send(encodeMessage({ type: "auth", token: fresh }, this.options.format));
      },
      (error) => this.settle(waiter, undefined, new CommandError("unauthorized", `the token function failed: ${String(error)}`)),
    );
  }

  /** Closes for good. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    clearTimeout(this.retryTimer);
    const ws = this.detach();
    ws?.close(1000, "closed by the client");
    if (ws !== undefined) this.handler.lost();
    for (const w of this.waiters.splice(0)) w.reject(closedError());
    this.setStatus({ state: "closed", reason: "closed by the client" });
    this.statuses.end();
  }

  private async fetchToken(): Promise<string> {
    const source = this.options.token;
    return typeof source === "string" ? source : await source();
  }

  private async open(): Promise<void> {
    if (this.stopped || this.ws !== undefined) return;
    this.setStatus({ state: "connecting", attempt: this.attempt });
    let token: string;
    try {
      token = await this.fetchToken();
    } catch (error) {
      this.options.onError(error);
      return this.retry("the token function failed");
    }
    if (this.stopped || this.ws !== undefined) return;
    this.lastToken = token;
    const ws = new this.options.WebSocket(this.options.url, [PROTOCOLS[this.options.format]]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.authenticated = false;
    this.connectTimer = setTimeout(() => this.drop(`not connected within ${this.options.connectTimeoutMs} ms`), this.options.connectTimeoutMs);
    ws.onopen = () => ws.send(encodeMessage({ type: "auth", token }, this.options.format));
    ws.onmessage = (event: { data: unknown }) => this.receive(event.data);
    ws.onclose = (event: { code: number; reason: string }) => this.closed(event.code, event.reason);
    ws.onerror = () => undefined; // a close event follows with the code
  }

  private receive(data: unknown): void {
    this.lastHeard = Date.now();
    this.pinged = false;
    let message: ServerMessage;
    try {
      message = decodeMessage(data, this.options.format);
    } catch (error) {
      this.options.onError(error);
      return;
    }
    if (!this.authenticated) return this.whileAuthenticating(message);
    if (message.type === "authenticated") {
      const waiter = this.waiters.find((w) => w.sent);
      if (waiter) this.settle(waiter, message);
      this.setStatus({ state: "open", user: userOf(message) });
      this.scheduleRefresh(message.expiresAt);
      return;
    }
    if (message.type === "error" && message.id === undefined && AUTH_FAILURES.includes(message.code)) {
      const waiter = this.waiters.find((w) => w.sent);
      if (waiter) return this.settle(waiter, undefined, new CommandError(message.code, message.message, message.details));
    }
    this.handler.message(message);
  }

  /** Before `authenticated`, only the answer to our `auth` matters. */
  private whileAuthenticating(message: ServerMessage): void {
    if (message.type === "authenticated") {
      clearTimeout(this.connectTimer);
      this.authenticated = true;
      this.attempt = 0;
      const user = userOf(message);
      // A token given to refresh() while this socket authenticated with the one before: send it now.
      if (typeof this.options.token === "string" && this.options.token !== this.lastToken) this.waiters.forEach((w) => this.sendAuth(w));
      else for (const w of this.waiters.splice(0)) w.resolve(user);
      this.setStatus({ state: "open", user });
      this.scheduleRefresh(message.expiresAt);
      this.startWatchdog();
      this.handler.opened(user);
    } else if (message.type === "error" && AUTH_FAILURES.includes(message.code)) {
      this.refused(message.code, message.message);
    }
  }

  /** The token was refused: with a fixed token that is final; a token function gets another try. */
  private refused(code: ErrorCode, reason: string): void {
    const error = new CommandError(code, reason);
    for (const w of this.waiters.splice(0)) w.reject(error);
    const ws = this.detach();
    ws?.close(1000, "token refused");
    if (typeof this.options.token === "string") {
      this.handler.lost();
      this.setStatus({ state: "closed", reason, code });
    } else {
      this.lost(reason);
    }
  }

  private closed(code: number, reason: string): void {
    if (this.ws === undefined) return;
    const why = `closed ${code}${reason ? ` ${reason}` : ""}`;
    if (AUTH_CLOSE[code] !== undefined) return this.refused(AUTH_CLOSE[code], why);
    this.detach();
    this.lost(why);
  }

  /** Ends a socket that went quiet or never authenticated, without waiting for a closing handshake. */
  private drop(reason: string): void {
    const ws = this.detach();
    if (ws === undefined) return;
    if (ws.terminate) ws.terminate();
    else ws.close(4000, reason.slice(0, 100));
    this.lost(reason);
  }

  private lost(reason: string): void {
    for (const w of this.waiters) w.sent = false; // the next socket authenticates with the newest token
    this.handler.lost();
    this.retry(reason);
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    this.attempt++;
    const delayMs = backoffDelay(this.attempt, this.options.backoff);
    this.setStatus({ state: "reconnecting", attempt: this.attempt, delayMs, retryAt: Date.now() + delayMs, reason });
    this.retryTimer = setTimeout(() => void this.open(), delayMs);
  }

  /** Forgets the socket: its handlers are disconnected, its timers stopped. */
  private detach(): WebSocketLike | undefined {
    const ws = this.ws;
    this.ws = undefined;
    this.authenticated = false;
    this.clearTimers();
    if (ws !== undefined) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => undefined; // `ws` throws an error event nobody listens to (ending a socket still connecting)
    }
    return ws;
  }

  private clearTimers(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.refreshTimer);
    clearInterval(this.watchdog);
  }

  /** Heartbeat supervision: a ping after half the timeout in silence, a new socket after all of it. */
  private startWatchdog(): void {
    const timeout = this.options.heartbeatTimeoutMs;
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => {
      const silent = Date.now() - this.lastHeard;
      if (silent >= timeout) this.drop(`nothing received for ${silent} ms`);
      else if (silent >= timeout / 2 && !this.pinged && this.ws?.readyState === OPEN) {
        this.pinged = true;
        this.send({ type: "ping", id: `heartbeat-${++this.pings}` });
      }
    }, Math.max(50, timeout / 8));
  }

  /** With a token function, a fresh token before this one expires (then at half the time left when that is sooner). */
  private scheduleRefresh(expiresAt: number | null): void {
    clearTimeout(this.refreshTimer);
    if (expiresAt === null || typeof this.options.token === "string") return;
    const left = expiresAt - Date.now();
    const wait = Math.min(2 ** 31 - 1, Math.max(0, left - Math.min(this.options.refreshBeforeMs, left / 2)));
    this.refreshTimer = setTimeout(() => this.refresh().catch((error) => this.stopped || this.options.onError(error)), wait);
  }

  private settle(waiter: Waiter, message?: Authenticated, error?: CommandError): void {
    this.waiters = this.waiters.filter((w) => w !== waiter);
    if (error) waiter.reject(error);
    else waiter.resolve(userOf(message!));
  }

  private setStatus(status: Status): void {
    this.current = status;
    this.statuses.emit(status);
  }
}

function userOf(m: Authenticated): Authenticated {
  return { sub: m.sub, role: m.role, teams: m.teams, expiresAt: m.expiresAt };
}
