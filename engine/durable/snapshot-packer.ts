// A snapshot's state bytes, packed without stalling the event loop (docs/kernel.md, "Snapshots").
//
// The state must be exactly that of the end of its group, while later groups are applied as it
// is packed. So the capture packs at once only what later groups change in place (the idempotency
// window's typed arrays: a memcpy), and keeps references to the registry's columns (prepared in
// slices before it; a change builds new ones) and to the long lists: patient records (upsertPatient replaces a record, never
// edits it), retained events (deep-frozen when emitted) and the alerts (held: the lifecycle copies
// an alert of the hold before its first change, see AlertLifecycle.holdAlerts). Those lists are
// packed afterwards, a few thousand records per event-loop turn, and appended to the head as
// further MessagePack values.
//
// Framing: a concatenation of MessagePack values. The first, the head, is
// { format, state, chunks: { registry: 1, patients, events, alerts } } with the state's
// `registry` null and `patients`, `lifecycle.log.events` and `lifecycle.alerts` empty; then the
// registry's columns, `chunks.patients` arrays of patient records, `chunks.events` arrays of
// events, `chunks.alerts` arrays of alerts, in order (a head without `chunks.registry` or
// `chunks.alerts`, written before, holds its registry or its alerts). The state's layout (`format`) is unchanged: a
// state written as one value (no `chunks`: an earlier varsel, a cluster partition) reads as before.
import { performance } from "node:perf_hooks";
import type { Packr } from "msgpackr";
import type { PipelineState } from "../pipeline.js";
import type { AlertHold } from "../lifecycle/lifecycle.js";

/** Work done in one event-loop turn at most (ms), after which the packer yields. */
export const SLICE_MS = 8;
/** Records packed as one MessagePack value (one array). */
export const CHUNK_RECORDS = 1_000;
/** Bytes copied per step while assembling (a memcpy of this size is well under a slice). */
const COPY_STEP = 8 << 20;

/** What packing a snapshot's state cost: the longest single block of the event loop and the total. */
export interface PackCost {
  maxBlockMs: number;
  totalMs: number;
}

/** Counts the blocks of work a snapshot does (capture, then each slice). */
export class BlockClock {
  readonly cost: PackCost = { maxBlockMs: 0, totalMs: 0 };
  private started = performance.now();

  /** `sliceMs`: work per event-loop turn (0: yield after every step, as tests do). */
  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Ends the current block (and starts the next one). */
  lap(): number {
    const now = performance.now();
    const ms = now - this.started;
    this.cost.totalMs += ms;
    if (ms > this.cost.maxBlockMs) this.cost.maxBlockMs = ms;
    this.started = now;
    return ms;
  }

  /** Yields the event loop once the current block has taken `SLICE_MS`. */
  async slice(): Promise<void> {
    if (performance.now() - this.started < this.sliceMs) return;
    this.lap();
    await new Promise((resolve) => setImmediate(resolve));
    this.started = performance.now();
  }
}

/** The capture's synchronous part: the head packed now, and the immutable lists still to pack. */
export interface HeadPacked {
  head: Buffer;
  /** The registry's columns (never changed once exported: a change builds new ones). */
  registry: PipelineState["registry"];
  patients: readonly unknown[];
  events: readonly unknown[];
  /** The alerts at the capture (what `before` holds of them, else themselves). */
  alerts: AlertHold;
  /** Records per list value. */
  chunk: number;
}

/**
 * Packs the head now (synchronously: what it holds may change in place after this turn) with
 * `packHead` (which packs into the reused snapshot memory), keeping the immutable lists apart.
 */
export function packHead(format: number, state: PipelineState, alerts: AlertHold, packHead: (value: unknown) => Buffer, chunk = CHUNK_RECORDS): HeadPacked {
  const patients = state.patients;
  const events = state.lifecycle.log.events;
  const chunks = { registry: 1, patients: Math.ceil(patients.length / chunk), events: Math.ceil(events.length / chunk), alerts: Math.ceil(alerts.alerts.length / chunk) };
  const rest = { ...state, registry: null, patients: [], lifecycle: { ...state.lifecycle, alerts: [], log: { ...state.lifecycle.log, events: [] } } };
  return { head: packHead({ format, state: rest, chunks }), registry: state.registry, patients, events, alerts, chunk };
}

/**
 * Packs the rest in slices and appends it to the head; resolves with the whole state bytes. Each
 * part is copied at once into the head's memory after the head (the previous snapshot's, reused:
 * fresh buffers for every part, ~84 MB at 100 000 patients, set off full garbage collections of
 * ~0.5–1 s between slices); what does not fit goes into fresh memory with a quarter to spare.
 */
export async function packRest(packr: Packr, packed: HeadPacked, clock: BlockClock): Promise<Buffer> {
  const head = packed.head;
  const memory = head.buffer;
  let end = head.byteOffset + head.byteLength;
  const overflow: Buffer[] = [];
  let bytes = head.byteLength;
  const add = async (value: unknown) => {
    // msgpackr's own buffer is reused by the next pack, anywhere in the process: copied out now.
    const part = packr.pack(value);
    if (overflow.length === 0 && end + part.byteLength <= memory.byteLength) {
      new Uint8Array(memory, end, part.byteLength).set(part);
      end += part.byteLength;
    } else overflow.push(Buffer.from(part));
    bytes += part.byteLength;
    await clock.slice();
  };
  await add(packed.registry);
  const { alerts, before } = packed.alerts;
  const asCaptured = (a: unknown) => before.get(a as AlertHold["alerts"][number]) ?? a;
  for (const [list, at] of [[packed.patients], [packed.events], [alerts, asCaptured]] as [readonly unknown[], ((x: unknown) => unknown)?][]) {
    for (let i = 0; i < list.length; i += packed.chunk) {
      const records = list.slice(i, i + packed.chunk);
      await add(at === undefined ? records : records.map(at));
    }
  }
  const inPlace = Buffer.from(memory, head.byteOffset, end - head.byteOffset);
  if (overflow.length === 0) return inPlace;
  const out = Buffer.allocUnsafeSlow(Math.ceil(bytes * 1.25)).subarray(0, bytes);
  for (let from = 0; from < inPlace.byteLength; from += COPY_STEP) {
    out.set(inPlace.subarray(from, Math.min(inPlace.byteLength, from + COPY_STEP)), from);
    await clock.slice();
  }
  let at = inPlace.byteLength;
  for (const part of overflow) {
    out.set(part, at);
    at += part.byteLength;
    await clock.slice();
  }
  return out;
}

/** Reads a state packed by packHead + packRest, or as one value. */
export function unpackSnapshotState(packr: Packr, bytes: Buffer): { format?: number; state: PipelineState } {
  const values = packr.unpackMultiple(bytes) as unknown[];
  const head = values[0] as { format?: number; state: PipelineState; chunks?: { registry?: 1; patients: number; events: number; alerts?: number } };
  if (head?.chunks === undefined) return head;
  if (head.chunks.registry === 1) head.state.registry = values.splice(1, 1)[0] as PipelineState["registry"];
  const lists = values.slice(1) as unknown[][];
  const { patients: p, events: e, alerts: a } = head.chunks;
  if (lists.length !== p + e + (a ?? 0)) throw new RangeError(`snapshot state: ${lists.length} lists, the head says ${p + e + (a ?? 0)}`);
  const patients = lists.slice(0, p).flat() as PipelineState["patients"];
  const events = lists.slice(p, p + e).flat() as PipelineState["lifecycle"]["log"]["events"];
  const state = head.state;
  const alerts = a === undefined ? state.lifecycle.alerts : (lists.slice(p + e).flat() as PipelineState["lifecycle"]["alerts"]);
  return { format: head.format, state: { ...state, patients, lifecycle: { ...state.lifecycle, alerts, log: { ...state.lifecycle.log, events } } } };
}
