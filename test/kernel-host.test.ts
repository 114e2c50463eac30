// The wasm kernel through its host (engine/kernel/wasm-kernel.ts), on the real build/varsel.wasm:
// capacity growth, views, batch rejection, output overflow, snapshot/restore, param dedup, and
// the exact transitions and triage codes of docs/kernel.md on hand-checked sequences.
import { describe, expect, it } from "vitest";
import {
  DIR_HIGH,
  DIR_LOW,
  ERR_BAD_SLOT,
  ERR_OUT_FULL,
  HEADER_BYTES,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_SCORE,
  KIND_SCORE_LINK,
  RULE_BYTES,
  SLOT_BYTES,
  SLOT_INFO_BYTES,
  TR_DOWNGRADE,
  TR_RAISE,
  TR_RESOLVE,
  TR_UPGRADE,
  TRIAGE_DUPLICATE,
  TRIAGE_H,
  TRIAGE_HH,
  TRIAGE_L,
  TRIAGE_LL,
  TRIAGE_N,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_OUT_OF_ORDER,
  TRIAGE_REF_NEEDED,
} from "../assembly/layout.js";
import { DEFAULT_PARAMS, type CompiledRule, type Limits, type ParamSet, type Transition } from "../engine/evaluator.js";
import { KernelError } from "../engine/kernel/errors.js";
import type { KernelExports } from "../engine/kernel/exports.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const MIN = 60_000;
const TZ = 3_600_000;
const BAND: Limits = [50, 60, 100, 110];

function band(slot: number, limits: Limits = BAND, params: ParamSet = DEFAULT_PARAMS): CompiledRule {
  return { kind: KIND_BAND, slot, flags: 0, limits, params, anchor: T0 };
}

function slot(k: WasmKernel, histCap = 0, ref = NaN): number {
  return k.addSlot({ histCap, ref, paused: false });
}

/** The raw kernel exports behind the host (to observe what the host hides, e.g. ERR_OUT_FULL). */
function exportsOf(k: WasmKernel): KernelExports {
  return (k as unknown as { ex: KernelExports }).ex;
}

/** A small deterministic generator (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Adds a patient with a mix of rules: band with for/keep, delta over history, baseline, missing. */
function addPatient(k: WasmKernel, r: () => number): void {
  const s0 = slot(k, 8);
  const s1 = slot(k, 3, 80);
  k.addRule(band(s0, BAND, { ...DEFAULT_PARAMS, forMs: 10 * MIN, keepMs: 20 * MIN, margin: 2 }));
  k.addRule({ kind: KIND_DELTA, slot: s0, flags: 0, limits: [-8, -4, 4, 8], params: { ...DEFAULT_PARAMS, windowMs: 60 * MIN }, anchor: T0 });
  k.addRule(band(s1, [40, 50, 120, 130], { ...DEFAULT_PARAMS, n: 2, m: 3 }));
  k.addRule({ kind: KIND_BASELINE, slot: s1, flags: 0, limits: [-20, -10, 10, 20], params: DEFAULT_PARAMS, anchor: T0 });
  k.addRule({ kind: KIND_MISSING, slot: s1, flags: 0, limits: [NaN, NaN, 30, 90], params: DEFAULT_PARAMS, anchor: T0 + Math.floor(r() * 10) * MIN });
}

interface Batch {
  slots: number[];
  times: number[];
  values: number[];
  now: number;
}

/** Random batches over slots [0, slotCount): times mostly increasing per slot, some repeats and late ones. */
function batches(r: () => number, slotCount: number, count: number, size: number, start = T0): Batch[] {
  const out: Batch[] = [];
  let now = start;
  for (let b = 0; b < count; b++) {
    now += Math.floor(r() * 20) * MIN;
    const batch: Batch = { slots: [], times: [], values: [], now };
    for (let i = 0; i < size; i++) {
      batch.slots.push(Math.floor(r() * slotCount));
      batch.times.push(now - Math.floor(r() * 4) * MIN);
      batch.values.push(Math.round(r() * 160) / 2 + 20);
    }
    out.push(batch);
  }
  return out;
}

function run(k: WasmKernel, b: Batch): { triage: number[]; transitions: Transition[] } {
  const res = k.evaluate(b.slots, b.times, b.values, b.now, TZ);
  return { triage: [...res.triage], transitions: res.transitions };
}

describe("band rule transitions and triage (docs/kernel.md, strict limits)", () => {
  it("raises, upgrades, downgrades, resolves and flips direction exactly at the boundaries", () => {
    const k = WasmKernel.load();
    const s = slot(k);
    const rule = k.addRule(band(s));
    // 100 = yellow-high and 110 = red-high are inside (strict), 60 = yellow-low too.
    const values = [100, 100.5, 110, 110.5, 105, 60, 59.5, 120, 50, 49.5];
    const times = values.map((_, i) => T0 + i * MIN);
    const res = k.evaluate(values.map(() => s), times, values, T0 + 10 * MIN, TZ);
    expect([...res.triage]).toEqual([
      TRIAGE_N, TRIAGE_H, TRIAGE_H, TRIAGE_HH, TRIAGE_H, TRIAGE_N, TRIAGE_L, TRIAGE_HH, TRIAGE_L, TRIAGE_LL,
    ]);
    const tr = (kind: number, from: number, to: number, dir: number, i: number): Transition => ({
      rule, kind, from, to, dir, time: times[i], x: values[i], reading: i, detail: 0,
    });
    expect(res.transitions).toEqual([
      tr(TR_RAISE, 0, 1, DIR_HIGH, 1),
      tr(TR_UPGRADE, 1, 2, DIR_HIGH, 3),
      tr(TR_DOWNGRADE, 2, 1, DIR_HIGH, 4),
      tr(TR_RESOLVE, 1, 0, DIR_HIGH, 5),
      tr(TR_RAISE, 0, 1, DIR_LOW, 6),
      tr(TR_RESOLVE, 1, 0, DIR_LOW, 7),
      tr(TR_RAISE, 0, 2, DIR_HIGH, 7),
      tr(TR_RESOLVE, 2, 0, DIR_HIGH, 8),
      tr(TR_RAISE, 0, 1, DIR_LOW, 8),
      tr(TR_UPGRADE, 1, 2, DIR_LOW, 9),
    ]);
  });

  it("marks out-of-order and duplicate readings and applies nothing for them", () => {
    const k = WasmKernel.load();
    const s = slot(k, 4);
    k.addRule(band(s));
    k.addRule({ kind: KIND_DELTA, slot: s, flags: 0, limits: [NaN, NaN, 5, NaN], params: { ...DEFAULT_PARAMS, windowMs: 60 * MIN }, anchor: T0 });
    const t = T0 + 10 * MIN;
    // 80 applied; 200 at the same time (duplicate) and 5 earlier (late) would alert if applied.
    const res = k.evaluate([s, s, s, s], [t, t, t - MIN, t + MIN], [80, 200, 5, 82], t + MIN, TZ);
    expect([...res.triage]).toEqual([TRIAGE_N, TRIAGE_DUPLICATE, TRIAGE_OUT_OF_ORDER, TRIAGE_N]);
    expect(res.transitions).toEqual([]);
    // The delta rule saw only 80 in its window: 86 is a gain of 6 > 5 (a late 5 would make it 81).
    const next = k.evaluate([s], [t + 2 * MIN], [86], t + 2 * MIN, TZ);
    expect([...next.triage]).toEqual([TRIAGE_H]);
    expect(next.transitions.map((x) => [x.kind, x.x])).toEqual([[TR_RAISE, 86 - 80]]);
  });

  it("answers NOT_TRIAGED without rules and REF_NEEDED for a baseline without reference", () => {
    const k = WasmKernel.load();
    const bare = slot(k);
    const base = slot(k);
    k.addRule({ kind: KIND_BASELINE, slot: base, flags: 0, limits: [-20, -10, 10, 20], params: DEFAULT_PARAMS, anchor: T0 });
    const res = k.evaluate([bare, base], [T0, T0], [70, 70], T0, TZ);
    expect([...res.triage]).toEqual([TRIAGE_NOT_TRIAGED, TRIAGE_REF_NEEDED]);
    k.setSlotRef(base, 90);
    // 70 - 90 = -20 lies on the red-low limit: yellow only; 69.5 is below it.
    expect([...k.evaluate([base, base], [T0 + MIN, T0 + 2 * MIN], [70, 69.5], T0 + 2 * MIN, TZ).triage]).toEqual([TRIAGE_L, TRIAGE_LL]);
  });
});

describe("batch rejection", () => {
  it("ERR_BAD_SLOT rejects the whole batch with nothing applied", () => {
    const k = WasmKernel.load();
    const a = slot(k);
    k.addRule(band(a));
    let err: unknown;
    try {
      k.evaluate([a, 7, a], [T0, T0 + MIN, T0 + 2 * MIN], [120, 80, 120], T0 + 2 * MIN, TZ);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe(ERR_BAD_SLOT);
    // Nothing was applied: the same time is not a duplicate and the alert raises now.
    const res = k.evaluate([a], [T0], [120], T0, TZ);
    expect([...res.triage]).toEqual([TRIAGE_HH]);
    expect(res.transitions.map((t) => t.kind)).toEqual([TR_RAISE]);
  });

  it("the fast path rejects a bad slot in the columns the same way", () => {
    const k = WasmKernel.load();
    const a = slot(k);
    k.addRule(band(a));
    const cols = k.inputColumns(2);
    cols.slots.set([a, 1000]);
    cols.times.set([T0, T0]);
    cols.values.set([120, 120]);
    expect(() => k.run(2, T0, TZ)).toThrowError(KernelError);
    const again = k.inputColumns(1);
    again.slots[0] = a;
    again.times[0] = T0;
    again.values[0] = 120;
    expect(k.run(1, T0, TZ)).toBe(1);
    expect(k.triage(1)[0]).toBe(TRIAGE_HH);
  });
});

describe("output capacity", () => {
  it("the kernel answers ERR_OUT_FULL with nothing applied; the host grows and retries", () => {
    const k = WasmKernel.load();
    const s = slot(k);
    const n = 600;
    const cols = k.inputColumns(n);
    for (let i = 0; i < n; i++) {
      cols.slots[i] = s;
      cols.times[i] = T0 + i * MIN;
      cols.values[i] = i % 2 ? 120 : 80;
    }
    // Rules added after the columns were filled: 4 on the slot read, 300 on another one (so the
    // rule region grows and memory moves: the filled columns must survive). 300 x 2 x 600
    // records are more than the output holds.
    for (let r = 0; r < 4; r++) k.addRule(band(s));
    const other = slot(k);
    const before = k.stats().stateBytes;
    for (let r = 0; r < 300; r++) k.addRule(band(other));
    expect(k.stats().stateBytes).toBeGreaterThan(before);
    expect(exportsOf(k).evaluate(n, T0 + n * MIN, TZ)).toBe(ERR_OUT_FULL);
    const count = k.run(n, T0 + n * MIN, TZ);
    expect(count).toBe(4 * (n - 1)); // odd readings raise, even ones (after the first) resolve
    const tr = k.readTransitions(count);
    expect(tr[0]).toMatchObject({ rule: 0, kind: TR_RAISE, reading: 1 });
    expect(tr[count - 1]).toMatchObject({ rule: 3, kind: TR_RAISE, reading: n - 1 });
  });

  it("tick grows the output for two records per rule", () => {
    const k = WasmKernel.load();
    const n = 1500; // 2 x 1500 > the initial 2048 records
    for (let i = 0; i < n; i++) {
      const s = slot(k);
      k.addRule({ kind: KIND_MISSING, slot: s, flags: 0, limits: [NaN, NaN, 15, 30], params: DEFAULT_PARAMS, anchor: T0 });
    }
    expect(exportsOf(k).tick(T0 + 20 * MIN, TZ)).toBe(ERR_OUT_FULL);
    const tr = k.tick(T0 + 20 * MIN, TZ);
    expect(tr.length).toBe(n);
    expect(tr.every((t, i) => t.rule === i && t.kind === TR_RAISE && t.to === 1 && t.reading === -1)).toBe(true);
  });
});

describe("capacity growth", () => {
  it("growing mid-stream keeps every answer equal to a kernel that reserved everything up front", () => {
    const big = WasmKernel.load(undefined, { slots: 4096, rules: 8192, hist: 32768, params: 64, batch: 8192, out: 65536 });
    const small = WasmKernel.load();
    const r1 = rng(7);
    const r2 = rng(7);
    const bytesSeen = new Set<number>();
    const answers: [unknown[], unknown[]] = [[], []];
    for (let round = 0; round < 8; round++) {
      // Each round adds 120 patients (240 slots, 600 rules): the small kernel grows several times.
      for (let p = 0; p < 120; p++) {
        addPatient(big, r1);
        addPatient(small, r2);
      }
      bytesSeen.add(small.stats().stateBytes);
      const slots = big.stats().slots;
      const rb = rng(100 + round);
      for (const b of batches(rb, slots, 3, 700, T0 + round * 120 * MIN)) {
        answers[0].push(run(big, b));
        answers[1].push(run(small, b));
      }
      answers[0].push(big.tick(T0 + (round + 1) * 120 * MIN, TZ));
      answers[1].push(small.tick(T0 + (round + 1) * 120 * MIN, TZ));
    }
    expect(bytesSeen.size).toBeGreaterThanOrEqual(3); // it did grow, several times
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0].flat().length).toBeGreaterThan(0);
  });

  it("one large call equals the same readings in small calls (chunking, prefetch blocks)", () => {
    const one = WasmKernel.load();
    const many = WasmKernel.load();
    for (const k of [one, many]) for (let p = 0; p < 300; p++) addPatient(k, rng(p));
    const slots = one.stats().slots;
    const r = rng(99);
    const n = 150_000; // more than one 65536-reading chunk
    const b: Batch = { slots: [], times: [], values: [], now: T0 + 3000 * MIN };
    for (let i = 0; i < n; i++) {
      b.slots.push(Math.floor(r() * slots));
      b.times.push(T0 + Math.floor(i / 50) * MIN);
      b.values.push(Math.round(r() * 160) / 2 + 20);
    }
    const whole = one.evaluate(b.slots, b.times, b.values, b.now, TZ);
    const triage: number[] = [];
    const transitions: Transition[] = [];
    for (let a = 0; a < n; a += 777) {
      const e = Math.min(n, a + 777);
      const part = many.evaluate(b.slots.slice(a, e), b.times.slice(a, e), b.values.slice(a, e), b.now, TZ);
      triage.push(...part.triage);
      for (const t of part.transitions) transitions.push({ ...t, reading: t.reading + a });
    }
    expect(transitions.length).toBeGreaterThan(1000);
    expect([...whole.triage]).toEqual(triage);
    expect(whole.transitions).toEqual(transitions);
  });

  it("views handed out are re-created after memory grows, never stale", () => {
    const k = WasmKernel.load();
    const s = slot(k);
    k.addRule(band(s));
    const before = k.inputColumns(4);
    for (let i = 0; i < 2000; i++) slot(k, 8); // grows memory
    expect(before.slots.length).toBe(0); // the old buffer was detached by the growth
    const cols = k.inputColumns(4);
    expect(cols.slots.length).toBe(4);
    cols.slots.set([s, s, s, s]);
    cols.times.set([T0, T0 + 1, T0 + 2, T0 + 3]);
    cols.values.set([80, 120, 80, 45]);
    expect(k.run(4, T0 + 3, TZ)).toBe(3);
    expect([...k.triage(4)]).toEqual([TRIAGE_N, TRIAGE_HH, TRIAGE_N, TRIAGE_LL]);
    expect(k.readTransitions(3).map((t) => [t.kind, t.to, t.dir, t.reading])).toEqual([
      [TR_RAISE, 2, DIR_HIGH, 1],
      [TR_RESOLVE, 0, DIR_HIGH, 2],
      [TR_RAISE, 2, DIR_LOW, 3],
    ]);
  });
});

describe("snapshot and restore", () => {
  it("a restored kernel continues with exactly the transitions of an uninterrupted one", () => {
    const a = WasmKernel.load();
    for (let p = 0; p < 40; p++) addPatient(a, rng(p));
    // A NEWS2 score on its own slot fed by the first patient's two slots.
    const news = slot(a);
    const score = a.addRule({
      kind: KIND_SCORE, slot: news, flags: 0, limits: [NaN, NaN, 4, 6],
      params: { ...DEFAULT_PARAMS, windowMs: 60 * MIN, forMs: 5 * MIN }, anchor: T0, scoreInputs: [0, 1, -1, -1, -1, -1],
    });
    for (const input of [0, 1]) a.addRule({ kind: KIND_SCORE_LINK, slot: input, flags: 0, limits: [NaN, NaN, NaN, NaN], params: DEFAULT_PARAMS, anchor: T0, target: score });
    const slots = a.stats().slots;
    const all = batches(rng(5), slots, 12, 300);
    for (const b of all.slice(0, 6)) run(a, b);
    a.tick(all[5].now + MIN, TZ);

    const b = WasmKernel.restore(a.snapshot());
    // The same records; only the spare capacity differs (a restored kernel reserves what it needs).
    expect({ ...b.stats(), stateBytes: 0 }).toEqual({ ...a.stats(), stateBytes: 0 });
    const outA: unknown[] = [];
    const outB: unknown[] = [];
    for (const batch of all.slice(6)) {
      outA.push(run(a, batch), a.tick(batch.now + 30 * MIN, TZ));
      outB.push(run(b, batch), b.tick(batch.now + 30 * MIN, TZ));
    }
    expect(outA.flat(2).length).toBeGreaterThan(0);
    expect(outB).toEqual(outA);
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it("holds the used records only, not the spare capacity", () => {
    const a = WasmKernel.load(undefined, { slots: 100_000, rules: 100_000, hist: 100_000 });
    for (let p = 0; p < 10; p++) addPatient(a, rng(p));
    const { slots, rules, histEntries, stateBytes } = a.stats();
    const bytes = a.snapshot();
    expect(bytes.byteLength).toBe(HEADER_BYTES + 64 * a.paramSetCount + (SLOT_BYTES + SLOT_INFO_BYTES) * slots + RULE_BYTES * rules + 12 * histEntries);
    expect(bytes.byteLength).toBeLessThan(stateBytes / 100);
    expect(a.stats().snapshotBytes).toBe(bytes.byteLength);
    const b = WasmKernel.restore(bytes);
    expect(b.snapshot()).toEqual(bytes);
    const junk = bytes.slice(0, bytes.byteLength - 4);
    expect(() => WasmKernel.restore(junk)).toThrowError(/length does not match/);
  });

  it("a snapshot into given memory has the same bytes as a fresh one, and only that caller's memory is written", () => {
    const a = WasmKernel.load();
    for (let p = 0; p < 10; p++) addPatient(a, rng(p));
    const first = a.snapshot();
    const kept = first.slice();
    const memory = new Uint8Array(first.byteLength * 2);
    for (let p = 10; p < 12; p++) addPatient(a, rng(p));
    const second = a.snapshot({ into: memory });
    expect(second.buffer).toBe(memory.buffer);
    expect(second).toEqual(a.snapshot());
    expect(first).toEqual(kept); // a snapshot taken without `into` is never written over
    expect(WasmKernel.restore(second).snapshot()).toEqual(second);
    for (let p = 12; p < 60; p++) addPatient(a, rng(p)); // beyond the memory: fresh memory, with a quarter to spare
    const third = a.snapshot({ into: memory });
    expect(third.buffer).not.toBe(memory.buffer);
    expect(third.buffer.byteLength).toBeGreaterThan(third.byteLength);
    expect(third).toEqual(a.snapshot());
  });

  it("rebuilds the param dedup map and rejects bytes that are not a snapshot", () => {
    const a = WasmKernel.load();
    const s = slot(a);
    a.addRule(band(s, BAND, { ...DEFAULT_PARAMS, margin: 0.1 }));
    const b = WasmKernel.restore(a.snapshot());
    b.addRule(band(s, BAND, { ...DEFAULT_PARAMS, margin: 0.1 }));
    expect(b.paramSetCount).toBe(1);
    const junk = a.snapshot();
    junk[0] ^= 0xff;
    expect(() => WasmKernel.restore(junk)).toThrowError(/not a varsel kernel snapshot/);
  });
});

describe("param sets", () => {
  it("equal param sets share one record, by value (margin as stored, f32)", () => {
    const k = WasmKernel.load();
    const s = slot(k);
    for (let i = 0; i < 50; i++) k.addRule(band(s));
    for (let i = 0; i < 50; i++) k.addRule(band(s, BAND, { ...DEFAULT_PARAMS }));
    expect(k.paramSetCount).toBe(1);
    k.addRule(band(s, BAND, { ...DEFAULT_PARAMS, margin: 0.1 }));
    k.addRule(band(s, BAND, { ...DEFAULT_PARAMS, margin: Math.fround(0.1) }));
    expect(k.paramSetCount).toBe(2);
    const mutable = { ...DEFAULT_PARAMS };
    k.addRule(band(s, BAND, mutable));
    mutable.forMs = 5 * MIN; // the same object, changed: a new record
    k.addRule(band(s, BAND, mutable));
    expect(k.paramSetCount).toBe(3);
    expect(() => k.addRule(band(s, BAND, { ...DEFAULT_PARAMS, m: 300 }))).toThrowError(RangeError);
  });
});
