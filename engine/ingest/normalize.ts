// Validates one raw reading and converts it to canonical form (metric index, canonical unit,
// epoch ms), or says why not with a catalogued error code. Pure: the clock is an argument.
//
// Decisions (see also the JSDoc of each function):
// - unit omitted (undefined or null) = the metric's canonical unit, except when the metric is
//   named by a code that itself denotes another unit (LOINC 2339-0 is mg/dL): then the unit
//   must be sent, `unit_mismatch` otherwise. An empty unit string is not "omitted".
// - value: a finite number, a bigint, or a plain decimal string ("72.5"); decimal comma,
//   hex, "NaN", "Infinity" and whitespace-only are `not_a_number`. A bigint beyond the safe
//   range is converted with Number() and judged like any number (plausibility, or
//   `not_a_number` when it overflows to ±Infinity). −0 is 0.
// - time: epoch ms (integer), a Date (msgpack timestamps decode to Date), or an ISO 8601 /
//   FHIR dateTime string `YYYY-MM-DD` (00:00 UTC that day) or `YYYY-MM-DDThh:mm[:ss[.fff]]`
//   with `Z` or `±hh:mm` (required: a local time without offset is ambiguous). At most
//   FUTURE_TOLERANCE_MS ahead of `now` (inclusive); old times are history and accepted back to
//   EARLIEST_TIME_MS, which also catches epoch seconds sent as milliseconds. The result is
//   always a safe integer in that range; messages never format an out-of-range time as a date.
// - text (patient, metric, id, device, unit): well-formed Unicode without control characters
//   (engine/ingest/text.ts says why), at most MAX_TEXT_LENGTH long; else `invalid_field`.
//   Echoed input in messages is clipped to ECHO_LENGTH characters.

import type { ErrorCode } from "../errors.js";
import { converterFor, isPlausible, resolveMetric, type Metric, type MetricKey } from "../metrics.js";
import { Refusal, refuse } from "./refusal.js";
import { clip, textProblem } from "./text.js";

/** How far ahead of `now` a reading's time may lie (device clocks drift). */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** Earliest accepted time, 1980-01-01T00:00Z: earlier is a clock or seconds-vs-ms error. */
export const EARLIEST_TIME_MS = Date.UTC(1980, 0, 1);
/** Longest accepted patient, metric, id, device and unit string. */
export const MAX_TEXT_LENGTH = 256;
/** Longest piece of input a message repeats. */
export const ECHO_LENGTH = 40;

/** A reading as a client sends it (JSON, msgpack, or mapped from FHIR). */
export interface RawReading {
  patient?: unknown;
  /** Metric key, `system|code` or bare code. */
  metric?: unknown;
  value?: unknown;
  /** UCUM unit; omitted = canonical. */
  unit?: unknown;
  /** ISO 8601 string or epoch ms. */
  time?: unknown;
  /** Client measurement id. */
  id?: unknown;
  device?: unknown;
}

/** A validated reading in canonical form. */
export interface Reading {
  patient: string;
  metric: MetricKey;
  metricIndex: number;
  /** In the metric's canonical unit. */
  value: number;
  /** Epoch ms. */
  time: number;
  id?: string;
  device?: string;
}

/** Why one reading was refused. */
export interface Rejection {
  code: ErrorCode;
  message: string;
}

/** The message of an item refused by an unexpected exception (the exception's text may hold input, so it is not repeated). */
export const INTERNAL_ERROR_MESSAGE = "internal error while validating this item";

/** A refused batch item, by its position in the batch. */
export interface BatchRejection extends Rejection {
  index: number;
}

/** True for a plain JSON object (not null, not an array). */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * The fields of one validated reading, in a reusable object (the batch ingest path allocates
 * nothing per reading). After a `unit_mismatch` rejection `patient` and `metric` still hold the
 * reading's own (they are checked before the unit), so the refusal can be attributed.
 */
export interface ReadingFields {
  patient: string;
  metric: Metric;
  /** In the metric's canonical unit. */
  value: number;
  /** Epoch ms. */
  time: number;
  id: string | undefined;
  device: string | undefined;
}

/** An empty target for readInto. */
export function newReadingFields(): ReadingFields {
  return { patient: "", metric: undefined as unknown as Metric, value: 0, time: 0, id: undefined, device: undefined };
}

/**
 * Validates one raw reading at `now` (epoch ms) into `out` (every field overwritten) and
 * returns undefined, or returns why not (`out` is then meaningless, except after
 * `unit_mismatch`: see ReadingFields). Other exceptions (a throwing getter) propagate.
 */
export function readInto(raw: unknown, now: number, out: ReadingFields): Rejection | undefined {
  try {
    convert(raw, now, out);
    return undefined;
  } catch (e) {
    if (e instanceof Refusal) return { code: e.code, message: e.message };
    throw e;
  }
}

function convert(raw: unknown, now: number, out: ReadingFields): void {
  if (!isRecord(raw)) refuse("invalid_field", "a reading must be an object");
  const patient = requiredText(raw, "patient");
  const metricRef = requiredText(raw, "metric");
  const match = resolveMetric(metricRef) ?? refuse("unknown_metric", `unknown metric '${clip(metricRef, ECHO_LENGTH)}'`);
  const { metric } = match;
  out.patient = patient;
  out.metric = metric;
  const given = parseValue(raw.value);

  let value: number;
  if (raw.unit === undefined || raw.unit === null) {
    if (match.denotes !== undefined) {
      refuse("unit_mismatch", `metric code '${clip(metricRef, ECHO_LENGTH)}' denotes ${match.denotes}: send the unit explicitly`);
    }
    value = given; // omitted: the canonical unit
  } else if (typeof raw.unit === "string") {
    const unit = checkedText(raw.unit, "unit");
    const toCanonical =
      converterFor(metric, unit) ??
      refuse("unit_mismatch", `unit '${clip(unit, ECHO_LENGTH)}' is not accepted for ${metric.key} (accepted: ${metric.units.join(", ")})`);
    value = toCanonical(given);
  } else {
    refuse("invalid_field", "unit must be a string");
  }
  if (!isPlausible(metric, value)) {
    const whole = metric.integer ? " whole numbers" : "";
    refuse("implausible_value", `${metric.key} ${value} ${metric.unit} is outside the plausible${whole} range ${metric.min}–${metric.max} ${metric.unit}`);
  }

  out.time = parseTime(raw.time, now);
  out.value = value === 0 ? 0 : value; // −0 is 0: MessagePack writes −0 as the integer 0
  out.id = optionalText(raw, "id");
  out.device = optionalText(raw, "device");
}

function requiredText(raw: Record<string, unknown>, field: string): string {
  const v = raw[field];
  if (v === undefined || v === null || v === "") refuse("missing_field", `${field} is required`);
  return validText(v, field);
}

function optionalText(raw: Record<string, unknown>, field: string): string | undefined {
  const v = raw[field];
  return v === undefined || v === null ? undefined : validText(v, field);
}

/** A non-empty string that may be kept (see checkedText); else throws a Refusal (`invalid_field`). */
export function validText(v: unknown, field: string): string {
  if (typeof v !== "string" || v === "") refuse("invalid_field", `${field} must be a non-empty string`);
  return checkedText(v, field);
}

/** `s` when it is at most MAX_TEXT_LENGTH long, well-formed and free of control characters; else `invalid_field`. */
function checkedText(s: string, field: string): string {
  if (s.length > MAX_TEXT_LENGTH) refuse("invalid_field", `${field} is longer than ${MAX_TEXT_LENGTH} characters`);
  const problem = textProblem(s);
  if (problem !== undefined) refuse("invalid_field", `${field} ${problem}`);
  return s;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseValue(v: unknown): number {
  if (v === undefined || v === null) refuse("missing_field", "value is required");
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "string" && DECIMAL.test(v.trim())) n = Number(v.trim());
  else refuse("not_a_number", `value ${describe(v)} is not a number`);
  if (!Number.isFinite(n)) refuse("not_a_number", `value ${describe(v)} is not a finite number`);
  return n;
}

/** A short description of a value for a message: clipped, JSON-quoted strings (escapes lone surrogates). */
function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(clip(v, ECHO_LENGTH));
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "an invalid Date" : v.toISOString();
  return `of type ${Array.isArray(v) ? "array" : typeof v}`;
}

// ---- time ------------------------------------------------------------------------------

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):(\d{2})))?$/;

/**
 * Parses an ISO 8601 / FHIR dateTime string (see the file header for the accepted forms) to
 * epoch ms, or undefined when it is not one or names an impossible calendar time.
 */
export function parseIsoTime(s: string): number | undefined {
  const m = ISO_TIME.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, hh = "0", mi = "0", ss = "0", frac = "", , sign, oh = "0", om = "0"] = m;
  const year = +y, month = +mo, day = +d, hour = +hh, minute = +mi, second = +ss;
  const ms = +frac.slice(0, 3).padEnd(3, "0");
  const offsetMin = (sign === "-" ? -1 : 1) * (+oh * 60 + +om);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || +oh > 14 || +om > 59) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999: compute such a year 400 years later (the calendar repeats) and go back.
  const cycles = year < 100 ? 1 : 0;
  return Date.UTC(year + 400 * cycles, month - 1, day, hour, minute, second, ms) - cycles * MS_PER_400_YEARS - offsetMin * 60_000;
}

/** 400 Gregorian years are exactly 146 097 days. */
const MS_PER_400_YEARS = 146_097 * 86_400_000;

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Largest |epoch ms| a Date can hold (toISOString throws a RangeError beyond it). */
const MAX_DATE_MS = 8.64e15;

function parseTime(v: unknown, now: number): number {
  if (v === undefined || v === null || v === "") refuse("missing_field", "time is required");
  let t: number | undefined;
  if (typeof v === "number") t = v;
  else if (typeof v === "string") t = parseIsoTime(v);
  else if (v instanceof Date) t = v.getTime();
  if (t === undefined || !Number.isSafeInteger(t)) {
    refuse("invalid_time", `time ${describe(v)} is not epoch ms (a whole number) or an ISO 8601 date-time with offset`);
  }
  if (t < EARLIEST_TIME_MS) {
    refuse("invalid_time", `time ${describe(v)} is before 1980 (epoch seconds instead of milliseconds?)`);
  }
  if (t > now + FUTURE_TOLERANCE_MS) {
    const at = t <= MAX_DATE_MS ? new Date(t).toISOString() : describe(v);
    refuse("invalid_time", `time ${at} is more than ${FUTURE_TOLERANCE_MS / 60_000} minutes in the future`);
  }
  return t;
}
