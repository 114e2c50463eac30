// The journal bytes of a canonical batch, written directly: byte for byte what encodeBody
// (msgpackr, engine/store/codec.ts) writes for it, at a fraction of the cost, because the shape is
// known (a map of four fields, readings of five to seven) and a patient's or metric's name, met
// again and again, is encoded once (cached by the ingest thread's name numbers). Rejections and
// invalidations (few, free-form messages) go through encodeBody. test/frame-thread.test.ts checks
// the bytes against encodeBody's on hostile input.
import type { CanonicalBatch } from "../../engine/ingest/canonical.js";
import { encodeBody } from "../../engine/store/codec.js";

const MAP16 = 0xde;

class Writer {
  buf: Buffer;
  at = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** A map header as msgpackr writes a plain object's (always map 16). */
  map(entries: number): void {
    this.room(3);
    this.buf[this.at++] = MAP16;
    this.buf[this.at++] = entries >> 8;
    this.buf[this.at++] = entries & 0xff;
  }

  /** An array header as msgpackr writes it. */
  array(length: number): void {
    this.room(5);
    if (length < 0x10) this.buf[this.at++] = 0x90 | length;
    else if (length < 0x10000) {
      this.buf[this.at++] = 0xdc;
      this.buf[this.at++] = length >> 8;
      this.buf[this.at++] = length & 0xff;
    } else {
      this.buf[this.at++] = 0xdd;
      this.buf.writeUInt32BE(length, this.at);
      this.at += 4;
    }
  }

  /** A number as msgpackr writes it without useFloat32 (useRecords false: fixint up to 0x7f). */
  number(v: number): void {
    this.room(9);
    const b = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x80) b[this.at++] = v;
      else if (v < 0x100) {
        b[this.at++] = 0xcc;
        b[this.at++] = v;
      } else if (v < 0x10000) {
        b[this.at++] = 0xcd;
        b[this.at++] = v >> 8;
        b[this.at++] = v & 0xff;
      } else {
        b[this.at++] = 0xce;
        b.writeUInt32BE(v, this.at);
        this.at += 4;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) b[this.at++] = 0x100 + v;
      else if (v >= -0x80) {
        b[this.at++] = 0xd0;
        b[this.at++] = v + 0x100;
      } else if (v >= -0x8000) {
        b[this.at++] = 0xd1;
        b.writeInt16BE(v, this.at);
        this.at += 2;
      } else {
        b[this.at++] = 0xd2;
        b.writeInt32BE(v, this.at);
        this.at += 4;
      }
    } else {
      b[this.at++] = 0xcb;
      b.writeDoubleBE(v, this.at);
      this.at += 8;
    }
  }

  /** A well-formed string as msgpackr writes it (header by UTF-8 length). */
  string(s: string): void {
    this.room(5 + s.length * 3);
    const b = this.buf;
    const length = Buffer.byteLength(s, "utf8");
    if (length < 0x20) b[this.at++] = 0xa0 | length;
    else if (length < 0x100) {
      b[this.at++] = 0xd9;
      b[this.at++] = length;
    } else if (length < 0x10000) {
      b[this.at++] = 0xda;
      b[this.at++] = length >> 8;
      b[this.at++] = length & 0xff;
    } else {
      b[this.at++] = 0xdb;
      b.writeUInt32BE(length, this.at);
      this.at += 4;
    }
    this.at += b.write(s, this.at, "utf8");
  }
}

/** Keys as msgpackr writes them (fixstr). */
const KEY = Object.fromEntries(["items", "readings", "rejected", "invalidations", "index", "patient", "metric", "value", "time", "id", "device"].map((k) => [k, Uint8Array.of(0xa0 | k.length, ...Buffer.from(k, "latin1"))])) as Record<string, Uint8Array>;

/** Encoded names by their number (the ingest thread's numbering; cleared with it). */
export class NameBytes {
  private readonly cache: (Uint8Array | undefined)[] = [];

  /** The encoded name numbered `id` (a new numbering starts from 0 again: `reset`). */
  get(id: number, name: string): Uint8Array {
    let bytes = this.cache[id];
    if (bytes === undefined) {
      const w = new Writer(5 + name.length * 3);
      w.string(name);
      this.cache[id] = bytes = new Uint8Array(w.buf.subarray(0, w.at)); // its own memory, just its size
    }
    return bytes;
  }

  reset(): void {
    this.cache.length = 0;
  }
}

/**
 * encodeBody(batch), written directly, in memory of its own. Reading i's patient and metric are
 * numbered `ints[i * stride + 1]` and `ints[i * stride + 2]` (frame-prep.ts's columns), for the
 * byte cache. The batch's strings are well-formed (canonical.ts), as the direct UTF-8 writing needs.
 */
export function batchBytes(batch: CanonicalBatch, ints: Int32Array, stride: number, cache: NameBytes): Uint8Array {
  const w = new Writer(64 + batch.readings.length * 64);
  w.map(4);
  w.bytes(KEY.items);
  w.number(batch.items);
  w.bytes(KEY.readings);
  w.array(batch.readings.length);
  for (let i = 0; i < batch.readings.length; i++) {
    const r = batch.readings[i];
    w.map(5 + (r.id === undefined ? 0 : 1) + (r.device === undefined ? 0 : 1));
    w.bytes(KEY.index);
    w.number(r.index);
    w.bytes(KEY.patient);
    w.bytes(cache.get(ints[i * stride + 1], r.patient));
    w.bytes(KEY.metric);
    w.bytes(cache.get(ints[i * stride + 2], r.metric));
    w.bytes(KEY.value);
    w.number(r.value);
    w.bytes(KEY.time);
    w.number(r.time);
    if (r.id !== undefined) {
      w.bytes(KEY.id);
      w.string(r.id);
    }
    if (r.device !== undefined) {
      w.bytes(KEY.device);
      w.string(r.device);
    }
  }
  w.bytes(KEY.rejected);
  w.bytes(encodeBody(batch.rejected));
  w.bytes(KEY.invalidations);
  w.bytes(encodeBody(batch.invalidations));
  return w.buf.subarray(0, w.at);
}
