// One contract, two stores: everything the durable layer relies on, run against SQLite (temporary
// file) and PostgreSQL (fresh schema of VARSEL_TEST_DATABASE_URL, default 127.0.0.1:5432/test).
// PostgreSQL unreachable: its block is skipped, unless VARSEL_REQUIRE_SERVICES=1 (CI), where it fails.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VarselError } from "../engine/errors.js";
import type { Command } from "../engine/durable/commands.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { POSTGRES_MIGRATIONS } from "../engine/store/migrations/postgres.js";
import { SQLITE_MIGRATIONS } from "../engine/store/migrations/sqlite.js";
import { createStore, DEFAULT_SQLITE_PATH, openStore, redact } from "../engine/store/open-store.js";
import { PostgresStore } from "../engine/store/postgres.js";
import { SqliteStore } from "../engine/store/sqlite.js";
import { PRUNE_ROWS } from "../engine/store/codec.js";
import type { CommitBatch, StoredReading } from "../engine/store/store.js";
import {
  alert,
  alertEvent,
  batch,
  entries,
  entry,
  PG_URL,
  postgresTarget,
  probePostgres,
  reading,
  REQUIRE_SERVICES,
  reviewEvent,
  reviewEvents,
  silence,
  silenceEvent,
  sqliteTarget,
  T0,
  type StoreLocation,
  type StoreTarget,
  type TestStore,
} from "./support/stores.js";

const pgProblem = await probePostgres(PG_URL);
const pgSkipMessage = `PostgreSQL not reachable at ${redact(PG_URL)}: skipped (${pgProblem}; set VARSEL_REQUIRE_SERVICES=1 to fail instead)`;
if (pgProblem !== undefined && !REQUIRE_SERVICES) console.warn(pgSkipMessage);

const targets: StoreTarget[] = [sqliteTarget(), postgresTarget(pgProblem)];
const MiB = 1024 * 1024;

const positions = (xs: { pos: number }[]) => xs.map((x) => x.pos);
const seqs = (xs: { seq: number }[]) => xs.map((x) => x.seq);
const ids = (xs: StoredReading[]) => xs.map((x) => x.id);
const everything = { patient: "p-1", limit: 100_000 };

describe.each(targets)("Store contract: $kind ($where)", (target) => {
  // Deliberate: without a PostgreSQL server (a developer's laptop) its block is skipped with the reason;
  // CI sets VARSEL_REQUIRE_SERVICES=1, and then a missing server fails the suite instead.
  if (target.unavailable !== undefined && !REQUIRE_SERVICES) {
    it.skip(pgSkipMessage, () => {});
    return;
  }

  const latestVersion = (target.kind === "sqlite" ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS).at(-1)!.version;
  let loc: StoreLocation;
  let store: TestStore;
  let opened: TestStore[] = [];

  /** A new store on the same location (closed after the test). */
  const another = (): TestStore => {
    const s = loc.create();
    opened.push(s);
    return s;
  };

  beforeAll(() => {
    if (target.unavailable !== undefined) {
      throw new Error(`PostgreSQL not reachable at ${target.where} and VARSEL_REQUIRE_SERVICES=1: ${target.unavailable}`);
    }
  });

  beforeEach(async () => {
    opened = [];
    loc = await target.location();
    store = another();
    await store.open();
  });

  afterEach(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await loc?.drop();
  });

  it("applies the migrations on a fresh store, and only once on reopen; data survives close and reopen", async () => {
    const applied = await store.appliedMigrations();
    expect(applied.map((m) => m.version)).toEqual(Array.from({ length: latestVersion }, (_, i) => i + 1));
    expect(await store.lastPosition()).toBe(0);
    expect(await store.readJournal(0, 10)).toEqual([]);
    expect(await store.latestSnapshot()).toBeUndefined();
    expect(await store.eventsAfter(0, 10)).toEqual([]);
    expect(await store.readings(everything)).toEqual([]);

    const written = entries(1, 5);
    const a1 = alert("a-1", "firing", T0 + 1);
    const r1 = reading(T0);
    await store.commit(batch({ entries: written, events: [alertEvent(1, "raised", a1)], readings: [r1] }));
    await store.open(); // opening an open store changes nothing
    await store.close();

    const again = another();
    await again.open();
    expect(await again.appliedMigrations()).toEqual(applied); // same rows, same applied_at: nothing re-applied
    expect(await loc.count("schema_migrations")).toBe(latestVersion);
    expect(await again.readJournal(0, 100)).toEqual(written);
    expect(await again.lastPosition()).toBe(5);
    expect(await again.alert("a-1")).toEqual(a1);
    expect(await again.readings(everything)).toEqual([r1]);
    await again.close();

    const third = another();
    await third.open();
    expect(await third.appliedMigrations()).toEqual(applied);
  });

  it("refuses to open a schema newer than it knows", async () => {
    await store.close();
    await loc.sql("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')");
    const newer = another();
    await expect(newer.open()).rejects.toMatchObject({ code: "store_unavailable", message: expect.stringMatching(/version 999.*newer/) });
  });

  it("rejects every method before open and after close", async () => {
    const fresh = loc.create();
    await expect(fresh.lastPosition()).rejects.toMatchObject({ code: "store_unavailable" });
    await expect(fresh.commit(batch({ entries: [entry(1)] }))).rejects.toBeInstanceOf(VarselError);
    await store.close();
    await expect(store.readJournal(0, 1)).rejects.toMatchObject({ code: "store_unavailable" });
    await expect(store.ping()).rejects.toMatchObject({ code: "store_unavailable" });
  });

  it("ping answers while open", async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it("round-trips journal entries in order, honouring after and limit", async () => {
    const first = entries(1, 4);
    const second = entries(5, 10);
    // Every value survives exactly (awkward doubles, a key present with `undefined`): the journal replays what was applied.
    const odd = entry(11, {
      kind: "ingest",
      source: "fhir",
      batch: {
        items: 3,
        readings: [
          { index: 0, patient: "p-1", metric: "glucose", value: 0.1 + 0.2, time: T0, id: "urn:uuid:1", device: "meter" },
          { index: 0, patient: "p-1", metric: "weight", value: 5e-324, time: T0 + 1 },
        ],
        rejected: [{ index: 1, code: "unit_mismatch", message: "unit 'mg' is not accepted for spo2", patient: "p-1", metric: "spo2" }],
        invalidations: [{ index: 2, id: "m-9", patient: "p-1" }],
      },
      channel: "mqtt",
      compact: true,
    });
    const ack = entry(12, { kind: "ack", alert: "a-1", by: "nurse", note: undefined });
    await store.commit(batch({ entries: first }));
    await store.commit(batch({ entries: second }));
    await store.commit(batch({ entries: [odd, ack] }));

    const all = await store.readJournal(0, 100);
    expect(all).toEqual([...first, ...second, odd, ack]);
    expect(positions(all)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const values = (all[10]!.command as Extract<Command, { kind: "ingest" }>).batch.readings.map((r) => r.value);
    expect(Object.is(values[0], 0.1 + 0.2) && Object.is(values[1], 5e-324)).toBe(true);
    expect(Object.hasOwn(all[11]!.command, "note")).toBe(true);
    expect(positions(await store.readJournal(3, 4))).toEqual([4, 5, 6, 7]);
    expect(positions(await store.readJournal(10, 5))).toEqual([11, 12]);
    expect(await store.readJournal(12, 5)).toEqual([]);
    expect(await store.readJournal(0, 0)).toEqual([]);
    expect(await store.lastPosition()).toBe(12);
  });

  it("lastPosition is 0 when empty, follows commits, and ignores empty or refused batches", async () => {
    expect(await store.lastPosition()).toBe(0);
    await store.commit(batch({}));
    expect(await store.lastPosition()).toBe(0);
    await store.commit(batch({ entries: [entry(7)] }));
    expect(await store.lastPosition()).toBe(7);
    await store.commit(batch({ entries: [entry(9), entry(20)] })); // gaps are the caller's business
    expect(await store.lastPosition()).toBe(20);
    await expect(store.commit(batch({ entries: [entry(20)] }))).rejects.toBeInstanceOf(VarselError);
    expect(await store.lastPosition()).toBe(20);
  });

  it("rejects a position that is not after the last stored one, and writes nothing of that batch", async () => {
    await store.commit(batch({ entries: entries(1, 3), events: reviewEvents(1, 3) }));
    const extras = {
      events: [alertEvent(50, "raised", alert("a-bad", "firing", T0)), silenceEvent(51, "created", silence("s-bad", "active", T0))],
      readings: [reading(T0, { patient: "p-bad" })],
    };
    const bad: [string, CommitBatch][] = [
      ["equal to the last", batch({ entries: [entry(3), entry(4)], ...extras })],
      ["before the last", batch({ entries: [entry(2)], ...extras })],
      ["repeated within the batch", batch({ entries: [entry(4), entry(4)], ...extras })],
      ["decreasing within the batch", batch({ entries: [entry(5), entry(4)], ...extras })],
    ];
    for (const [why, b] of bad) {
      await expect(store.commit(b), why).rejects.toMatchObject({ code: "internal_error", details: { reason: "journal_conflict" } });
    }
    expect(positions(await store.readJournal(0, 100))).toEqual([1, 2, 3]);
    expect(await store.lastPosition()).toBe(3);
    expect(seqs(await store.eventsAfter(0, 100))).toEqual([1, 2, 3]);
    expect(await store.alert("a-bad")).toBeUndefined();
    expect(await store.alertHistory("a-bad")).toEqual([]);
    expect(await store.readings({ patient: "p-bad", limit: 10 })).toEqual([]);

    await store.commit(batch({ entries: [entry(4)], ...extras }));
    expect(await store.lastPosition()).toBe(4);
    expect(await store.readings({ patient: "p-bad", limit: 10 })).toEqual(extras.readings);
  });

  it("writes events, the alert view and each alert's history from one commit; silence and review events belong to no alert", async () => {
    const raised = alert("a-1", "firing", T0 + 10);
    const upgraded = alert("a-1", "firing", T0 + 20, { level: "red", peakLevel: "red", escalation: { step: 1, done: false, notified: ["team-a", "team-b"] } });
    const cleared = alert("a-1", "cleared_awaiting_ack", T0 + 30, { clearedAt: T0 + 30 });
    const other = alert("a-2", "firing", T0 + 15, { patient: "p-2", rule: "weight-delta", ruleKind: "delta", metric: "weight", level: "yellow", peakLevel: "yellow", priority: "medium" });
    const events: LifecycleEvent[] = [
      alertEvent(1, "raised", raised),
      silenceEvent(2, "created", silence("s-1", "active", T0 + 11)),
      silenceEvent(3, "created", silence("s-2", "active", T0 + 12, { patient: undefined, rule: "weight-delta" })),
      alertEvent(4, "raised", other),
      { ...alertEvent(5, "updated", upgraded), change: "upgraded" },
      reviewEvent(6, T0 + 25),
      { ...alertEvent(7, "escalated", upgraded), escalation: { step: 1, team: "team-b", role: "municipality", final: false, teams: ["team-b"], loop: 0 } },
      { ...alertEvent(8, "updated", cleared), change: "cleared" },
    ];
    await store.commit(batch({ entries: entries(1, 8), events }));

    expect(await store.eventsAfter(0, 100)).toEqual(events);
    expect(await store.alert("a-1")).toEqual(cleared); // the state after its last event in the batch
    expect(await store.alert("a-2")).toEqual(other);
    expect(await store.alert("a-nope")).toBeUndefined();
    expect(await store.alertHistory("a-1")).toEqual([events[0], events[4], events[6], events[7]]);
    expect(await store.alertHistory("a-2")).toEqual([events[3]]);
    expect(await store.alertHistory("a-nope")).toEqual([]);
    expect(await store.alertHistory("s-1")).toEqual([]); // a silence's id is no alert's

    // A later commit moves the view on and extends the history, in event order.
    const acked = alert("a-1", "resolved", T0 + 40, { resolvedAt: T0 + 40, resolution: "acknowledged", ack: { by: "nurse-1", at: T0 + 40, note: "called patient" } });
    const later: LifecycleEvent[] = [alertEvent(9, "acknowledged", acked), silenceEvent(10, "removed", silence("s-1", "removed", T0 + 11), T0 + 41), alertEvent(11, "resolved", acked)];
    await store.commit(batch({ entries: [entry(9, { kind: "ack", alert: "a-1", by: "nurse-1", note: "called patient" })], events: later }));
    expect(await store.alert("a-1")).toEqual(acked);
    const history = await store.alertHistory("a-1");
    expect(seqs(history)).toEqual([1, 5, 7, 8, 9, 11]);
    expect(history[4]).toMatchObject({ type: "acknowledged", alert: { ack: { by: "nurse-1", note: "called patient" } } });
    expect(await loc.count("alerts")).toBe(2);
  });

  it("reads one patient's readings newest first (time, then receipt order), by metric and inclusive time bounds, at most limit", async () => {
    const r = (time: number, id: string, extra: Partial<StoredReading> = {}) => reading(T0 + time, { id, ...extra });
    const first = [
      r(10, "a"),
      r(30, "b", { metric: "pulse", value: 72, triage: "N", device: undefined }),
      r(20, "c", { triage: "LL", value: 84 }),
      r(30, "d"), // same time as b, received after it
      r(40, "x", { patient: "p-2" }),
      r(50, "e", { id: undefined, device: undefined, triage: "not_triaged" }),
    ];
    await store.commit(batch({ entries: [entry(1)], readings: first }));
    await store.commit(batch({ entries: [entry(2)], readings: [r(30, "f", { metric: "pulse", receivedAt: T0 + 7_200_000 })] }));

    const all = await store.readings(everything);
    expect(all.map((x) => x.id ?? "e")).toEqual(["e", "f", "d", "b", "c", "a"]);
    expect(all[0]).toEqual(first[5]); // absent id and device stay absent
    expect(all.find((x) => x.id === "b")).toEqual(first[1]);
    expect(all.find((x) => x.id === "c")).toEqual(first[2]);
    expect(ids(await store.readings({ patient: "p-2", limit: 10 }))).toEqual(["x"]);
    expect(await store.readings({ patient: "p-nope", limit: 10 })).toEqual([]);

    expect(ids(await store.readings({ ...everything, metric: "pulse" }))).toEqual(["f", "b"]);
    expect(ids(await store.readings({ ...everything, metric: "spo2" }))).toEqual([undefined, "d", "c", "a"]);
    expect(await store.readings({ ...everything, metric: "weight" })).toEqual([]);
    expect(ids(await store.readings({ ...everything, from: T0 + 20, to: T0 + 30 }))).toEqual(["f", "d", "b", "c"]); // both bounds inclusive
    expect(ids(await store.readings({ ...everything, from: T0 + 31 }))).toEqual([undefined]);
    expect(ids(await store.readings({ ...everything, to: T0 + 19 }))).toEqual(["a"]);
    expect(ids(await store.readings({ ...everything, metric: "spo2", from: T0 + 11, to: T0 + 49 }))).toEqual(["d", "c"]);
    expect(await store.readings({ ...everything, from: T0 + 31, to: T0 + 49 })).toEqual([]);
    expect(ids(await store.readings({ patient: "p-1", limit: 2 }))).toEqual([undefined, "f"]);
    expect(ids(await store.readings({ patient: "p-1", metric: "spo2", limit: 1, to: T0 + 30 }))).toEqual(["d"]);
    expect(await store.readings({ patient: "p-1", limit: 0 })).toEqual([]);
  });

  it("prunes readings by the time they were received, not the time they were measured, in slices", async () => {
    const hour = 3_600_000;
    await store.commit(
      batch({
        entries: [entry(1)],
        readings: [
          reading(T0 + 1, { receivedAt: T0 + hour }),
          reading(T0 - 30 * 24 * hour, { receivedAt: T0 + 2 * hour }), // measured long ago, sent late: kept as long as a fresh one
          reading(T0 + 2, { receivedAt: T0 + 3 * hour }),
        ],
      }),
    );
    expect(await store.pruneReadings(T0 + hour)).toBe(0); // strictly before
    expect(await store.pruneReadings(T0 + 2 * hour + 1)).toBe(2);
    expect((await store.readings(everything)).map((x) => x.receivedAt)).toEqual([T0 + 3 * hour]);
    expect(await store.pruneReadings(T0 + 2 * hour + 1)).toBe(0);

    // More than one slice: every one goes, and the count is the total.
    const many = Array.from({ length: 2 * PRUNE_ROWS + 1 }, (_, i) => reading(T0 + i, { id: `n-${i}`, receivedAt: T0 + 4 * hour }));
    await store.commit(batch({ entries: [entry(2)], readings: many }));
    expect(await store.pruneReadings(T0 + 5 * hour)).toBe(2 * PRUNE_ROWS + 2);
    expect(await loc.count("readings")).toBe(0);
  });

  it.each([
    ["an event number already stored (events statement)", "event"],
    ["a reading the table refuses (the last statement)", "reading"],
  ])("a batch is atomic: %s fails the commit and writes nothing of it", async (_why, failAt) => {
    const a1 = alert("a-1", "firing", T0 + 1);
    await store.commit(
      batch({
        entries: entries(1, 2),
        events: [alertEvent(1, "raised", a1), silenceEvent(2, "created", silence("s-1", "active", T0 + 2))],
        readings: [reading(T0, { id: "kept" })],
      }),
    );
    const failing = batch({
      entries: entries(3, 5),
      events: [alertEvent(failAt === "event" ? 2 : 3, "updated", alert("a-1", "resolved", T0 + 9)), alertEvent(4, "raised", alert("a-2", "firing", T0 + 9))],
      readings: [
        reading(T0 + 1, { id: "lost-1" }),
        reading(T0 + 2, { id: "lost-2", patient: "p-2" }),
        reading(T0 + 3, { id: "lost-3", ...(failAt === "reading" ? { triage: null as unknown as string } : {}) }),
      ],
    });
    await expect(store.commit(failing)).rejects.toMatchObject({ code: "internal_error", details: { reason: "constraint" } });

    expect(positions(await store.readJournal(0, 100))).toEqual([1, 2]);
    expect(await store.lastPosition()).toBe(2);
    expect(seqs(await store.eventsAfter(0, 100))).toEqual([1, 2]);
    expect(await store.alert("a-1")).toEqual(a1);
    expect(await store.alert("a-2")).toBeUndefined();
    expect(seqs(await store.alertHistory("a-1"))).toEqual([1]);
    expect(ids(await store.readings(everything))).toEqual(["kept"]);
    expect(await store.readings({ patient: "p-2", limit: 10 })).toEqual([]);

    // The store is still usable after the failed transaction.
    await store.commit(batch({ entries: entries(3, 3), events: [reviewEvent(3, T0 + 10)], readings: [reading(T0 + 4, { id: "next" })] }));
    expect(await store.lastPosition()).toBe(3);
    expect(ids(await store.readings(everything))).toEqual(["next", "kept"]);
  });

  it("commits 1 000 entries, 1 000 events and 10 000 readings in one transaction", async () => {
    const es = entries(1, 1_000);
    const events: LifecycleEvent[] = [];
    for (let seq = 1; seq <= 1_000; seq++) {
      events.push(alertEvent(seq, seq <= 100 ? "raised" : "updated", alert(`a-${seq % 100}`, seq > 900 ? "resolved" : "firing", T0 + seq, { patient: `p-${seq % 100}` })));
    }
    const readings = Array.from({ length: 10_000 }, (_, i) => reading(T0 + Math.floor(i / 100), { patient: `p-${i % 100}`, id: `m-${i}`, receivedAt: T0 + i }));
    const started = performance.now();
    await store.commit(batch({ entries: es, events, readings }));
    const ms = performance.now() - started;
    console.info(`[${target.kind}] commit of 1 000 entries + 1 000 events + 100 alerts + 10 000 readings: ${ms.toFixed(1)} ms`);
    expect(await store.lastPosition()).toBe(1_000);
    expect(await store.readJournal(0, 2_000)).toEqual(es);
    expect(seqs(await store.eventsAfter(0, 2_000))).toEqual(seqs(events));
    expect(await loc.count("alerts")).toBe(100);
    expect((await store.alert("a-7"))!.updatedAt).toBe(T0 + 907);
    expect((await store.alert("a-7"))!.state).toBe("resolved");
    expect(await store.alertHistory("a-7")).toHaveLength(10);
    expect(await loc.count("readings")).toBe(10_000);
    const p7 = await store.readings({ patient: "p-7", limit: 1_000 });
    expect(ids(p7)).toEqual(Array.from({ length: 100 }, (_, i) => `m-${9_907 - i * 100}`));
  });

  it("open reports the migrations it applied: all on a fresh location, none on reopen", async () => {
    await store.close();
    await loc.drop();
    loc = await target.location();
    const fresh = another();
    const first = await fresh.open();
    expect(first.version).toBe(latestVersion);
    expect(first.applied.map((m) => m.version)).toEqual(Array.from({ length: latestVersion }, (_, i) => i + 1));
    expect(first.applied.at(-1)).toEqual({ version: 4, name: "audit trail" });
    await fresh.close();
    expect(await another().open()).toEqual({ version: latestVersion, applied: [] });
  });

  it("writes audit entries with their commit and reads them oldest first, by time and after a position, at most limit; a refused batch writes none", async () => {
    const audited = (pos: number, patient?: string) => ({
      pos,
      at: T0 + pos * 1_000,
      actor: `admin-${pos}`,
      action: patient === undefined ? "programme_thresholds" : "patient",
      target: patient ?? "telekol",
      ...(patient === undefined ? {} : { patient }),
      details: { reason: "r", rules: [{ id: "x", limits: [1, 2] }], version: pos, note: "æøå 😀" },
    });
    const first = [audited(2, "p-1"), audited(3)];
    await store.commit(batch({ entries: entries(1, 3), audit: first }));
    await store.commit(batch({ entries: entries(4, 5), audit: [audited(5, "p-2")] }));
    expect(await store.audit({ limit: 100 })).toEqual([...first, audited(5, "p-2")]);
    expect((await store.audit({ since: T0 + 3_000, limit: 100 })).map((a) => a.pos)).toEqual([3, 5]);
    expect((await store.audit({ after: 2, limit: 1 })).map((a) => a.pos)).toEqual([3]);
    expect(await store.audit({ since: T0 + 6_000, limit: 100 })).toEqual([]);

    // One transaction: the journal refuses the batch, and its audit entry is not written either.
    await expect(store.commit(batch({ entries: [entry(5)], audit: [audited(6, "p-bad")] }))).rejects.toMatchObject({ details: { reason: "journal_conflict" } });
    // Positions must increase within a batch.
    await expect(store.commit(batch({ entries: [entry(6), entry(7)], audit: [audited(7), audited(6)] }))).rejects.toMatchObject({ details: { reason: "journal_conflict" } });
    expect((await store.audit({ limit: 100 })).map((a) => a.pos)).toEqual([2, 3, 5]);
    expect(await store.lastPosition()).toBe(5);
  });

  it("upgrades a store of schema version 2 in place: its journal stays, the unread views go", async () => {
    await store.close();
    await loc.drop();
    loc = await target.location();
    await loc.migrateTo(2);
    await loc.sql(`INSERT INTO journal (pos, at, kind, body) VALUES (1, ${T0}, 'tick', ${target.kind === "sqlite" ? "x'81a46b696e64a47469636b'" : "'\\x81a46b696e64a47469636b'"})`);
    await loc.sql(`INSERT INTO patients (id, updated_at, body) VALUES ('p-1', ${T0}, ${target.kind === "sqlite" ? "x'80'" : "'\\x80'"})`);
    const upgraded = another();
    await upgraded.open();
    expect((await upgraded.appliedMigrations()).map((m) => m.version)).toEqual(Array.from({ length: latestVersion }, (_, i) => i + 1));
    expect(await upgraded.readJournal(0, 10)).toEqual([{ pos: 1, at: T0, command: { kind: "tick" } }]);
    for (const table of ["patients", "threshold_versions", "silences"]) await expect(loc.count(table), table).rejects.toThrow();
    await upgraded.commit(batch({ entries: [entry(2)], readings: [reading(T0)] }));
    expect(await upgraded.readings(everything)).toEqual([reading(T0)]);
  });

  it("commits issued back to back without awaiting apply in call order", async () => {
    const calls = [
      store.commit(batch({ entries: entries(1, 50), events: reviewEvents(1, 50) })),
      store.commit(batch({ entries: entries(51, 100), events: reviewEvents(51, 50) })),
      // Valid only if it ran before the previous one: it must be refused.
      store.commit(batch({ entries: entries(60, 60) })),
      store.commit(batch({ entries: entries(101, 150), events: reviewEvents(101, 50) })),
      ...Array.from({ length: 20 }, (_, i) => store.commit(batch({ entries: entries(151 + i * 10, 160 + i * 10) }))),
    ];
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", ...Array<string>(21).fill("fulfilled")]);
    expect(positions(await store.readJournal(0, 1_000))).toEqual(Array.from({ length: 350 }, (_, i) => i + 1));
    expect(seqs(await store.eventsAfter(0, 1_000))).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it("keeps the newest two snapshots and returns the newest", async () => {
    expect(await store.latestSnapshot()).toBeUndefined();
    const snap = (pos: number, fill: number) => ({ pos, seq: pos * 2, at: T0 + pos, kernel: new Uint8Array(1_000).fill(fill), state: Buffer.from(`state-${pos}`) });
    await store.saveSnapshot(snap(10, 1));
    expect(await store.latestSnapshot()).toEqual({ ...snap(10, 1), kernel: Buffer.from(snap(10, 1).kernel) });
    await store.saveSnapshot(snap(20, 2));
    await store.saveSnapshot(snap(30, 3));
    expect(await loc.count("snapshots")).toBe(2);
    const latest = (await store.latestSnapshot())!;
    expect({ pos: latest.pos, seq: latest.seq, at: latest.at }).toEqual({ pos: 30, seq: 60, at: T0 + 30 });
    expect(Buffer.from(latest.kernel).equals(Buffer.alloc(1_000, 3))).toBe(true);
    expect(Buffer.from(latest.state).toString()).toBe("state-30");
    // Newest means highest position: an older snapshot saved late does not become the latest.
    await store.saveSnapshot(snap(25, 4));
    expect(await loc.count("snapshots")).toBe(2);
    expect((await store.latestSnapshot())!.pos).toBe(30);
    expect((await loc.sql<{ pos: number | string }>("SELECT pos FROM snapshots ORDER BY pos")).map((r) => Number(r.pos))).toEqual([25, 30]);
    await store.close();
    const again = another();
    await again.open();
    expect((await again.latestSnapshot())!.pos).toBe(30);
  });

  it("writes a large snapshot in parts: commits go in between, and it counts only once complete", async () => {
    const kernel = randomBytes(24 * MiB);
    const state = randomBytes(MiB);
    const order: string[] = [];
    const saving = store.saveSnapshot({ pos: 1, seq: 0, at: T0, kernel, state }).then(() => order.push("snapshot"));
    await new Promise((r) => setImmediate(r)); // the first part is under way
    const committing = store.commit(batch({ entries: entries(1, 3) })).then(() => order.push("commit"));
    await committing;
    // the commit did not wait for the snapshot's remaining parts, and a partial snapshot is not offered
    expect(order).toEqual(["commit"]);
    expect(await store.latestSnapshot()).toBeUndefined();
    await saving;
    expect(order).toEqual(["commit", "snapshot"]);
    const loaded = (await store.latestSnapshot())!;
    expect(Buffer.from(loaded.kernel).equals(kernel)).toBe(true);
    expect(Buffer.from(loaded.state).equals(state)).toBe(true);
    expect(await loc.count("snapshot_parts")).toBe(Math.ceil(kernel.length / (4 * MiB)) + Math.ceil(state.length / (4 * MiB)));
  });

  it("a snapshot write that never finished is ignored and cleared by the next one", async () => {
    const snap = (pos: number) => ({ pos, seq: 0, at: T0 + pos, kernel: new Uint8Array(100).fill(pos), state: Buffer.from(`state-${pos}`) });
    await store.saveSnapshot(snap(10));
    // what a crash halfway through leaves: a newer row not marked complete, with one part
    const incomplete = target.kind === "sqlite" ? "0" : "false";
    await loc.sql(`INSERT INTO snapshots (id, pos, seq, at, kernel, state, complete, kernel_length, state_length) VALUES (99, 20, 0, 0, ${target.kind === "sqlite" ? "x''" : "''"}, ${target.kind === "sqlite" ? "x''" : "''"}, ${incomplete}, 100, 8)`);
    await loc.sql(`INSERT INTO snapshot_parts (snapshot, part, bytes) VALUES (99, 0, ${target.kind === "sqlite" ? "x'00'" : "'\\x00'"})`);
    expect((await store.latestSnapshot())!.pos).toBe(10);
    await store.saveSnapshot(snap(30));
    expect((await store.latestSnapshot())!.pos).toBe(30);
    expect(await loc.count("snapshots")).toBe(2);
    expect(await loc.count("snapshot_parts")).toBe(4); // two complete snapshots of a kernel part and a state part each
  });

  it("a snapshot save that fails part-way leaves nothing behind, and the one before stays the newest", async () => {
    await store.saveSnapshot({ pos: 10, seq: 0, at: T0, kernel: new Uint8Array(100), state: Buffer.from("state-10") });
    // the store refuses the second part (as a full disk would)
    if (target.kind === "sqlite") {
      await loc.sql(`CREATE TRIGGER fail_part BEFORE INSERT ON snapshot_parts WHEN NEW.part >= 1 BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    } else {
      await loc.sql(`CREATE FUNCTION fail_part() RETURNS trigger AS $$ BEGIN IF NEW.part >= 1 THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await loc.sql(`CREATE TRIGGER fail_part BEFORE INSERT ON snapshot_parts FOR EACH ROW EXECUTE FUNCTION fail_part()`);
    }
    await expect(store.saveSnapshot({ pos: 20, seq: 0, at: T0, kernel: new Uint8Array(5 * MiB), state: Buffer.from("state-20") })).rejects.toThrow();
    expect(await loc.count("snapshots")).toBe(1);
    expect(await loc.count("snapshot_parts")).toBe(2);
    expect((await store.latestSnapshot())!.pos).toBe(10);
  });

  it("still reads a snapshot written before snapshots had parts (bytes in the row)", async () => {
    const hex = (text: string) => Buffer.from(text).toString("hex");
    const blob = (text: string) => (target.kind === "sqlite" ? `x'${hex(text)}'` : `'\\x${hex(text)}'::bytea`);
    await loc.sql(`INSERT INTO snapshots (pos, seq, at, kernel, state) VALUES (7, 3, ${T0}, ${blob("kernel-bytes")}, ${blob("state-bytes")})`);
    const loaded = (await store.latestSnapshot())!;
    expect({ pos: loaded.pos, seq: loaded.seq, at: loaded.at }).toEqual({ pos: 7, seq: 3, at: T0 });
    expect(Buffer.from(loaded.kernel).toString()).toBe("kernel-bytes");
    expect(Buffer.from(loaded.state).toString()).toBe("state-bytes");
  });

  it("round-trips a 64 MB kernel byte for byte", async () => {
    const backing = randomBytes(64 * MiB + 8);
    const kernel = new Uint8Array(backing.buffer, backing.byteOffset + 8, 64 * MiB); // a view, not a Buffer
    const state = randomBytes(3 * MiB);
    let t = performance.now();
    await store.saveSnapshot({ pos: 5, seq: 9, at: T0, kernel, state });
    const saveMs = performance.now() - t;
    t = performance.now();
    const loaded = (await store.latestSnapshot())!;
    const loadMs = performance.now() - t;
    console.info(`[${target.kind}] snapshot with 64 MB kernel: save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms`);
    expect({ pos: loaded.pos, seq: loaded.seq, at: loaded.at }).toEqual({ pos: 5, seq: 9, at: T0 });
    expect(loaded.kernel.byteLength).toBe(64 * MiB);
    expect(Buffer.from(loaded.kernel.buffer, loaded.kernel.byteOffset, loaded.kernel.byteLength).equals(kernel)).toBe(true);
    expect(Buffer.from(loaded.state.buffer, loaded.state.byteOffset, loaded.state.byteLength).equals(state)).toBe(true);
  });

  it("reads events after a number and prunes events older than a time", async () => {
    const a1 = alert("a-1", "firing", T0 + 1_000);
    const events: LifecycleEvent[] = [alertEvent(1, "raised", a1, T0 + 1_000), ...reviewEvents(2, 9)]; // at = T0 + seq s
    await store.commit(batch({ entries: entries(1, 1), events }));
    expect(await store.eventsAfter(0, 100)).toEqual(events);
    expect(seqs(await store.eventsAfter(3, 4))).toEqual([4, 5, 6, 7]);
    expect(seqs(await store.eventsAfter(9, 100))).toEqual([10]);
    expect(await store.eventsAfter(10, 100)).toEqual([]);

    expect(await store.pruneEvents(T0 + 5_000)).toBe(4); // seq 1..4 (at < T0 + 5 s)
    expect(seqs(await store.eventsAfter(0, 100))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(await store.pruneEvents(T0 + 5_000)).toBe(0);
    expect(await store.alertHistory("a-1")).toEqual([]); // its events are gone ...
    expect(await store.alert("a-1")).toEqual(a1); // ... the alert's state is not
    expect(await store.lastPosition()).toBe(1); // nor the journal
  });
});

describe("SQLite specifics", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "varsel-sqlite-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("runs in WAL mode with synchronous = FULL and foreign keys on; close() checkpoints the WAL", async () => {
    const path = join(dir, "v.db");
    const store = new SqliteStore({ path });
    await store.open();
    expect(store.pragmas()).toEqual({ journalMode: "wal", synchronous: 2, foreignKeys: 1 });
    await store.commit(batch({ entries: entries(1, 100) }));
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    // Another connection stays open, so SQLite's own checkpoint-on-last-close does not happen.
    const other = new Database(path);
    other.prepare("SELECT count(*) FROM journal").get();
    await store.close();
    expect(statSync(`${path}-wal`).size).toBe(0);
    other.close();
    const again = new SqliteStore(path);
    await again.open();
    expect(positions(await again.readJournal(0, 1_000))).toHaveLength(100);
    await again.close();
  });

  it("reads one metric through its index, already in order (no sort); a patient's metrics from the same index; prunes from the oldest receipt", async () => {
    const path = join(dir, "v.db");
    const store = new SqliteStore(path);
    await store.open();
    await store.close();
    const db = new Database(path);
    const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join("; ");
    const order = "ORDER BY time DESC, receipt DESC LIMIT 10";
    expect(plan(`SELECT * FROM readings WHERE patient = 'p' AND metric = 'spo2' AND time >= 0 AND time <= 9 ${order}`)).toMatch(/^SEARCH readings USING INDEX readings_patient_metric_time \(patient=\? AND metric=\? AND time>\? AND time<\?\)$/);
    expect(plan(`SELECT * FROM readings WHERE patient = 'p' AND time >= 0 AND time <= 9 ${order}`)).toMatch(/^SEARCH readings USING INDEX readings_patient_metric_time \(patient=\?/);
    expect(plan("SELECT receipt, received_at FROM readings ORDER BY receipt LIMIT 10")).toMatch(/^SCAN readings$/);
    // One index: each reading written costs every index an insert.
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'readings'").all()).toEqual([{ name: "readings_patient_metric_time" }]);
    db.close();
  });

  it("creates the folder of the database file; :memory: works", async () => {
    const nested = await openStore(`sqlite:${join(dir, "a", "b", "varsel.db")}`);
    expect(existsSync(join(dir, "a", "b", "varsel.db"))).toBe(true);
    await nested.close();
    const memory = await openStore(":memory:");
    await memory.commit(batch({ entries: entries(1, 3) }));
    expect(await memory.lastPosition()).toBe(3);
    await memory.close();
  });
});

describe("PostgreSQL specifics", () => {
  it("open and ping reject quickly when the server cannot be reached", async () => {
    const store = new PostgresStore({ connectionString: "postgres://postgres@127.0.0.1:1/test" });
    let t = performance.now();
    await expect(store.open()).rejects.toMatchObject({ code: "store_unavailable" });
    expect(performance.now() - t).toBeLessThan(3_000);
    t = performance.now();
    await expect(store.ping()).rejects.toBeInstanceOf(VarselError);
    expect(performance.now() - t).toBeLessThan(3_000);
  });

  it("refuses a schema name it cannot quote safely", () => {
    expect(() => new PostgresStore({ connectionString: PG_URL, schema: 'x"; DROP TABLE y; --' })).toThrow(TypeError);
  });

  describe.skipIf(pgProblem !== undefined && !REQUIRE_SERVICES)("with a server", () => {
    let loc: StoreLocation;
    beforeEach(async () => {
      if (pgProblem !== undefined) throw new Error(`PostgreSQL not reachable at ${redact(PG_URL)} and VARSEL_REQUIRE_SERVICES=1: ${pgProblem}`);
      loc = await postgresTarget(undefined).location();
    });
    afterEach(async () => loc?.drop());

    it("two stores opening one fresh schema at once apply each migration once", async () => {
      const stores = Array.from({ length: 4 }, () => loc.create());
      await Promise.all(stores.map((s) => s.open()));
      expect(await loc.count("schema_migrations")).toBe(POSTGRES_MIGRATIONS.length);
      // Two writers: the position check still holds across them.
      const [a, b] = stores as [TestStore, TestStore];
      await a.commit(batch({ entries: entries(1, 5) }));
      await expect(b.commit(batch({ entries: entries(5, 6) }))).rejects.toMatchObject({ code: "internal_error" });
      await b.commit(batch({ entries: entries(6, 6) }));
      expect(positions(await a.readJournal(0, 10))).toEqual([1, 2, 3, 4, 5, 6]);
      for (const s of stores) await s.close();
    });

    it("commits from two stores on one schema take turns: the position check cannot race", async () => {
      const a = loc.create() as PostgresStore;
      const b = loc.create() as PostgresStore;
      await a.open();
      await b.open();
      // Hold a's commit inside its transaction: its events insert waits for this table lock.
      const blocker = new pg.Client({ connectionString: PG_URL });
      await blocker.connect();
      try {
        await blocker.query("BEGIN");
        await blocker.query(`LOCK TABLE "${a.schema}".events IN EXCLUSIVE MODE`);
        const done: string[] = [];
        const pa = a.commit(batch({ entries: [entry(1)], events: [reviewEvent(1, T0)] })).then(() => done.push("a"));
        await sleep(200);
        // b's position only follows a's once a has committed: b must wait for it.
        const pb = b.commit(batch({ entries: [entry(2)] })).then(() => done.push("b"));
        await sleep(300);
        expect(done).toEqual([]);
        await blocker.query("COMMIT");
        await Promise.all([pa, pb]);
        expect(done).toEqual(["a", "b"]);
        expect(positions(await b.readJournal(0, 10))).toEqual([1, 2]);
      } finally {
        await blocker.end();
        await a.close();
        await b.close();
      }
    });
  });
});

describe("openStore / createStore", () => {
  it("maps URLs to stores", () => {
    const def = createStore();
    expect(def).toBeInstanceOf(SqliteStore);
    expect((def as SqliteStore).path).toBe(DEFAULT_SQLITE_PATH);
    expect((createStore("sqlite:/tmp/x/v.db") as SqliteStore).path).toBe("/tmp/x/v.db");
    expect((createStore("sqlite:///tmp/x/v.db") as SqliteStore).path).toBe("/tmp/x/v.db");
    expect((createStore("sqlite:data/v.db") as SqliteStore).path).toBe("data/v.db");
    expect((createStore("./v.db") as SqliteStore).path).toBe("./v.db");
    expect((createStore(":memory:") as SqliteStore).path).toBe(":memory:");
    expect((createStore("sqlite::memory:") as SqliteStore).path).toBe(":memory:");
    const pgStore = createStore("postgres://u:secret@db.example:5433/varsel?schema=clinic_a");
    expect(pgStore).toBeInstanceOf(PostgresStore);
    expect(pgStore.kind).toBe("postgres");
    expect((pgStore as PostgresStore).schema).toBe("clinic_a");
    expect((createStore("postgresql://u@h/db") as PostgresStore).schema).toBe("public");
    expect(() => createStore("mysql://u:secret@h/db")).toThrow(/unsupported store URL.*u:\*\*\*@h/);
  });
});
