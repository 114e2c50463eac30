import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VarselError } from "../engine/errors.js";
import { canonicalFhir, type CanonicalBatch } from "../engine/ingest/canonical.js";
import { MAX_ITEM_DEPTH } from "../engine/ingest/depth.js";
import { fhirToItems } from "../engine/ingest/fhir.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestFhirRaw } from "./support/ingest.js";

// The shared folder is a sibling of the repository: <repo>/../shared/fixtures/fhir/
const FIXTURES = new URL("../../shared/fixtures/fhir/", import.meta.url);
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
/** The HL7 examples' subject, `Patient/example`: the canonical batch keeps the reference id. */
const PATIENT = "example";
const BP_ID = "urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281";

type Json = Record<string, unknown>;

function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`observation-example-${name}.json`, FIXTURES), "utf8")) as Json;
}

/** A resource through the production validation: its canonical batch at NOW. */
function ingest(resource: unknown): CanonicalBatch {
  return canonicalFhir(resource, NOW);
}

/** A minimal valid Observation; `over` replaces top-level fields (undefined removes one). */
function obs(over: Json = {}): Json {
  const base: Json = {
    resourceType: "Observation",
    id: "o-1",
    status: "final",
    code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] },
    subject: { reference: "Patient/example" },
    effectiveDateTime: "2026-01-15T08:00:00+01:00",
    valueQuantity: { value: 64, unit: "beats/minute", system: "http://unitsofmeasure.org", code: "/min" },
  };
  const out = { ...base, ...over };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

function bundle(...resources: unknown[]): Json {
  return { resourceType: "Bundle", type: "collection", entry: resources.map((resource) => ({ resource })) };
}

/** [entry index, component index (its message says "component N: "), code] of each rejection. */
function codes(r: CanonicalBatch): [number, number | undefined, string][] {
  return r.rejected.map((x) => {
    const component = /^component (\d+): /.exec(x.message);
    return [x.index, component === null ? undefined : Number(component[1]), x.code];
  });
}

describe("HL7 FHIR R4 example fixtures", () => {
  it("body weight 185 [lb_av] becomes one weight reading in kg", () => {
    const r = ingest(fixture("body-weight-lb"));
    expect(r.rejected).toEqual([]);
    expect(r.invalidations).toEqual([]);
    expect(r.readings).toHaveLength(1);
    const reading = r.readings[0];
    expect(reading).toMatchObject({ index: 0, patient: PATIENT, metric: "weight", time: Date.UTC(2016, 2, 28), id: "example" });
    expect(reading.value).toBeCloseTo(83.91458845, 10);
  });

  it("BP panel 85354-9 becomes two readings, systolic 107 and diastolic 60", () => {
    const r = ingest(fixture("bloodpressure"));
    expect(r.rejected).toEqual([]);
    expect(r.readings.map((reading) => [reading.index, reading.metric, reading.value])).toEqual([
      [0, "bp_sys", 107],
      [0, "bp_dia", 60],
    ]);
    for (const reading of r.readings) {
      expect(reading).toMatchObject({ patient: PATIENT, time: Date.UTC(2012, 8, 17), id: BP_ID });
    }
  });

  it("BP with a dataAbsentReason: systolic is a reading, diastolic is value_absent", () => {
    const r = ingest(fixture("bloodpressure-dar"));
    expect(r.readings.map((reading) => [reading.index, reading.metric, reading.value])).toEqual([[0, "bp_sys", 107]]);
    expect(codes(r)).toEqual([[0, 1, "value_absent"]]);
    expect(r.rejected[0].message).toContain("not-performed");
    expect(r.invalidations).toEqual([]);
  });

  it("cancelled BP becomes an invalidation that says why, and no readings", () => {
    const r = ingest(fixture("bloodpressure-cancel"));
    expect(r.readings).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.invalidations).toStrictEqual([{ index: 0, id: BP_ID, patient: PATIENT }]);
    const mapped = fhirToItems(fixture("bloodpressure-cancel"));
    expect(mapped.invalidations).toHaveLength(1);
    expect(mapped.invalidations[0]).toMatchObject({
      kind: "invalidate", entry: 0, id: BP_ID, patient: PATIENT, reason: "observation_cancelled", status: "cancelled",
    });
    expect(mapped.invalidations[0].message).toContain("cancelled");
  });

  it("satO2 95 % (2708-6, 59408-5, MDC 150456) becomes one spo2 reading with device and identifier", () => {
    const r = ingest(fixture("satO2"));
    expect(r.rejected).toEqual([]);
    expect(r.readings).toEqual([
      {
        index: 0, patient: PATIENT, metric: "spo2", value: 95, time: Date.UTC(2014, 11, 5, 8, 30, 10),
        id: "o1223435-10", device: "DeviceMetric/example",
      },
    ]);
  });

  it.each([
    ["http://loinc.org", "2708-6"],
    ["http://loinc.org", "59408-5"],
    ["urn:iso:std:iso:11073:10101", "150456"],
  ])("satO2 identified by %s|%s alone", (system, code) => {
    const r = ingest({ ...fixture("satO2"), code: { coding: [{ system, code }] } });
    expect(r.readings.map((a) => [a.metric, a.value])).toEqual([["spo2", 95]]);
  });

  it("heart rate 44 /min becomes one pulse reading", () => {
    const r = ingest(fixture("heart-rate"));
    expect(r.rejected).toEqual([]);
    expect(r.readings).toEqual([
      { index: 0, patient: PATIENT, metric: "pulse", value: 44, time: Date.UTC(1999, 6, 2), id: "heart-rate" },
    ]);
  });

  it("a Bundle of all six keeps each entry's index", () => {
    const names = ["body-weight-lb", "bloodpressure", "bloodpressure-dar", "bloodpressure-cancel", "satO2", "heart-rate"];
    const r = ingest(bundle(...names.map(fixture)));
    expect(r.items).toBe(6);
    expect(r.readings.map(({ index, metric }) => [index, metric])).toEqual([
      [0, "weight"],
      [1, "bp_sys"],
      [1, "bp_dia"],
      [2, "bp_sys"],
      [4, "spo2"],
      [5, "pulse"],
    ]);
    expect(codes(r)).toEqual([[2, 1, "value_absent"]]);
    expect(r.invalidations.map((i) => [i.index, i.id])).toEqual([[3, BP_ID]]);
  });
});

describe("patients", () => {
  it("the reference id is the patient", () => {
    const r = ingest(fixture("heart-rate"));
    expect(r.readings[0].patient).toBe("example");
  });

  it("an unregistered patient's readings are unknown_patient; its invalidation withdraws nothing", () => {
    const answer = ingestFhirRaw(new Pipeline(), bundle(fixture("bloodpressure"), fixture("bloodpressure-cancel")), ANY_SENDER, NOW);
    expect(answer.accepted).toBe(0);
    expect(answer.readings).toEqual([]);
    expect(answer.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, "unknown_patient"],
      [0, "unknown_patient"],
    ]);
    expect(answer.invalidated).toEqual([{ index: 1, id: BP_ID }]);
  });

  it.each([
    [{ reference: "Patient/123" }, "123"],
    [{ reference: "https://fhir.example.dk/R4/Patient/abc/_history/3" }, "abc"],
    [{ reference: "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001" }, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001"],
    [{ identifier: { system: "urn:oid:1.2.208.176.1.2", value: "0101011234" } }, "0101011234"],
  ])("subject %j -> patient %j", (subject, patient) => {
    const r = fhirToItems(obs({ subject }));
    expect(r.items.map((i) => i.item.patient)).toEqual([patient]);
  });

  it("a subject that is not a Patient is invalid_fhir; no subject is missing_field", () => {
    expect(codes(ingest(obs({ subject: { reference: "Group/copd" } })))).toEqual([[0, undefined, "invalid_fhir"]]);
    expect(codes(ingest(obs({ subject: undefined })))).toEqual([[0, undefined, "missing_field"]]);
  });
});

describe("observations", () => {
  it("reads preliminary, final, amended and corrected as readings", () => {
    for (const status of ["preliminary", "final", "amended", "corrected"]) {
      expect(ingest(obs({ status })).readings.map((a) => a.value), status).toEqual([64]);
    }
  });

  it("entered-in-error invalidates by identifier, else by id", () => {
    const withdrawn = obs({ status: "entered-in-error", identifier: [{ value: "m-77" }], valueQuantity: undefined });
    expect(ingest(withdrawn)).toMatchObject({ readings: [], rejected: [], invalidations: [{ index: 0, id: "m-77" }] });
    expect(fhirToItems(withdrawn).invalidations.map((i) => [i.id, i.status, i.reason])).toEqual([["m-77", "entered-in-error", "observation_cancelled"]]);
    expect(ingest(obs({ status: "cancelled" })).invalidations.map((i) => i.id)).toEqual(["o-1"]);
    expect(codes(ingest(obs({ status: "cancelled", id: undefined })))).toEqual([[0, undefined, "invalid_fhir"]]);
  });

  it("registered is value_absent; unknown or missing status is invalid_fhir", () => {
    expect(codes(ingest(obs({ status: "registered" })))).toEqual([[0, undefined, "value_absent"]]);
    expect(codes(ingest(obs({ status: "unknown" })))).toEqual([[0, undefined, "invalid_fhir"]]);
    expect(codes(ingest(obs({ status: undefined })))).toEqual([[0, undefined, "invalid_fhir"]]);
  });

  it("takes time from effectiveInstant or effectivePeriod.start; none is missing_field", () => {
    const t = Date.UTC(2026, 0, 14, 22, 0, 0);
    const instant = ingest(obs({ effectiveDateTime: undefined, effectiveInstant: "2026-01-14T22:00:00Z" }));
    expect(instant.readings[0].time).toBe(t);
    const period = ingest(obs({ effectiveDateTime: undefined, effectivePeriod: { start: "2026-01-14T23:00:00+01:00", end: "2026-01-15T07:00:00+01:00" } }));
    expect(period.readings[0].time).toBe(t);
    expect(codes(ingest(obs({ effectiveDateTime: undefined })))).toEqual([[0, undefined, "missing_field"]]);
  });

  it("rejects a time in the future as invalid_time", () => {
    expect(codes(ingest(obs({ effectiveDateTime: "2026-01-15T13:06:00+01:00" })))).toEqual([[0, undefined, "invalid_time"]]);
  });

  it("falls back to valueQuantity.unit when code is absent, and refuses a non-UCUM system", () => {
    const r = ingest(obs({ valueQuantity: { value: 37, unit: "°C" }, code: { coding: [{ system: "http://loinc.org", code: "8310-5" }] } }));
    expect(r.readings.map((a) => [a.metric, a.value])).toEqual([["temp", 37]]);
    const other = ingest(obs({ valueQuantity: { value: 64, system: "urn:iso:std:iso:11073:10101", code: "264864" } }));
    expect(codes(other)).toEqual([[0, undefined, "unit_mismatch"]]);
    expect(codes(ingest(obs({ valueQuantity: { value: 64, code: "bpm" } })))).toEqual([[0, undefined, "unit_mismatch"]]);
  });

  it("reads a valueInteger score in its canonical unit (CAT via MedCom code)", () => {
    const r = ingest(obs({ code: { coding: [{ system: "urn:oid:1.2.208.184.100.8", code: "MCS88137" }] }, valueQuantity: undefined, valueInteger: 14 }));
    expect(r.readings.map((a) => [a.metric, a.value])).toEqual([["cat_score", 14]]);
  });

  it("refuses a bound (comparator) and a non-numeric value[x] as not_a_number; no value is value_absent", () => {
    const bound = obs({ code: { coding: [{ system: "http://loinc.org", code: "99504-3" }] }, valueQuantity: { value: 40, comparator: "<", code: "mg/dL" } });
    expect(codes(ingest(bound))).toEqual([[0, undefined, "not_a_number"]]);
    expect(codes(ingest(obs({ valueQuantity: undefined, valueString: "64" })))).toEqual([[0, undefined, "not_a_number"]]);
    expect(codes(ingest(obs({ valueQuantity: { value: "sixty" } })))).toEqual([[0, undefined, "not_a_number"]]);
    expect(codes(ingest(obs({ valueQuantity: undefined })))).toEqual([[0, undefined, "value_absent"]]);
  });

  it("rejects an implausible value after conversion", () => {
    const r = ingest(obs({ code: { coding: [{ system: "http://loinc.org", code: "29463-7" }] }, valueQuantity: { value: 1000, code: "[lb_av]" } }));
    expect(codes(r)).toEqual([[0, undefined, "implausible_value"]]);
  });

  it("rejects unknown, contradictory and panel-only codes as unknown_metric", () => {
    const snomedOnly = obs({ code: { coding: [{ system: "http://snomed.info/sct", code: "27113001" }] } });
    const twoMetrics = obs({ code: { coding: [{ system: "http://loinc.org", code: "8867-4" }, { system: "http://loinc.org", code: "9279-1" }] } });
    const panelAlone = obs({ code: { coding: [{ system: "http://loinc.org", code: "85354-9" }] }, valueQuantity: undefined, valueString: "120/80" });
    for (const o of [snomedOnly, twoMetrics, panelAlone]) expect(codes(ingest(o))).toEqual([[0, undefined, "unknown_metric"]]);
    expect(codes(ingest(obs({ code: { text: "pulse" } })))).toEqual([[0, undefined, "invalid_fhir"]]);
  });

  it("a component with an unknown code is rejected alone; its neighbours are readings", () => {
    const bp = fixture("bloodpressure");
    const map = { code: { coding: [{ system: "http://loinc.org", code: "8478-0" }] }, valueQuantity: { value: 76, code: "mm[Hg]" } };
    const r = ingest({ ...bp, component: [...(bp.component as unknown[]), map] });
    expect(r.readings.map((a) => [a.index, a.metric])).toEqual([[0, "bp_sys"], [0, "bp_dia"]]);
    expect(codes(r)).toEqual([[0, 2, "unknown_metric"]]);
  });

  it("a component in kPa is converted", () => {
    const r = ingest({
      ...fixture("bloodpressure"),
      component: [{ code: { coding: [{ system: "urn:iso:std:iso:11073:10101", code: "150021" }] }, valueQuantity: { value: 16, system: "http://unitsofmeasure.org", code: "kPa" } }],
    });
    expect(r.readings[0].value).toBeCloseTo(16 * 7.50062, 10);
  });
});

describe("documents and bundles", () => {
  it("throws for a document that cannot be read at all", () => {
    const thrown = (x: unknown) => {
      try {
        fhirToItems(x);
      } catch (e) {
        return e instanceof VarselError ? [e.code, e.status] : e;
      }
      return "no error";
    };
    expect(thrown("text")).toEqual(["invalid_fhir", 422]);
    expect(thrown({ status: "final" })).toEqual(["invalid_fhir", 422]);
    expect(thrown({ resourceType: "Bundle", entry: {} })).toEqual(["invalid_fhir", 422]);
    expect(thrown({ resourceType: "Patient", id: "example" })).toEqual(["unsupported_fhir_resource", 422]);
  });

  it("an unsupported or broken entry is rejected alone; its neighbours are kept", () => {
    const r = ingest({
      resourceType: "Bundle",
      type: "transaction",
      entry: [
        { resource: fixture("heart-rate") },
        { resource: { resourceType: "Patient", id: "example" } },
        { request: { method: "DELETE", url: "Observation/1" } },
        "junk",
        { resource: fixture("satO2") },
      ],
    });
    expect(r.readings.map((a) => [a.index, a.metric])).toEqual([[0, "pulse"], [4, "spo2"]]);
    expect(codes(r)).toEqual([
      [1, undefined, "unsupported_fhir_resource"],
      [2, undefined, "invalid_fhir"],
      [3, undefined, "invalid_fhir"],
    ]);
  });

  it("an empty Bundle gives nothing", () => {
    expect(ingest({ resourceType: "Bundle", type: "collection" })).toEqual({ items: 0, readings: [], rejected: [], invalidations: [] });
  });

  it("fhirToItems hands normalize the matched coding and the UCUM code", () => {
    const r = fhirToItems(fixture("body-weight-lb"));
    expect(r.items).toEqual([
      { entry: 0, item: { patient: "example", metric: "http://loinc.org|29463-7", value: 185, unit: "[lb_av]", time: "2016-03-28", id: "example" } },
    ]);
  });
});

describe("canonicalFhir", () => {
  it("gives readings and rejections by entry index; a component's rejection names it in the message", () => {
    const names = ["body-weight-lb", "bloodpressure", "bloodpressure-dar", "bloodpressure-cancel", "satO2", "heart-rate"];
    const batch = canonicalFhir(bundle(...names.map(fixture)), NOW);
    expect(batch.items).toBe(6);
    expect(batch.readings.map((r) => [r.index, r.metric])).toEqual([
      [0, "weight"], [1, "bp_sys"], [1, "bp_dia"], [2, "bp_sys"], [4, "spo2"], [5, "pulse"],
    ]);
    expect(batch.readings[1]).toStrictEqual({ index: 1, patient: "example", metric: "bp_sys", value: 107, time: Date.UTC(2012, 8, 17), id: BP_ID });
    expect(batch.rejected).toStrictEqual([{ index: 2, code: "value_absent", message: "component 1: value absent: not-performed" }]);
    expect(batch.invalidations).toStrictEqual([{ index: 3, id: BP_ID, patient: "example" }]);
  });

  it("a single Observation is entry 0; a document that cannot be read throws as before", () => {
    expect(canonicalFhir(fixture("heart-rate"), NOW)).toMatchObject({ items: 1, readings: [{ index: 0, metric: "pulse" }], rejected: [] });
    expect(() => canonicalFhir({ resourceType: "Patient" }, NOW)).toThrow(VarselError);
    expect(() => canonicalFhir({ resourceType: "Bundle", entry: {} }, NOW)).toThrow(VarselError);
  });

  it("attributes every unit_mismatch to its patient and metric from the same pass", () => {
    const pulse = (patient: string, valueQuantity: unknown) => obs({ subject: { reference: `Patient/${patient}` }, valueQuantity });
    const bp = {
      ...fixture("bloodpressure"),
      component: [{ code: { coding: [{ system: "http://loinc.org", code: "8480-6" }] }, valueQuantity: { value: 120, code: "mmHg-ish" } }],
    };
    const batch = canonicalFhir(
      bundle(pulse("a", { value: 64, code: "bpm" }), pulse("b", { value: 64, code: "/min" }), pulse("c", { value: 64, system: "urn:iso:std:iso:11073:10101", code: "264864" }), bp),
      NOW,
    );
    expect(batch.rejected.map(({ index, code, patient, metric }) => [index, code, patient, metric])).toEqual([
      [0, "unit_mismatch", "a", "pulse"],
      [2, "unit_mismatch", "c", "pulse"],
      [3, "unit_mismatch", "example", "bp_sys"],
    ]);
    expect(batch.rejected[2].message).toBe("component 0: unit 'mmHg-ish' is not accepted for bp_sys (accepted: mm[Hg], kPa)");
    expect(batch.readings.map((r) => r.index)).toEqual([1]);
  });

  it("refuses a lone surrogate in identifier.value or subject.reference, for readings and invalidations", () => {
    const batch = canonicalFhir(
      bundle(
        obs({ identifier: [{ value: "m\ud800" }] }),
        obs({ subject: { reference: "Patient/\ud800" } }),
        obs({ subject: { identifier: { value: "p\u0000" } } }),
        obs({ status: "cancelled", identifier: [{ value: "\udc00" }] }),
        obs({ device: { reference: "Device/\ud800" } }),
        obs({ identifier: [{ value: "m-1" }] }),
      ),
      NOW,
    );
    expect(batch.rejected.map((r) => [r.index, r.code])).toEqual([0, 1, 2, 3, 4].map((i) => [i, "invalid_field"]));
    expect(batch.rejected[0].message).toBe("id is not well-formed Unicode (lone surrogate)");
    expect(batch.rejected[1].message).toBe("patient is not well-formed Unicode (lone surrogate)");
    expect(batch.invalidations).toEqual([]);
    expect(batch.readings.map((r) => [r.index, r.id])).toEqual([[5, "m-1"]]);
  });

  it(`refuses an entry nested deeper than ${MAX_ITEM_DEPTH} levels, and one that throws, alone`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_ITEM_DEPTH; i++) deep = [deep];
    const hostile = { resource: obs() };
    Object.defineProperty(hostile.resource, "status", { enumerable: true, get: () => { throw new Error("boom"); } });
    const getterEntry = {};
    Object.defineProperty(getterEntry, "resource", { enumerable: true, get: () => { throw new Error("boom"); } });
    const batch = canonicalFhir({ resourceType: "Bundle", entry: [{ resource: obs({ extension: deep }) }, hostile, getterEntry, { resource: obs() }] }, NOW);
    expect(batch.rejected.map((r) => [r.index, r.code, r.message])).toEqual([
      [0, "invalid_field", `entry is nested deeper than ${MAX_ITEM_DEPTH} levels`],
      [1, "internal_error", "internal error while validating this item"],
      [2, "internal_error", "internal error while validating this item"],
    ]);
    expect(batch.readings.map((r) => r.index)).toEqual([3]);
  });

  it("clips what it repeats from the document", () => {
    const long = "x".repeat(5000);
    const batch = canonicalFhir(
      bundle(
        obs({ status: long }),
        obs({ code: { coding: Array.from({ length: 1000 }, (_, i) => ({ system: long, code: `${i}` })) } }),
      ),
      NOW,
    );
    const x40 = `${"x".repeat(40)}…`;
    expect(batch.rejected.map((r) => [r.code, r.message])).toEqual([
      ["invalid_fhir", `Observation status '${x40}' carries no usable result`],
      ["unknown_metric", `no coding varsel knows (LOINC, NPU/MedCom, MDC) among: ${Array(5).fill(x40).join(", ")}, …`],
    ]);
  });
});
