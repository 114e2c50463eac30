// A backtest over several worker threads (engine/backtest/sharded.ts) reports exactly what one
// Backtest over the whole cohort reports: the cohort dealt out to shards on real threads, their
// outcomes merged (episodes, CGM sums, counts) into the same report, diff lists and markers too.
import { describe, expect, it } from "vitest";
import { Backtest, emptyChunk, type ReadingChunk } from "../engine/backtest/backtest.js";
import { ShardedBacktest } from "../engine/backtest/sharded.js";
import type { BacktestOptions, BacktestPatient } from "../engine/backtest/types.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import { cohort, DAY, FROM, RULE_SETS, stream } from "../bench/lib/cohort-year.js";

const MIN = 60_000;

/** The bench's synthetic cohort (COPD, heart failure, CGM), plus a patient who never measures (missing-data alerts only). */
function world(seed: number, days: number): { options: BacktestOptions; chunks: ReadingChunk[] } {
  const cfg = { patients: 40, cgm: 6, seed, chunk: 2_000 };
  const patients: BacktestPatient[] = [...cohort(cfg), { id: "quiet", programme: "telehjerte" }];
  const chunks: ReadingChunk[] = [];
  stream(cfg, days, (c) => {
    const copy = emptyChunk(c.n);
    copy.patient.set(c.patient.subarray(0, c.n));
    copy.metric.set(c.metric.subarray(0, c.n));
    copy.time.set(c.time.subarray(0, c.n));
    copy.value.set(c.value.subarray(0, c.n));
    chunks.push(copy);
  });
  const markers = [
    { patient: "kol-0", time: FROM + 2 * DAY, label: "admission" },
    { patient: "cgm-1", time: FROM + 3 * DAY },
    { patient: "quiet", time: FROM + DAY },
  ];
  const options: BacktestOptions = {
    patients,
    from: FROM,
    to: FROM + days * DAY,
    current: RULE_SETS[0].rules,
    proposed: [{ name: "proposed", programmes: RULE_SETS[1].rules }],
    markers,
  };
  return { options, chunks };
}

function single(options: BacktestOptions, chunks: ReadingChunk[]) {
  const bt = new Backtest(options);
  for (const c of chunks) bt.push(c);
  return bt.finish();
}

describe("sharded backtest (worker threads)", () => {
  it.each([
    [1, 2],
    [3, 3],
  ])("seed %i over %i threads: the same report as one Backtest", async (seed, threads) => {
    const { options, chunks } = world(seed, 4);
    const expected = single(options, chunks);
    // The world raises alerts of every kind the report counts, so the comparison has teeth.
    expect(expected.ruleSets[0].alerts.all).toBeGreaterThan(20);
    expect(expected.ruleSets[1].diff!.disappeared + expected.ruleSets[1].diff!.appeared).toBeGreaterThan(0);
    expect(expected.perPatient.find((p) => p.id === "quiet")!.ruleSets.current.alerts.all).toBeGreaterThan(0);
    const sharded = new ShardedBacktest(options, threads);
    expect(sharded.threads).toBe(threads);
    for (const c of chunks) await sharded.push(c);
    expect(await sharded.finish()).toEqual(expected);
  }, 60_000);

  it("takes canonical readings, counting those of patients outside the cohort as skipped", async () => {
    const raw = [
      { patient: "a", metric: "spo2", value: 86, time: FROM + 9 * 3_600_000 },
      { patient: "stranger", metric: "spo2", value: 80, time: FROM + 9 * 3_600_000 + MIN },
      { patient: "b", metric: "pulse", value: 130, time: FROM + 10 * 3_600_000 },
      { patient: "a", metric: "spo2", value: 95, time: FROM + 30 * 3_600_000 },
    ];
    const readings = canonicalReadings(raw, FROM + 10 * DAY).readings;
    const options: BacktestOptions = { patients: [{ id: "a", programme: "telekol" }, { id: "b", programme: "telekol" }], from: FROM, to: FROM + 2 * DAY };
    const bt = new Backtest(options);
    bt.pushReadings(readings);
    const expected = bt.finish();
    expect(expected.readings).toEqual({ replayed: 3, skipped: 1, late: 0 });
    const sharded = new ShardedBacktest(options, 2);
    await sharded.pushReadings(readings);
    expect(await sharded.finish()).toEqual(expected);
  }, 60_000);

  it("refuses a bad cohort before starting any thread", () => {
    const patients: BacktestPatient[] = [{ id: "a", programme: "cgm" }];
    expect(() => new ShardedBacktest({ patients, from: FROM, to: FROM }, 2)).toThrow(/period/);
    expect(() => new ShardedBacktest({ patients: [...patients, ...patients], from: FROM, to: FROM + DAY }, 2)).toThrow(/twice/);
    expect(() => new ShardedBacktest({ patients, from: FROM, to: FROM + DAY, proposed: [{ name: "current" }] }, 2)).toThrow(/names/);
  });

  it("refuses a chunk out of time order with nothing routed, and goes on with the next", async () => {
    const { options, chunks } = world(5, 2);
    const expected = single(options, chunks);
    const sharded = new ShardedBacktest(options, 2);
    await sharded.push(chunks[0]);
    // A chunk reaching back before the last one: a shard's clock would not match the cohort's.
    await expect(sharded.push(chunks[0])).rejects.toThrow(/time order/);
    for (const c of chunks.slice(1)) await sharded.push(c);
    expect(await sharded.finish()).toEqual(expected);
  }, 60_000);

  it("fails instead of waiting forever when a shard's thread ends, and ends the others", async () => {
    const { options, chunks } = world(5, 1);
    const sharded = new ShardedBacktest(options, 2);
    await sharded.push(chunks[0]);
    const workers = (sharded as unknown as { shards: { worker: import("node:worker_threads").Worker }[] }).shards.map((s) => s.worker);
    const otherEnded = new Promise((resolve) => workers[1].once("exit", resolve));
    await workers[0].terminate();
    await expect(sharded.finish()).rejects.toThrow(/thread ended/);
    // The other thread is ended too (the test would time out waiting for it otherwise).
    await otherEnded;
  }, 60_000);

  it("refuses a thread count that is not a whole number of at least 1", () => {
    const options: BacktestOptions = { patients: [{ id: "a", programme: "cgm" }], from: FROM, to: FROM + DAY };
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ShardedBacktest(options, bad)).toThrow(/whole number/);
  });

  it("never starts more threads than patients", async () => {
    const options: BacktestOptions = { patients: [{ id: "a", programme: "cgm" }], from: FROM, to: FROM + DAY };
    const sharded = new ShardedBacktest(options, 4);
    expect(sharded.threads).toBe(1);
    const report = await sharded.finish();
    expect(report.patients).toBe(1);
    // No reading at all: the stale-data rule fires for the whole day.
    expect(report.ruleSets[0].alerts.all).toBeGreaterThan(0);
  }, 60_000);
});
