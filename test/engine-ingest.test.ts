// The engine end to end on the real wasm kernel: raw items in, codes for the bad ones, triage
// and transitions for the valid ones — a bad item never costs its neighbours their evaluation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Engine } from "../engine/engine.js";
import { ingestFhir } from "../engine/ingest/fhir.js";
import { VarselError } from "../engine/errors.js";
import { ReadingColumns } from "../engine/ingest/columns.js";
import { TRIAGE_NAMES } from "../engine/alerts.js";
import { metricByKey } from "../engine/metrics.js";

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../shared/fixtures/fhir/${name}`, import.meta.url), "utf8"));

function heartPatient(): Engine {
  const engine = new Engine();
  engine.configurePatient("p1", { programme: "telehjerte" }, NOW - 86_400_000);
  return engine;
}

describe("engine ingest", () => {
  it("rejects each bad item with its index and code and still evaluates the valid ones", () => {
    const engine = heartPatient();
    const at = new Date(NOW - 60_000).toISOString();
    const result = engine.ingest(
      [
        { patient: "p1", metric: "bp_sys", value: 185, unit: "mm[Hg]", time: at },
        { patient: "p1", metric: "bp_sys", value: Number.NaN, time: at },
        { patient: "p1", metric: "pulse", value: 900, time: at },
        { patient: "p1", metric: "height", value: 180, time: at },
        { patient: "p1", metric: "weight", value: 80, unit: "stone", time: at },
        { patient: "nobody", metric: "pulse", value: 70, time: at },
        { patient: "p1", metric: "pulse", value: 45, unit: "/min", time: at },
      ],
      NOW,
    );
    expect(result.accepted).toBe(2);
    expect(result.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, "not_a_number"],
      [2, "implausible_value"],
      [3, "unknown_metric"],
      [4, "unit_mismatch"],
      [5, "unknown_patient"],
    ]);
    expect(result.readings.map((r) => [r.index, r.triage])).toEqual([
      [0, "HH"],
      [6, "L"],
    ]);
    expect(result.transitions.map((t) => `${t.rule} ${t.kind} ${t.to} ${t.priority} ${t.interpretation} #${t.reading}`)).toEqual([
      "bp-sys-band raise red high HH #0",
      "pulse-band raise yellow medium L #6",
    ]);
  });

  it("a metric without thresholds is reported as not triaged", () => {
    const engine = heartPatient();
    const result = engine.ingest([{ patient: "p1", metric: "temp", value: 39.5, time: NOW }], NOW);
    expect(result.readings[0].triage).toBe("not_triaged");
    expect(result.transitions).toEqual([]);
  });

  it("converts units before judging: 185 lb is 83.9 kg and triggers the weight-gain rule", () => {
    const engine = heartPatient();
    engine.ingest([{ patient: "p1", metric: "weight", value: 81, unit: "kg", time: NOW - 86_400_000 }], NOW);
    const result = engine.ingest([{ patient: "p1", metric: "weight", value: 185, unit: "[lb_av]", time: NOW }], NOW);
    expect(result.readings[0].value).toBeCloseTo(83.91458845, 6);
    expect(result.transitions.map((t) => `${t.rule} ${t.kind} ${t.to} ${t.direction}`)).toEqual(["weight-change raise red high"]);
  });

  it("evaluates the official HL7 blood-pressure example as two readings", () => {
    const engine = heartPatient();
    const fhir = ingestFhir(fixture("observation-example-bloodpressure.json"), NOW, (ref) => (ref === "example" ? "p1" : undefined));
    const result = engine.evaluate(fhir.accepted.map((a, index) => ({ index, reading: a.reading })), NOW);
    expect(result.readings.map((r) => [r.metric, r.value, r.triage])).toEqual([
      ["bp_sys", 107, "N"],
      ["bp_dia", 60, "N"],
    ]);
  });

  it("sorts an upload by time, so readings sent newest first are all evaluated", () => {
    const engine = heartPatient();
    const result = engine.ingest(
      [
        { patient: "p1", metric: "pulse", value: 125, time: NOW - 1000 },
        { patient: "p1", metric: "pulse", value: 70, time: NOW - 2000 },
      ],
      NOW,
    );
    expect(result.readings.map((r) => [r.index, r.triage])).toEqual([
      [1, "N"],
      [0, "HH"],
    ]);
  });

  it("refuses an invalid threshold and leaves the patient's rules as they were", () => {
    const engine = heartPatient();
    expect(() =>
      engine.configurePatient(
        "p1",
        { programme: "telehjerte", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 120, redHigh: 110 } }] },
        NOW,
      ),
    ).toThrow(VarselError);
    const result = engine.ingest([{ patient: "p1", metric: "pulse", value: 115, time: NOW }], NOW);
    expect(result.transitions.map((t) => `${t.rule} ${t.to}`)).toEqual(["pulse-band yellow"]);
  });

  it("a changed limit keeps the open alert and judges the next reading by the new limit", () => {
    const engine = heartPatient();
    engine.ingest([{ patient: "p1", metric: "pulse", value: 105, time: NOW - 2000 }], NOW);
    engine.configurePatient(
      "p1",
      { programme: "telehjerte", rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 110, redHigh: 130 } }] },
      NOW,
    );
    const result = engine.ingest([{ patient: "p1", metric: "pulse", value: 108, time: NOW - 1000 }], NOW);
    expect(result.transitions.map((t) => `${t.rule} ${t.kind}`)).toEqual(["pulse-band resolve"]);
  });

  it("the clock raises missing data for a patient who has not weighed in", () => {
    const engine = heartPatient();
    const transitions = engine.tick(NOW + 2 * 86_400_000);
    expect(transitions.map((t) => `${t.rule} ${t.kind} ${t.to} value=${t.value}`)).toEqual(["weight-missing raise yellow value=2"]);
  });

  it("evaluates columns exactly as reading objects: time order, ties in request order, transitions by request index", () => {
    // Out of time order, with ties, crossing limits both ways, on several slots.
    const items = [
      { metric: "pulse", value: 125, dt: -30 },
      { metric: "bp_sys", value: 185, dt: -50 },
      { metric: "pulse", value: 70, dt: -10 },
      { metric: "pulse", value: 110, dt: -30 },
      { metric: "bp_sys", value: 120, dt: -20 },
      { metric: "bp_dia", value: 100, dt: -50 },
      { metric: "pulse", value: 45, dt: -40 },
    ];
    const objects = heartPatient();
    const expected = objects.evaluate(
      items.map((it, index) => ({ index, reading: { patient: "p1", metric: it.metric as never, metricIndex: metricByKey(it.metric)!.index, value: it.value, time: NOW + it.dt * 1000 } })),
      NOW,
    );
    const columns = heartPatient();
    const cols = new ReadingColumns();
    items.forEach((it, index) => cols.push(columns.patients.slotOf("p1", it.metric), NOW + it.dt * 1000, it.value, metricByKey(it.metric)!.index, index));
    const got = columns.evaluateColumns(cols, NOW);
    const order = Array.from({ length: items.length }, (_, k) => (got.order === undefined ? k : got.order[k]));
    expect(order.map((pos, k) => ({ index: cols.index[pos], triage: TRIAGE_NAMES[got.triage[k]] }))).toEqual(
      expected.readings.map((r) => ({ index: r.index, triage: r.triage })),
    );
    expect(got.transitions).toEqual(expected.transitions);
    expect(got.transitions.length).toBeGreaterThan(2);
  });
});
