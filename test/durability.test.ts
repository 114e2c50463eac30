// Nothing acknowledged is lost: on a real store, a restart (with or without a snapshot, with or
// without a clean close) continues exactly where the acknowledged work left off; a store outage
// refuses work with store_unavailable and the engine rebuilds itself when the store returns.
import { afterEach, describe, expect, it } from "vitest";
import { H_VERSION } from "../assembly/layout.js";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { Command } from "../engine/durable/commands.js";
import { encodeBody } from "../engine/store/codec.js";
import type { Store } from "../engine/store/store.js";
import { STORES, type StoreFactory } from "./support/durable-stores.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const MIN = 60_000;

/** A scripted day: patients, thresholds, readings (some out of band), an ack, a silence, ticks. */
function script(): Command[] {
  const careTeams = [{ team: "team-a", role: "hospital" as const }, { team: "team-a-gp", role: "gp" as const }];
  const out: Command[] = [
    { kind: "patient", id: "p1", input: { programme: "telehjerte", careTeams, paused: false, references: {} } },
    { kind: "patient", id: "p2", input: { programme: "telekol", careTeams, paused: false, references: { spo2: 95 } } },
    { kind: "patient_thresholds", id: "p1", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 105, redHigh: 125 } }], author: "dr-a", reason: "known tachycardia" },
  ];
  for (let i = 0; i < 40; i++) {
    // validated as the server does on receipt (the readings' own time is never after it)
    out.push(
      readingsCommand(
        [
          { patient: "p1", metric: "pulse", value: [70, 110, 130, 90][i % 4], time: T0 + i * MIN, id: `p1-${i}` },
          { patient: "p2", metric: "spo2", value: [96, 91, 87, 94][i % 4], time: T0 + i * MIN, id: `p2-${i}` },
          { patient: "p1", metric: "weight", value: 80 + i * 0.1, time: T0 + i * MIN, id: `w-${i}` },
        ],
        T0 + i * MIN,
      ),
    );
    if (i === 10) out.push({ kind: "silence_add", patient: "p2", rule: "spo2-band", until: T0 + 30 * MIN, reason: "oxygen adjusted", author: "nurse" });
    if (i % 7 === 6) out.push({ kind: "tick" });
  }
  return out;
}

class Clock {
  t = T0;
  now = () => this.t;
}

/** Runs commands [from, to) of the script, a minute apart; after command 60 acks the first firing alert. */
async function run(d: DurablePipeline, clock: Clock, commands: Command[], from = 0, to = commands.length): Promise<void> {
  for (let i = from; i < to; i++) {
    clock.t += MIN;
    await d.execute(commands[i]).catch((err) => {
      if (err.code !== "alert_not_open") throw err;
    });
    if (i === 60) {
      const open = d.pipeline.lifecycle.list({ state: "firing" })[0];
      if (open !== undefined) await d.execute({ kind: "ack", alert: open.id, by: "nurse", note: "called" });
    }
  }
}

/** The same script run straight through, in memory. */
async function uninterrupted(commands: Command[]): Promise<DurablePipeline> {
  const clock = new Clock();
  const reference = DurablePipeline.inMemory({ now: clock.now });
  await run(reference, clock, commands);
  return reference;
}

/** What a clinician could observe: every event (number, type, alert, level) and the alerts. */
function observable(d: DurablePipeline) {
  const lifecycle = d.pipeline.lifecycle;
  const events = lifecycle.since(0).status === "ok" ? (lifecycle.since(0) as { events: any[] }).events : [];
  return {
    seq: lifecycle.lastSeq(),
    events: events.map((e) => [e.seq, e.type, e.alert?.id ?? e.silence?.id ?? e.patient, e.alert?.level ?? null]),
    alerts: lifecycle.list({}).map((a) => [a.id, a.rule, a.state, a.level, a.ack?.by ?? null]),
  };
}

describe.each(STORES)("durability on %s", (_name, factory: StoreFactory) => {
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close().catch(() => undefined);
    await factory.cleanup();
  });
  const open = async (store: Store, clock: Clock, snapshotEveryCommands = 1_000_000) => {
    const d = await DurablePipeline.open({ store, now: clock.now, snapshotEveryCommands, snapshotEveryMs: 1e12 });
    opened.push(d);
    return d;
  };

  it("a restart after a crash continues exactly as an uninterrupted run, from the journal alone", async () => {
    const commands = script();
    const reference = await uninterrupted(commands);

    const clock = new Clock();
    const first = await open(await factory.create(), clock);
    const cut = Math.floor(commands.length * 0.6);
    await run(first, clock, commands, 0, cut);
    // "kill -9": the process is gone without closing or snapshotting.
    opened.splice(0);
    const second = await open(await factory.reopen(), clock);
    expect(second.position()).toBe(first.position());
    await run(second, clock, commands, cut);
    expect(observable(second)).toEqual(observable(reference));
  });

  // Every 7 commands: several snapshots before the cut, each packed into the memory of the one before.
  it.each([20, 7])("restores from a snapshot (one every %i commands) plus the journal after it, with the same event numbers", async (every) => {
    const commands = script();
    const reference = await uninterrupted(commands);

    const clock = new Clock();
    const first = await open(await factory.create(), clock, every);
    let cut = Math.floor(commands.length * 0.8);
    await run(first, clock, commands, 0, cut);
    // Not on a snapshot's position: the journal after the newest snapshot must not be empty
    // (whether that snapshot's write has finished by now is a matter of timing).
    while (first.position() % every === 0) await run(first, clock, commands, cut, ++cut);
    const store = await factory.reopen();
    const snap = await store.latestSnapshot();
    expect(snap?.pos).toBeGreaterThan(0);
    expect(snap!.pos).toBeLessThan(first.position());
    opened.splice(0);
    const second = await open(store, clock);
    await run(second, clock, commands, cut);
    expect(observable(second)).toEqual(observable(reference));
  });

  it("a slow snapshot save still stores exactly the bytes captured, while commits and later snapshots go on", async () => {
    const commands = script();
    const clock = new Clock();
    const store = await factory.create();
    const save = store.saveSnapshot.bind(store);
    const captured: { pos: number; kernel: Uint8Array; state: Uint8Array }[] = [];
    const mismatches: number[] = [];
    store.saveSnapshot = async (snap) => {
      const mine = { pos: snap.pos, kernel: snap.kernel.slice(), state: snap.state.slice() };
      captured.push(mine);
      await new Promise((r) => setTimeout(r, 20)); // a slow disk: commits go on meanwhile
      // What reaches the store now must still be what was captured then.
      if (!Buffer.from(snap.kernel).equals(Buffer.from(mine.kernel)) || !Buffer.from(snap.state).equals(Buffer.from(mine.state))) mismatches.push(snap.pos);
      await save(snap);
      const stored = await store.latestSnapshot();
      if (stored?.pos === mine.pos && !Buffer.from(stored.state).equals(Buffer.from(mine.state))) mismatches.push(snap.pos);
    };
    const d = await DurablePipeline.open({ store, now: clock.now, snapshotEveryCommands: 3, snapshotEveryMs: 1e12, snapshotMaxShare: 1 });
    opened.push(d);
    // Groups of four commands, each awaited: commits go on while a save is still writing.
    for (let i = 0; i < commands.length; i += 4) {
      const group = commands.slice(i, i + 4).map((command) => {
        clock.t += MIN;
        return d.execute(command).then(() => undefined, () => undefined);
      });
      await Promise.all(group);
      await new Promise((r) => setTimeout(r, 10));
    }
    await d.snapshot();
    expect(captured.length).toBeGreaterThan(2);
    expect(mismatches).toEqual([]);
  });

  /** A snapshot this varsel cannot read (written by `plant`) is reported and skipped: the journal from the start rebuilds the state. */
  async function expectUnreadableSnapshotSkipped(plant: (store: Store, first: DurablePipeline, clock: Clock) => Promise<void>, reported: RegExp): Promise<void> {
    const commands = script();
    const reference = await uninterrupted(commands);
    const clock = new Clock();
    const first = await open(await factory.create(), clock);
    const cut = Math.floor(commands.length * 0.5);
    await run(first, clock, commands, 0, cut);
    const store = await factory.reopen();
    await plant(store, first, clock);
    opened.splice(0);
    const problems: string[] = [];
    const second = await DurablePipeline.open({ store, now: clock.now, snapshotEveryMs: 1e12, onError: (err) => problems.push(String(err)) });
    opened.push(second);
    expect(problems.join()).toMatch(reported);
    expect(second.position()).toBe(first.position());
    await run(second, clock, commands, cut);
    expect(observable(second)).toEqual(observable(reference));
  }

  it("a snapshot of an older layout is skipped: the journal from the start rebuilds the state", async () => {
    // what an older varsel wrote: no layout number, nothing this one can read
    await expectUnreadableSnapshotSkipped(
      (store, first, clock) => store.saveSnapshot({ pos: first.position(), seq: first.pipeline.lifecycle.lastSeq(), at: clock.t, kernel: new Uint8Array(64), state: encodeBody({ patients: [] }) }),
      /layout 1, not 2: replaying the journal from the start/,
    );
  });

  it("a snapshot whose kernel bytes are of another kernel layout is skipped the same way", async () => {
    // the current state layout, but the kernel region written by a kernel of layout version 1
    await expectUnreadableSnapshotSkipped(async (store, first) => {
      await first.snapshot();
      const snap = (await store.latestSnapshot())!;
      const kernel = new Uint8Array(snap.kernel);
      new DataView(kernel.buffer, kernel.byteOffset).setUint32(H_VERSION, 1, true);
      await store.saveSnapshot({ ...snap, kernel });
    }, /kernel layout 1, not \d+: replaying the journal from the start/);
  });

  it("snapshots once the journal since the last one costs the replay budget, but keeps them to a share of the time", async () => {
    const clock = new Clock();
    const [p1, p2, , readings] = script();
    // budget 0 and no share limit: every group commit is followed by a snapshot
    const eager = await DurablePipeline.open({ store: await factory.create(), now: clock.now, snapshotEveryMs: 1e12, snapshotReplayBudgetMs: 0, snapshotMaxShare: Infinity });
    opened.push(eager);
    await eager.execute(p1);
    await eager.execute(p2);
    await eager.snapshot(); // waits for the automatic one in flight
    const store = await factory.reopen();
    expect((await store.latestSnapshot())?.pos).toBe(eager.position());
    opened.splice(0);
    // budget 0 but a vanishing share: after the first snapshot, the next one waits (cost / share)
    const spaced = await DurablePipeline.open({ store, now: clock.now, snapshotEveryMs: 1e12, snapshotReplayBudgetMs: 0, snapshotMaxShare: 1e-9 });
    opened.push(spaced);
    await spaced.execute(readings);
    await spaced.snapshot();
    const at = spaced.position();
    await spaced.execute(readingsCommand([{ patient: "p1", metric: "pulse", value: 71, time: T0 + 5 * MIN, id: "later" }], clock.t, { channel: "t" }));
    await spaced.execute({ kind: "tick" });
    expect((await store.latestSnapshot())?.pos).toBe(at);
    expect(spaced.position()).toBeGreaterThan(at);
  });

  it("a snapshot whose save failed is due again at the next commit, not a whole interval later", async () => {
    const clock = new Clock();
    const store = await factory.create();
    let saves = 0;
    const saveSnapshot = store.saveSnapshot.bind(store);
    store.saveSnapshot = (s) => (++saves === 1 ? Promise.reject(new Error("disk full")) : saveSnapshot(s));
    const d = await DurablePipeline.open({ store, now: clock.now, snapshotEveryCommands: 3, snapshotEveryMs: 1e12, snapshotReplayBudgetMs: 1e12, snapshotMaxShare: Infinity, onError: () => undefined });
    opened.push(d);
    const [p1, p2, , readings] = script();
    await d.execute(p1);
    await d.execute(p2);
    await d.execute(readings); // the third command: a snapshot is due, and its save fails
    await new Promise((r) => setTimeout(r, 50));
    expect(saves).toBe(1);
    // due again within two commands (the first may still find the failed save in flight), not three
    for (let k = 1; k <= 2 && saves < 2; k++) {
      await d.execute(readingsCommand([{ patient: "p1", metric: "pulse", value: 70 + k, time: T0 + (5 + k) * MIN, id: `after-failure-${k}` }], clock.t, { channel: "t" }));
      for (let i = 0; i < 50 && saves < 2; i++) await new Promise((r) => setTimeout(r, 10));
    }
    expect(saves).toBe(2);
  });

  it("a resent measurement id is evaluated once, also across a restart", async () => {
    const clock = new Clock();
    const first = await open(await factory.create(), clock);
    const [p1, p2, , readings] = script();
    await first.execute(p1);
    await first.execute(p2);
    const answer = await first.execute(readings);
    expect(answer).toMatchObject({ accepted: 3, duplicates: [] });
    opened.splice(0);
    const second = await open(await factory.reopen(), clock);
    const again = await second.execute(readings);
    expect(again).toMatchObject({ accepted: 0, transitions: 0 });
    expect((again as { duplicates: unknown[] }).duplicates).toHaveLength(3);
  });

  it("concurrent batches share one commit (group commit)", async () => {
    const clock = new Clock();
    const store = await factory.create();
    let commits = 0;
    const commit = store.commit.bind(store);
    store.commit = (batch) => {
      commits++;
      return commit(batch);
    };
    const d = await open(store, clock);
    await d.execute(script()[0]);
    commits = 0;
    const batches = Array.from({ length: 50 }, (_, i) =>
      d.execute(readingsCommand([{ patient: "p1", metric: "pulse", value: 70, time: T0 + i, id: `g-${i}` }], clock.t, { channel: "t" })),
    );
    const answers = await Promise.all(batches);
    expect(answers.every((a) => (a as { accepted: number }).accepted === 1)).toBe(true);
    expect(commits).toBeLessThan(5);
    expect(await store.lastPosition()).toBe(d.position());
  });

  it("a store that fails refuses work with store_unavailable, then the engine recovers by itself", async () => {
    const clock = new Clock();
    const store = await factory.create();
    let down = false;
    const { commit, ping } = { commit: store.commit.bind(store), ping: store.ping.bind(store) };
    store.commit = (b) => (down ? Promise.reject(new Error("disk full")) : commit(b));
    store.ping = () => (down ? Promise.reject(new Error("unreachable")) : ping());
    const d = await DurablePipeline.open({ store, now: clock.now, retryMs: 20 });
    opened.push(d);
    await d.execute(script()[0]);
    const ok = await d.execute(readingsCommand([{ patient: "p1", metric: "pulse", value: 130, time: T0, id: "kept" }], clock.t, { channel: "t" }));
    expect((ok as { accepted: number }).accepted).toBe(1);

    down = true;
    const lost = readingsCommand([{ patient: "p1", metric: "pulse", value: 70, time: T0 + 1, id: "lost" }], clock.t, { channel: "t" });
    await expect(d.execute(lost)).rejects.toMatchObject({
      code: "store_unavailable",
    });
    expect(d.ready()).toBe(false);
    await expect(d.execute({ kind: "tick" })).rejects.toMatchObject({ code: "store_unavailable" });

    down = false;
    for (let i = 0; i < 100 && !d.ready(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(d.ready()).toBe(true);
    // The refused batch was never acknowledged, so it is not there; the acknowledged one is.
    const journal = await store.readJournal(0, 100);
    const ids = journal.flatMap((e) => (e.command.kind === "ingest" ? e.command.batch.readings.map((r) => r.id) : []));
    expect(ids).toEqual(["kept"]);
    expect(d.pipeline.lifecycle.list({}).map((a) => a.rule)).toEqual(["pulse-band"]);
    const resent = await d.execute(lost);
    expect((resent as { accepted: number }).accepted).toBe(1);
  });
});
