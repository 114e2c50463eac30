// The wire formats (docs/websocket.md, MessagePack): JSON text frames or MessagePack binary
// frames, chosen by subprotocol. Runs in browsers and Node alike (no Node-only API).
import { Packr } from "msgpackr";
import type { ClientMessage, ServerMessage } from "./protocol.js";

export type Format = "json" | "msgpack";

/** The subprotocol that selects a format. */
export const PROTOCOLS: Record<Format, string> = { json: "varsel.v1.json", msgpack: "varsel.v1.msgpack" };

// As the server packs: plain maps and arrays, integers as numbers. An absent optional field that
// the server sends as extension 0 is read by msgpackr as undefined (docs: Known issues).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
const utf8 = new TextDecoder();

export function encodeMessage(message: ClientMessage, format: Format): string | Uint8Array {
  // Only defined fields: the server's schemas refuse a null where a field is optional.
  const defined = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
  return format === "json" ? JSON.stringify(defined) : packr.pack(defined);
}

/** A frame's data as the socket hands it over: text, or binary (binaryType "arraybuffer"). */
export function decodeMessage(data: unknown, format: Format): ServerMessage {
  if (typeof data === "string") return JSON.parse(data) as ServerMessage;
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Uint8Array);
  const message = (format === "msgpack" ? packr.unpack(bytes) : JSON.parse(utf8.decode(bytes))) as ServerMessage & { id?: string | null };
  // In MessagePack an absent `id` comes as nil (or extension 0, read as undefined): absent.
  if (message.id == null) delete message.id;
  return message;
}
