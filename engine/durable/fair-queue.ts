// Admitted commands wait here until a flush applies them. Applying in arrival order put a
// bystander's one reading behind every reading a flooding gateway had queued (issue 11: POST
// p99 ≈ 1 s); commands are therefore taken fairly across senders, in arrival order within a
// sender (the flush bounds its group, and each sender's share of it:
// durable-pipeline.ts applyNext), so whoever else is waiting
// is in the next group, however much one sender queued.
//
// Fair by weight (readings), not by command: start-time fair queuing. A command's start tag is
// the later of the virtual time (the start tag of the last command taken) and its sender's
// previous finish (start + weight); the smallest start tag goes next, between equal ones the
// smaller finish (the lighter command), then arrival order. One command per sender per turn let
// a live gateway's one reading wait for a whole round of 64 backfilling gateways' 2 304-reading
// batches (bench:server backfill: bystander p99 ≈ 0.8 s); by weight it waits for the command
// being taken, whatever the others queued (gateways in lockstep share a start tag: the finish
// tie-break puts the light command first). With equal weights it is the round-robin it was.
//
// A barrier (the clock's tick) is the exception: it is taken only once everything that arrived
// before it was taken. A tick that overtook a gateway's queued reading judged that patient's
// data stale although the reading had come in time (a false missing-data alert).

interface Entry<T> {
  /** Arrival order, across every lane. */
  seq: number;
  /** Start and finish tags (virtual time) of its turn. */
  start: number;
  finish: number;
  item: T;
}

/** Finish tags kept for idle senders past this many are dropped once behind the virtual time. */
const MAX_IDLE_FINISH = 4096;

export class FairQueue<T> {
  /** Per sender, its commands in arrival order. */
  private readonly lanes = new Map<string, { entries: (Entry<T> | undefined)[]; head: number }>();
  private readonly barriers: { seq: number; item: T }[] = [];
  /** Per sender, the finish tag of its last command (start + weight). */
  private readonly finish = new Map<string, number>();
  private virtual = 0;
  private count = 0;
  private nextSeq = 0;

  get length(): number {
    return this.count + this.barriers.length;
  }

  /** Queues a sender's command; `weight` is its cost (readings; at least 1). */
  push(sender: string, item: T, weight = 1): void {
    let lane = this.lanes.get(sender);
    if (lane === undefined) this.lanes.set(sender, (lane = { entries: [], head: 0 }));
    const start = Math.max(this.virtual, this.finish.get(sender) ?? 0);
    const finish = start + Math.max(1, weight);
    this.finish.set(sender, finish);
    lane.entries.push({ seq: this.nextSeq++, start, finish, item });
    this.count++;
  }

  /** Queues an item that is taken only after everything queued before it. */
  pushBarrier(item: T): void {
    this.barriers.push({ seq: this.nextSeq++, item });
  }

  /**
   * The next command in turn (a barrier whose turn has come first), or undefined when none
   * waits. `skip`: senders passed over this time (their share of the group is used up); they
   * keep their tags, so their turn comes first in the next group.
   */
  takeOne(skip?: (sender: string) => boolean): T | undefined {
    if (this.barrierDue()) return this.barriers.shift()!.item;
    let best: { sender: string; lane: { entries: (Entry<T> | undefined)[]; head: number }; entry: Entry<T> } | undefined;
    for (const [sender, lane] of this.lanes) {
      if (skip !== undefined && skip(sender)) continue;
      const entry = lane.entries[lane.head]!;
      if (best === undefined || before(entry, best.entry)) best = { sender, lane, entry };
    }
    if (best === undefined) return undefined;
    const { sender, lane, entry } = best;
    this.virtual = Math.max(this.virtual, entry.start);
    // Not kept once taken: a lane that never empties drops its taken slots only at compaction.
    lane.entries[lane.head++] = undefined;
    this.count--;
    if (lane.head === lane.entries.length) this.lanes.delete(sender);
    else if (lane.head >= 1024 && lane.head * 2 >= lane.entries.length) {
      // A lane that never empties (a steady flood) would keep every taken slot: drop them.
      lane.entries = lane.entries.slice(lane.head);
      lane.head = 0;
    }
    if (this.finish.size > MAX_IDLE_FINISH + this.lanes.size) for (const [s, f] of this.finish) if (f <= this.virtual && !this.lanes.has(s)) this.finish.delete(s);
    return entry.item;
  }

  /** Everything still waiting, in arrival order (for refusing it all). */
  drain(): T[] {
    const all: { seq: number; item: T }[] = [...this.barriers];
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

/** Turn order: start tag, then finish tag (the lighter of equals), then arrival. */
function before(a: { start: number; finish: number; seq: number }, b: { start: number; finish: number; seq: number }): boolean {
  return a.start !== b.start ? a.start < b.start : a.finish !== b.finish ? a.finish < b.finish : a.seq < b.seq;
}
