// The transport alone, for the uWS ÷ ws comparison where the transport is all the work: the
// same transports (server/transport/*) with the server's limits, and a socket handler that
// does only what any WebSocket ingest must — read a frame's id and reading count, answer
// `{type: "ingest_result", id, accepted, duplicates: [], rejected: []}` — without validating,
// evaluating or storing anything. The generators cannot tell it from the real server.
import { pack } from "msgpackr";
import type { Logger } from "pino";
import { DEFAULT_LIMITS } from "../../server/context.js";
import { createTransport } from "../../server/transport/select.js";
import type { Transport, TransportKind } from "../../server/transport/types.js";
import { MSGPACK, readFrameHead, WS_PATH } from "./common.js";

const AUTHENTICATED = pack({ type: "authenticated" });
const NOT_FOUND = { status: 404, body: "" };

/** Starts the bare transport on host:0; resolves it and its port. */
export async function startTransportOnly(kind: TransportKind, host: string, logger: Logger): Promise<{ transport: Transport; port: number }> {
  const transport = await createTransport(
    {
      http: () => NOT_FOUND,
      ws: {
        path: WS_PATH,
        selectProtocol: (offered) => (offered.includes(MSGPACK) ? MSGPACK : false),
        handlers: {
          open: (conn) => void conn.send(AUTHENTICATED, true),
          message: (conn, data) => {
            const head = readFrameHead(data);
            const answer = head === undefined
              ? { type: "error", code: "invalid_message", message: "not an ingest frame" }
              : { type: "ingest_result", id: head.id, accepted: head.readings, duplicates: [], rejected: [] };
            conn.send(pack(answer), true);
          },
        },
        maxMessageBytes: DEFAULT_LIMITS.maxBodyBytes,
        maxBackpressureBytes: DEFAULT_LIMITS.maxSocketBufferBytes * 2,
      },
      maxBodyBytes: DEFAULT_LIMITS.maxBodyBytes,
      logger,
    },
    kind,
  );
  const port = await transport.listen(0, host);
  return { transport, port };
}
