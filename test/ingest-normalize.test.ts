import { describe, expect, it } from "vitest";
import { ERRORS, VarselError, errorBody, isErrorCode, statusOf, type ErrorCode } from "../engine/errors.js";
import { METRICS } from "../engine/metrics.js";
import { canonicalReadings, type CanonicalBatch, type CanonicalReading } from "../engine/ingest/canonical.js";
import { EARLIEST_TIME_MS, FUTURE_TOLERANCE_MS, MAX_TEXT_LENGTH, parseIsoTime, type RawReading } from "../engine/ingest/normalize.js";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const T = "2026-01-15T10:00:00Z";
const T_MS = Date.UTC(2026, 0, 15, 10, 0, 0);

function raw(over: RawReading = {}): RawReading {
  return { patient: "p1", metric: "weight", value: 72.5, unit: "kg", time: T, ...over };
}

/** One reading validated the production way: a batch of one at NOW. */
function one(r: unknown): CanonicalBatch {
  const out = canonicalReadings([r], NOW);
  expect(out.readings.length + out.rejected.length).toBe(1);
  return out;
}

/** The rejection code of a batch of one, or "accepted". */
function outcome(r: unknown): ErrorCode | "accepted" {
  const out = one(r);
  return out.rejected.length === 0 ? "accepted" : out.rejected[0].code;
}

function accept(r: RawReading): CanonicalReading {
  const out = one(r);
  if (out.rejected.length > 0) throw new Error(`rejected: ${out.rejected[0].code}: ${out.rejected[0].message}`);
  return out.readings[0];
}

function rejectCode(r: unknown): ErrorCode {
  const out = one(r);
  if (out.readings.length > 0) throw new Error(`accepted: ${JSON.stringify(out.readings[0])}`);
  expect(out.rejected[0].index).toBe(0);
  expect(out.rejected[0].message.length).toBeGreaterThan(0);
  return out.rejected[0].code;
}

describe("one reading: accepted", () => {
  it("returns the canonical reading with its index and epoch ms", () => {
    expect(accept(raw({ id: "m-1", device: "scale-7" }))).toStrictEqual({
      index: 0, patient: "p1", metric: "weight", value: 72.5, time: T_MS, id: "m-1", device: "scale-7",
    });
  });

  it("leaves id and device out when not given", () => {
    const r = accept(raw());
    expect("id" in r).toBe(false);
    expect("device" in r).toBe(false);
  });

  it("reads an omitted (or null) unit as the canonical unit", () => {
    expect(accept(raw({ unit: undefined })).value).toBe(72.5);
    expect(accept(raw({ unit: null })).value).toBe(72.5);
    expect(accept(raw({ metric: "spo2", value: 97, unit: undefined })).value).toBe(97);
  });

  it("names the metric by key, bare code or system|code", () => {
    expect(accept(raw({ metric: "NPU03804" })).metric).toBe("weight");
    expect(accept(raw({ metric: "29463-7" })).metric).toBe("weight");
    expect(accept(raw({ metric: "188736" })).metric).toBe("weight");
    expect(accept(raw({ metric: "http://loinc.org|29463-7" })).metric).toBe("weight");
    const bp = accept(raw({ metric: "urn:oid:1.2.208.184.100.8|MCS88019", value: 120, unit: "mm[Hg]" }));
    expect(bp.metric).toBe("bp_sys");
  });

  it("converts every accepted unit to canonical", () => {
    expect(accept(raw({ value: 185, unit: "[lb_av]" })).value).toBeCloseTo(83.91458845, 10);
    expect(accept(raw({ value: 72500, unit: "g" })).value).toBe(72.5);
    expect(accept(raw({ metric: "glucose", value: 180.16, unit: "mg/dL" })).value).toBe(10);
    expect(accept(raw({ metric: "cgm", value: 180.16, unit: "mg/dL" })).value).toBe(10);
    expect(accept(raw({ metric: "bp_sys", value: 15, unit: "kPa" })).value).toBeCloseTo(112.5093, 10);
    expect(accept(raw({ metric: "temp", value: 100, unit: "[degF]" })).value).toBeCloseTo(37.7777777778, 9);
    expect(accept(raw({ metric: "spo2", value: 0.95, unit: "1" })).value).toBe(95);
    expect(accept(raw({ metric: "fev1", value: 2100, unit: "mL" })).value).toBe(2.1);
    expect(accept(raw({ metric: "tcco2", value: 52.50434, unit: "mm[Hg]" })).value).toBeCloseTo(7, 10);
    expect(accept(raw({ metric: "bp_dia", value: 80, unit: "mmHg" })).value).toBe(80);
    expect(accept(raw({ metric: "temp", value: 37.2, unit: "°C" })).value).toBe(37.2);
  });

  it("accepts a decimal string and a bigint value", () => {
    expect(accept(raw({ value: "72.5" })).value).toBe(72.5);
    expect(accept(raw({ value: " 7.25e1 " })).value).toBe(72.5);
    expect(accept(raw({ value: 72n })).value).toBe(72);
  });

  it("converts a bigint beyond the safe range with Number(), then judges it", () => {
    expect(rejectCode(raw({ value: 2n ** 100n }))).toBe("implausible_value");
    expect(rejectCode(raw({ value: -(2n ** 1100n) }))).toBe("not_a_number");
    expect(Object.is(accept(raw({ metric: "crp", unit: "mg/L", value: "-0" })).value, 0)).toBe(true);
  });

  it("accepts both ends of every envelope and rejects just outside", () => {
    for (const m of METRICS) {
      const step = m.integer ? 1 : 1e-6;
      const at = (value: number) => outcome(raw({ metric: m.key, unit: m.unit, value }));
      expect(at(m.min), `${m.key} min`).toBe("accepted");
      expect(at(m.max), `${m.key} max`).toBe("accepted");
      for (const v of [m.min - step, m.max + step]) expect(at(v), `${m.key} ${v}`).toBe("implausible_value");
    }
  });

  it("judges plausibility after conversion", () => {
    expect(accept(raw({ metric: "spo2", value: 0.5, unit: "1" })).value).toBe(50);
    expect(rejectCode(raw({ metric: "spo2", value: 0.49, unit: "1" }))).toBe("implausible_value");
    expect(rejectCode(raw({ metric: "spo2", value: 95, unit: "1" }))).toBe("implausible_value");
    expect(accept(raw({ value: 400 / 0.45359237, unit: "[lb_av]" })).value).toBeCloseTo(400, 9);
    expect(rejectCode(raw({ value: 900, unit: "[lb_av]" }))).toBe("implausible_value");
    expect(rejectCode(raw({ metric: "cgm", value: 15, unit: "mg/dL" }))).toBe("implausible_value");
    expect(rejectCode(raw({ value: 72.5, unit: "g" }))).toBe("implausible_value");
  });

  it("rejects a fractional score", () => {
    expect(rejectCode(raw({ metric: "mrc", unit: undefined, value: 2.5 }))).toBe("implausible_value");
    expect(accept(raw({ metric: "MCS88137", unit: "{score}", value: 17 })).value).toBe(17);
  });
});

describe("one reading: time", () => {
  it("reads ISO 8601 with Z or an offset, and epoch ms", () => {
    expect(accept(raw({ time: "2014-12-05T09:30:10+01:00" })).time).toBe(Date.UTC(2014, 11, 5, 8, 30, 10));
    expect(accept(raw({ time: "2014-12-05T09:30:10-03:30" })).time).toBe(Date.UTC(2014, 11, 5, 13, 0, 10));
    expect(accept(raw({ time: "2026-01-15T10:00Z" })).time).toBe(T_MS);
    expect(accept(raw({ time: "2026-01-15T10:00:00.1239Z" })).time).toBe(T_MS + 123);
    expect(accept(raw({ time: T_MS })).time).toBe(T_MS);
    expect(accept(raw({ time: new Date(T_MS) })).time).toBe(T_MS);
  });

  it("reads a date alone as 00:00 UTC that day", () => {
    expect(accept(raw({ time: "2012-09-17" })).time).toBe(Date.UTC(2012, 8, 17));
    expect(accept(raw({ time: "2024-02-29" })).time).toBe(Date.UTC(2024, 1, 29));
  });

  it("accepts old times as history, back to 1980", () => {
    expect(accept(raw({ time: "1999-07-02" })).time).toBe(Date.UTC(1999, 6, 2));
    expect(accept(raw({ time: EARLIEST_TIME_MS })).time).toBe(EARLIEST_TIME_MS);
    expect(rejectCode(raw({ time: EARLIEST_TIME_MS - 1 }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: Math.floor(NOW / 1000) }))).toBe("invalid_time"); // epoch seconds
  });

  it("accepts up to 5 minutes in the future, inclusive", () => {
    expect(FUTURE_TOLERANCE_MS).toBe(300_000);
    expect(accept(raw({ time: NOW + FUTURE_TOLERANCE_MS })).time).toBe(NOW + 300_000);
    expect(rejectCode(raw({ time: NOW + FUTURE_TOLERANCE_MS + 1 }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: "2026-01-15T12:05:01Z" }))).toBe("invalid_time");
    expect(accept(raw({ time: "2026-01-15T13:05:00+01:00" })).time).toBe(NOW + 300_000);
  });

  it.each([
    "yesterday", "2026-01-15 10:00:00Z", "2026-01-15T10:00:00", "2026-01-15T10:00:00+0100", "2024-02-30",
    "2023-02-29", "2024-13-01", "2024-00-10", "2024-05-01T24:00:00Z", "2024-05-01T10:60:00Z",
    "2024-05-01T10:00:61Z", "2024-05-01T10:00:00+15:00", "2024", "2024-05", "1700000000000", "Jan 15 2026",
  ])("rejects time %j", (time) => {
    expect(rejectCode(raw({ time }))).toBe("invalid_time");
  });

  it("rejects a fractional, non-finite or non-time value", () => {
    expect(rejectCode(raw({ time: T_MS + 0.5 }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: NaN }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: Infinity }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: new Date(NaN) }))).toBe("invalid_time");
    expect(rejectCode(raw({ time: true }))).toBe("invalid_time");
  });

  it("parseIsoTime gives undefined for non-ISO text", () => {
    expect(parseIsoTime("2026-01-15T10:00:00Z")).toBe(T_MS);
    expect(parseIsoTime("15/01/2026")).toBeUndefined();
  });

  it("parseIsoTime reads years 0–99 as written (Date.UTC would make them 1900–1999) and knows leap years", () => {
    for (const s of ["0099-06-01T00:00:00Z", "0000-02-29T12:00:00+01:00", "0001-01-01", "1999-12-31T23:59:59.999Z", "9999-12-31"]) {
      expect(parseIsoTime(s), s).toBe(new Date(s.length === 10 ? `${s}T00:00:00Z` : s).getTime());
    }
    expect(parseIsoTime("2000-02-29")).toBe(Date.UTC(2000, 1, 29));
    expect(parseIsoTime("2100-02-29")).toBeUndefined();
    expect(parseIsoTime("2024-04-31")).toBeUndefined();
  });

  it("accepts only safe-integer times and never formats an out-of-range one as a date", () => {
    for (const time of [8640000000000001, Number.MAX_SAFE_INTEGER, 1e20, -1e20, -8640000000000001, 2 ** 53, "0099-06-01T00:00:00Z"]) {
      expect(outcome(raw({ time })), String(time)).toBe("invalid_time");
    }
    const future = one(raw({ time: new Date(NOW + 3_600_000) }));
    expect(future.rejected[0]?.message).toBe("time 2026-01-15T13:00:00.000Z is more than 5 minutes in the future");
    const invalid = one(raw({ time: new Date(NaN) }));
    expect(invalid.rejected[0]?.message).toContain("an invalid Date");
  });
});

describe("one reading: rejected", () => {
  it.each([
    ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity], ["letters", "abc"], ["decimal comma", "72,5"],
    ["empty string", ""], ["blank string", "  "], ["'NaN'", "NaN"], ["'Infinity'", "Infinity"], ["hex", "0x48"],
    ["boolean", true], ["object", { value: 72 }], ["array", [72]], ["overflowing string", "1e400"],
  ])("not_a_number: %s", (_name, value) => {
    expect(rejectCode(raw({ value }))).toBe("not_a_number");
  });

  it.each(["patient", "metric", "value", "time"] as const)("missing_field: %s", (field) => {
    expect(rejectCode(raw({ [field]: undefined }))).toBe("missing_field");
    expect(rejectCode(raw({ [field]: null }))).toBe("missing_field");
  });

  it("missing_field: empty patient", () => {
    expect(rejectCode(raw({ patient: "" }))).toBe("missing_field");
  });

  it("invalid_field: not an object, or a field of the wrong type or size", () => {
    expect(rejectCode(null)).toBe("invalid_field");
    expect(rejectCode([raw()])).toBe("invalid_field");
    expect(rejectCode("weight 72")).toBe("invalid_field");
    expect(rejectCode(raw({ patient: 42 }))).toBe("invalid_field");
    expect(rejectCode(raw({ metric: 150456 }))).toBe("invalid_field");
    expect(rejectCode(raw({ id: 7 }))).toBe("invalid_field");
    expect(rejectCode(raw({ id: "" }))).toBe("invalid_field");
    expect(rejectCode(raw({ device: {} }))).toBe("invalid_field");
    expect(rejectCode(raw({ unit: 1 }))).toBe("invalid_field");
    expect(rejectCode(raw({ patient: "p".repeat(MAX_TEXT_LENGTH + 1) }))).toBe("invalid_field");
    expect(accept(raw({ id: "i".repeat(MAX_TEXT_LENGTH) })).id).toHaveLength(MAX_TEXT_LENGTH);
  });

  it("invalid_field: text with a lone surrogate or a control character, in any text field", () => {
    for (const field of ["patient", "metric", "id", "device", "unit"]) {
      for (const bad of ["k\ud800", "\udc00k", "a\u0000b", "\u001f", "x\u007f"]) {
        expect(rejectCode(raw({ [field]: bad })), `${field} ${JSON.stringify(bad)}`).toBe("invalid_field");
      }
    }
    expect(rejectCode(raw({ unit: "k".repeat(MAX_TEXT_LENGTH + 1) }))).toBe("invalid_field");
    expect(accept(raw({ id: "måling 7 \ud83d\ude00", device: "vægt\u0080" })).id).toBe("måling 7 \ud83d\ude00");
  });

  it.each(["height", "Weight", "85354-9", "150020", "http://loinc.org|99999-9", "http://snomed.info/sct|27113001", "toString"])(
    "unknown_metric: %j",
    (metric) => {
      expect(rejectCode(raw({ metric }))).toBe("unknown_metric");
    },
  );

  it.each([
    ["weight", "lb"], ["weight", "lbs"], ["weight", ""], ["temp", "C"], ["pulse", "bpm"], ["spo2", "mmol/L"],
    ["glucose", "mg/L"], ["tcco2", "cm[H2O]"],
  ])("unit_mismatch: %s in %j", (metric, unit) => {
    expect(rejectCode(raw({ metric, unit, value: 50 }))).toBe("unit_mismatch");
  });

  it("unit_mismatch: a mass-concentration glucose code without a unit (never a guess)", () => {
    const out = one(raw({ metric: "2339-0", unit: undefined, value: 6.5 }));
    expect(out.rejected[0]?.code).toBe("unit_mismatch");
    expect(out.rejected[0]?.message).toContain("mg/dL");
    expect(accept(raw({ metric: "2339-0", unit: "mmol/L", value: 6.5 })).value).toBe(6.5);
    expect(accept(raw({ metric: "99504-3", unit: "mg/dL", value: 180.16 })).value).toBe(10);
    expect(accept(raw({ metric: "NPU02187", unit: undefined, value: 6.5 })).value).toBe(6.5);
  });

  it("says what was wrong in the message", () => {
    expect(one(raw({ metric: "temp", unit: "C", value: 37 }))).toStrictEqual({
      items: 1,
      readings: [],
      rejected: [{ index: 0, code: "unit_mismatch", message: "unit 'C' is not accepted for temp (accepted: Cel, [degF])", patient: "p1", metric: "temp" }],
      invalidations: [],
    });
  });
});

describe("canonicalReadings", () => {
  it("keeps the valid items and reports each bad one with its index and code", () => {
    const items: unknown[] = [
      raw({ id: "a" }),
      raw({ value: NaN, id: "b" }), // msgpack can carry NaN
      raw({ metric: "spo2", value: 101, unit: "%", id: "c" }),
      raw({ metric: "height", id: "d" }),
      raw({ metric: "temp", value: 37, unit: "K", id: "e" }),
      raw({ metric: "pulse", value: 64, unit: "/min", id: "f" }),
      raw({ time: "last tuesday", id: "g" }),
      null,
      raw({ patient: undefined, id: "i" }),
      raw({ metric: "glucose", value: 108, unit: "mg/dL", id: "j" }),
    ];
    const out = canonicalReadings(items, NOW);
    expect(out.items).toBe(10);
    expect(out.readings.map((r) => [r.index, r.id])).toEqual([[0, "a"], [5, "f"], [9, "j"]]);
    expect(out.readings[2].value).toBeCloseTo(108 / 18.016, 12);
    expect(out.rejected.map(({ index, code }) => [index, code])).toEqual([
      [1, "not_a_number"],
      [2, "implausible_value"],
      [3, "unknown_metric"],
      [4, "unit_mismatch"],
      [6, "invalid_time"],
      [7, "invalid_field"],
      [8, "missing_field"],
    ]);
    for (const r of out.rejected) expect(r.message).not.toBe("");
  });

  it("handles an empty batch and an all-bad batch", () => {
    expect(canonicalReadings([], NOW)).toEqual({ items: 0, readings: [], rejected: [], invalidations: [] });
    const out = canonicalReadings([1, "x"], NOW);
    expect(out.readings).toEqual([]);
    expect(out.rejected.map((r) => r.index)).toEqual([0, 1]);
  });
});

describe("error catalogue", () => {
  const required = [
    "not_a_number", "implausible_value", "unknown_metric", "unit_mismatch", "missing_field", "invalid_time",
    "unknown_patient", "malformed_json", "malformed_msgpack", "unsupported_media_type", "payload_too_large",
    "batch_too_large", "invalid_fhir", "unsupported_fhir_resource", "observation_cancelled", "value_absent",
    "duplicate_measurement", "forbidden", "unauthorized", "token_expired", "not_found", "invalid_threshold",
    "store_unavailable", "rate_limited", "resync_required", "internal_error",
  ];

  it("holds every required code, snake_case, with a message and an HTTP status", () => {
    for (const code of required) expect(isErrorCode(code), code).toBe(true);
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(spec.message.length).toBeGreaterThan(0);
      expect(Number.isInteger(spec.status) && spec.status >= 200 && spec.status <= 599).toBe(true);
    }
    expect(isErrorCode("nope")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
  });

  it("maps the codes to their HTTP statuses", () => {
    const statuses: Record<string, number> = {
      malformed_json: 400, unauthorized: 401, token_expired: 401, forbidden: 403, not_found: 404,
      duplicate_measurement: 409, resync_required: 410, payload_too_large: 413, batch_too_large: 413,
      unsupported_media_type: 415, unit_mismatch: 422, implausible_value: 422, rate_limited: 429,
      internal_error: 500, store_unavailable: 503, value_absent: 200, observation_cancelled: 200,
    };
    for (const [code, status] of Object.entries(statuses)) expect(statusOf(code as ErrorCode), code).toBe(status);
  });

  it("builds error bodies and errors from the catalogue", () => {
    expect(errorBody("not_found")).toEqual({ code: "not_found", message: "not found" });
    expect(errorBody("unit_mismatch", "unit 'lb' is not accepted", { unit: "lb" })).toEqual({
      code: "unit_mismatch", message: "unit 'lb' is not accepted", details: { unit: "lb" },
    });
    const e = new VarselError("rate_limited", undefined, { retryAfterMs: 1000 });
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.status, e.message]).toEqual(["VarselError", "rate_limited", 429, "too many requests"]);
    expect(e.toBody()).toEqual({ code: "rate_limited", message: "too many requests", details: { retryAfterMs: 1000 } });
  });
});
