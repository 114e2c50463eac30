// The ingest thread (server/ws/frame-thread.ts, VARSEL_INGEST_THREADS=1): what a real worker
// prepares from a frame is exactly what the main thread alone would have made of it (the same
// canonical batch, the same refusals with the same codes), the journal bytes it encoded decode to
// exactly the command the main thread applies (whatever hostile input came in), a worker that dies
// loses no frame, and a server ingesting through it replays from its journal to the same state.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { Command } from "../engine/durable/commands.js";
import { journaled } from "../engine/durable/journal.js";
import { VarselError } from "../engine/errors.js";
import { canonicalReadings, type CanonicalBatch } from "../engine/ingest/canonical.js";
import { EARLIEST_TIME_MS } from "../engine/ingest/normalize.js";
import { METRICS } from "../engine/metrics.js";
import { decodeBody } from "../engine/store/codec.js";
import { SqliteStore } from "../engine/store/sqlite.js";
import { decode, encode, type Format } from "../server/codec.js";
import { batchOfPrepared, Names, openFrame, prepareFrame, withNames, type PreparedFrame } from "../server/ws/frame-prep.js";
import { FrameThread, MAX_RESTARTS } from "../server/ws/frame-thread.js";
import { parseClientMessage } from "../server/ws/messages.js";
import { registerPatient, startServer } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);
const NOW = Date.UTC(2026, 0, 15, 12);
const MAX_ITEMS = 50;

/** What the main thread alone makes of a frame (session.ts and ingestReadings without the thread): the batch, or the code that refuses it. */
function singleThreaded(bytes: Uint8Array, format: Format): { batch: CanonicalBatch } | { code: string; message: string } {
  try {
    const msg = parseClientMessage(decode(bytes, format));
    if (msg.type !== "ingest") return { code: "not_ingest", message: msg.type };
    const items = msg.readings ?? [];
    if (items.length > MAX_ITEMS) throw new VarselError("batch_too_large", `at most ${MAX_ITEMS} items per batch`);
    return { batch: canonicalReadings(items, NOW) };
  } catch (err) {
    const e = err instanceof VarselError ? err : new VarselError("internal_error");
    return { code: e.code, message: e.message };
  }
}

/** The same through a prepared frame, plus the journal bytes the preparing thread encoded. */
function threaded(frame: PreparedFrame): { batch: CanonicalBatch; journal: Uint8Array } | { code: string; message: string } {
  try {
    const { message, ingest } = openFrame(frame);
    if (message.type !== "ingest" || ingest === undefined) return { code: "not_ingest", message: message.type };
    return { batch: batchOfPrepared(ingest), journal: (ingest as { journal: Uint8Array }).journal };
  } catch (err) {
    const e = err as VarselError;
    return { code: e.code, message: e.message };
  }
}

/** The command the main thread applies, built as server/http/measurements.ts builds it. */
function command(batch: CanonicalBatch, teams: string[] | undefined, compact: boolean): Extract<Command, { kind: "ingest" }> {
  const c: Extract<Command, { kind: "ingest" }> = { kind: "ingest", source: "readings", batch, channel: "ws" };
  if (teams !== undefined) c.teams = teams;
  if (compact) c.compact = true;
  return c;
}

// ---- hostile readings (as in test/ingest-canonical.test.ts) ----
const binaryText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.tuple(fc.string({ unit: "binary", maxLength: 6 }), fc.constantFrom("\ud800", "\udfff", "\u0000", "\u007f", "\ud83d\ude00", "\u200d", "\ufeff", "e\u0301")).map(([a, b]) => a + b),
);
const text = fc.oneof(fc.constantFrom("p1", "p2", "__proto__", "constructor"), binaryText, fc.string({ unit: "grapheme", maxLength: 300 }));
const value = fc.oneof(fc.double(), fc.constantFrom(-0, 0, 1e308, -1e308, 2 ** 53 + 1, 5e-324), fc.integer({ min: -10, max: 500 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.constantFrom("72.5", "1e400", "-0", " 95 "), binaryText);
const time = fc.oneof(
  fc.integer({ min: EARLIEST_TIME_MS - 10, max: NOW + 400_000 }),
  fc.double(),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom("2026-01-15T10:00:00Z", "2026-01-15", "2026-02-30", 8640000000000001, 1e20, -0),
  binaryText,
);
const rawReading = fc.record(
  {
    patient: fc.oneof(text, fc.anything()),
    metric: fc.oneof(fc.constantFrom(...METRICS.map((m) => m.key), "29463-7", "http://loinc.org|2339-0", "toString", "__proto__"), binaryText),
    value: fc.oneof(value, fc.anything()),
    unit: fc.oneof(fc.constantFrom("kg", "g", "[lb_av]", "%", "mg/dL", "mmol/L", "Cel", ""), binaryText, fc.constant(null)),
    time,
    id: fc.oneof(text, fc.constant(null)),
    device: text,
    extra: fc.anything(),
  },
  { requiredKeys: ["patient", "metric", "value", "time"] },
);
const validReading = fc.record({
  patient: fc.constantFrom("p1", "p2", "urn:uuid:1", "pæ🙂"),
  metric: fc.constantFrom("weight", "pulse", "spo2"),
  value: fc.oneof(fc.integer({ min: 60, max: 100 }), fc.constant(-0), fc.double({ min: 60, max: 100, noNaN: true })),
  time: fc.integer({ min: EARLIEST_TIME_MS, max: NOW }),
  id: fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }),
  device: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }),
});
const item = fc.oneof(rawReading, validReading, validReading, fc.anything({ maxDepth: 3 }));
/** JSON text items: `__proto__` keys and lone surrogates as escapes, which only JSON.parse makes own properties and strings of. */
const jsonItem = fc.oneof(
  validReading.map((r) => JSON.stringify(r)),
  fc.constantFrom(
    `{"__proto__":{"patient":"p1"},"patient":"p1","metric":"pulse","value":70,"time":${NOW - 1}}`,
    `{"patient":"p\\ud800","metric":"pulse","value":70,"time":${NOW - 1}}`,
    `{"patient":"p1","metric":"pulse","value":-0,"time":${NOW - 1},"id":"\\udc00x"}`,
    `{"patient":"p1","metric":"pulse","value":1e999,"time":${NOW - 1}}`,
    `{"patient":"p1","metric":"pulse","value":70,"time":${NOW - 1},"device":"\\u0000"}`,
    `{"patient":"p1","metric":"pulse","value":70,"time":${NOW - 1},"constructor":{"prototype":1}}`,
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
);

/** A frame: an ingest of those readings in either format, or bytes that are not one (refused alike). */
const frame: fc.Arbitrary<{ bytes: Uint8Array; format: Format }> = fc.oneof(
  fc.array(item, { maxLength: 12 }).map((readings) => ({ bytes: encode({ type: "ingest", id: "f", readings }, "msgpack") as Buffer, format: "msgpack" as const })),
  fc.array(jsonItem, { maxLength: 12 }).map((items) => ({ bytes: Buffer.from(`{"type":"ingest","id":"f","readings":[${items.join(",")}]}`), format: "json" as const })),
  fc.array(validReading, { minLength: MAX_ITEMS + 1, maxLength: MAX_ITEMS + 3 }).map((readings) => ({ bytes: encode({ type: "ingest", id: "f", readings }, "msgpack") as Buffer, format: "msgpack" as const })),
  fc.record({ bytes: fc.uint8Array({ maxLength: 40 }), format: fc.constantFrom<Format>("msgpack", "json") }),
  fc.constantFrom<{ bytes: Uint8Array; format: Format }>(
    { bytes: Buffer.from("[".repeat(10_001)), format: "json" },
    { bytes: Buffer.from(`{"type":"ingest","readings":[]}`), format: "json" },
    { bytes: Buffer.from(`{"type":"ingest","id":"f","readings":[{"patient":"\\ud800"}],"answer":"full"}`), format: "json" },
  ),
);
const teams = fc.option(fc.array(fc.oneof(fc.constantFrom("team-a", "t\ud800", "t\u0000"), fc.string({ unit: "grapheme", maxLength: 6 })), { maxLength: 3 }), { nil: undefined });

describe("the ingest thread prepares what the main thread would have", () => {
  it("same batch or same refusal, and the journal bytes it encoded decode to exactly the command applied (real worker)", async () => {
    const thread = new FrameThread(MAX_ITEMS);
    await thread.ready();
    try {
      expect(thread.threaded).toBe(true);
      await fc.assert(
        fc.asyncProperty(frame, teams, fc.boolean(), async ({ bytes, format }, senderTeams, compact) => {
          const alone = singleThreaded(bytes, format);
          const prepared = threaded(await thread.prepare(bytes, format, NOW));
          if ("code" in alone) {
            expect(prepared).toEqual(alone);
            return;
          }
          if ("code" in prepared) throw new Error(`refused by the thread only: ${prepared.code} ${prepared.message}`);
          // The very objects canonicalReadings builds (-0, key presence and order included).
          expect(isDeepStrictEqual(prepared.batch, alone.batch)).toBe(true);
          expect(Object.keys(prepared.batch.readings[0] ?? {})).toEqual(Object.keys(alone.batch.readings[0] ?? {}));
          // The sender's fields are checked on the main thread on both paths: refused alike.
          const live = command(prepared.batch, senderTeams, compact);
          let viaThread: ReturnType<typeof journaled> | VarselError;
          let viaMain: ReturnType<typeof journaled> | VarselError;
          try {
            viaThread = journaled(live, prepared.journal);
          } catch (err) {
            viaThread = err as VarselError;
          }
          try {
            viaMain = journaled(command(alone.batch, senderTeams, compact));
          } catch (err) {
            viaMain = err as VarselError;
          }
          if (viaMain instanceof VarselError || viaThread instanceof VarselError) {
            expect(viaThread instanceof VarselError && viaMain instanceof VarselError && [viaThread.code, viaThread.message]).toEqual(viaMain instanceof VarselError && [viaMain.code, viaMain.message]);
            return;
          }
          // What replay applies is exactly what was applied live, byte for byte as the main thread alone would journal it.
          expect(isDeepStrictEqual(decodeBody(viaThread.bytes!), viaThread.command)).toBe(true);
          expect(viaThread.command).toBe(live);
          expect(Buffer.from(viaThread.bytes!).equals(Buffer.from(viaMain.bytes!))).toBe(true);
        }),
        { numRuns: RUNS * 3 },
      );
    } finally {
      await thread.close();
    }
  });

  it("the prepared ingest message keeps its id and answer and leaves the readings behind", async () => {
    const thread = new FrameThread(MAX_ITEMS);
    await thread.ready();
    try {
      const bytes = encode({ type: "ingest", id: "x1", answer: "full", readings: [{ patient: "p1", metric: "pulse", value: 70, time: NOW - 1 }] }, "msgpack") as Buffer;
      const { message, ingest } = openFrame(await thread.prepare(bytes, "msgpack", NOW));
      expect(message).toEqual({ type: "ingest", id: "x1", answer: "full" });
      expect(batchOfPrepared(ingest!).readings).toEqual([{ index: 0, patient: "p1", metric: "pulse", value: 70, time: NOW - 1 }]);
      const ping = await thread.prepare(Buffer.from(`{"type":"ping","id":"p"}`), "json", NOW);
      expect(ping).toEqual({ message: { type: "ping", id: "p" } });
    } finally {
      await thread.close();
    }
  });

  it("for a server without a store (no journal) it encodes no journal bytes, and the batch is the same (real worker)", async () => {
    const withJournal = new FrameThread(MAX_ITEMS);
    const without = new FrameThread(MAX_ITEMS, undefined, false);
    await Promise.all([withJournal.ready(), without.ready()]);
    try {
      const bytes = encode({ type: "ingest", id: "x2", readings: [{ patient: "p1", metric: "pulse", value: 70, time: NOW - 1 }, { patient: "p2", metric: "spo2", value: 97, time: NOW - 2 }] }, "msgpack") as Buffer;
      const a = openFrame(await withJournal.prepare(bytes, "msgpack", NOW)).ingest!;
      const b = openFrame(await without.prepare(bytes, "msgpack", NOW)).ingest!;
      if ("error" in a || "error" in b) throw new Error("refused");
      expect(a.journal).toBeInstanceOf(Uint8Array);
      expect(b.journal).toBeUndefined();
      expect(batchOfPrepared(b)).toEqual(batchOfPrepared(a));
    } finally {
      await Promise.all([withJournal.close(), without.close()]);
    }
  });
});

describe("names sent once", () => {
  it("a frame keeps the names it was prepared with across a new numbering, and rebuilds the same batch", () => {
    const names = new Names(80); // a new numbering every few frames
    let table: string[] = [];
    const held: { frame: PreparedFrame; items: unknown[] }[] = [];
    for (let f = 0; f < 12; f++) {
      const items = Array.from({ length: 5 }, (_, i) => ({ patient: `patient-${(f * 3 + i) % 17}`, metric: ["pulse", "spo2"][i % 2], value: 90, time: NOW - 1000 + f, id: `m${f}-${i}` }));
      const frame = prepareFrame(encode({ type: "ingest", id: `f${f}`, readings: items }, "msgpack") as Buffer, "msgpack", NOW, MAX_ITEMS, names);
      table = withNames(frame, table);
      held.push({ frame, items });
    }
    const bases = held.map(({ frame }) => (openFrame(frame).ingest as { names: { base: number } }).names.base);
    expect(bases.filter((b) => b === 0).length).toBeGreaterThan(1); // numbered anew more than once
    expect(bases.some((b) => b > 1)).toBe(true);
    // Rebuilt only now, after several new numberings (as a socket's queue may rebuild late).
    for (const { frame, items } of held) expect(isDeepStrictEqual(batchOfPrepared(openFrame(frame).ingest!), canonicalReadings(items, NOW))).toBe(true);
    const numberedLater = held.find(({ frame }) => (openFrame(frame).ingest as { names: { base: number } }).names.base > 1)!;
    expect(() => withNames(numberedLater.frame, ["only-one"])).toThrow(/out of step/);
  });
});

describe("compiled (npm start)", () => {
  it("the compiled server's ingest thread starts its compiled worker and prepares as the main thread does", async () => {
    const dist = new URL("../dist/server/ws/frame-thread.js", import.meta.url).href; // built by test/support/build-dist.ts
    const { FrameThread: CompiledThread } = (await import(dist)) as { FrameThread: typeof FrameThread };
    const thread = new CompiledThread(MAX_ITEMS);
    try {
      await thread.ready();
      expect(thread.threaded).toBe(true);
      const bytes = encode({ type: "ingest", id: "c", readings: [{ patient: "p1", metric: "pulse", value: 70, time: NOW - 1, id: "m\u00e9" }] }, "msgpack") as Buffer;
      const got = threaded(await thread.prepare(bytes, "msgpack", NOW));
      const alone = singleThreaded(bytes, "msgpack");
      expect("batch" in got && "batch" in alone && isDeepStrictEqual(got.batch, alone.batch)).toBe(true);
    } finally {
      await thread.close();
    }
  });
});

describe("a worker that dies", () => {
  const frames = Array.from({ length: 40 }, (_, i) =>
    encode({ type: "ingest", id: `f${i}`, readings: Array.from({ length: 1000 }, (_, j) => ({ patient: `p${j}`, metric: "pulse", value: 60 + (i % 30), time: NOW - 1000 + i })) }, "msgpack") as Buffer,
  );
  const expected = frames.map((b) => {
    const f = prepareFrame(b, "msgpack", NOW, MAX_ITEMS * 100);
    withNames(f);
    return f;
  });

  it("loses no frame: what it held is prepared on the main thread, in order, and a new worker takes over", async () => {
    const crashes: boolean[] = [];
    let rescued = 0;
    const thread = new FrameThread(MAX_ITEMS * 100, (_err, restarted, n) => {
      crashes.push(restarted);
      rescued += n;
    });
    await thread.ready();
    try {
      const answers = frames.map((b) => thread.prepare(b, "msgpack", NOW));
      await thread.crashForTest(); // while most of them are still waiting
      const got = await Promise.all(answers);
      for (let i = 0; i < frames.length; i++) expect(batchOfPrepared(openFrame(got[i]).ingest!)).toEqual(batchOfPrepared(openFrame(expected[i]).ingest!));
      expect(crashes).toEqual([true]);
      expect(rescued).toBeGreaterThan(0);
      expect(thread.threaded).toBe(true);
      await thread.ready();
      const after = await thread.prepare(frames[0], "msgpack", NOW);
      expect(batchOfPrepared(openFrame(after).ingest!)).toEqual(batchOfPrepared(openFrame(expected[0]).ingest!));
    } finally {
      await thread.close();
    }
  });

  it(`after ${MAX_RESTARTS} restarts the main thread prepares every frame itself`, async () => {
    const crashes: boolean[] = [];
    const thread = new FrameThread(MAX_ITEMS * 100, (_err, restarted) => crashes.push(restarted));
    try {
      for (let i = 0; i <= MAX_RESTARTS; i++) {
        await thread.ready();
        const answer = thread.prepare(frames[i], "msgpack", NOW);
        await thread.crashForTest();
        expect(batchOfPrepared(openFrame(await answer).ingest!)).toEqual(batchOfPrepared(openFrame(expected[i]).ingest!));
      }
      expect(crashes).toEqual([...Array(MAX_RESTARTS).fill(true), false]);
      expect(thread.threaded).toBe(false);
      expect(batchOfPrepared(openFrame(await thread.prepare(frames[1], "msgpack", NOW)).ingest!)).toEqual(batchOfPrepared(openFrame(expected[1]).ingest!));
    } finally {
      await thread.close();
    }
  });
});

describe("a server ingesting through its ingest thread", () => {
  const tmp = mkdtempSync(join(tmpdir(), "varsel-frame-thread-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const sqlite = async (name: string): Promise<SqliteStore> => {
    const store = new SqliteStore(join(tmp, name));
    await store.open();
    return store;
  };

  it("answers as the single-threaded server does, with the same codes, and replays from its journal to the same state", async () => {
    const answers: Record<number, unknown[]> = {};
    let live: { seq: number; alerts: unknown } | undefined;
    for (const ingestThreads of [1, 0] as const) {
      const h = await startServer("ws", { maxBatchItems: 100 }, { store: await sqlite(`live-${ingestThreads}.db`), ingestThreads });
      try {
        await h.server.ingestThread?.ready();
        expect(h.server.ingestThread?.threaded ?? false).toBe(ingestThreads === 1);
        await registerPatient(h, "p1", "team-a");
        await registerPatient(h, "p2", "team-a");
        const device = await TestSocket.connect(h.wsUrl, await h.token("device", ["team-a"]), "msgpack");
        const t = h.clock.t;
        const sent = [
          { type: "ingest", id: "a", answer: "full", readings: [{ patient: "p1", metric: "pulse", value: 140, time: t - 60_000, id: "m1" }, { patient: "p1", metric: "pulse", value: -0, time: t - 50_000 }, { patient: "p2", metric: "spo2", value: 85, time: t - 40_000, device: "ox\ud83d\ude00" }] },
          { type: "ingest", id: "b", readings: [{ patient: "p1", metric: "pulse", value: 72, time: t - 30_000, id: "m\ud800" }, { patient: "nobody", metric: "pulse", value: 72, time: t - 30_000 }, { patient: "p2", metric: "weight", value: 1e308, time: t }] },
          { type: "ingest", id: "c", readings: Array.from({ length: 101 }, () => ({ patient: "p1", metric: "pulse", value: 70, time: t })) },
          { type: "ingest", id: "d", readings: [{ patient: "p1", metric: "pulse", value: 70, time: t - 20_000, id: "m1" }] },
          { type: "ingest", id: "e" },
        ];
        for (const m of sent) device.send(m);
        device.ws.send(Buffer.from([0x85, 0xa1])); // truncated MessagePack
        const got: unknown[] = [];
        for (let i = 0; i < sent.length + 1; i++) got.push(await device.next((f) => f.type === "ingest_result" || f.type === "error"));
        answers[ingestThreads] = got;
        if (ingestThreads === 1) {
          live = { seq: h.server.pipeline.lifecycle.lastSeq(), alerts: h.server.pipeline.lifecycle.list({}) };
        }
        device.ws.close();
      } finally {
        await h.close();
      }
      if (ingestThreads === 1) {
        // Replayed from the journal the thread's bytes went into: the journal alone (the snapshot close() took is removed).
        const db = new Database(join(tmp, "live-1.db"));
        db.exec("DELETE FROM snapshot_parts; DELETE FROM snapshots");
        db.close();
        const again = await startServer("ws", {}, { store: await sqlite("live-1.db"), ingestThreads: 0 });
        try {
          expect(again.server.pipeline.lifecycle.lastSeq()).toBe(live!.seq);
          expect(again.server.pipeline.lifecycle.list({})).toEqual(live!.alerts);
        } finally {
          await again.close();
        }
      }
    }
    const codes = (xs: unknown[]) => xs.map((f) => ((f as { type: string }).type === "error" ? (f as { code: string }).code : JSON.stringify({ ...(f as object), seq: undefined })));
    expect(codes(answers[1])).toEqual(codes(answers[0]));
    expect(codes(answers[1])).toContain("batch_too_large");
    expect(codes(answers[1])).toContain("malformed_msgpack");
  });
});
