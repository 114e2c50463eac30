// Kernel calls of a backtest replay recorded and made again (bench/backtest.ts "kernel only",
// bench/backtest-costs.ts): the kernel's own cost without the host around it.
import type { BlockViews, WasmKernel } from "../../engine/kernel/wasm-kernel.js";

/** A batch's input columns, copied. */
export interface Batch {
  slots: Uint32Array;
  times: Float64Array;
  values: Float32Array;
}

/**
 * A replay block (engine/backtest/kernel-block.ts) as the host staged it, copied: its readings
 * (the input columns), the room it asked for and the parts of the block views the kernel reads.
 */
export interface RecordedBlock {
  /** blockViews' arguments: the replay makes the same room, so the kernel's capacities match. */
  room: Parameters<WasmKernel["blockViews"]>;
  /** The n readings in arrival order. */
  input: Batch;
  /** Tick instants and runs (patients). */
  m: number;
  p: number;
  /** Each slot's run (the whole table: the host writes it only when it changed). */
  slotRuns: Uint32Array;
  /** starts[0..m], ticks[0..2m), nows[0..2m+2). */
  starts: Uint32Array;
  ticks: Float64Array;
  nows: Float64Array;
  /** Per run its rules [from, to), the host's fields of runs[4r + 2], runs[4r + 3] (the kernel fills the others). */
  rules: Uint32Array;
}

/** One kernel call of a replay on kernel number `kernel`: a batch evaluated, a tick (no batch), or a replay block. */
export type RecordedCall = { kernel: number; now: number; tz: number; batch?: Batch } | { kernel: number; block: RecordedBlock };

/**
 * Makes `k` record every call (as kernel `index`) in `calls` before making it. Wrap a timed
 * kernel after its timing wrappers, so the copying stays outside the timed part.
 */
export function recordCalls(k: WasmKernel, index: number, calls: RecordedCall[]): void {
  const run = k.run.bind(k);
  const runTick = k.runTick.bind(k);
  const blockViews = k.blockViews.bind(k);
  const runBlock = k.runBlock.bind(k);
  // The block views of the last blockViews() call (the host fills them, then calls runBlock).
  let staged: { room: RecordedBlock["room"]; views: BlockViews } | undefined;
  k.run = (n, now, tz) => {
    calls.push({ kernel: index, now, tz, batch: copyBatch(k.inputColumns(n)) });
    return run(n, now, tz);
  };
  k.runTick = (now, tz) => {
    calls.push({ kernel: index, now, tz });
    return runTick(now, tz);
  };
  k.blockViews = (...room) => {
    const views = blockViews(...room);
    staged = { room, views };
    return views;
  };
  k.runBlock = (n, m, p) => {
    if (staged === undefined) throw new Error("runBlock before blockViews: nothing to record");
    calls.push({ kernel: index, block: copyBlock(staged.room, staged.views, copyBatch(k.inputColumns(n)), m, p) });
    return runBlock(n, m, p);
  };
}

function copyBatch(cols: Batch): Batch {
  return { slots: cols.slots.slice(), times: cols.times.slice(), values: cols.values.slice() };
}

/** The used parts of filled block views (m ticks, p runs). */
function copyBlock(room: RecordedBlock["room"], v: BlockViews, input: Batch, m: number, p: number): RecordedBlock {
  const rules = new Uint32Array(2 * p);
  for (let r = 0; r < p; r++) {
    rules[2 * r] = v.runs[4 * r + 2];
    rules[2 * r + 1] = v.runs[4 * r + 3];
  }
  return {
    room,
    input,
    m,
    p,
    slotRuns: v.slotRuns.slice(),
    starts: v.starts.slice(0, m + 1),
    ticks: v.ticks.slice(0, 2 * m),
    nows: v.nows.slice(0, 2 * m + 2),
    rules,
  };
}

/** Puts a recorded batch into the input columns of a kernel (or the floor loop); returns its length. */
export function putBatch(into: { inputColumns(n: number): Batch }, batch: Batch): number {
  const n = batch.slots.length;
  const cols = into.inputColumns(n);
  cols.slots.set(batch.slots);
  cols.times.set(batch.times);
  cols.values.set(batch.values);
  return n;
}

/**
 * Puts a recorded block into a kernel's memory as the host staged it: readings first, then the
 * room (which may move them along), then the views. Returns its reading count.
 */
export function putBlock(k: WasmKernel, b: RecordedBlock): number {
  const n = putBatch(k, b.input);
  const v = k.blockViews(...b.room);
  v.slotRuns.set(b.slotRuns);
  v.starts.set(b.starts);
  v.ticks.set(b.ticks);
  v.nows.set(b.nows);
  for (let r = 0; r < b.p; r++) {
    v.runs[4 * r + 2] = b.rules[2 * r];
    v.runs[4 * r + 3] = b.rules[2 * r + 1];
  }
  return n;
}

/** Replays a put block to its end (its first part, then the rest while pending), its transitions left unread. */
export function runBlockToEnd(k: WasmKernel, b: RecordedBlock): void {
  k.runBlock(b.input.slots.length, b.m, b.p);
  while (k.blockPending()) k.resumeBlock();
}
