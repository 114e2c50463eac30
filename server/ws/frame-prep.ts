// What the ingest thread does with one WebSocket frame (server/ws/frame-thread.ts): decode, depth
// check, message check and, for an ingest, canonical validation and the journal bytes of the
// canonical batch. Pure (the clock and the batch bound are arguments), so the same function runs
// on the worker and, when the worker is gone, on the main thread; the main thread then only
// admits, evaluates and applies.
//
// The canonical readings come back as columns (typed arrays, transferred) plus strings, not as
// 2 000 objects to structured-clone; rejections and invalidations (few) are cloned. Patient and
// metric names are numbered once per thread (Names) and each is sent once: the main thread keeps
// them (frame-thread.ts), so a frame brings only the names it used first, and the same patient is
// the same string object on the main thread each time (its map lookups hash nothing again).
// Measurement ids and devices come per frame. The main thread rebuilds the batch from them
// (batchOfPrepared): the same objects canonicalReadings built, so the journal bytes made here
// decode to exactly the batch the main thread applies (test/frame-thread.test.ts).
import { VarselError, type ErrorCode } from "../../engine/errors.js";
import { canonicalRequest, type CanonicalBatch, type CanonicalReading } from "../../engine/ingest/canonical.js";
import type { MetricKey } from "../../engine/metrics.js";
import { encodeBody } from "../../engine/store/codec.js";
import { decode, type Format } from "../codec.js";
import { parseClientMessage, type ClientMessage } from "./messages.js";

/** A VarselError as it crosses threads. */
export interface ErrorShape {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** An ingest's canonical batch, ready to apply, or why the batch as a whole is refused. */
export type PreparedIngest =
  | { error: ErrorShape }
  | {
      source: "readings" | "fhir";
      items: number;
      /** Per reading: index, patient and metric (name numbers), id and device (positions in `strings`; -1: absent). */
      ints: Int32Array;
      /** Per reading: value, time. */
      floats: Float64Array;
      /** The names this frame numbered first (numbers base, base + 1, ...); base 0: a new numbering. */
      names: { base: number; added: string[] };
      /** Every name by its number, as of this frame: set by the receiving thread (withNames). */
      table?: readonly string[];
      /** Ids and devices of this frame. */
      strings: string[];
      rejected: CanonicalBatch["rejected"];
      invalidations: CanonicalBatch["invalidations"];
      /** The batch's journal bytes (encodeBody of the batch batchOfPrepared rebuilds); none for a server without a store (no journal). */
      journal: Uint8Array | undefined;
    };

/**
 * A decoded frame: the message (an ingest without its readings or FHIR, which come as
 * `ingest`), or the error that refuses the frame (malformed, too deep, invalid message).
 */
export type PreparedFrame = { error: ErrorShape } | { message: ClientMessage; ingest?: PreparedIngest };

const INTS = 5;
const FLOATS = 2;
/** Names a thread numbers before it starts a new numbering (bounds what a sender of random patient names makes both threads hold). */
export const MAX_NAME_CHARS = 4_000_000;

/** Patient and metric names numbered by the preparing thread (see the file comment). */
export class Names {
  constructor(private readonly maxChars = MAX_NAME_CHARS) {}
  private readonly ids = new Map<string, number>();
  private chars = 0;
  private added: string[] = [];
  private base = 0;

  /** Before a frame: a new numbering once the names hold maxChars (never within a frame). */
  startFrame(): void {
    if (this.chars < this.maxChars) return;
    this.ids.clear();
    this.chars = 0;
    this.base = 0;
    this.added = [];
  }

  ref(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.base + this.added.length;
      this.ids.set(s, id);
      this.added.push(s);
      this.chars += s.length;
    }
    return id;
  }

  /** The names numbered since the last take. */
  take(): { base: number; added: string[] } {
    const taken = { base: this.base, added: this.added };
    this.base += this.added.length;
    this.added = [];
    return taken;
  }
}

/**
 * Decodes and, for an ingest, validates and encodes one frame (see the file comment). `names`:
 * the thread's numbering (default: one for this frame alone, as when the main thread prepares it).
 * `journal`: encode the batch's journal bytes (false for a server without a store: it keeps no journal).
 */
export function prepareFrame(bytes: Uint8Array, format: Format, now: number, maxBatchItems: number, names = new Names(), journal = true): PreparedFrame {
  let message: ClientMessage;
  try {
    message = parseClientMessage(decode(bytes, format));
  } catch (err) {
    return { error: errorShape(err) };
  }
  if (message.type !== "ingest") return { message };
  const { readings, fhir, ...rest } = message;
  let ingest: PreparedIngest;
  try {
    ingest = prepareIngest(fhir !== undefined ? { fhir } : { readings: readings ?? [] }, now, maxBatchItems, names, journal);
  } catch (err) {
    ingest = { error: errorShape(err) };
  }
  return { message: rest, ingest };
}

/** The canonical batch as columns and its journal bytes; throws as ingestReadings / ingestFhirResource do. */
function prepareIngest(body: { readings: unknown[] } | { fhir: unknown }, now: number, maxBatchItems: number, names: Names, journal: boolean): PreparedIngest {
  const { source, batch } = canonicalRequest(body, now, maxBatchItems);
  const n = batch.readings.length;
  names.startFrame();
  const ints = new Int32Array(n * INTS);
  const floats = new Float64Array(n * FLOATS);
  const strings: string[] = [];
  const at = new Map<string, number>();
  const ref = (s: string | undefined): number => {
    if (s === undefined) return -1;
    let i = at.get(s);
    if (i === undefined) at.set(s, (i = strings.push(s) - 1));
    return i;
  };
  for (let i = 0; i < n; i++) {
    const r = batch.readings[i];
    ints[i * INTS] = r.index;
    ints[i * INTS + 1] = names.ref(r.patient);
    ints[i * INTS + 2] = names.ref(r.metric);
    ints[i * INTS + 3] = ref(r.id);
    ints[i * INTS + 4] = ref(r.device);
    floats[i * FLOATS] = r.value;
    floats[i * FLOATS + 1] = r.time;
  }
  // A copy in its own memory: encodeBody answers a view of msgpackr's shared buffer.
  const bytes = journal ? encodeBody(batch).slice() : undefined;
  return { source, items: batch.items, ints, floats, names: names.take(), strings, rejected: batch.rejected, invalidations: batch.invalidations, journal: bytes };
}

/** The memory a prepared frame can hand over without a copy. */
export function transferables(frame: PreparedFrame): ArrayBuffer[] {
  if (!("message" in frame) || frame.ingest === undefined || "error" in frame.ingest) return [];
  const i = frame.ingest;
  const buffers = [i.ints.buffer as ArrayBuffer, i.floats.buffer as ArrayBuffer];
  if (i.journal !== undefined) buffers.push(i.journal.buffer as ArrayBuffer);
  return buffers;
}

/**
 * Gives a prepared frame's ingest the names it refers to: `table`, the receiving thread's names
 * so far (extended here with the frame's; a new numbering starts a new array, so frames received
 * earlier keep theirs), or none (prepared with a numbering of its own). Answers the table to keep.
 */
export function withNames(frame: PreparedFrame, table: string[] = []): string[] {
  if (!("message" in frame) || frame.ingest === undefined || "error" in frame.ingest) return table;
  const { base, added } = frame.ingest.names;
  if (base === 0) table = [];
  else if (base !== table.length) throw new Error(`ingest thread names out of step: ${base} after ${table.length}`);
  for (const name of added) table.push(name);
  frame.ingest.table = table;
  return table;
}

/** The canonical batch of a prepared ingest (withNames given), built as canonicalReadings builds it; throws its error. */
export function batchOfPrepared(p: PreparedIngest): CanonicalBatch {
  if ("error" in p) throw asError(p.error);
  const { ints, floats, strings } = p;
  const table = p.table!;
  const n = floats.length / FLOATS;
  const readings: CanonicalReading[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const reading: CanonicalReading = {
      index: ints[i * INTS],
      patient: table[ints[i * INTS + 1]],
      metric: table[ints[i * INTS + 2]] as MetricKey,
      value: floats[i * FLOATS],
      time: floats[i * FLOATS + 1],
    };
    const id = ints[i * INTS + 3];
    if (id >= 0) reading.id = strings[id];
    const device = ints[i * INTS + 4];
    if (device >= 0) reading.device = strings[device];
    readings[i] = reading;
  }
  return { items: p.items, readings, rejected: p.rejected, invalidations: p.invalidations };
}

/** Anything thrown as it crosses threads: a VarselError keeps its code, message and details; anything else is internal_error. */
export function errorShape(err: unknown): ErrorShape {
  if (err instanceof VarselError) return err.details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details: err.details };
  return { code: "internal_error", message: new VarselError("internal_error").message };
}

/** The message and prepared ingest of a frame; throws the error that refused it. */
export function openFrame(frame: PreparedFrame): { message: ClientMessage; ingest?: PreparedIngest } {
  if ("error" in frame) throw asError(frame.error);
  return frame;
}

export function asError(e: ErrorShape): VarselError {
  return new VarselError(e.code, e.message, e.details);
}
