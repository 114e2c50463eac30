// The metric catalogue (shared/spec/measurements.md in code): keys, codes, canonical UCUM units,
// accepted units with their exact conversions, plausible envelopes and history hints.
//
// The order of CATALOGUE is the numeric metric index the kernel uses: append new metrics at the
// end, never reorder or remove (test/metrics.test.ts pins the order).

/** Exact conversion factors from measurements.md. */
export const MG_DL_PER_MMOL_L = 18.016; // glucose, molar mass 180.16 g/mol
export const MMHG_PER_KPA = 7.50062;
export const KG_PER_LB = 0.45359237;

/** Code systems varsel reads, by the URI FHIR uses. */
export const SYSTEM = {
  loinc: "http://loinc.org",
  npu: "urn:oid:1.2.208.176.2.1",
  medcom: "urn:oid:1.2.208.184.100.8",
  mdc: "urn:iso:std:iso:11073:10101",
  ucum: "http://unitsofmeasure.org",
} as const;

type Family = "loinc" | "dk" | "mdc";

/**
 * Every spelling of a code system we accept, mapped to its family. NPU, DNK (Danish NPU
 * extension) and MedCom MCS codes form one family: their prefixes never collide, and integrators
 * mix up the systems they put them under.
 */
const SYSTEM_FAMILY: ReadonlyMap<string, Family> = new Map<string, Family>([
  [SYSTEM.loinc, "loinc"],
  ["urn:oid:2.16.840.1.113883.6.1", "loinc"],
  [SYSTEM.npu, "dk"],
  ["http://npu-terminology.org", "dk"],
  [SYSTEM.medcom, "dk"],
  ["http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-observation-codes", "dk"],
  [SYSTEM.mdc, "mdc"],
  ["urn:oid:2.16.840.1.113883.6.24", "mdc"],
]);

/** Converts a value from one accepted unit to the metric's canonical unit. */
export type ToCanonical = (value: number) => number;

interface MetricSpec {
  readonly key: string;
  readonly name: string;
  /** Canonical UCUM unit: every stored value and threshold is in it. */
  readonly unit: string;
  /** Other accepted UCUM units and their exact conversion to the canonical unit. */
  readonly other?: Readonly<Record<string, ToCanonical>>;
  /** Plausible envelope in the canonical unit, both ends inclusive. */
  readonly min: number;
  readonly max: number;
  /** Ordinal or score: only whole numbers are plausible. */
  readonly integer?: boolean;
  readonly loinc?: readonly string[];
  /** NPU, DNK and MedCom MCS codes. */
  readonly dk?: readonly string[];
  readonly mdc?: readonly string[];
  /** Codes whose definition fixes a unit other than the canonical one (LOINC mass concentration). */
  readonly denotes?: Readonly<Record<string, string>>;
  /** Past readings window rules typically need for this metric (history ring hint, 0..255). */
  readonly typicalHistory: number;
}

const fromGlucoseMass: ToCanonical = (v) => v / MG_DL_PER_MMOL_L;
const per1000: ToCanonical = (v) => v / 1000;

const CATALOGUE = [
  { key: "weight", name: "body weight", unit: "kg", other: { g: per1000, "[lb_av]": (v) => v * KG_PER_LB }, min: 0.5, max: 400, dk: ["NPU03804"], loinc: ["29463-7"], mdc: ["188736"], typicalHistory: 16 },
  { key: "bp_sys", name: "systolic blood pressure", unit: "mm[Hg]", other: { kPa: (v) => v * MMHG_PER_KPA }, min: 40, max: 300, dk: ["DNK05472", "MCS88019"], loinc: ["8480-6"], mdc: ["150021"], typicalHistory: 16 },
  { key: "bp_dia", name: "diastolic blood pressure", unit: "mm[Hg]", other: { kPa: (v) => v * MMHG_PER_KPA }, min: 20, max: 200, dk: ["DNK05473", "MCS88020"], loinc: ["8462-4"], mdc: ["150022"], typicalHistory: 16 },
  { key: "pulse", name: "heart / pulse rate", unit: "/min", min: 20, max: 300, dk: ["NPU21692"], loinc: ["8867-4"], mdc: ["149546", "149530"], typicalHistory: 16 },
  { key: "spo2", name: "oxygen saturation", unit: "%", other: { "1": (v) => v * 100 }, min: 50, max: 100, dk: ["NPU03011"], loinc: ["59408-5", "2708-6"], mdc: ["150456"], typicalHistory: 32 },
  { key: "temp", name: "body temperature", unit: "Cel", other: { "[degF]": (v) => ((v - 32) * 5) / 9 }, min: 25, max: 45, dk: ["NPU08676"], loinc: ["8310-5"], mdc: ["150364"], typicalHistory: 8 },
  { key: "resp_rate", name: "respiratory rate", unit: "/min", min: 2, max: 80, loinc: ["9279-1"], mdc: ["151562"], typicalHistory: 8 },
  { key: "glucose", name: "blood glucose (finger prick)", unit: "mmol/L", other: { "mg/dL": fromGlucoseMass }, min: 0.5, max: 50, dk: ["NPU02187"], loinc: ["41653-7", "2339-0"], denotes: { "41653-7": "mg/dL", "2339-0": "mg/dL" }, typicalHistory: 24 },
  { key: "cgm", name: "CGM sensor glucose", unit: "mmol/L", other: { "mg/dL": fromGlucoseMass }, min: 1, max: 35, loinc: ["105272-9", "99504-3"], denotes: { "99504-3": "mg/dL" }, typicalHistory: 8 },
  { key: "fev1", name: "forced expiratory volume in 1 s", unit: "L", other: { mL: per1000 }, min: 0.1, max: 8, dk: ["MCS88015"], loinc: ["20150-9"], typicalHistory: 8 },
  { key: "crp", name: "C-reactive protein", unit: "mg/L", min: 0, max: 500, dk: ["NPU01423"], typicalHistory: 4 },
  { key: "niv_usage", name: "ventilator use in the last 24 h", unit: "h", min: 0, max: 24, typicalHistory: 14 },
  { key: "niv_leak", name: "unintentional leak", unit: "L/min", min: 0, max: 200, typicalHistory: 14 },
  { key: "niv_ahi", name: "residual apnoea-hypopnoea index", unit: "/h", min: 0, max: 150, typicalHistory: 14 },
  { key: "niv_tidal_volume", name: "tidal volume", unit: "mL", min: 50, max: 2000, typicalHistory: 14 },
  { key: "niv_minute_vent", name: "minute ventilation", unit: "L/min", min: 0.5, max: 40, typicalHistory: 14 },
  { key: "tcco2", name: "transcutaneous CO2", unit: "kPa", other: { "mm[Hg]": (v) => v / MMHG_PER_KPA }, min: 2, max: 20, typicalHistory: 14 },
  { key: "spo2_t90", name: "share of the night with SpO2 < 90 %", unit: "%", min: 0, max: 100, typicalHistory: 14 },
  { key: "cat_score", name: "COPD Assessment Test score", unit: "{score}", min: 0, max: 40, integer: true, dk: ["MCS88137"], typicalHistory: 8 },
  { key: "mrc", name: "MRC dyspnoea scale", unit: "{score}", min: 1, max: 5, integer: true, dk: ["MCS88021"], typicalHistory: 8 },
  { key: "consciousness", name: "consciousness (ACVPU: 0 alert, 1 new confusion/voice/pain/unresponsive)", unit: "1", min: 0, max: 1, integer: true, typicalHistory: 1 },
] as const satisfies readonly MetricSpec[];

/** A metric key, e.g. `"weight"`. */
export type MetricKey = (typeof CATALOGUE)[number]["key"];

/** One metric of the catalogue. */
export interface Metric {
  readonly key: MetricKey;
  /** Position in the catalogue: the kernel's numeric metric id. Stable. */
  readonly index: number;
  readonly name: string;
  readonly unit: string;
  /** Every accepted unit (canonical first), in normalized UCUM spelling. */
  readonly units: readonly string[];
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  readonly loinc: readonly string[];
  readonly dk: readonly string[];
  readonly mdc: readonly string[];
  readonly typicalHistory: number;
}

/** What a metric reference (key or code) resolves to. */
export interface MetricMatch {
  metric: Metric;
  /** The unit the code itself denotes when that is not the canonical unit (e.g. mg/dL for LOINC 2339-0). */
  denotes?: string;
}

// ---- units -------------------------------------------------------------------------------

/**
 * Spellings integrators send for the same unit. Only exact synonyms: UCUM's `l` for `L`, `1/x`
 * for `/x`, and the printed symbols `mmHg`, `°C`, `°F`, which mean one unit only.
 */
const UNIT_SYNONYMS: ReadonlyMap<string, string> = new Map([
  ["mmHg", "mm[Hg]"],
  ["°C", "Cel"],
  ["°F", "[degF]"],
  ["1/min", "/min"],
  ["1/h", "/h"],
  ["l", "L"],
  ["ml", "mL"],
  ["l/min", "L/min"],
  ["mmol/l", "mmol/L"],
  ["mg/dl", "mg/dL"],
  ["mg/l", "mg/L"],
]);

/**
 * Normalizes a unit string to the UCUM spelling the catalogue uses: trims, drops UCUM
 * annotations (`{beats}/min` = `/min`, `%{HemoglobinSaturation}` = `%`, `{score}` = `1`; UCUM
 * gives annotations no meaning) and maps exact synonyms. Case is kept: UCUM is case-sensitive.
 */
export function normalizeUnit(unit: string): string {
  let normalized = unitCache.get(unit);
  if (normalized === undefined) {
    const bare = unit.trim().replace(/\{[^{}]*\}/g, "");
    const u = bare === "" ? "1" : bare;
    normalized = UNIT_SYNONYMS.get(u) ?? u;
    // Devices repeat a handful of spellings: remember them (bounded, so odd input cannot grow it).
    if (unitCache.size < UNIT_CACHE_MAX && unit.length <= 64) unitCache.set(unit, normalized);
  }
  return normalized;
}

const UNIT_CACHE_MAX = 1024;
const unitCache = new Map<string, string>();

// ---- the built catalogue -----------------------------------------------------------------

const converters = new Map<MetricKey, ReadonlyMap<string, ToCanonical>>();
const byKey = new Map<string, Metric>();
/** key -> the match resolveMetric answers (one frozen object per metric: no allocation per reading). */
const keyMatch = new Map<string, MetricMatch>();
/** `family|code` and bare `code` -> match. */
const byCode = new Map<string, MetricMatch>();

function indexCode(family: Family, code: string, match: MetricMatch): void {
  const k = codeKey(family, code);
  if (byCode.has(k) || byCode.has(code)) throw new Error(`metric code ${code} listed twice`);
  byCode.set(k, match);
  byCode.set(code, match);
}

function codeKey(family: Family, code: string): string {
  return `${family}|${family === "dk" ? code.toUpperCase() : code}`;
}

/** All metrics in index order. */
export const METRICS: readonly Metric[] = CATALOGUE.map((spec: MetricSpec, index): Metric => {
  const conv = new Map<string, ToCanonical>([[normalizeUnit(spec.unit), (v) => v]]);
  for (const [u, f] of Object.entries(spec.other ?? {})) conv.set(normalizeUnit(u), f);
  const metric: Metric = Object.freeze({
    key: spec.key as MetricKey,
    index,
    name: spec.name,
    unit: spec.unit,
    units: Object.freeze([spec.unit, ...Object.keys(spec.other ?? {})]),
    min: spec.min,
    max: spec.max,
    integer: spec.integer ?? false,
    loinc: Object.freeze([...(spec.loinc ?? [])]),
    dk: Object.freeze([...(spec.dk ?? [])]),
    mdc: Object.freeze([...(spec.mdc ?? [])]),
    typicalHistory: spec.typicalHistory,
  });
  converters.set(metric.key, conv);
  byKey.set(metric.key, metric);
  keyMatch.set(metric.key, Object.freeze({ metric }));
  for (const [family, codes] of [["loinc", metric.loinc], ["dk", metric.dk], ["mdc", metric.mdc]] as const) {
    for (const code of codes) {
      const denotes = spec.denotes?.[code];
      indexCode(family, code, denotes === undefined ? { metric } : { metric, denotes });
    }
  }
  return metric;
});

/** Number of metrics (numeric indexes are 0 .. METRIC_COUNT - 1). */
export const METRIC_COUNT = METRICS.length;

/** Panel codes: an Observation with one of these carries its metrics in `component[]`. */
const PANELS = new Set([codeKey("loinc", "85354-9"), codeKey("mdc", "150020")]);

// ---- lookups -----------------------------------------------------------------------------

/** The metric with this key, or undefined. */
export function metricByKey(key: string): Metric | undefined {
  return byKey.get(key);
}

/** The canonical UCUM unit of the metric with this key, or undefined for an unknown key. */
export function canonicalUnitOf(key: string): string | undefined {
  return byKey.get(key)?.unit;
}

/** The metric with this numeric index, or undefined. */
export function metricByIndex(index: number): Metric | undefined {
  return METRICS[index];
}

function familyOf(system: string): Family | undefined {
  return SYSTEM_FAMILY.get(system.trim());
}

/**
 * The metric a coded concept names: `system` is LOINC, NPU, MedCom or MDC (several accepted
 * spellings, see SYSTEM_FAMILY); undefined for unknown systems, unknown codes and panels.
 */
export function metricByCode(system: string, code: string): Metric | undefined {
  return codeMatch(system, code)?.metric;
}

/** Like metricByCode, with the unit the code denotes when it fixes a non-canonical one. */
export function codeMatch(system: string, code: string): MetricMatch | undefined {
  const family = familyOf(system);
  return family === undefined ? undefined : byCode.get(codeKey(family, code.trim()));
}

/** True for a panel code (BP panel LOINC 85354-9, MDC 150020): a group, not a metric. */
export function isPanelCode(system: string, code: string): boolean {
  const family = familyOf(system);
  return family !== undefined && PANELS.has(codeKey(family, code.trim()));
}

/**
 * Resolves how a raw reading names its metric: a key (`"weight"`), `"system|code"`
 * (`"http://loinc.org|29463-7"`) or a bare code (`"29463-7"`, `"NPU03804"`, `"188736"`; codes
 * of the three families never collide).
 */
export function resolveMetric(ref: string): MetricMatch | undefined {
  const byItsKey = keyMatch.get(ref);
  if (byItsKey !== undefined) return byItsKey;
  const bar = ref.lastIndexOf("|");
  if (bar >= 0) return codeMatch(ref.slice(0, bar), ref.slice(bar + 1));
  const code = ref.trim();
  return byCode.get(code) ?? byCode.get(code.toUpperCase());
}

/**
 * The function converting a value in `unit` to the metric's canonical unit, or undefined when
 * the unit is not accepted for the metric. `unit` may be in any spelling normalizeUnit accepts.
 */
export function converterFor(metric: Metric, unit: string): ToCanonical | undefined {
  return converters.get(metric.key)?.get(normalizeUnit(unit));
}

/** True when `value` (canonical unit) lies in the metric's plausible envelope. */
export function isPlausible(metric: Metric, value: number): boolean {
  return value >= metric.min && value <= metric.max && (!metric.integer || Number.isInteger(value));
}
