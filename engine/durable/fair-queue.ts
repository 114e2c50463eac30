// Admitted commands wait here until a flush applies them. Applying in arrival order put a
// bystander's one reading behind every reading a flooding gateway had queued (issue 11: POST
// p99 ≈ 1 s); commands are therefore taken round-robin across senders, one of each per turn, in
// arrival order within a sender (the flush bounds its group, and each sender's share of it:
// durable-pipeline.ts applyNext), so whoever else is waiting is in the next group, however much
// one sender queued.
//
// A barrier (the clock's tick) is the exception: it is taken only once everything that arrived
// before it was taken. A tick that overtook a gateway's queued reading judged that patient's
// data stale although the reading had come in time (a false missing-data alert).

interface Entry<T> {
  /** Arrival order, across every lane. */
  seq: number;
  item: T;
}

export class FairQueue<T> {
  /** Per sender, its commands in arrival order; Map order is the turn order. */
  private readonly lanes = new Map<string, { entries: (Entry<T> | undefined)[]; head: number }>();
  private readonly barriers: Entry<T>[] = [];
  private count = 0;
  private nextSeq = 0;

  get length(): number {
    return this.count + this.barriers.length;
  }

  push(sender: string, item: T): void {
    let lane = this.lanes.get(sender);
    if (lane === undefined) this.lanes.set(sender, (lane = { entries: [], head: 0 }));
    lane.entries.push({ seq: this.nextSeq++, item });
    this.count++;
  }

  /** Queues an item that is taken only after everything queued before it. */
  pushBarrier(item: T): void {
    this.barriers.push({ seq: this.nextSeq++, item });
  }

  /**
   * The next command in turn (a barrier whose turn has come first), or undefined when none
   * waits. A sender that had its turn moves behind the others. `skip`: senders passed over this
   * time (their share of the group is used up); they keep their place in the turn order.
   */
  takeOne(skip?: (sender: string) => boolean): T | undefined {
    if (this.barrierDue()) return this.barriers.shift()!.item;
    let next: [string, { entries: (Entry<T> | undefined)[]; head: number }] | undefined;
    for (const candidate of this.lanes) {
      if (skip === undefined || !skip(candidate[0])) {
        next = candidate;
        break;
      }
    }
    if (next === undefined) return undefined;
    const [sender, lane] = next;
    const entry = lane.entries[lane.head]!;
    // Not kept once taken: a lane that never empties drops its taken slots only at compaction.
    lane.entries[lane.head++] = undefined;
    this.count--;
    this.lanes.delete(sender);
    if (lane.head < lane.entries.length) {
      // A lane that never empties (a steady flood) would keep every taken slot: drop them.
      if (lane.head >= 1024 && lane.head * 2 >= lane.entries.length) {
        lane.entries = lane.entries.slice(lane.head);
        lane.head = 0;
      }
      this.lanes.set(sender, lane);
    }
    return entry.item;
  }

  /** Everything still waiting, in arrival order (for refusing it all). */
  drain(): T[] {
    const all: Entry<T>[] = [...this.barriers];
    for (const lane of this.lanes.values()) for (let i = lane.head; i < lane.entries.length; i++) all.push(lane.entries[i]!);
    this.lanes.clear();
    this.barriers.length = 0;
    this.count = 0;
    return all.sort((a, b) => a.seq - b.seq).map((e) => e.item);
  }

  /** Is the first barrier's turn come: nothing queued before it still waits? */
  private barrierDue(): boolean {
    const first = this.barriers[0];
    if (first === undefined) return false;
    for (const lane of this.lanes.values()) if (lane.entries[lane.head]!.seq < first.seq) return false;
    return true;
  }
}
