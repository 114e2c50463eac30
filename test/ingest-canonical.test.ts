// The canonical ingest batch (engine/ingest/canonical.ts): what the journal holds must be built
// from checked values only, survive the journal's MessagePack encoding unchanged, and a hostile
// item must cost nobody but itself. Also the decoder's nesting limits (server/codec.ts).
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { VarselError, type ErrorCode } from "../engine/errors.js";
import { canonicalFhir, canonicalReadings, MAX_MESSAGE_LENGTH, type CanonicalBatch } from "../engine/ingest/canonical.js";
import { MAX_ITEM_DEPTH } from "../engine/ingest/depth.js";
import { EARLIEST_TIME_MS, FUTURE_TOLERANCE_MS, MAX_TEXT_LENGTH } from "../engine/ingest/normalize.js";
import { textProblem } from "../engine/ingest/text.js";
import { METRICS } from "../engine/metrics.js";
import { decodeBody, encodeBody } from "../engine/store/codec.js";
import { decode, MAX_DOCUMENT_DEPTH, MAX_MSGPACK_DEPTH } from "../server/codec.js";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const T_MS = Date.UTC(2026, 0, 15, 10, 0, 0);

function reading(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { patient: "p1", metric: "weight", value: 72.5, unit: "kg", time: T_MS, ...over };
}

/** [index, code] of every rejection. */
function codes(batch: CanonicalBatch): [number, ErrorCode][] {
  return batch.rejected.map((r) => [r.index, r.code]);
}

/** Index of every reading. */
function accepted(batch: CanonicalBatch): number[] {
  return batch.readings.map((r) => r.index);
}

/** `[[[…]]]` nested `levels` deep. */
function nestedArray(levels: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

/** The journal keeps exactly this batch (engine/store/codec.ts is the journal's encoding). */
function expectJournalFidelity(batch: CanonicalBatch): void {
  expect(decodeBody(encodeBody(batch))).toStrictEqual(batch);
}

describe("canonicalReadings: text that cannot be kept", () => {
  it("refuses ids with a lone surrogate, which MessagePack would write as one U+FFFD", () => {
    const batch = canonicalReadings([reading({ id: "k\ud800" }), reading({ id: "k\udfff" }), reading({ id: "k" }), reading({ id: "k\ud83d\ude00" })], NOW);
    expect(codes(batch)).toEqual([[0, "invalid_field"], [1, "invalid_field"]]);
    expect(batch.rejected[0].message).toBe("id is not well-formed Unicode (lone surrogate)");
    expect(batch.readings.map((r) => [r.index, r.id])).toEqual([[2, "k"], [3, "k\ud83d\ude00"]]);
    expectJournalFidelity(batch);
  });

  it("refuses control characters in every text field (ids are joined with U+0000 into keys)", () => {
    const batch = canonicalReadings(
      [
        reading({ id: "a\u0000b" }),
        reading({ patient: "p\u0001" }),
        reading({ metric: "weight\u007f" }),
        reading({ device: "scale\n7" }),
        reading({ unit: "kg\t" }),
        reading({ unit: "k\udc00g" }),
        reading({ id: "a b", device: "scale-7 ø" }),
      ],
      NOW,
    );
    expect(codes(batch)).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, "invalid_field"]));
    expect(batch.rejected[0].message).toBe("id contains a control character");
    expect(batch.rejected[5].message).toBe("unit is not well-formed Unicode (lone surrogate)");
    expect(accepted(batch)).toEqual([6]);
  });

  it("clips the unit echoed in a unit_mismatch message and bounds every message", () => {
    const unit = "u".repeat(MAX_TEXT_LENGTH);
    const metric = `x${"\ud83d\ude00".repeat(MAX_TEXT_LENGTH / 2 - 1)}y`;
    const batch = canonicalReadings([reading({ unit }), reading({ metric })], NOW);
    expect(codes(batch)).toEqual([[0, "unit_mismatch"], [1, "unknown_metric"]]);
    expect(batch.rejected[0].message).toBe(`unit '${"u".repeat(40)}…' is not accepted for weight (accepted: kg, g, [lb_av])`);
    // 40 UTF-16 units would cut a surrogate pair in half: the clip keeps it whole.
    expect(batch.rejected[1].message).toBe(`unknown metric 'x${"\ud83d\ude00".repeat(19)}…'`);
    for (const r of batch.rejected) expect(textProblem(r.message)).toBeUndefined();
  });
});

describe("canonicalReadings: shapes that broke the journal", () => {
  it("an item with keys named like Object.prototype members is an ordinary rejection", () => {
    const items = JSON.parse(`[{"constructor":1,"toJSON":1}, ${JSON.stringify(reading({ id: "ok" }))}, {"__proto__":{"patient":"p1"}}]`) as unknown[];
    const batch = canonicalReadings(items, NOW);
    expect(codes(batch)).toEqual([[0, "missing_field"], [2, "missing_field"]]);
    expect(accepted(batch)).toEqual([1]);
    expectJournalFidelity(batch);
  });

  it(`refuses an item nested deeper than ${MAX_ITEM_DEPTH} levels anywhere, and keeps its neighbours`, () => {
    const items = [
      reading({ id: "a" }),
      reading({ id: "deep", extra: nestedArray(3000) }),
      reading({ id: "at-limit", extra: nestedArray(MAX_ITEM_DEPTH - 1) }),
      reading({ id: "past-limit", extra: { x: [nestedArray(MAX_ITEM_DEPTH - 2)] } }),
      reading({ id: "b" }),
    ];
    const batch = canonicalReadings(items, NOW);
    expect(codes(batch)).toEqual([[1, "invalid_field"], [3, "invalid_field"]]);
    expect(batch.rejected[0].message).toBe(`reading is nested deeper than ${MAX_ITEM_DEPTH} levels`);
    expect(batch.readings.map((r) => r.id)).toEqual(["a", "at-limit", "b"]);
  });

  it("reads a 16-byte BigInt extension as the server decodes it: converted, then judged", () => {
    // msgpackr's BigInt extension (0x42), written by a client with useBigIntExtension.
    const client = new Packr({ useRecords: false, useBigIntExtension: true });
    const body = client.pack([reading({ value: 2n ** 100n }), reading({ value: -(2n ** 1100n) }), reading({ value: 72n }), reading()]);
    expect(body.includes(Buffer.from([0xd8, 0x42]))).toBe(true); // fixext 16, type 0x42
    const items = decode(body, "msgpack") as unknown[];
    expect(typeof (items[0] as { value: unknown }).value).toBe("bigint");
    const batch = canonicalReadings(items, NOW);
    expect(codes(batch)).toEqual([[0, "implausible_value"], [1, "not_a_number"]]);
    expect(batch.readings.map((r) => [r.index, r.value])).toEqual([[2, 72], [3, 72.5]]);
    expectJournalFidelity(batch);
  });

  it("refuses times a Date cannot hold or that are not whole, without a RangeError", () => {
    const times = [8640000000000001, 1e20, -1e20, 1.5, Number.MAX_SAFE_INTEGER, new Date(NaN), "0099-06-01T00:00:00Z", "9999-12-31T23:59:59Z"];
    const items = [reading(), ...times.map((time) => reading({ time })), reading({ time: NOW + FUTURE_TOLERANCE_MS })];
    const batch = canonicalReadings(items, NOW);
    expect(codes(batch)).toEqual(times.map((_, i) => [i + 1, "invalid_time"]));
    expect(accepted(batch)).toEqual([0, times.length + 1]);
    expect(batch.rejected[0].message).toBe("time 8640000000000001 is more than 5 minutes in the future");
    expect(batch.rejected[1].message).toContain("is not epoch ms");
    expect(batch.rejected[6].message).toContain("before 1980"); // year 99, not 1999
    expect(batch.rejected[7].message).toBe("time 9999-12-31T23:59:59.000Z is more than 5 minutes in the future");
  });

  it("writes −0 as 0, as the journal will read it back", () => {
    const batch = canonicalReadings([reading({ metric: "crp", unit: "mg/L", value: -0 })], NOW);
    expect(Object.is(batch.readings[0].value, 0)).toBe(true);
    expectJournalFidelity(batch);
  });

  it("an exception from the item itself (a throwing getter) is internal_error for that item only", () => {
    const hostile = reading();
    Object.defineProperty(hostile, "patient", { enumerable: true, get: () => { throw new Error("boom: secret input"); } });
    const deepHostile = reading({ extra: {} });
    Object.defineProperty(deepHostile.extra, "x", { enumerable: true, get: () => { throw new TypeError("nope"); } });
    const batch = canonicalReadings([reading({ id: "a" }), hostile, deepHostile, reading({ id: "b" })], NOW);
    expect(codes(batch)).toEqual([[1, "internal_error"], [2, "internal_error"]]);
    expect(batch.rejected[0].message).toBe("internal error while validating this item");
    expect(batch.readings.map((r) => r.id)).toEqual(["a", "b"]);
  });
});

describe("canonicalReadings: the canonical reading", () => {
  it("holds only the checked fields, in the canonical unit, and omits absent optional ones", () => {
    const batch = canonicalReadings(
      [
        reading({ value: 185, unit: "[lb_av]", time: "2026-01-15T11:00:00+01:00", id: "m-1", device: "scale-7", extra: { a: 1 }, note: "x" }),
        reading({ metric: "2708-6", value: "0.95", unit: "1", id: null, device: undefined, unknown: [1, 2] }),
      ],
      NOW,
    );
    expect(batch.readings).toStrictEqual([
      { index: 0, patient: "p1", metric: "weight", value: 185 * 0.45359237, time: T_MS, id: "m-1", device: "scale-7" },
      { index: 1, patient: "p1", metric: "spo2", value: 95, time: T_MS },
    ]);
    expect(Object.keys(batch.readings[1])).toEqual(["index", "patient", "metric", "value", "time"]);
  });

  it("attributes a unit_mismatch to the reading's patient and metric key (for a clinician review)", () => {
    const batch = canonicalReadings(
      [reading({ patient: "p7", metric: "NPU03804", unit: "lb" }), reading({ metric: "2339-0", unit: undefined, value: 108 }), reading({ metric: "temp", value: "x", unit: "C" })],
      NOW,
    );
    expect(batch.rejected).toStrictEqual([
      { index: 0, code: "unit_mismatch", message: "unit 'lb' is not accepted for weight (accepted: kg, g, [lb_av])", patient: "p7", metric: "weight" },
      { index: 1, code: "unit_mismatch", message: "metric code '2339-0' denotes mg/dL: send the unit explicitly", patient: "p1", metric: "glucose" },
      { index: 2, code: "not_a_number", message: 'value "x" is not a number' },
    ]);
  });
});

// ---- properties ----

// "binary" strings may hold lone surrogates, but only 2 048 of its 1.1 M code points are one: add them on purpose.
const binaryText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.tuple(fc.string({ unit: "binary", maxLength: 6 }), fc.constantFrom("\ud800", "\udfff", "\u0000", "\u007f", "\ud83d\ude00")).map(([a, b]) => a + b),
);
const metricRef = fc.constantFrom(...METRICS.map((m) => m.key), "29463-7", "http://loinc.org|2339-0", "MCS88019", "height", "toString");
const unit = fc.constantFrom("kg", "g", "[lb_av]", "lb", "%", "1", "mg/dL", "mmol/L", "mm[Hg]", "kPa", "Cel", "");
const time = fc.oneof(
  fc.integer({ min: EARLIEST_TIME_MS - 10, max: NOW + FUTURE_TOLERANCE_MS + 10 }),
  fc.double(),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom("2026-01-15T10:00:00Z", "2026-01-15", "0099-01-01", "2026-02-30", "now", 8640000000000001, 1e20),
  binaryText,
);
const value = fc.oneof(fc.double(), fc.integer({ min: -10, max: 500 }), fc.bigInt(), fc.constantFrom("72.5", "1e400", "-0", " 95 "), binaryText);
const text = fc.oneof(fc.constantFrom("p1", "p2", "m-1"), binaryText, fc.string({ unit: "grapheme", maxLength: 300 }));

const rawReading = fc.record(
  {
    patient: fc.oneof(text, fc.anything()),
    metric: fc.oneof(metricRef, binaryText, fc.anything()),
    value: fc.oneof(value, fc.anything()),
    unit: fc.oneof(unit, binaryText, fc.constant(null)),
    time: fc.oneof(time, fc.anything()),
    id: fc.oneof(text, fc.constant(null)),
    device: text,
    extra: fc.anything(), // an unknown field
  },
  { requiredKeys: ["patient", "metric", "value", "time"] },
);
const validReading = fc.record(
  {
    patient: fc.constantFrom("p1", "p2", "urn:uuid:1"),
    metric: fc.constantFrom("weight", "pulse", "spo2"),
    value: fc.integer({ min: 60, max: 100 }),
    time: fc.integer({ min: EARLIEST_TIME_MS, max: NOW }),
    id: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }),
  },
  { requiredKeys: ["patient", "metric", "value", "time"] },
);
const item = fc.oneof(rawReading, validReading, fc.anything({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }));

/** What every canonical batch must be, whatever came in. */
function expectWellMade(batch: CanonicalBatch): void {
  for (const r of batch.readings) {
    for (const s of [r.patient, r.id, r.device]) if (s !== undefined) expect(textProblem(s)).toBeUndefined();
    expect(Number.isFinite(r.value)).toBe(true);
    expect(Number.isSafeInteger(r.time) && r.time >= EARLIEST_TIME_MS && r.time <= NOW + FUTURE_TOLERANCE_MS).toBe(true);
  }
  for (const r of batch.rejected) {
    expect(r.message.length).toBeGreaterThan(0);
    expect(r.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(r.message.search(/[\ud800-\udfff]/u)).toBe(-1);
  }
  const indexes = batch.rejected.map((r) => r.index);
  expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  expectJournalFidelity(batch);
}

describe("properties", () => {
  it("canonicalReadings never throws, answers each item exactly once, and the journal keeps the batch exactly", () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), (items) => {
        const batch = canonicalReadings(items, NOW);
        expect(batch.items).toBe(items.length);
        const answered = [...accepted(batch), ...batch.rejected.map((r) => r.index)].sort((a, b) => a - b);
        expect(answered).toEqual(items.map((_, i) => i));
        expect(batch.invalidations).toEqual([]);
        expectWellMade(batch);
      }),
      { numRuns: 500 },
    );
  });

  const coding = fc.oneof(
    fc.constantFrom(
      { system: "http://loinc.org", code: "8867-4" },
      { system: "http://loinc.org", code: "29463-7" },
      { system: "http://loinc.org", code: "85354-9" },
      { system: "http://loinc.org", code: "8480-6" },
      { system: "http://snomed.info/sct", code: "27113001" },
    ),
    fc.record({ system: binaryText, code: binaryText }),
  );
  const quantity = fc.record(
    { value: fc.oneof(value, fc.anything()), code: fc.oneof(unit, binaryText), unit: binaryText, system: fc.constantFrom("http://unitsofmeasure.org", "urn:iso:std:iso:11073:10101"), comparator: fc.constant("<") },
    { requiredKeys: ["value"] },
  );
  const observable = { code: fc.record({ coding: fc.array(coding, { maxLength: 3 }) }), valueQuantity: quantity };
  const observation = fc.record(
    {
      resourceType: fc.constantFrom("Observation", "Observation", "Patient"),
      id: text,
      status: fc.constantFrom("final", "amended", "cancelled", "entered-in-error", "registered", "unknown"),
      identifier: fc.array(fc.record({ value: text }), { maxLength: 1 }),
      subject: fc.oneof(
        fc.record({ reference: fc.oneof(fc.constantFrom("Patient/p1", "Group/x", "urn:uuid:2"), text.map((t) => `Patient/${t}`)) }),
        fc.record({ identifier: fc.record({ value: text }) }),
      ),
      effectiveDateTime: fc.oneof(fc.constantFrom("2026-01-15T10:00:00Z", "2026-01-15", "9999-01-01", "x"), binaryText),
      ...observable,
      component: fc.array(fc.record(observable, { requiredKeys: [] }), { maxLength: 3 }),
      device: fc.record({ reference: text }),
      dataAbsentReason: fc.record({ text: binaryText }),
    },
    { requiredKeys: ["resourceType", "status", "code", "subject", "effectiveDateTime"] },
  );
  const loinc = (code: string) => ({ coding: [{ system: "http://loinc.org", code }] });
  const goodQuantity = fc.record({ value: fc.integer({ min: 40, max: 100 }), code: fc.constantFrom("/min", "kg", "mm[Hg]", "kPa", "bpm", "lb") });
  const goodObservation = fc.record({
    resourceType: fc.constant("Observation"),
    status: fc.constantFrom("final", "cancelled"),
    identifier: fc.array(fc.record({ value: text }), { maxLength: 1 }),
    subject: fc.record({ reference: fc.constantFrom("Patient/p1", "Patient/p2") }),
    effectiveDateTime: fc.constant("2026-01-15T10:00:00Z"),
    code: fc.constantFrom(loinc("8867-4"), loinc("29463-7"), loinc("85354-9")),
    valueQuantity: goodQuantity,
    component: fc.array(fc.record({ code: fc.constantFrom(loinc("8480-6"), loinc("8462-4")), valueQuantity: goodQuantity }), { maxLength: 2 }),
  });
  const entry = fc.oneof(fc.record({ resource: goodObservation }), fc.record({ resource: observation }), fc.anything({ maxDepth: 3 }));

  it("canonicalFhir never throws on a Bundle, answers every entry, and the journal keeps the batch exactly", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
        const batch = canonicalFhir({ resourceType: "Bundle", type: "collection", entry: entries }, NOW);
        expect(batch.items).toBe(entries.length);
        const answered = new Set([...accepted(batch), ...batch.rejected.map((r) => r.index), ...batch.invalidations.map((i) => i.index)]);
        expect([...answered].sort((a, b) => a - b)).toEqual(entries.map((_, i) => i));
        for (const inv of batch.invalidations) {
          for (const s of [inv.id, inv.patient]) if (s !== undefined) expect(textProblem(s)).toBeUndefined();
        }
        for (const r of batch.rejected) {
          if (r.patient !== undefined) expect(r.code).toBe("unit_mismatch");
        }
        expectWellMade(batch);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- decoder nesting limits ----

function thrownCode(run: () => unknown): [ErrorCode, number] | "no error" {
  try {
    run();
  } catch (e) {
    if (e instanceof VarselError) return [e.code, e.status];
    throw e;
  }
  return "no error";
}

const json = (text: string) => Buffer.from(text, "utf8");

describe("server/codec: nesting limits", () => {
  it(`refuses JSON nested deeper than ${MAX_DOCUMENT_DEPTH} levels before parsing it`, () => {
    expect(MAX_DOCUMENT_DEPTH).toBe(10_000);
    const deep = (n: number) => json(`${"[".repeat(n)}${"]".repeat(n)}`);
    expect(thrownCode(() => decode(deep(MAX_DOCUMENT_DEPTH + 1), "json"))).toEqual(["nesting_too_deep", 400]);
    expect(thrownCode(() => decode(json(`${'{"a":'.repeat(MAX_DOCUMENT_DEPTH + 1)}1${"}".repeat(MAX_DOCUMENT_DEPTH + 1)}`), "json"))).toEqual(["nesting_too_deep", 400]);
    expect(thrownCode(() => decode(deep(MAX_DOCUMENT_DEPTH), "json"))).toBe("no error");
  });

  it("ignores brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify([{ s: `\\"${"[".repeat(MAX_DOCUMENT_DEPTH + 5)}`, t: '"{{{' }]);
    expect(decode(json(text), "json")).toEqual(JSON.parse(text));
    expect(thrownCode(() => decode(json(`["${"[".repeat(20_000)}`), "json"))).toEqual(["malformed_json", 400]);
  });

  it("decodes a body 9 999 levels deep inside one reading; that reading alone is refused", () => {
    const body = json(`[${JSON.stringify(reading({ id: "a" }))},{"patient":"p1","metric":"weight","value":72,"time":${T_MS},"x":${"[".repeat(9_997)}${"]".repeat(9_997)}},${JSON.stringify(reading({ id: "b" }))}]`);
    const items = decode(body, "json") as unknown[];
    const batch = canonicalReadings(items, NOW);
    expect(codes(batch)).toEqual([[1, "invalid_field"]]);
    expect(batch.readings.map((r) => r.id)).toEqual(["a", "b"]);
  });

  it(`refuses MessagePack nested deeper than ${MAX_MSGPACK_DEPTH} levels (msgpackr's decoder recurses)`, () => {
    const arrays = (n: number) => Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0xc0])]); // [[[…nil…]]]
    const maps = (n: number) => Buffer.concat([...Array.from({ length: n }, () => Buffer.from([0x81, 0xa1, 0x61])), Buffer.from([0xc0])]); // {a:{a:…}}
    expect(thrownCode(() => decode(arrays(MAX_MSGPACK_DEPTH + 1), "msgpack"))).toEqual(["nesting_too_deep", 400]);
    expect(thrownCode(() => decode(maps(MAX_MSGPACK_DEPTH + 1), "msgpack"))).toEqual(["nesting_too_deep", 400]);
    expect(thrownCode(() => decode(arrays(MAX_MSGPACK_DEPTH), "msgpack"))).toBe("no error");
    expect(thrownCode(() => decode(maps(MAX_MSGPACK_DEPTH), "msgpack"))).toBe("no error");
    expect(thrownCode(() => decode(arrays(1_000_000), "msgpack"))).toEqual(["nesting_too_deep", 400]);
  });

  it("skips MessagePack payloads and counts wide containers correctly", () => {
    const packr = new Packr({ useRecords: false });
    const wide = packr.pack({ readings: Array.from({ length: 3000 }, (_, i) => reading({ id: `m-${i}`, blob: Buffer.alloc(300, 0x91), at: new Date(T_MS) })) });
    expect((decode(wide, "msgpack") as { readings: unknown[] }).readings).toHaveLength(3000);
    const bin32 = Buffer.concat([Buffer.from([0xc6, 0, 0, 0x07, 0xd0]), Buffer.alloc(2000, 0x91)]); // 2 000 bytes that look like arrays
    expect(decode(Buffer.concat([Buffer.from([0x91]), bin32]), "msgpack")).toHaveLength(1);
    for (const truncated of [Buffer.from([0xdd, 0xff]), Buffer.concat([Buffer.from([0x92]), bin32, Buffer.from([0xdb, 0xff])])]) {
      expect(thrownCode(() => decode(truncated, "msgpack"))).toEqual(["malformed_msgpack", 400]);
    }
  });

  it("answers nesting_too_deep when msgpackr's own extensions nest past the pre-scan (stack overflow caught)", () => {
    // Set extension (fixext 1, type 0x73, filler) wrapping a one-element array, 100 000 times.
    const sets = Buffer.concat([Buffer.alloc(100_000 * 4).fill(Buffer.from([0xd4, 0x73, 0x00, 0x91])), Buffer.from([0xc0])]);
    expect(thrownCode(() => decode(sets, "msgpack"))).toEqual(["nesting_too_deep", 400]);
    expect(decode(Buffer.from([0x91, 0x01]), "msgpack")).toEqual([1]); // and the decoder is fine afterwards
  });
});
