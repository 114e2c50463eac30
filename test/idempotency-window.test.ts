// The idempotency window must behave exactly like "a Set of the last N keys, oldest forgotten
// first", through growth, eviction, compaction and a snapshot round trip — and a hash collision
// must never make a new key look seen.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IdempotencyWindow } from "../engine/idempotency.js";

/** The reference: a Set in insertion order. */
class Reference {
  readonly set = new Set<string>();
  /** Entries oldest first; a removed key's entry stays (it counts towards the capacity) as null. */
  private readonly fifo: (string | null)[] = [];
  constructor(private readonly capacity: number) {}
  get size(): number {
    return this.fifo.length;
  }
  add(key: string): void {
    if (this.set.has(key)) return;
    this.set.add(key);
    this.fifo.push(key);
    if (this.fifo.length > this.capacity) {
      const oldest = this.fifo.shift();
      if (oldest !== null && oldest !== undefined) this.set.delete(oldest);
    }
  }
  remove(key: string): boolean {
    if (!this.set.delete(key)) return false;
    this.fifo[this.fifo.indexOf(key)] = null;
    return true;
  }
}

const key = fc.oneof(
  fc.integer({ min: 0, max: 3_000 }).map((i) => `p${i % 50}\u0000pulse\u0000m-${i}`),
  fc.string({ unit: "binary", maxLength: 40 }),
);

describe("idempotency window", () => {
  it("answers like a Set of the last N keys, across growth, eviction and snapshot round trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_000 }), fc.array(fc.tuple(fc.constantFrom("add", "add", "add", "has", "snap", "remove"), key), { maxLength: 6_000 }), (capacity, ops) => {
        let w = new IdempotencyWindow(capacity);
        const ref = new Reference(capacity);
        for (const [op, k] of ops) {
          if (op === "add") {
            w.add(k);
            ref.add(k);
          } else if (op === "remove") {
            // A removed key is new again (a withdrawn reading's id); the others keep their order.
            expect(w.remove(k) !== undefined).toBe(ref.remove(k));
          } else if (op === "has") {
            expect(w.has(k)).toBe(ref.set.has(k));
          } else {
            const restored = new IdempotencyWindow(capacity);
            restored.importState(w.exportState());
            w = restored;
          }
          expect(w.size).toBe(ref.size);
        }
        for (const k of ref.set) expect(w.has(k)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps a million keys and forgets the oldest first", () => {
    const w = new IdempotencyWindow(1_000_000);
    for (let i = 0; i < 1_200_000; i++) w.add(`patient-${i % 100_000}\u0000spo2\u0000m-${i}`);
    expect(w.size).toBe(1_000_000);
    expect(w.has("patient-0\u0000spo2\u0000m-0")).toBe(false);
    expect(w.has("patient-99999\u0000spo2\u0000m-199999")).toBe(false);
    expect(w.has("patient-0\u0000spo2\u0000m-200000")).toBe(true);
    expect(w.has("patient-99999\u0000spo2\u0000m-1199999")).toBe(true);
    const restored = new IdempotencyWindow(1_000_000);
    restored.importState(w.exportState());
    expect(restored.has("patient-0\u0000spo2\u0000m-200000")).toBe(true);
    expect(restored.has("patient-0\u0000spo2\u0000m-199999")).toBe(false);
  });

  it("tells keys with the same hash apart (exact comparison, not the hash)", () => {
    // find two distinct short keys with the same 32-bit hash (birthday search, ~80 000 keys)
    const w = new IdempotencyWindow(10);
    const hashOf = (k: string) => (w as unknown as { encode(k: string): number }).encode(k);
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const k = `k${i}`;
      const h = hashOf(k);
      const other = seen.get(h);
      if (other !== undefined) pair = [other, k];
      else seen.set(h, k);
    }
    w.add(pair[0]);
    expect(w.has(pair[0])).toBe(true);
    expect(w.has(pair[1])).toBe(false);
  });

  it("a smaller window restored from a bigger one keeps the newest keys", () => {
    const big = new IdempotencyWindow(100);
    for (let i = 0; i < 100; i++) big.add(`k${i}`);
    const small = new IdempotencyWindow(10);
    small.importState(big.exportState());
    expect(small.size).toBe(10);
    expect(small.has("k89")).toBe(false);
    expect(small.has("k90")).toBe(true);
  });
});
