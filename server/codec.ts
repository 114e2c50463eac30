// Wire formats: JSON text or MessagePack binary (msgpackr), chosen by content type or subprotocol.
//
// Nesting limits (arrays and maps/objects; the top-level value is level 1). A body or frame
// nested deeper is refused as a whole with `nesting_too_deep` (400) before it is parsed:
// - JSON: MAX_DOCUMENT_DEPTH = 10 000 levels (JSON.parse itself copes with far more; what comes
//   after it, validation and encoding, recurses).
// - MessagePack: MAX_MSGPACK_DEPTH = 1 000 levels. msgpackr's decoder recurses once per level
//   and runs out of stack from about 4 400 levels in a fresh Node 20 process with the default
//   stack (about 10 000 once warmed up), so 10 000 cannot be promised; 1 000 leaves it ample
//   margin. The pre-scan reads standard MessagePack; msgpackr's own extensions that wrap the
//   next value (Set, Error, RegExp, records) are opaque to it, so a stack overflow while
//   decoding is answered `nesting_too_deep` as well.
// Inside a body each ingest item has its own, much smaller limit (engine/ingest/depth.ts).
import { isUtf8 } from "node:buffer";
import { Packr } from "msgpackr";
import { VarselError } from "../engine/errors.js";

export type Format = "json" | "msgpack";

/** Deepest JSON body or frame accepted. */
export const MAX_DOCUMENT_DEPTH = 10_000;
/** Deepest MessagePack body or frame accepted (msgpackr's decoder recurses: see above). */
export const MAX_MSGPACK_DEPTH = 1_000;

// Plain maps and arrays only: no records extension, so any MessagePack client can read us.
// Absent fields are nil, not msgpackr's undefined extension, which other libraries cannot read.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number", encodeUndefinedAsNil: true });

export function encode(value: unknown, format: Format): string | Buffer {
  return format === "json" ? JSON.stringify(value) : packr.pack(value);
}

/**
 * Decodes a body or frame; malformed input is a VarselError (malformed_json /
 * malformed_msgpack), input nested deeper than its format's limit is `nesting_too_deep`. JSON
 * must be well-formed UTF-8 (RFC 8259 section 8.1): invalid bytes are `malformed_json`, never
 * replaced with U+FFFD.
 */
export function decode(data: Buffer | Uint8Array, format: Format): unknown {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength); // a view, not a copy
  if (format === "json" && !isUtf8(bytes)) throw new VarselError("malformed_json", "JSON text is not valid UTF-8");
  const tooDeep = format === "json" ? jsonDeeperThan(bytes, MAX_DOCUMENT_DEPTH) : msgpackDeeperThan(bytes, MAX_MSGPACK_DEPTH);
  if (tooDeep) throw new VarselError("nesting_too_deep");
  try {
    return format === "json" ? JSON.parse(bytes.toString("utf8")) : packr.unpack(bytes);
  } catch (e) {
    if (e instanceof RangeError && e.message.includes("call stack")) throw new VarselError("nesting_too_deep");
    throw new VarselError(format === "json" ? "malformed_json" : "malformed_msgpack");
  }
}

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d;

/**
 * True when JSON text nests arrays and objects deeper than `max`. One pass over the bytes,
 * brackets inside strings ignored (UTF-8 continuation bytes are never ASCII); malformed text
 * is left to JSON.parse.
 */
export function jsonDeeperThan(bytes: Uint8Array, max: number): boolean {
  if (bytes.length <= max) return false; // each level needs one byte
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) {
      for (i++; i < bytes.length && bytes[i] !== QUOTE; i++) if (bytes[i] === BACKSLASH) i++;
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}

/**
 * True when MessagePack bytes nest arrays and maps deeper than `max`. One pass over the value
 * headers, string, binary and extension payloads skipped; truncated or malformed input ends
 * the scan and is left to unpack.
 */
export function msgpackDeeperThan(bytes: Uint8Array, max: number): boolean {
  if (bytes.length <= max) return false; // each level needs one byte
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u8 = (i: number): number => (i < bytes.length ? bytes[i] : 0);
  const u16 = (i: number): number => (i + 2 <= bytes.length ? view.getUint16(i) : 0);
  const u32 = (i: number): number => (i + 4 <= bytes.length ? view.getUint32(i) : 0);
  // Values still to read in each open container, outermost first; [1] = the top-level value.
  const remaining: number[] = [1];
  let at = 0;
  while (at < bytes.length) {
    const b = bytes[at];
    let size = 1; // this value's header and payload bytes
    let children = 0; // values inside it (a map's keys and values)
    if (b >= 0x80 && b <= 0x8f) children = (b & 0x0f) * 2; // fixmap
    else if (b >= 0x90 && b <= 0x9f) children = b & 0x0f; // fixarray
    else if (b >= 0xa0 && b <= 0xbf) size = 1 + (b & 0x1f); // fixstr
    else {
      switch (b) {
        case 0xc4: case 0xd9: size = 2 + u8(at + 1); break; // bin 8, str 8
        case 0xc5: case 0xda: size = 3 + u16(at + 1); break; // bin 16, str 16
        case 0xc6: case 0xdb: size = 5 + u32(at + 1); break; // bin 32, str 32
        case 0xc7: size = 3 + u8(at + 1); break; // ext 8 (length, type, data)
        case 0xc8: size = 4 + u16(at + 1); break; // ext 16
        case 0xc9: size = 6 + u32(at + 1); break; // ext 32
        case 0xcc: case 0xd0: size = 2; break; // uint 8, int 8
        case 0xcd: case 0xd1: case 0xd4: size = 3; break; // uint 16, int 16, fixext 1
        case 0xd5: size = 4; break; // fixext 2
        case 0xca: case 0xce: case 0xd2: size = 5; break; // float 32, uint 32, int 32
        case 0xd6: size = 6; break; // fixext 4
        case 0xcb: case 0xcf: case 0xd3: size = 9; break; // float 64, uint 64, int 64
        case 0xd7: size = 10; break; // fixext 8
        case 0xd8: size = 18; break; // fixext 16
        case 0xdc: size = 3; children = u16(at + 1); break; // array 16
        case 0xdd: size = 5; children = u32(at + 1); break; // array 32
        case 0xde: size = 3; children = 2 * u16(at + 1); break; // map 16
        case 0xdf: size = 5; children = 2 * u32(at + 1); break; // map 32
        // positive and negative fixint, nil, false, true: one byte
      }
    }
    at += size;
    remaining[remaining.length - 1]--;
    if (children > 0) {
      if (remaining.length > max) return true; // this container is at level remaining.length
      remaining.push(children);
    }
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) remaining.pop();
    if (remaining.length === 0) return false;
  }
  return false;
}
