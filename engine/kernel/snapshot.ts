// Kernel snapshots (docs/kernel.md, "Snapshots"): a header, then the used part of every state
// region, in layout order, without the spare capacity. Records refer to each other by index,
// never by address, so a fresh kernel of any capacity takes them back region by region.
import * as L from "../../assembly/layout.js";
import type { Views } from "./views.js";

const { H_MAGIC, H_VERSION, HEADER_BYTES, LAYOUT_MAGIC, LAYOUT_VERSION } = L;

/** A state region: where its base is in the header, its record count and record size. */
interface Region {
  offset: number;
  count: number;
  bytes: number;
}

const REGIONS: readonly Region[] = [
  { offset: L.H_OFF_PARAMS, count: L.H_PARAM_COUNT, bytes: L.PARAM_BYTES },
  { offset: L.H_OFF_SLOTS, count: L.H_SLOT_COUNT, bytes: L.SLOT_BYTES },
  { offset: L.H_OFF_INFO, count: L.H_SLOT_COUNT, bytes: L.SLOT_INFO_BYTES },
  { offset: L.H_OFF_RULES, count: L.H_RULE_COUNT, bytes: L.RULE_BYTES },
  { offset: L.H_OFF_SCORES, count: L.H_SCORE_COUNT, bytes: L.SCORE_BYTES },
  { offset: L.H_OFF_HIST_T, count: L.H_HIST_COUNT, bytes: 8 },
  { offset: L.H_OFF_HIST_V, count: L.H_HIST_COUNT, bytes: 4 },
];

/** Header fields a restored kernel takes over (the rest describes its own layout). */
const CARRIED = [L.H_PARAM_COUNT, L.H_SLOT_COUNT, L.H_RULE_COUNT, L.H_SCORE_COUNT, L.H_HIST_COUNT, L.H_MAX_RULES_PER_SLOT];

/** Record counts a snapshot needs room for. */
export interface SnapshotCounts {
  slots: number;
  rules: number;
  params: number;
  scores: number;
  hist: number;
}

function headerField(header: Uint8Array, field: number): number {
  return new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(field, true);
}

function packedLength(count: (field: number) => number): number {
  return REGIONS.reduce((n, r) => n + count(r.count) * r.bytes, HEADER_BYTES);
}

/** Length of the kernel's snapshot now. */
export function snapshotBytes(views: Views): number {
  return packedLength((f) => views.header(f));
}

/**
 * The kernel's state as one byte array: a header holding only the magic, the version and the
 * counts (so equal states give equal bytes, whatever their capacity), then the used records.
 */
export function packState(views: Views, reuse?: Uint8Array): Uint8Array {
  const { u8 } = views.fresh();
  const field = (f: number) => views.header(f);
  const length = packedLength(field);
  // Written into `reuse`'s memory when it is large enough (see WasmKernel.snapshot), else fresh
  // memory with a quarter to spare, so that a growing registry does not reallocate every time.
  const memory = reuse !== undefined && reuse.buffer.byteLength >= length ? reuse.buffer : new ArrayBuffer(Math.ceil(length * 1.25));
  const out = new Uint8Array(memory, 0, length);
  const header = new DataView(out.buffer, 0, HEADER_BYTES);
  for (const f of [H_MAGIC, H_VERSION, ...CARRIED]) header.setUint32(f, field(f), true);
  let at = HEADER_BYTES;
  for (const r of REGIONS) {
    const len = field(r.count) * r.bytes;
    const from = field(r.offset);
    out.set(u8.subarray(from, from + len), at);
    at += len;
  }
  return out;
}

/** The kernel layout version a snapshot was written in (undefined when it is no kernel snapshot). */
export function snapshotLayoutVersion(bytes: Uint8Array): number | undefined {
  if (bytes.byteLength < HEADER_BYTES || headerField(bytes, H_MAGIC) !== LAYOUT_MAGIC) return undefined;
  return headerField(bytes, H_VERSION);
}

/** Checks a snapshot's header and length; returns the counts a kernel needs room for. */
export function snapshotCounts(bytes: Uint8Array): SnapshotCounts {
  if (bytes.byteLength < HEADER_BYTES) throw new Error("snapshot too short");
  const field = (f: number) => headerField(bytes, f);
  if (field(H_MAGIC) !== LAYOUT_MAGIC) throw new Error("not a varsel kernel snapshot");
  if (field(H_VERSION) !== LAYOUT_VERSION) throw new Error(`snapshot layout version ${field(H_VERSION)}, kernel ${LAYOUT_VERSION}`);
  if (packedLength(field) !== bytes.byteLength) throw new Error("snapshot length does not match its header");
  return { slots: field(L.H_SLOT_COUNT), rules: field(L.H_RULE_COUNT), params: field(L.H_PARAM_COUNT), scores: field(L.H_SCORE_COUNT), hist: field(L.H_HIST_COUNT) };
}

/** Copies a checked snapshot into a fresh kernel that has room for its counts. */
export function unpackState(views: Views, bytes: Uint8Array): void {
  const { u8, u32 } = views.fresh();
  const field = (f: number) => headerField(bytes, f);
  let at = HEADER_BYTES;
  for (const r of REGIONS) {
    const len = field(r.count) * r.bytes;
    u8.set(bytes.subarray(at, at + len), views.header(r.offset));
    at += len;
  }
  for (const f of CARRIED) u32[(views.base + f) >>> 2] = field(f);
}
