// What both transports' connections share: the close bookkeeping (closing once, nothing sent
// after close or after the peer went away) around the transport's own write, end and cut.
import { checkCloseCode, clipReason } from "./common.js";
import type { SendResult, SocketConn } from "./types.js";

export abstract class BaseConn implements SocketConn {
  /** close() or terminate() was called, or the socket closed. */
  protected closing = false;
  /** The transport saw the socket close. */
  protected closed = false;
  /** A send answered backpressure or dropped: tell the handler once the buffer is empty. */
  wantDrain = false;

  constructor(
    readonly id: number,
    readonly protocol: string,
    readonly remoteAddress: string,
    readonly userData: Record<string, unknown>,
  ) {}

  send(data: string | Buffer | Uint8Array, binary: boolean): SendResult {
    return this.closing || this.closed ? "dropped" : this.write(data, binary);
  }

  close(code: number, reason: string): void {
    checkCloseCode(code);
    if (this.closing || this.closed) return;
    this.closing = true;
    this.end(code, clipReason(reason));
  }

  terminate(): void {
    if (this.closed) return;
    this.closing = true;
    this.cut();
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** The transport saw the socket close: nothing native is touched from here on. */
  markClosed(): void {
    this.closed = true;
    this.closing = true;
  }

  /** No pause by default (uWebSockets.js); see SocketConn.pauseReading. */
  pauseReading(_ms: number): void {}

  abstract bufferedAmount(): number;
  abstract cork(fn: () => void): void;
  /** Sends on an open socket. */
  protected abstract write(data: string | Buffer | Uint8Array, binary: boolean): SendResult;
  /** Starts the closing handshake (code checked, reason clipped). */
  protected abstract end(code: number, reason: string): void;
  /** Cuts the connection without a handshake. */
  protected abstract cut(): void;
}
