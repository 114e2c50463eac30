// Admitted commands wait here until a flush applies them. Applying in arrival order put a
// bystander's one reading behind every reading a flooding gateway had queued (issue 11: POST
// p99 ≈ 1 s); a group is therefore taken round-robin across senders, one command of each per
// turn, in arrival order within a sender, up to a weight bound: whoever else is waiting is in
// the next group, however much one sender queued.

export class FairQueue<T> {
  /** Per sender, its commands in arrival order; Map order is the turn order. */
  private readonly lanes = new Map<string, { items: T[]; head: number }>();
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(sender: string, item: T): void {
    let lane = this.lanes.get(sender);
    if (lane === undefined) this.lanes.set(sender, (lane = { items: [], head: 0 }));
    lane.items.push(item);
    this.count++;
  }

  /**
   * Takes commands round-robin until their weight reaches `limit` (at least one, while any
   * waits). A sender that had its turn moves behind the others, so the next group starts where
   * this one stopped.
   */
  take(weigh: (item: T) => number, limit: number): T[] {
    const taken: T[] = [];
    let weight = 0;
    while (this.count > 0 && weight < limit) {
      for (const sender of [...this.lanes.keys()]) {
        const lane = this.lanes.get(sender)!;
        const item = lane.items[lane.head++];
        this.count--;
        taken.push(item);
        weight += weigh(item);
        this.lanes.delete(sender);
        if (lane.head < lane.items.length) {
          // A lane that never empties (a steady flood) would keep every taken slot: drop them.
          if (lane.head >= 1024 && lane.head * 2 >= lane.items.length) {
            lane.items = lane.items.slice(lane.head);
            lane.head = 0;
          }
          this.lanes.set(sender, lane);
        }
        if (weight >= limit) break;
      }
    }
    return taken;
  }

  /** Everything still waiting, in turn order (for refusing it all). */
  drain(): T[] {
    const all: T[] = [];
    for (const lane of this.lanes.values()) for (let i = lane.head; i < lane.items.length; i++) all.push(lane.items[i]);
    this.lanes.clear();
    this.count = 0;
    return all;
  }
}
