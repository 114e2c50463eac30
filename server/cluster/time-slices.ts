// The partitions of one engine process apply commands in slices of the event loop's time. A
// consumer's buffered messages come out of its iterator as promises already resolved, so a
// partition with a backlog applies command after command in microtasks, and twelve of them in
// turn, without the event loop reaching its timers and sockets: the lease renewals and the
// PubAcks of the events wait behind the whole backlog, the lease's fence runs out and the
// partitions stop (bench:cluster, 20 000 patients, one engine with a backlog). Every partition
// asks `due()` after each command and, once the slice is used up, waits for `pause()`: one
// setImmediate shared by all of them, after which one slice starts for all together.
import { performance } from "node:perf_hooks";

/** Applying runs at most this long before timers and sockets get their turn (the event loop's lag). */
export const DEFAULT_SLICE_MS = 10;

export class TimeSlices {
  private start = performance.now();
  private pausing: Promise<void> | undefined;

  constructor(private readonly sliceMs = DEFAULT_SLICE_MS) {
    if (!(sliceMs > 0)) throw new RangeError(`a time slice is more than 0 ms, not ${sliceMs}`);
  }

  /** Is this slice used up (pause before the next command)? */
  due(): boolean {
    return this.pausing !== undefined || performance.now() - this.start >= this.sliceMs;
  }

  /** Resolves after the event loop's timers and I/O had their turn; the next slice starts then. */
  pause(): Promise<void> {
    this.pausing ??= new Promise((resolve) =>
      setImmediate(() => {
        this.pausing = undefined;
        this.start = performance.now();
        resolve();
      }),
    );
    return this.pausing;
  }
}
