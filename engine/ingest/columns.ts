// A batch of validated readings as columns (slot, time, value, metric, request index): what the
// ingest path hands the evaluator, with no object per reading. Reused from batch to batch.

export class ReadingColumns {
  length = 0;
  slot = new Uint32Array(1024);
  time = new Float64Array(1024);
  value = new Float64Array(1024);
  metric = new Uint16Array(1024);
  /** The reading's place in the request (FHIR: its entry). */
  index = new Uint32Array(1024);

  /** Empties the batch (keeps the capacity). */
  reset(): this {
    this.length = 0;
    return this;
  }

  push(slot: number, time: number, value: number, metric: number, index: number): void {
    if (this.length === this.slot.length) this.grow();
    const i = this.length++;
    this.slot[i] = slot;
    this.time[i] = time;
    this.value[i] = value;
    this.metric[i] = metric;
    this.index[i] = index;
  }

  /** True when the times never decrease (then evaluation order is column order). */
  inTimeOrder(): boolean {
    const t = this.time;
    for (let i = 1; i < this.length; i++) if (t[i] < t[i - 1]) return false;
    return true;
  }

  /** Column positions in evaluation order: by time, ties in column (request) order. */
  timeOrder(): Uint32Array {
    const order = new Uint32Array(this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const t = this.time;
    return order.sort((a, b) => t[a] - t[b] || a - b);
  }

  private grow(): void {
    const cap = this.slot.length * 2;
    const widen = <T extends Uint32Array | Float64Array | Uint16Array>(old: T, make: new (n: number) => T): T => {
      const next = new make(cap);
      next.set(old);
      return next;
    };
    this.slot = widen(this.slot, Uint32Array);
    this.time = widen(this.time, Float64Array);
    this.value = widen(this.value, Float64Array);
    this.metric = widen(this.metric, Uint16Array);
    this.index = widen(this.index, Uint32Array);
  }
}
