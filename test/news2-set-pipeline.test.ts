// Issue 14, point 1: a NEWS2 observation set is scored once, through the whole pipeline with the
// wasm kernel: one alert event per set, `why.missingParameters` exactly the parameters the set
// (and the score's window) lacked, and no not_triaged review items for the readings the score
// consumed (docs/kernel.md, "NEWS2 score").
import { describe, expect, it } from "vitest";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const MIN = 60_000;

function patient(rules = [{ id: "news2", kind: "score" as const, score: "news2" as const, window: "4h" }]): Pipeline {
  const p = new Pipeline();
  p.upsertPatient("p1", { careTeams: [{ team: "t", role: "hospital" }], paused: false, references: {} }, NOW - 3_600_000);
  p.setPatientThresholds("p1", rules, "dr-a", "test", NOW - 3_600_000);
  p.lifecycle.takeEvents();
  return p;
}

type Vitals = Partial<Record<"resp_rate" | "spo2" | "bp_sys" | "pulse" | "temp" | "consciousness", number>>;

/** One request carrying a set of vitals; `spread` ms between consecutive readings' times. */
function send(p: Pipeline, vitals: Vitals, at: number, spread = 0) {
  const items = Object.entries(vitals).map(([metric, value], i) => ({ patient: "p1", metric, value, time: new Date(at + i * spread).toISOString() }));
  const answer = ingestRaw(p, items, ANY_SENDER, NOW);
  return { answer, events: p.lifecycle.takeEvents() };
}

const alertEvents = (events: LifecycleEvent[]) => events.filter((e) => "alert" in e);
const reviews = (events: LifecycleEvent[]) => events.filter((e) => e.type === "review");

const FULL_SET: Vitals = { resp_rate: 26, spo2: 96, bp_sys: 120, pulse: 80, temp: 37.0, consciousness: 0 };

describe("NEWS2 through the pipeline: one score per observation set", () => {
  it("a complete set (resp 26 = 3, the rest 0) raises one yellow alert whose why lists no missing parameter", () => {
    const p = patient();
    const { answer, events } = send(p, FULL_SET, NOW - MIN);
    expect(answer.transitions).toBe(1);
    const alerts = alertEvents(events);
    expect(alerts.map((e) => e.type)).toEqual(["raised"]);
    const alert = p.lifecycle.list({ patient: "p1" }).find((a) => a.rule === "news2")!;
    expect(alert.level).toBe("yellow");
    expect(alert.why.missingParameters).toEqual([]);
  });

  it("the readings a score consumes are triaged by their NEWS2 parameter band, never not_triaged, and raise no review item", () => {
    const p = patient();
    const { answer, events } = send(p, FULL_SET, NOW - MIN);
    expect(answer.readings.map((r) => `${r.metric} ${r.triage}`)).toEqual([
      "resp_rate HH",
      "spo2 N",
      "bp_sys N",
      "pulse N",
      "temp N",
      "consciousness N",
    ]);
    expect(reviews(events)).toEqual([]);
  });

  it("a set scoring 7 raises red once, not yellow then an upgrade inside one request", () => {
    const p = patient();
    // resp 25 (3) + spo2 93 (2) + sys 105 (1) + pulse 95 (1) = 7
    const { events } = send(p, { resp_rate: 25, spo2: 93, bp_sys: 105, pulse: 95, temp: 37, consciousness: 0 }, NOW - MIN);
    const alerts = alertEvents(events);
    expect(alerts.map((e) => e.type)).toEqual(["raised"]);
    expect(p.lifecycle.list({ patient: "p1" }).find((a) => a.rule === "news2")!.level).toBe("red");
  });

  it("a set whose readings lie seconds apart in one request is still one set", () => {
    const p = patient();
    const { events } = send(p, { resp_rate: 25, spo2: 93, bp_sys: 105, pulse: 95, temp: 37, consciousness: 0 }, NOW - 5 * MIN, 20_000);
    expect(alertEvents(events).map((e) => e.type)).toEqual(["raised"]);
  });

  it("why lists exactly the parameters the set lacks and those aged out of the window", () => {
    const p = patient([{ id: "news2", kind: "score", score: "news2", window: "1h" }]);
    send(p, { temp: 37.2 }, NOW - 3 * 3_600_000); // older than the window by the time of the set
    send(p, { resp_rate: 25, spo2: 96, bp_sys: 120, pulse: 80 }, NOW - MIN);
    const alert = p.lifecycle.list({ patient: "p1" }).find((a) => a.rule === "news2")!;
    expect(alert.why.missingParameters).toEqual(["temp", "consciousness"]);
  });

  it("a metric no rule consumes is still a not_triaged review item", () => {
    const p = patient();
    const { answer, events } = send(p, { resp_rate: 16 }, NOW - MIN);
    expect(answer.readings.map((r) => r.triage)).toEqual(["N"]);
    const other = ingestRaw(p, [{ patient: "p1", metric: "weight", value: 80, time: new Date(NOW - MIN).toISOString() }], ANY_SENDER, NOW);
    expect(other.readings.map((r) => r.triage)).toEqual(["not_triaged"]);
    expect(reviews(events)).toEqual([]);
    expect(reviews(p.lifecycle.takeEvents()).map((e) => e.type === "review" && e.metric)).toEqual(["weight"]);
  });
});
