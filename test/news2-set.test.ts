// NEWS2 observation sets (docs/kernel.md, "NEWS2 score"), table-driven on the oracle and on the
// wasm kernel: the readings of a score's inputs in one batch within SCORE_SET_MS of the set's
// first reading are scored once, at the set's latest time; the readings are triaged by their
// NEWS2 parameter row.
import { describe, expect, it } from "vitest";
import { SCORE_SET_MS, TRIAGE_H, TRIAGE_HH, TRIAGE_L, TRIAGE_LL, TRIAGE_N } from "../assembly/layout.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { brief, EVALUATORS, HOUR, MIN, MONDAY, Scenario } from "./support/scenario.js";

const NEWS2: RuleDef = { id: "news2", kind: "score", score: "news2", window: "1h" };
const T = MONDAY + 8 * HOUR;
const BIT = { resp_rate: 1, spo2: 2, bp_sys: 4, pulse: 8, temp: 16, consciousness: 32 } as const;

type Reading = [metric: string, value: number, time: number];

interface SetCase {
  name: string;
  rules?: RuleDef[];
  /** Earlier batches, each its own request. */
  before?: Reading[][];
  batch: Reading[];
  transitions: string[];
  /** Per transition: x, missing mask, time. */
  x?: number[];
  missing?: number[];
  times?: number[];
  triage?: number[];
}

const SET_CASES: SetCase[] = [
  {
    name: "the issue's set: six parameters at one time, resp 26 (3) the rest 0 → one yellow, nothing missing",
    batch: [["resp_rate", 26, T], ["spo2", 96, T], ["bp_sys", 120, T], ["pulse", 80, T], ["temp", 37, T], ["consciousness", 0, T]],
    transitions: ["news2 raise yellow high"],
    x: [3],
    missing: [0],
    times: [T],
    triage: [TRIAGE_HH, TRIAGE_N, TRIAGE_N, TRIAGE_N, TRIAGE_N, TRIAGE_N],
  },
  {
    name: "a set scoring 7 is raised red once (no yellow, then upgrade)",
    batch: [["resp_rate", 25, T], ["spo2", 93, T], ["bp_sys", 105, T], ["pulse", 95, T], ["temp", 37, T], ["consciousness", 0, T]],
    transitions: ["news2 raise red high"],
    x: [7],
    missing: [0],
  },
  {
    name: "readings up to SCORE_SET_MS after the first are one set, scored at the latest time",
    batch: [["resp_rate", 25, T], ["spo2", 93, T + MIN], ["bp_sys", 105, T + 4 * MIN], ["pulse", 95, T + SCORE_SET_MS]],
    transitions: ["news2 raise red high"],
    x: [7],
    missing: [BIT.temp | BIT.consciousness],
    times: [T + SCORE_SET_MS],
  },
  {
    name: "a reading past the window closes the set before it is applied: two sets, two scores",
    batch: [["resp_rate", 25, T], ["spo2", 91, T + SCORE_SET_MS + 1], ["pulse", 135, T + SCORE_SET_MS + 1]],
    transitions: ["news2 raise yellow high", "news2 upgrade red high"],
    x: [3, 9],
    missing: [0b111110, BIT.bp_sys | BIT.temp | BIT.consciousness],
    times: [T, T + SCORE_SET_MS + 1],
  },
  {
    name: "an input read twice in a set counts with its latest value",
    batch: [["resp_rate", 25, T], ["spo2", 91, T], ["spo2", 97, T + MIN]],
    transitions: ["news2 raise yellow high"],
    x: [3],
    triage: [TRIAGE_HH, TRIAGE_LL, TRIAGE_N],
  },
  {
    name: "why: parameters absent from the set and those aged out of the window are missing",
    before: [[["temp", 37.2, T - 2 * HOUR], ["consciousness", 0, T - 30 * MIN]]],
    batch: [["resp_rate", 25, T], ["spo2", 96, T], ["bp_sys", 120, T], ["pulse", 80, T]],
    transitions: ["news2 raise yellow high"],
    x: [3],
    missing: [BIT.temp],
  },
  {
    name: "sets do not span requests: a second request at the same time is scored again",
    before: [[["resp_rate", 25, T]]],
    batch: [["spo2", 91, T], ["pulse", 135, T]],
    transitions: ["news2 upgrade red high"],
    x: [9],
  },
  {
    name: "two scores fed by the same readings: one transition each, in the order their sets opened",
    rules: [NEWS2, { ...NEWS2, id: "news2-strict", limits: { yellowHigh: 2, redHigh: 3 } }],
    // resp 25 (3) + spo2 95 (1) = 4: yellow by default (a single 3), red on the strict limits
    batch: [["resp_rate", 25, T], ["spo2", 95, T]],
    transitions: ["news2 raise yellow high", "news2-strict raise red high"],
    x: [4, 4],
  },
  {
    name: "a batch spanning hours scores each set at its own time",
    batch: [["resp_rate", 25, T - 3 * HOUR], ["resp_rate", 16, T]],
    transitions: ["news2 raise yellow high", "news2 resolve none high"],
    times: [T - 3 * HOUR, T],
  },
];

// The NEWS2 chart row of each parameter as a triage code: 0 points N, 1–2 L/H, 3 LL/HH.
const TRIAGE_CASES: [metric: string, value: number, scale: 1 | 2, onOxygen: boolean, code: number][] = [
  ["resp_rate", 8, 1, false, TRIAGE_LL],
  ["resp_rate", 11, 1, false, TRIAGE_L],
  ["resp_rate", 12, 1, false, TRIAGE_N],
  ["resp_rate", 20, 1, false, TRIAGE_N],
  ["resp_rate", 21, 1, false, TRIAGE_H],
  ["resp_rate", 25, 1, false, TRIAGE_HH],
  ["spo2", 91, 1, false, TRIAGE_LL],
  ["spo2", 93, 1, false, TRIAGE_L],
  ["spo2", 95, 1, false, TRIAGE_L],
  ["spo2", 96, 1, false, TRIAGE_N],
  ["spo2", 83, 2, false, TRIAGE_LL],
  ["spo2", 87, 2, false, TRIAGE_L],
  ["spo2", 90, 2, false, TRIAGE_N],
  ["spo2", 97, 2, false, TRIAGE_N],
  ["spo2", 93, 2, true, TRIAGE_H],
  ["spo2", 97, 2, true, TRIAGE_HH],
  ["bp_sys", 90, 1, false, TRIAGE_LL],
  ["bp_sys", 101, 1, false, TRIAGE_L],
  ["bp_sys", 219, 1, false, TRIAGE_N],
  ["bp_sys", 220, 1, false, TRIAGE_HH],
  ["pulse", 40, 1, false, TRIAGE_LL],
  ["pulse", 50, 1, false, TRIAGE_L],
  ["pulse", 91, 1, false, TRIAGE_H],
  ["pulse", 130, 1, false, TRIAGE_H],
  ["pulse", 131, 1, false, TRIAGE_HH],
  ["temp", 35, 1, false, TRIAGE_LL],
  ["temp", 36, 1, false, TRIAGE_L],
  ["temp", 36.1, 1, false, TRIAGE_N],
  ["temp", 38.5, 1, false, TRIAGE_H],
  ["temp", 39.1, 1, false, TRIAGE_H],
  ["consciousness", 0, 1, false, TRIAGE_N],
  ["consciousness", 1, 1, false, TRIAGE_HH],
];

describe.each(EVALUATORS)("NEWS2 observation sets on %s", (name) => {
  it.each(SET_CASES)("$name", (c) => {
    const s = new Scenario(name, c.rules ?? [NEWS2]);
    for (const batch of c.before ?? []) s.readAll(batch, Math.max(...batch.map((r) => r[2])));
    const result = s.readAll(c.batch, T + HOUR);
    expect(brief(result.transitions)).toEqual(c.transitions);
    if (c.x !== undefined) expect(result.transitions.map((t) => t.x)).toEqual(c.x);
    if (c.missing !== undefined) expect(result.transitions.map((t) => t.detail & 0xff)).toEqual(c.missing);
    if (c.times !== undefined) expect(result.transitions.map((t) => t.time)).toEqual(c.times);
    if (c.triage !== undefined) expect(result.triage).toEqual(c.triage);
  });

  it.each(TRIAGE_CASES)("%s %d (scale %d, oxygen %s) is triaged %d by its NEWS2 row", (metric, value, scale, onOxygen, code) => {
    const s = new Scenario(name, [{ ...NEWS2, scale, onOxygen }]);
    expect(s.read(metric, value, T).triage).toBe(code);
  });

  it("a metric that is no input of a score stays not triaged", () => {
    const s = new Scenario(name, [NEWS2]);
    expect(s.read("weight", 80, T).triage).toBe(0);
  });
});
