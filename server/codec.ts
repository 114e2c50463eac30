// Wire formats: JSON text or MessagePack binary (msgpackr), chosen by content type or subprotocol.
import { Packr } from "msgpackr";
import { VarselError } from "../engine/errors.js";

export type Format = "json" | "msgpack";

// Plain maps and arrays only: no records extension, so any MessagePack client can read us.
// Absent fields are nil, not msgpackr's undefined extension, which other libraries cannot read.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number", encodeUndefinedAsNil: true });

export function encode(value: unknown, format: Format): string | Buffer {
  return format === "json" ? JSON.stringify(value) : packr.pack(value);
}

/** Decodes a body or frame; malformed input is a VarselError (malformed_json / malformed_msgpack). */
export function decode(data: Buffer | Uint8Array, format: Format): unknown {
  try {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength); // a view, not a copy
    return format === "json" ? JSON.parse(bytes.toString("utf8")) : packr.unpack(bytes);
  } catch {
    throw new VarselError(format === "json" ? "malformed_json" : "malformed_msgpack");
  }
}
