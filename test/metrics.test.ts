import { describe, expect, it } from "vitest";
import {
  KG_PER_LB,
  METRIC_COUNT,
  METRICS,
  MG_DL_PER_MMOL_L,
  MMHG_PER_KPA,
  SYSTEM,
  canonicalUnitOf,
  converterFor,
  isPanelCode,
  isPlausible,
  metricByCode,
  metricByIndex,
  metricByKey,
  normalizeUnit,
  resolveMetric,
  type Metric,
} from "../engine/metrics.js";

function metric(key: string): Metric {
  const m = metricByKey(key);
  if (m === undefined) throw new Error(`no metric ${key}`);
  return m;
}

function convert(key: string, value: number, unit: string): number | undefined {
  return converterFor(metric(key), unit)?.(value);
}

describe("metric index", () => {
  it("keeps the pinned order (append only: the kernel stores these numbers)", () => {
    expect(METRICS.map((m) => m.key)).toEqual([
      "weight", "bp_sys", "bp_dia", "pulse", "spo2", "temp", "resp_rate", "glucose", "cgm", "fev1", "crp",
      "niv_usage", "niv_leak", "niv_ahi", "niv_tidal_volume", "niv_minute_vent", "tcco2", "spo2_t90",
      "cat_score", "mrc", "consciousness",
    ]);
    expect(METRIC_COUNT).toBe(21);
  });

  it("gives every metric its position as index, and looks it up both ways", () => {
    METRICS.forEach((m, i) => {
      expect(m.index).toBe(i);
      expect(metricByIndex(i)).toBe(m);
      expect(metricByKey(m.key)).toBe(m);
    });
    expect(metricByIndex(METRIC_COUNT)).toBeUndefined();
    expect(metricByKey("height")).toBeUndefined();
    expect(metricByKey("constructor")).toBeUndefined();
  });

  it("has typical history hints that fit a u8 ring, with the documented ones", () => {
    for (const m of METRICS) {
      expect(Number.isInteger(m.typicalHistory)).toBe(true);
      expect(m.typicalHistory).toBeGreaterThanOrEqual(1);
      expect(m.typicalHistory).toBeLessThanOrEqual(255);
    }
    expect(metric("weight").typicalHistory).toBe(16);
    expect(metric("cgm").typicalHistory).toBe(8);
  });
});

describe("canonical units and envelopes (measurements.md)", () => {
  const table: [key: string, unit: string, min: number, max: number][] = [
    ["weight", "kg", 0.5, 400],
    ["bp_sys", "mm[Hg]", 40, 300],
    ["bp_dia", "mm[Hg]", 20, 200],
    ["pulse", "/min", 20, 300],
    ["spo2", "%", 50, 100],
    ["temp", "Cel", 25, 45],
    ["resp_rate", "/min", 2, 80],
    ["glucose", "mmol/L", 0.5, 50],
    ["cgm", "mmol/L", 1, 35],
    ["fev1", "L", 0.1, 8],
    ["crp", "mg/L", 0, 500],
    ["niv_usage", "h", 0, 24],
    ["niv_leak", "L/min", 0, 200],
    ["niv_ahi", "/h", 0, 150],
    ["niv_tidal_volume", "mL", 50, 2000],
    ["niv_minute_vent", "L/min", 0.5, 40],
    ["tcco2", "kPa", 2, 20],
    ["spo2_t90", "%", 0, 100],
    ["cat_score", "{score}", 0, 40],
    ["mrc", "{score}", 1, 5],
    ["consciousness", "1", 0, 1],
  ];

  it.each(table)("%s is in %s, plausible %d..%d", (key, unit, min, max) => {
    const m = metric(key);
    expect([m.unit, m.min, m.max]).toEqual([unit, min, max]);
    expect(canonicalUnitOf(key)).toBe(unit);
    expect(convert(key, 12.5, unit)).toBe(12.5);
  });

  it("covers every metric in the table", () => {
    expect(table.map(([k]) => k).sort()).toEqual(METRICS.map((m) => m.key).sort());
    expect(canonicalUnitOf("height")).toBeUndefined();
  });

  it("accepts both ends of every envelope and rejects just outside", () => {
    for (const m of METRICS) {
      const step = m.integer ? 1 : 1e-6;
      expect(isPlausible(m, m.min), `${m.key} min`).toBe(true);
      expect(isPlausible(m, m.max), `${m.key} max`).toBe(true);
      expect(isPlausible(m, m.min - step), `${m.key} below`).toBe(false);
      expect(isPlausible(m, m.max + step), `${m.key} above`).toBe(false);
    }
  });

  it("accepts only whole numbers for scores and ordinals", () => {
    expect(isPlausible(metric("mrc"), 2.5)).toBe(false);
    expect(isPlausible(metric("cat_score"), 12.1)).toBe(false);
    expect(isPlausible(metric("consciousness"), 0.5)).toBe(false);
    expect(isPlausible(metric("cat_score"), 12)).toBe(true);
    expect(isPlausible(metric("weight"), 72.35)).toBe(true);
  });
});

describe("conversions (exact factors)", () => {
  it("uses the spec's factors", () => {
    expect(MG_DL_PER_MMOL_L).toBe(18.016);
    expect(MMHG_PER_KPA).toBe(7.50062);
    expect(KG_PER_LB).toBe(0.45359237);
  });

  it("weight: [lb_av] and g to kg", () => {
    expect(convert("weight", 1, "[lb_av]")).toBe(0.45359237);
    expect(convert("weight", 185, "[lb_av]")).toBeCloseTo(83.91458845, 10);
    expect(convert("weight", 72500, "g")).toBe(72.5);
  });

  it("glucose and cgm: mg/dL to mmol/L by 18.016", () => {
    expect(convert("glucose", 180.16, "mg/dL")).toBe(10);
    expect(convert("cgm", 180.16, "mg/dL")).toBe(10);
    expect(convert("cgm", 18.016, "mg/dL")).toBe(1);
    expect(convert("glucose", 100, "mg/dL")).toBeCloseTo(5.550621669627, 10);
  });

  it("blood pressure: kPa to mm[Hg]; tcco2: mm[Hg] to kPa", () => {
    expect(convert("bp_sys", 15, "kPa")).toBeCloseTo(112.5093, 10);
    expect(convert("bp_dia", 1, "kPa")).toBe(7.50062);
    expect(convert("tcco2", 112.5093, "mm[Hg]")).toBeCloseTo(15, 10);
    expect(convert("tcco2", 7.50062, "mm[Hg]")).toBe(1);
  });

  it("temperature: [degF] to Cel", () => {
    expect(convert("temp", 100, "[degF]")).toBeCloseTo(37.77777777777778, 12);
    expect(convert("temp", 32, "[degF]")).toBe(0);
    expect(convert("temp", 212, "[degF]")).toBe(100);
    expect(convert("temp", 98.6, "[degF]")).toBeCloseTo(37, 10);
  });

  it("spo2: fraction 1 to %; fev1: mL to L", () => {
    expect(convert("spo2", 0.95, "1")).toBe(95);
    expect(convert("spo2", 1, "1")).toBe(100);
    expect(convert("fev1", 3200, "mL")).toBe(3.2);
  });

  it("lists exactly the accepted units per metric", () => {
    expect(metric("weight").units).toEqual(["kg", "g", "[lb_av]"]);
    expect(metric("bp_sys").units).toEqual(["mm[Hg]", "kPa"]);
    expect(metric("spo2").units).toEqual(["%", "1"]);
    expect(metric("temp").units).toEqual(["Cel", "[degF]"]);
    expect(metric("glucose").units).toEqual(["mmol/L", "mg/dL"]);
    expect(metric("tcco2").units).toEqual(["kPa", "mm[Hg]"]);
    expect(metric("pulse").units).toEqual(["/min"]);
    expect(metric("niv_tidal_volume").units).toEqual(["mL"]);
  });

  it.each([
    ["weight", "lb"], ["weight", "lbs"], ["weight", "[lb_tr]"], ["weight", "KG"], ["weight", "mg"],
    ["temp", "C"], ["temp", "degC"], ["temp", "K"], ["pulse", "bpm"], ["pulse", "/s"],
    ["bp_sys", "cm[H2O]"], ["bp_sys", "Pa"], ["spo2", "mmol/L"], ["glucose", "mg/L"], ["glucose", "g/dL"],
    ["tcco2", "%"], ["niv_tidal_volume", "L"], ["niv_usage", "min"], ["fev1", "dL"], ["crp", "mg/dL"],
    ["resp_rate", "{breaths}"], ["weight", ""], ["weight", "{kg"],
  ])("does not accept %s in %j", (key, unit) => {
    expect(convert(key, 1, unit)).toBeUndefined();
  });
});

describe("unit spellings", () => {
  it.each([
    ["mmHg", "mm[Hg]"], ["°C", "Cel"], ["°F", "[degF]"], ["1/min", "/min"], ["{beats}/min", "/min"],
    ["{breaths}/min", "/min"], ["%{HemoglobinSaturation}", "%"], ["{score}", "1"], ["1/h", "/h"],
    ["mmol/l", "mmol/L"], ["mg/dl", "mg/dL"], ["ml", "mL"], ["l", "L"], ["l/min", "L/min"], ["mg/l", "mg/L"],
    [" kg ", "kg"], ["[lb_av]", "[lb_av]"],
  ])("%j means %j", (variant, ucum) => {
    expect(normalizeUnit(variant)).toBe(ucum);
  });

  it("keeps UCUM case: C is coulomb, not Celsius; KG is not kg", () => {
    expect(normalizeUnit("C")).toBe("C");
    expect(normalizeUnit("KG")).toBe("KG");
  });

  it("converts through a synonym exactly as through the UCUM code", () => {
    expect(convert("bp_sys", 120, "mmHg")).toBe(120);
    expect(convert("tcco2", 45, "mmHg")).toBe(45 / 7.50062);
    expect(convert("temp", 100, "°F")).toBe(convert("temp", 100, "[degF]"));
    expect(convert("pulse", 72, "{beats}/min")).toBe(72);
    expect(convert("spo2", 97, "%{HemoglobinSaturation}")).toBe(97);
    expect(convert("cat_score", 12, "{score}")).toBe(12);
    expect(convert("cat_score", 12, "1")).toBe(12);
  });
});

describe("codes", () => {
  const LOINC = SYSTEM.loinc;
  const NPU = SYSTEM.npu;
  const MEDCOM = SYSTEM.medcom;
  const MDC = SYSTEM.mdc;
  const codes: [system: string, code: string, key: string][] = [
    [NPU, "NPU03804", "weight"], [LOINC, "29463-7", "weight"], [MDC, "188736", "weight"],
    [NPU, "DNK05472", "bp_sys"], [MEDCOM, "MCS88019", "bp_sys"], [LOINC, "8480-6", "bp_sys"], [MDC, "150021", "bp_sys"],
    [NPU, "DNK05473", "bp_dia"], [MEDCOM, "MCS88020", "bp_dia"], [LOINC, "8462-4", "bp_dia"], [MDC, "150022", "bp_dia"],
    [NPU, "NPU21692", "pulse"], [LOINC, "8867-4", "pulse"], [MDC, "149546", "pulse"], [MDC, "149530", "pulse"],
    [NPU, "NPU03011", "spo2"], [LOINC, "59408-5", "spo2"], [LOINC, "2708-6", "spo2"], [MDC, "150456", "spo2"],
    [NPU, "NPU08676", "temp"], [LOINC, "8310-5", "temp"], [MDC, "150364", "temp"],
    [LOINC, "9279-1", "resp_rate"], [MDC, "151562", "resp_rate"],
    [NPU, "NPU02187", "glucose"], [LOINC, "41653-7", "glucose"], [LOINC, "2339-0", "glucose"],
    [LOINC, "105272-9", "cgm"], [LOINC, "99504-3", "cgm"],
    [MEDCOM, "MCS88015", "fev1"], [LOINC, "20150-9", "fev1"],
    [NPU, "NPU01423", "crp"],
    [MEDCOM, "MCS88137", "cat_score"], [MEDCOM, "MCS88021", "mrc"],
  ];

  it.each(codes)("%s|%s is %s", (system, code, key) => {
    expect(metricByCode(system, code)?.key).toBe(key);
    expect(resolveMetric(code)?.metric.key).toBe(key);
    expect(resolveMetric(`${system}|${code}`)?.metric.key).toBe(key);
  });

  it("lists every code the catalogue holds in the table above", () => {
    const held = METRICS.flatMap((m) => [...m.loinc, ...m.dk, ...m.mdc]).sort();
    expect(held).toEqual(codes.map(([, c]) => c).sort());
  });

  it("accepts the other spellings of the code systems", () => {
    expect(metricByCode("urn:oid:2.16.840.1.113883.6.1", "8867-4")?.key).toBe("pulse");
    expect(metricByCode("http://npu-terminology.org", "NPU03804")?.key).toBe("weight");
    expect(metricByCode("http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-observation-codes", "MCS88019")?.key).toBe("bp_sys");
    expect(metricByCode("urn:oid:2.16.840.1.113883.6.24", "150456")?.key).toBe("spo2");
    // NPU, DNK and MCS codes do not collide, so the Danish systems are read as one family
    expect(metricByCode(NPU, "MCS88019")?.key).toBe("bp_sys");
    expect(metricByCode(MEDCOM, "npu03804")?.key).toBe("weight");
  });

  it("does not guess across systems or from unknown codes", () => {
    expect(metricByCode(MDC, "29463-7")).toBeUndefined();
    expect(metricByCode(LOINC, "188736")).toBeUndefined();
    expect(metricByCode("http://snomed.info/sct", "27113001")).toBeUndefined();
    expect(metricByCode(LOINC, "3141-9")).toBeUndefined();
    expect(resolveMetric("http://snomed.info/sct|27113001")).toBeUndefined();
    expect(resolveMetric("99999-9")).toBeUndefined();
  });

  it("treats the BP panels as panels, not metrics", () => {
    expect(metricByCode(LOINC, "85354-9")).toBeUndefined();
    expect(metricByCode(MDC, "150020")).toBeUndefined();
    expect(isPanelCode(LOINC, "85354-9")).toBe(true);
    expect(isPanelCode(MDC, "150020")).toBe(true);
    expect(isPanelCode(LOINC, "8480-6")).toBe(false);
  });

  it("says which codes denote a mass concentration", () => {
    expect(resolveMetric("2339-0")?.denotes).toBe("mg/dL");
    expect(resolveMetric("41653-7")?.denotes).toBe("mg/dL");
    expect(resolveMetric("99504-3")?.denotes).toBe("mg/dL");
    expect(resolveMetric("105272-9")?.denotes).toBeUndefined();
    expect(resolveMetric("NPU02187")?.denotes).toBeUndefined();
    expect(resolveMetric("glucose")).toEqual({ metric: metric("glucose") });
  });
});
