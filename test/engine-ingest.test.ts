// Ingest end to end on the real wasm kernel, through the production wiring (raw items validated
// into a canonical batch, then Pipeline.ingest → Engine.evaluateColumns → lifecycle): codes for
// the bad items, triage and transitions for the valid ones — a bad item never costs its
// neighbours their evaluation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VarselError } from "../engine/errors.js";
import { canonicalFhir } from "../engine/ingest/canonical.js";
import type { AlertEvent, LifecycleEvent } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestFhirRaw, ingestRaw } from "./support/ingest.js";

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const DAY = 86_400_000;
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../shared/fixtures/fhir/${name}`, import.meta.url), "utf8"));

function heartPatient(id = "p1"): Pipeline {
  const p = new Pipeline({ lifecycle: { latching: {} } });
  p.upsertPatient(id, { programme: "telehjerte", careTeams: [], paused: false, references: {} }, NOW - DAY);
  return p;
}

const alertEvents = (events: LifecycleEvent[]) => events.filter((e): e is AlertEvent => e.type !== "review" && e.type !== "silence");

/** The transition behind each raised/updated/resolved event: rule, kind, level, priority, interpretation, trigger reading index. */
function transitions(p: Pipeline): string[] {
  return alertEvents(p.lifecycle.takeEvents())
    .filter((e) => e.type === "raised" || e.type === "updated" || e.type === "resolved")
    .map((e) => {
      const t = e.alert.why.readings.at(-1)!;
      return `${e.alert.rule} ${t.transition} ${e.type === "resolved" ? "none" : e.alert.level} ${e.alert.priority} ${e.alert.interpretation} #${t.index}`;
    });
}

describe("engine ingest", () => {
  it("rejects each bad item with its index and code and still evaluates the valid ones", () => {
    const p = heartPatient();
    const at = new Date(NOW - 60_000).toISOString();
    const answer = ingestRaw(
      p,
      [
        { patient: "p1", metric: "bp_sys", value: 185, unit: "mm[Hg]", time: at },
        { patient: "p1", metric: "bp_sys", value: Number.NaN, time: at },
        { patient: "p1", metric: "pulse", value: 900, time: at },
        { patient: "p1", metric: "height", value: 180, time: at },
        { patient: "p1", metric: "weight", value: 80, unit: "stone", time: at },
        { patient: "nobody", metric: "pulse", value: 70, time: at },
        { patient: "p1", metric: "pulse", value: 45, unit: "/min", time: at },
      ],
      ANY_SENDER,
      NOW,
    );
    expect(answer.accepted).toBe(2);
    expect(answer.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, "not_a_number"],
      [2, "implausible_value"],
      [3, "unknown_metric"],
      [4, "unit_mismatch"],
      [5, "unknown_patient"],
    ]);
    expect(answer.readings.map((r) => [r.index, r.triage])).toEqual([
      [0, "HH"],
      [6, "L"],
    ]);
    expect(answer.transitions).toBe(2);
    expect(transitions(p)).toEqual(["bp-sys-band raise red high HH #0", "pulse-band raise yellow medium L #6"]);
  });

  it("a metric without thresholds is reported as not triaged", () => {
    const p = heartPatient();
    const answer = ingestRaw(p, [{ patient: "p1", metric: "temp", value: 39.5, time: NOW }], ANY_SENDER, NOW);
    expect(answer.readings[0].triage).toBe("not_triaged");
    expect(answer.transitions).toBe(0);
  });

  it("converts units before judging: 185 lb is 83.9 kg and triggers the weight-gain rule", () => {
    const p = heartPatient();
    ingestRaw(p, [{ patient: "p1", metric: "weight", value: 81, unit: "kg", time: NOW - DAY }], ANY_SENDER, NOW);
    const answer = ingestRaw(p, [{ patient: "p1", metric: "weight", value: 185, unit: "[lb_av]", time: NOW }], ANY_SENDER, NOW);
    expect(answer.transitions).toBe(1);
    const [alert] = p.lifecycle.list({ patient: "p1" });
    expect(`${alert.rule} ${alert.why.readings[0].transition} ${alert.level} ${alert.direction}`).toBe("weight-change raise red high");
    expect(alert.why.readings[0].readingValue).toBeCloseTo(83.91458845, 6);
  });

  it("evaluates the official HL7 blood-pressure example as two readings", () => {
    const resource = fixture("observation-example-bloodpressure.json");
    expect(canonicalFhir(resource, NOW).readings.map((r) => [r.patient, r.metric, r.value])).toEqual([
      ["example", "bp_sys", 107],
      ["example", "bp_dia", 60],
    ]);
    const answer = ingestFhirRaw(heartPatient("example"), resource, ANY_SENDER, NOW);
    expect(answer.accepted).toBe(2);
    expect(answer.readings.map((r) => [r.metric, r.triage])).toEqual([
      ["bp_sys", "N"],
      ["bp_dia", "N"],
    ]);
  });

  it("sorts an upload by time, so readings sent newest first are all evaluated", () => {
    const p = heartPatient();
    const answer = ingestRaw(
      p,
      [
        { patient: "p1", metric: "pulse", value: 125, time: NOW - 1000 },
        { patient: "p1", metric: "pulse", value: 70, time: NOW - 2000 },
      ],
      ANY_SENDER,
      NOW,
    );
    expect(answer.readings.map((r) => [r.index, r.triage])).toEqual([
      [1, "N"],
      [0, "HH"],
    ]);
  });

  it("refuses an invalid threshold and leaves the patient's rules as they were", () => {
    const p = heartPatient();
    const bad = [{ id: "pulse-band", kind: "band" as const, metric: "pulse", limits: { yellowHigh: 120, redHigh: 110 } }];
    expect(() => p.checkPatientThresholds("p1", bad, NOW)).toThrow(VarselError);
    expect(p.thresholds.patientHistory("p1")).toEqual([]);
    ingestRaw(p, [{ patient: "p1", metric: "pulse", value: 115, time: NOW }], ANY_SENDER, NOW);
    expect(transitions(p).map((t) => t.split(" ").slice(0, 3).join(" "))).toEqual(["pulse-band raise yellow"]);
  });

  it("a changed limit keeps the open alert and judges the next reading by the new limit", () => {
    const p = heartPatient();
    ingestRaw(p, [{ patient: "p1", metric: "pulse", value: 105, time: NOW - 2000 }], ANY_SENDER, NOW);
    const [open] = p.lifecycle.list({ patient: "p1" });
    p.lifecycle.takeEvents();
    p.setPatientThresholds("p1", [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 110, redHigh: 130 } }], "dr", "test", NOW);
    expect(p.lifecycle.get(open.id).state).toBe("firing");
    const answer = ingestRaw(p, [{ patient: "p1", metric: "pulse", value: 108, time: NOW - 1000 }], ANY_SENDER, NOW);
    expect(answer.transitions).toBe(1);
    expect(transitions(p).map((t) => t.split(" ").slice(0, 2).join(" "))).toEqual(["pulse-band resolve"]);
    expect(p.lifecycle.get(open.id).state).toBe("resolved");
  });

  it("the clock raises missing data for a patient who has not weighed in", () => {
    const p = heartPatient();
    p.tick(NOW + 2 * DAY);
    const raised = alertEvents(p.lifecycle.takeEvents()).filter((e) => e.type === "raised");
    expect(raised.map((e) => `${e.alert.rule} ${e.alert.why.readings[0].transition} ${e.alert.level} value=${e.alert.why.readings[0].value}`)).toEqual([
      "weight-missing raise yellow value=2",
    ]);
  });

  it("evaluates a batch exactly as its readings one by one: time order, ties in request order, transitions by request index", () => {
    // Out of time order, with ties, crossing limits both ways, on several slots.
    const items = [
      { metric: "pulse", value: 125, dt: -30 },
      { metric: "bp_sys", value: 185, dt: -50 },
      { metric: "pulse", value: 70, dt: -10 },
      { metric: "pulse", value: 110, dt: -30 },
      { metric: "bp_sys", value: 120, dt: -20 },
      { metric: "bp_dia", value: 100, dt: -50 },
      { metric: "pulse", value: 45, dt: -40 },
    ].map((it) => ({ patient: "p1", metric: it.metric, value: it.value, time: NOW + it.dt * 1000 }));
    const summary = (e: AlertEvent, index?: number) => {
      const t = e.alert.why.readings.at(-1)!;
      return [e.seq, e.type, e.change ?? null, e.alert.rule, e.alert.level, t.transition, t.time, t.value, t.readingValue, index ?? t.index];
    };

    const batch = heartPatient();
    const answer = ingestRaw(batch, items, ANY_SENDER, NOW);
    const got = alertEvents(batch.lifecycle.takeEvents()).map((e) => summary(e));

    // The same readings one at a time, in time order (ties in request order), into another pipeline.
    const single = heartPatient();
    const order = items.map((_, i) => i).sort((a, b) => items[a].time - items[b].time || a - b);
    const expected: { index: number; triage: string }[] = [];
    const expectedEvents: unknown[] = [];
    for (const i of order) {
      const one = ingestRaw(single, [items[i]], ANY_SENDER, NOW);
      expected.push({ index: i, triage: one.readings[0].triage });
      for (const e of alertEvents(single.lifecycle.takeEvents())) expectedEvents.push(summary(e, i));
    }
    expect(answer.readings.map((r) => ({ index: r.index, triage: r.triage }))).toEqual(expected);
    expect(got).toEqual(expectedEvents);
    expect(answer.transitions).toBeGreaterThan(2);
  });
});
