// Band rules (RAL/GAL): strict limits, tested on both sides of every limit, plus the
// alarm-fatigue modifiers (N of M, for, clear margin, keep firing for). Each case runs on the
// oracle and on the wasm kernel.
import { describe, expect, it } from "vitest";
import { TRIAGE_H, TRIAGE_HH, TRIAGE_L, TRIAGE_LL, TRIAGE_N, TRIAGE_NOT_TRIAGED } from "../assembly/layout.js";
import type { BandRule } from "../engine/rules/definitions.js";
import { brief, EVALUATORS, HOUR, MIN, MONDAY, Scenario } from "./support/scenario.js";

const PULSE: BandRule = { id: "pulse", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 110 } };

describe.each(EVALUATORS)("band rule on %s", (name) => {
  it.each([
    [39.9, TRIAGE_LL],
    [40, TRIAGE_L],
    [40.1, TRIAGE_L],
    [49.9, TRIAGE_L],
    [50, TRIAGE_N],
    [50.1, TRIAGE_N],
    [99.9, TRIAGE_N],
    [100, TRIAGE_N],
    [100.1, TRIAGE_H],
    [110, TRIAGE_H],
    [110.1, TRIAGE_HH],
  ])("pulse %d triages as code %d (a value on a limit is inside)", (value, code) => {
    const s = new Scenario(name, [PULSE]);
    expect(s.read("pulse", value, MONDAY).triage).toBe(code);
  });

  it("raises, upgrades, downgrades and resolves one alert per rule", () => {
    const s = new Scenario(name, [PULSE]);
    const t = MONDAY;
    expect(brief(s.read("pulse", 105, t).transitions)).toEqual(["pulse raise yellow high"]);
    expect(brief(s.read("pulse", 106, t + 1).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 120, t + 2).transitions)).toEqual(["pulse upgrade red high"]);
    expect(brief(s.read("pulse", 101, t + 3).transitions)).toEqual(["pulse downgrade yellow high"]);
    expect(brief(s.read("pulse", 70, t + 4).transitions)).toEqual(["pulse resolve none high"]);
  });

  it("a change of direction ends the old alert and raises a new one", () => {
    const s = new Scenario(name, [PULSE]);
    s.read("pulse", 105, MONDAY);
    expect(brief(s.read("pulse", 45, MONDAY + 1).transitions)).toEqual(["pulse resolve none high", "pulse raise yellow low"]);
  });

  it("a metric without a rule is not triaged, never green", () => {
    const s = new Scenario(name, [PULSE]);
    expect(s.read("temp", 37, MONDAY).triage).toBe(TRIAGE_NOT_TRIAGED);
  });

  it("N of M: fires when 2 of the last 3 readings are out of band and clears when fewer are", () => {
    const s = new Scenario(name, [{ ...PULSE, modifiers: { nOfM: [2, 3] } }]);
    const t = MONDAY;
    expect(brief(s.read("pulse", 105, t).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 70, t + 1).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 104, t + 2).transitions)).toEqual(["pulse raise yellow high"]);
    expect(brief(s.read("pulse", 103, t + 3).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 70, t + 4).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 70, t + 5).transitions)).toEqual(["pulse resolve none high"]);
  });

  it("for: fires only after the condition held the whole duration, from a reading or the clock", () => {
    const s = new Scenario(name, [{ ...PULSE, modifiers: { for: "15m" } }]);
    const t = MONDAY;
    expect(brief(s.read("pulse", 105, t).transitions)).toEqual([]);
    expect(brief(s.tick(t + 14 * MIN))).toEqual([]);
    expect(brief(s.tick(t + 15 * MIN))).toEqual(["pulse raise yellow high"]);
    // One in-band reading resets the run.
    s.read("pulse", 70, t + 16 * MIN);
    s.read("pulse", 106, t + 17 * MIN);
    expect(brief(s.read("pulse", 107, t + 31 * MIN).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 107, t + 32 * MIN).transitions)).toEqual(["pulse raise yellow high"]);
  });

  it("clear margin: the value must come back past the limit by the margin", () => {
    const s = new Scenario(name, [{ ...PULSE, modifiers: { clearMargin: 5 } }]);
    s.read("pulse", 105, MONDAY);
    expect(brief(s.read("pulse", 96, MONDAY + 1).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 95.1, MONDAY + 2).transitions)).toEqual([]);
    expect(brief(s.read("pulse", 95, MONDAY + 3).transitions)).toEqual(["pulse resolve none high"]);
  });

  it("keep firing for: a cleared alert stays until the hold has passed, an upgrade is never held", () => {
    const s = new Scenario(name, [{ ...PULSE, modifiers: { keepFiringFor: "1h" } }]);
    const t = MONDAY;
    s.read("pulse", 105, t);
    expect(brief(s.read("pulse", 70, t + MIN).transitions)).toEqual([]);
    expect(brief(s.tick(t + MIN + HOUR - 1))).toEqual([]);
    expect(brief(s.tick(t + MIN + HOUR))).toEqual(["pulse resolve none high"]);
    s.read("pulse", 105, t + 2 * HOUR);
    expect(brief(s.read("pulse", 130, t + 2 * HOUR + 1).transitions)).toEqual(["pulse upgrade red high"]);
  });

  it("out-of-order and duplicate times are reported and leave the alert alone", () => {
    const s = new Scenario(name, [PULSE]);
    s.read("pulse", 105, MONDAY + HOUR);
    const late = s.read("pulse", 70, MONDAY);
    const dup = s.read("pulse", 70, MONDAY + HOUR);
    expect([late.triage, dup.triage]).toEqual([7, 8]);
    expect(brief([...late.transitions, ...dup.transitions])).toEqual([]);
  });
});
