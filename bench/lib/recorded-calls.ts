// Kernel calls of a backtest replay recorded and made again (bench/backtest.ts "kernel only",
// bench/backtest-costs.ts): the kernel's own cost without the host around it.

/** A batch's input columns, copied. */
export interface Batch {
  slots: Uint32Array;
  times: Float64Array;
  values: Float32Array;
}

/** One kernel call of a replay: a batch or a tick (no batch), on kernel number `kernel`. */
export interface RecordedCall {
  kernel: number;
  now: number;
  tz: number;
  batch?: Batch;
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
