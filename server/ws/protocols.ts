// Subprotocols: the wire format ("varsel.v1.json" / "varsel.v1.msgpack") and, for browsers that
// cannot set headers, the token ("bearer.<jwt>"), offered together.
import type { Format } from "../codec.js";

export const JSON_PROTOCOL = "varsel.v1.json";
export const MSGPACK_PROTOCOL = "varsel.v1.msgpack";
const BEARER = "bearer.";

export function formatOf(protocol: string): Format {
  return protocol === MSGPACK_PROTOCOL ? "msgpack" : "json";
}

/** The format protocol to answer with (first offered), or undefined when none was offered. */
export function chooseFormat(offered: readonly string[]): string | undefined {
  return offered.find((p) => p === JSON_PROTOCOL || p === MSGPACK_PROTOCOL);
}

/** The token carried in a "bearer.<jwt>" subprotocol, if any. */
export function tokenOf(offered: readonly string[]): string | undefined {
  return offered.find((p) => p.startsWith(BEARER))?.slice(BEARER.length);
}

/** Close codes the server uses (4000–4999 are the application's). */
export const CLOSE = {
  shutdown: 1001,
  policy: 1008,
  tooBig: 1009,
  unauthorized: 4001,
  tokenExpired: 4002,
  forbidden: 4003,
  slowConsumer: 4008,
  rateLimited: 4029,
} as const;
