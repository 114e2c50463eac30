// Why a command failed: the server's catalogued code (engine/errors.ts, docs/http.md), or one of
// the client's own when no answer came.
import type { ErrorCode } from "./protocol.js";

/**
 * The client's own codes: `connection_lost` (the socket dropped before the answer: the command
 * may or may not have been applied), `closed` (the client was closed), `network_error` (an HTTP request got no
 * answer, or one that is not varsel's JSON). A socket command needs no timeout: heartbeat supervision ends a dead socket.
 */
export type ClientErrorCode = "connection_lost" | "closed" | "network_error";

export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly details?: unknown,
    /** The HTTP status, for commands sent over HTTP. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export function closedError(): CommandError {
  return new CommandError("closed", "the client is closed");
}
