// A group's readings and tick instants staged into replay blocks for the wasm kernel
// (assembly/replay.ts, docs/kernel.md "Replay blocks"). The replay (replay.ts) writes readings in
// arrival order straight into the kernel's input columns and closes an interval at each tick;
// the kernel sorts a block by patient and replays it one patient (run) at a time, with that
// patient's own rules ticked, so a patient's state is loaded once a block instead of once a
// reading.
//
// The same calls as evaluate()/tick() over the whole group, per rule: interval k's readings are
// evaluated at `now` = the newest of them (the group's, not the patient's), after ticks 0..k-1
// and before tick k; an interval closes at a tick or after INTERVAL_MAX readings (as the group's
// batch would). Within an interval a patient's readings are in time order (stable).
import { utcOffsetMs } from "../clock.js";
import type { WasmKernel } from "../kernel/wasm-kernel.js";

/** Readings of one interval before it is cut (a group's evaluate() batch). */
export const INTERVAL_MAX = 65_536;
/** A block goes to the kernel at the first tick after this many readings... */
const BLOCK_READINGS = 65_536;
/** ... or at this many ticks (a CGM group ticks every 5 minutes: about 5 hours a block). */
const BLOCK_TICKS = 64;
const CAPACITY = BLOCK_READINGS + INTERVAL_MAX;

/** Receives the transitions of a kernel call: `count` records, readings indexing `times`. */
export type TransitionSink = (kernel: WasmKernel, count: number, times: Float64Array) => void;

/** How a group's patients map to runs: cohort index of a rule's and of a slot's patient. */
export interface GroupMembers {
  count: number;
  localOf: Int32Array;
  ruleOwner: (rule: number) => number;
  slotOwner: (slot: number) => number;
}

export class KernelBlock {
  /** The kernel's input columns, where the replay's push loop writes readings (refresh() after the kernel may have moved them). */
  slots!: Uint32Array;
  times!: Float64Array;
  values!: Float32Array;
  n = 0;
  /** Readings in the open interval, and its newest time. */
  inInterval = 0;
  newest = -Infinity;
  /** False once a reading came before the previous one of its interval (the kernel wants time order). */
  sorted = true;
  /** Ticks staged = the open interval's index. */
  m = 0;
  private readonly starts = new Uint32Array(BLOCK_TICKS + 1);
  private readonly ticks = new Float64Array(2 * BLOCK_TICKS);
  private readonly nows = new Float64Array(2 * (BLOCK_TICKS + 1));
  /** Per run: its rules [from, to) as pairs, and each slot's run; one run of all when patients' rules interleave. */
  private ranges = new Uint32Array(0);
  /** The most rules of one run (the transition region must hold a tick of it). */
  private widest = 0;
  private slotRuns = new Uint32Array(0);
  private known = { rules: -1, slots: -1 };
  /** The kernel's slot-run table as last written (its address and length). */
  private written: Uint32Array | undefined;

  constructor(
    readonly kernel: WasmKernel,
    private readonly members: GroupMembers,
    private readonly timeZone: string,
  ) {
    this.refresh();
  }

  /** Views of the input columns again (after a new slot: the kernel may have moved them). */
  refresh(): void {
    Object.assign(this, this.kernel.inputColumns(CAPACITY));
  }

  /** Is the open interval at its limit (cut() before the next reading)? */
  get full(): boolean {
    return this.inInterval === INTERVAL_MAX;
  }

  /** The open interval ends at tick instant `at`; sends the block when it is big enough. */
  tick(at: number, sink: TransitionSink): void {
    this.closeInterval();
    this.ticks[2 * this.m] = at;
    this.ticks[2 * this.m + 1] = utcOffsetMs(this.timeZone, at);
    this.m++;
    this.starts[this.m] = this.n;
    if (this.m === BLOCK_TICKS || this.n >= BLOCK_READINGS) this.send(sink);
  }

  /** Sends everything staged, the open interval included (its readings' batch ends here). */
  cut(sink: TransitionSink): void {
    this.closeInterval();
    this.send(sink);
  }

  private closeInterval(): void {
    const k = this.m;
    this.nows[2 * k] = this.newest;
    this.nows[2 * k + 1] = this.inInterval > 0 ? utcOffsetMs(this.timeZone, this.newest) : 0;
    this.inInterval = 0;
    this.newest = -Infinity;
  }

  private send(sink: TransitionSink): void {
    const { n, m } = this;
    if (n === 0 && m === 0) return;
    this.learnRuns();
    const p = this.ranges.length / 2;
    if (!this.sorted) this.sortIntervals();
    const v = this.kernel.blockViews(CAPACITY, BLOCK_TICKS, this.members.count, INTERVAL_MAX, this.widest);
    this.refresh(); // blockViews may have grown memory
    if (this.written === undefined || this.written.byteOffset !== v.slotRuns.byteOffset || this.written.length !== v.slotRuns.length || this.written.buffer !== v.slotRuns.buffer) {
      v.slotRuns.set(this.slotRuns.subarray(0, v.slotRuns.length));
      this.written = v.slotRuns;
    }
    for (let r = 0; r < p; r++) {
      v.runs[4 * r + 2] = this.ranges[2 * r];
      v.runs[4 * r + 3] = this.ranges[2 * r + 1];
    }
    v.starts.set(this.starts.subarray(0, m + 1));
    v.ticks.set(this.ticks.subarray(0, 2 * m));
    v.nows.set(this.nows.subarray(0, 2 * (m + 1)));
    let count = this.kernel.runBlock(n, m, p);
    sink(this.kernel, count, v.sortedTimes);
    while (this.kernel.blockPending()) {
      count = this.kernel.resumeBlock();
      sink(this.kernel, count, v.sortedTimes);
    }
    this.n = 0;
    this.m = 0;
    this.sorted = true;
  }

  /**
   * Each patient's rule range and each slot's run, worked out again when the kernel's rule or slot
   * count changed. Rules of one patient are added together, so ranges are contiguous and in
   * order; were they not, one run of all rules over all readings (the group's time order, as
   * evaluate() and tick() would see it).
   */
  private learnRuns(): void {
    const { rules, slots } = this.kernel.stats();
    if (rules === this.known.rules && slots === this.known.slots) return;
    this.known = { rules, slots };
    this.written = undefined;
    const { count, localOf, ruleOwner, slotOwner } = this.members;
    const from = new Int32Array(count).fill(-1);
    const to = new Int32Array(count);
    let ordered = true;
    let prev = -1;
    for (let r = 0; r < rules; r++) {
      const local = localOf[ruleOwner(r)];
      if (from[local] < 0) {
        if (local < prev) ordered = false;
        from[local] = r;
        prev = local;
      } else if (to[local] !== r) ordered = false;
      to[local] = r + 1;
    }
    this.slotRuns = new Uint32Array(slots);
    if (!ordered) {
      this.ranges = new Uint32Array([0, rules]);
      this.widest = rules;
      return;
    }
    for (let s = 0; s < slots; s++) this.slotRuns[s] = localOf[slotOwner(s)];
    // A patient without rules: an empty range where the previous one ended.
    let end = 0;
    this.ranges = new Uint32Array(2 * count);
    this.widest = 0;
    for (let q = 0; q < count; q++) {
      if (from[q] < 0) from[q] = to[q] = end;
      this.ranges[2 * q] = from[q];
      this.ranges[2 * q + 1] = to[q];
      this.widest = Math.max(this.widest, to[q] - from[q]);
      end = to[q];
    }
  }

  /** The staged readings in (interval, time) order, stable (a group whose uploads came out of order). */
  private sortIntervals(): void {
    const { n, m, starts } = this;
    for (let k = 0; k <= m; k++) sortByTime(this.slots, this.times, this.values, starts[k], k < m ? starts[k + 1] : n);
  }
}

/** Readings [start, end) of three columns in time order, stable (a batch or an interval whose uploads came out of order). */
export function sortByTime(slots: Uint32Array, times: Float64Array, values: Float32Array | Float64Array, start: number, end: number): void {
  const order = Array.from({ length: end - start }, (_, i) => start + i).sort((a, b) => times[a] - times[b] || a - b);
  const s = order.map((i) => slots[i]);
  const t = order.map((i) => times[i]);
  const v = order.map((i) => values[i]);
  for (let i = 0; i < order.length; i++) {
    slots[start + i] = s[i];
    times[start + i] = t[i];
    values[start + i] = v[i];
  }
}
