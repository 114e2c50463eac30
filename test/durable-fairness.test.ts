// One sender's flood cannot stand in front of another's reading: commands wait in a queue and
// each group is taken round-robin across senders, bounded in readings (fair-queue.ts), on a real
// SQLite store. A command is checked again when its turn comes: refused then, it changes nothing.
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_GROUP_READINGS, DEFAULT_GROUP_READINGS_PER_SENDER, DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { FairQueue } from "../engine/durable/fair-queue.js";
import type { CommitBatch } from "../engine/store/store.js";
import { recordingPipeline, STORES } from "./support/durable-stores.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const careTeams = [{ team: "t", role: "hospital" as const }];

/** The next `n` commands in turn (fewer when fewer wait). */
function takeN<T>(q: FairQueue<T>, n: number): T[] {
  const taken: T[] = [];
  for (let item: T | undefined; taken.length < n && (item = q.takeOne()) !== undefined; ) taken.push(item);
  return taken;
}

describe("FairQueue", () => {
  it("takes one command per sender per turn, in arrival order within a sender", () => {
    const q = new FairQueue<string>();
    for (let i = 0; i < 5; i++) q.push("flood", `f${i}`);
    q.push("by", "b0");
    q.push("by", "b1");
    q.push("", "tick");
    expect(takeN(q, 4)).toEqual(["f0", "b0", "tick", "f1"]);
    // The next group starts where this one stopped: "by" had fewer turns than "flood".
    expect(takeN(q, 3)).toEqual(["b1", "f2", "f3"]);
    expect(q.length).toBe(1);
    expect(q.drain()).toEqual(["f4"]);
    expect(q.length).toBe(0);
    expect(takeN(q, 3)).toEqual([]);
  });

  it("by weight: a one-reading command goes before the next batch of every gateway, in lockstep or not; batches of equal weight take turns", () => {
    const q = new FairQueue<string>();
    for (let g = 0; g < 4; g++) for (let k = 0; k < 3; k++) q.push(`gw${g}`, `g${g}.${k}`, 2304);
    expect(takeN(q, 1)).toEqual(["g0.0"]);
    q.push("by", "b0", 1);
    // the gateways' first batches share its start tag (lockstep): the lighter one goes first
    expect(takeN(q, 4)).toEqual(["b0", "g1.0", "g2.0", "g3.0"]);
    q.push("by", "b1", 1);
    q.push("other-by", "o0", 1);
    // "by" was served a moment ago (its finish tag is ahead): the new sender first, then it, then the batches
    expect(takeN(q, 3)).toEqual(["o0", "b1", "g0.1"]);
    // a heavy sender does not get more readings through than a light one keeps asking for
    expect(takeN(q, 3)).toEqual(["g1.1", "g2.1", "g3.1"]);
    q.push("by", "b2", 1);
    expect(takeN(q, 1)).toEqual(["b2"]);
    expect(q.drain()).toEqual(["g0.2", "g1.2", "g2.2", "g3.2"]);
  });

  it("takes a barrier (the clock's tick) only after everything queued before it, while later commands go on", () => {
    const q = new FairQueue<string>();
    for (let i = 0; i < 4; i++) q.push("flood", `f${i}`);
    q.pushBarrier("tick");
    q.push("by", "b0");
    q.push("flood", "f4");
    // f0..f3 came before the tick: it waits for all of them; b0 came after, so it need not wait.
    expect(takeN(q, 3)).toEqual(["f0", "b0", "f1"]);
    expect(takeN(q, 3)).toEqual(["f2", "f3", "tick"]);
    expect(q.drain()).toEqual(["f4"]);
    q.push("a", "a0");
    q.pushBarrier("t1");
    q.push("a", "a1");
    expect(q.drain()).toEqual(["a0", "t1", "a1"]);
  });

  it("passes over the senders told to skip (their share of the group is used up); they keep their place in the turn", () => {
    const q = new FairQueue<string>();
    for (let i = 0; i < 3; i++) q.push("flood", `f${i}`);
    q.push("by", "b0");
    q.push("other", "o0");
    const full = (s: string) => s === "flood";
    expect([q.takeOne(full), q.takeOne(full), q.takeOne(full)]).toEqual(["b0", "o0", undefined]);
    // Next group: the flood's turn is first, as it was.
    expect(takeN(q, 3)).toEqual(["f0", "f1", "f2"]);
  });

  it("takes a lone command, and keeps a never-empty lane's order across compactions", () => {
    const q = new FairQueue<number>();
    q.push("big", 1);
    expect(takeN(q, 1)).toEqual([1]);
    let next = 0;
    const seen: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) q.push("steady", next++);
      seen.push(...takeN(q, 90));
    }
    seen.push(...q.drain());
    expect(seen).toEqual(Array.from({ length: next }, (_, i) => i));
  });
});

describe.each(STORES)("fair groups on %s", (_name, factory) => {
  afterEach(() => factory.cleanup());

  it("a bystander's reading is in the first group however many readings a flood queued ahead of it; groups stay bounded", async () => {
    const { d, groups } = await recordingPipeline(await factory.create(), () => T0);
    try {
      for (const id of ["flood-p", "by-p"]) await d.execute({ kind: "patient", id, input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      groups.length = 0;
      // 10 batches of 1 000: as much as one sender may have uncommitted (DEFAULT_BACKLOG.maxReadingsPerSender).
      const flood = Array.from({ length: 10 }, (_, k) =>
        d.execute(readingsCommand(Array.from({ length: 1000 }, (_, i) => ({ patient: "flood-p", metric: "pulse", value: 70, time: T0 - 3_600_000 + k * 1000 + i, id: `f${k}-${i}` })), T0), { sender: "flood-gw" }),
      );
      const bystander = d.execute(readingsCommand([{ patient: "by-p", metric: "pulse", value: 70, time: T0 - 1, id: "by-1" }], T0), { sender: "by-gw" });
      const answers = await Promise.all([...flood, bystander]);
      expect(answers.every((a) => (a as { accepted: number }).accepted > 0)).toBe(true);

      const patientsOf = (b: CommitBatch) => b.entries.map((e) => (e.command.kind === "ingest" ? e.command.batch.readings[0].patient : e.command.kind));
      expect(patientsOf(groups[0])).toContain("by-p");
      for (const g of groups) {
        const readings = g.entries.reduce((n, e) => n + (e.command.kind === "ingest" ? e.command.batch.readings.length : 0), 0);
        expect(readings).toBeLessThan(DEFAULT_GROUP_READINGS + 1000); // the bound, overshot by at most one command
      }
      expect(groups.length).toBeGreaterThan(1);
      // The flood's own batches were applied in the order it sent them.
      const floodOrder = groups.flatMap((g) => g.entries).filter((e) => e.command.kind === "ingest" && e.command.batch.readings[0].patient === "flood-p");
      expect(floodOrder.map((e) => (e.command.kind === "ingest" ? e.command.batch.readings[0].id : ""))).toEqual(Array.from({ length: 10 }, (_, k) => `f${k}-0`));
      expect(d.uncommitted()).toEqual({ readings: 0, bytes: 0 });
    } finally {
      await d.close();
    }
  });

  it("a sender holds at most its share of a group (DEFAULT_GROUP_READINGS_PER_SENDER), so another's reading waits behind little of a flood", async () => {
    const { d, groups } = await recordingPipeline(await factory.create(), () => T0);
    try {
      for (const id of ["flood-p", "other-p"]) await d.execute({ kind: "patient", id, input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      groups.length = 0;
      const batch = (patient: string, k: number) =>
        readingsCommand(Array.from({ length: 100 }, (_, i) => ({ patient, metric: "pulse", value: 70, time: T0 - 3_600_000 + k * 100 + i, id: `${patient}-${k}-${i}` })), T0);
      // Two senders, 30 batches of 100 each: alone, either would fill a group past its share.
      const sent = Array.from({ length: 30 }, (_, k) => [d.execute(batch("flood-p", k), { sender: "flood-gw" }), d.execute(batch("other-p", k), { sender: "other-gw" })]).flat();
      await Promise.all(sent);
      const shareOf = (g: CommitBatch, patient: string) =>
        g.entries.reduce((n, e) => n + (e.command.kind === "ingest" && e.command.batch.readings[0].patient === patient ? e.command.batch.readings.length : 0), 0);
      for (const g of groups) {
        // Readings plus the events they cause count against the share; one command may overshoot it.
        expect(shareOf(g, "flood-p")).toBeLessThanOrEqual(DEFAULT_GROUP_READINGS_PER_SENDER + 100);
        expect(shareOf(g, "other-p")).toBeLessThanOrEqual(DEFAULT_GROUP_READINGS_PER_SENDER + 100);
      }
      expect(groups.reduce((n, g) => n + shareOf(g, "flood-p"), 0)).toBe(3000);
      expect(groups.reduce((n, g) => n + shareOf(g, "other-p"), 0)).toBe(3000);
      expect(groups.length).toBeGreaterThanOrEqual(3);
      expect(d.uncommitted()).toEqual({ readings: 0, bytes: 0 });
    } finally {
      await d.close();
    }
  });

  it("a command that arrives while a group commits joins the group applied ahead of it, not the one after", async () => {
    const { d, groups } = await recordingPipeline(await factory.create(), () => T0);
    try {
      for (const id of ["flood-p", "by-p"]) await d.execute({ kind: "patient", id, input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      const store = d.store!;
      const commit = store.commit.bind(store);
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      let commits = 0;
      store.commit = async (batch) => {
        if (commits++ === 0) await held; // the flood's first group stays committing
        return commit(batch);
      };
      groups.length = 0;
      const start = d.position();
      const batch = (k: number) =>
        readingsCommand(Array.from({ length: DEFAULT_GROUP_READINGS_PER_SENDER }, (_, i) => ({ patient: "flood-p", metric: "pulse", value: 70, time: T0 - 3_600_000 + k * 10_000 + i, id: `f${k}-${i}` })), T0);
      // One share per group: the first group commits (held), the second is applied ahead of it.
      const flood = [0, 1, 2].map((k) => d.execute(batch(k), { sender: "flood-gw" }));
      for (let i = 0; i < 200 && (commits === 0 || d.position() < start + 2); i++) await new Promise((r) => setTimeout(r, 5));
      expect(d.position()).toBe(start + 2);
      const bystander = d.execute(readingsCommand([{ patient: "by-p", metric: "pulse", value: 70, time: T0 - 1, id: "by-1" }], T0), { sender: "by-gw" });
      release();
      await Promise.all([...flood, bystander]);
      const patientsOf = (b: CommitBatch) => b.entries.map((e) => (e.command.kind === "ingest" ? e.command.batch.readings[0].patient : e.command.kind));
      // Its commit is the second, beside the flood's second share; the flood's third came after.
      expect(groups.map(patientsOf)).toEqual([["flood-p"], ["flood-p", "by-p"], ["flood-p"]]);
    } finally {
      await d.close();
    }
  });

  it("a command that passed its check on arrival but is refused at its turn changes nothing and is not journaled", async () => {
    const store = await factory.create();
    const d = await DurablePipeline.open({ store, now: () => T0, snapshotEveryMs: 1e12 });
    try {
      await d.execute({ kind: "patient", id: "p", input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      const silence = await d.execute({ kind: "silence_add", patient: "p", rule: "pulse-band", until: T0 + 3_600_000, reason: "checked by phone", author: "nurse" });
      const before = d.position();
      // Both pass the check now; the second finds the silence already gone when its turn comes.
      const first = d.execute({ kind: "silence_remove", id: silence.id, by: "nurse" });
      const second = d.execute({ kind: "silence_remove", id: silence.id, by: "nurse" });
      const [a, b] = await Promise.allSettled([first, second]);
      expect(a).toMatchObject({ status: "fulfilled", value: { id: silence.id } });
      expect(b).toMatchObject({ status: "rejected", reason: { code: "silence_ended" } });
      expect(d.position()).toBe(before + 1);
      const journal = await store.readJournal(before, 10);
      expect(journal.map((e) => e.command.kind)).toEqual(["silence_remove"]);
    } finally {
      await d.close();
    }
  });
});
