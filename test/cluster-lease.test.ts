// The lease's fencing rule (server/cluster/lease.ts) against the real KV bucket, on clocks the
// test drives: an owner that sent its last renewal at `sent` stops applying before any observer
// can find the lease stale and take it, whatever the delays between sending, writing, seeing the
// write and the answer, and with clocks that run a little apart. No timing of the machine is
// asserted: each step sets the clocks, then asks both sides.
import type { KV } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkLeaseTiming, DEFAULT_LEASE_MS, FENCE_SHARE, RevisionLeases } from "../server/cluster/lease.js";
import { SnapshotPacer } from "../server/cluster/partition.js";
import { NATS_SKIP, requireNats, TestClusters } from "./support/nats.js";

/** A clock the test sets; `rate` scales true time (a machine whose clock runs fast or slow). */
class Clock {
  t = 0;
  constructor(readonly rate = 1) {}
  now = () => this.t * this.rate;
}

const LEASE = DEFAULT_LEASE_MS;

/** The real bucket, with the test's clocks moved while a write is under way: to `written` as it is sent on, to `answered` as its answer returns. */
function timedWrites(kv: KV, written: () => void, answered: () => void): KV {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      if (prop !== "create" && prop !== "update") return value.bind(target);
      return async (...args: unknown[]) => {
        written();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          answered();
        }
      };
    },
  });
}

describe.skipIf(NATS_SKIP)("lease fencing on the real bucket", () => {
  const clusters = new TestClusters();
  beforeAll(() => requireNats());
  afterAll(() => clusters.destroyAll());

  // [case, send→write ms, write→observer sees ms, write→owner's answer ms, owner clock rate, observer clock rate]
  it.each<[string, number, number, number, number, number]>([
    ["no delays", 0, 0, 0, 1, 1],
    ["the observer sees the write at once, the answer is slow", 0, 0, 900, 1, 1],
    ["the write is slow, the observer sees it at once", 700, 0, 50, 1, 1],
    ["the observer sees it a scan later", 20, 400, 20, 1, 1],
    ["the owner's clock runs 5 % slow", 10, 0, 10, 0.95, 1],
    ["the observer's clock runs 5 % fast", 10, 0, 10, 1, 1.05],
  ])("%s: the owner stops applying before the observer may take the lease", async (_case, toWrite, toSeen, toAnswer, ownerRate, observerRate) => {
    const cluster = await clusters.open({ partitions: 1 });
    const ownerClock = new Clock(ownerRate);
    const observerClock = new Clock(observerRate);
    const setTrue = (t: number) => {
      ownerClock.t = t;
      observerClock.t = t;
    };
    const owner = new RevisionLeases(
      timedWrites(cluster.kv, () => setTrue(toWrite), () => setTrue(toWrite + toAnswer)),
      LEASE,
      ownerClock.now,
    );
    const observer = new RevisionLeases(cluster.kv, LEASE, observerClock.now);

    // The owner sends at true time 0 (take reads its clock then), the server writes at toWrite, the
    // observer sees it at toWrite + toSeen, the answer reaches the owner at toWrite + toAnswer.
    setTrue(0);
    const taken = await owner.take("lease.0", "engine-a", undefined);
    expect(taken?.revision).toBeGreaterThan(0);
    const { revision, sentAt: sent } = taken!;
    expect(sent).toBe(0); // counted from the sending, not the answer
    setTrue(toWrite + toSeen);
    const holder = await observer.read("lease.0");
    expect(holder).toEqual({ owner: "engine-a", revision });

    let fencedAt: number | undefined;
    let staleAt: number | undefined;
    for (let t = toWrite + toSeen; t <= toWrite + toSeen + 2 * LEASE; t += 10) {
      setTrue(t);
      // The owner learns of its renewal only once the answer came; before that it applies on its previous one (older).
      const applies = t >= toWrite + toAnswer && owner.fresh(sent);
      const stale = observer.stale("lease.0", holder!);
      expect(applies && stale, `at ${t} ms both apply and find stale`).toBe(false);
      if (!owner.fresh(sent)) fencedAt ??= t;
      if (stale) staleAt ??= t;
    }
    // Both happen, in this order.
    expect(fencedAt).toBeDefined();
    expect(staleAt).toBeDefined();
    expect(fencedAt!).toBeLessThan(staleAt!);

    // Taken with the revision seen; the owner's next renewal at its old revision then fails.
    expect((await observer.take("lease.0", "engine-b", holder!.revision))?.revision).toBeGreaterThan(revision);
    expect(await owner.take("lease.0", "engine-a", revision)).toBeUndefined();
  });

  it("a renewal resets the observer's count: stale only after a whole lease without one", async () => {
    const cluster = await clusters.open({ partitions: 1 });
    const clock = new Clock();
    const owner = new RevisionLeases(cluster.kv, LEASE, clock.now);
    const observer = new RevisionLeases(cluster.kv, LEASE, clock.now);
    const first = await owner.take("lease.0", "engine-a", undefined);
    await observer.read("lease.0");
    clock.t = LEASE - 1;
    const renewed = await owner.take("lease.0", "engine-a", first!.revision);
    expect(renewed?.sentAt).toBe(LEASE - 1);
    const seen = await observer.read("lease.0");
    expect(seen?.revision).toBe(renewed?.revision);
    clock.t = LEASE + 10;
    expect(observer.stale("lease.0", seen!)).toBe(false);
    clock.t = 2 * LEASE - 1;
    expect(observer.stale("lease.0", seen!)).toBe(true);
    // A scan can be timed for the moment the lease turns stale (the observer's own clock).
    clock.t = LEASE + 10;
    expect(observer.nextStaleAt()).toBe(2 * LEASE - 1);
    clock.t = 2 * LEASE - 1;
    expect(observer.nextStaleAt()).toBeUndefined();
    // Two candidates with the same revision: exactly one wins.
    const other = new RevisionLeases(cluster.kv, LEASE, clock.now);
    const wins = await Promise.all([observer.take("lease.0", "engine-b", seen!.revision), other.take("lease.0", "engine-c", seen!.revision)]);
    expect(wins.filter((w) => w !== undefined)).toHaveLength(1);
  });
});

describe("lease timing", () => {
  it("the fence ends before a lease can go stale", () => {
    expect(FENCE_SHARE).toBeGreaterThan(0);
    expect(FENCE_SHARE).toBeLessThan(1);
  });

  it.each<[number, number, boolean]>([
    [2_000, 400, true],
    [2_000, 666, true],
    [2_000, 667, false],
    [2_000, 0, false],
    [0, 0, false],
  ])("lease %i ms with a scan every %i ms: accepted %s", (lease, scan, ok) => {
    if (ok) expect(() => checkLeaseTiming(lease, scan)).not.toThrow();
    else expect(() => checkLeaseTiming(lease, scan)).toThrow(RangeError);
  });
});

describe("snapshot pacer (one engine's partitions)", () => {
  it("one snapshot at a time, and after one the next waits its cost over the share", async () => {
    const pacer = new SnapshotPacer(0.1);
    expect(pacer.ready()).toBe(true);
    pacer.begin();
    expect(pacer.ready()).toBe(false);
    pacer.end(0);
    expect(pacer.ready()).toBe(true);
    pacer.begin();
    pacer.end(60_000); // ten minutes to wait
    expect(pacer.ready()).toBe(false);
    expect(() => new SnapshotPacer(0)).toThrow(RangeError);
  });

  it("due snapshots take their turns in the order they became due, one at a time", async () => {
    const pacer = new SnapshotPacer(1);
    const ran: string[] = [];
    let running = 0;
    let overlapping = 0;
    const snapshot = (name: string) => async () => {
      ran.push(name);
      pacer.begin();
      overlapping = Math.max(overlapping, ++running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      pacer.end(0);
    };
    pacer.begin(); // a snapshot under way: every turn waits
    for (const name of ["p3", "p0", "p7", "p1"]) pacer.turn(snapshot(name));
    let skipped = false;
    pacer.turn(async () => void (skipped = true)); // a turn that finds nothing due passes it on
    pacer.turn(snapshot("p5"));
    expect(ran).toEqual([]);
    pacer.end(0);
    await new Promise<void>((resolve) => pacer.turn(async () => resolve()));
    expect(ran).toEqual(["p3", "p0", "p7", "p1", "p5"]);
    expect(skipped).toBe(true);
    expect(overlapping).toBe(1);
  });
});
