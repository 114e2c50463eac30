// Review finding: a lane that never empties keeps every command already taken from it (the
// array slots before `head`) until 1 024 have been taken. Under a steady flood of 10 000-reading
// batches from one sender (its lane is refilled before each take), that is up to 1 023 applied
// and committed batches (≈ 10 M readings) held outside every backlog bound.
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { describe, expect, it } from "vitest";
import { FairQueue } from "../engine/durable/fair-queue.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("FairQueue memory", () => {
  it("does not keep a command once it was taken, while its sender's lane stays busy", async () => {
    const q = new FairQueue<{ payload: Uint8Array }>();
    const taken: WeakRef<object>[] = [];
    q.push("flood", { payload: new Uint8Array(1024) });
    for (let i = 0; i < 100; i++) {
      q.push("flood", { payload: new Uint8Array(1024) }); // refilled before each take: never empty
      taken.push(new WeakRef(q.takeOne()!));
    }
    expect(q.length).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    // The newest one may still be referenced from this frame; the 99 before it must be gone.
    const stillHeld = taken.slice(0, -1).filter((r) => r.deref() !== undefined).length;
    expect(stillHeld).toBe(0);
  });
});
