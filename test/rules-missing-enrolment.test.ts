// Whether the day a daily missing rule is armed on counts (`daily.enrolmentDay`, docs/kernel.md
// "Missing data"): a table of cases, each run on the oracle and on the wasm kernel.
import { describe, expect, it } from "vitest";
import { canonicalUnitOf } from "../engine/metrics.js";
import { compileRule } from "../engine/rules/compile.js";
import type { MissingRule } from "../engine/rules/definitions.js";
import { brief, DAY, EVALUATORS, HOUR, MIN, MONDAY, Scenario } from "./support/scenario.js";

// Copenhagen winter time: local = UTC + 1 h. Deadline 12:00 local plus 1 h grace: counted from 13:00 local.
const TZ = HOUR;
/** Monday 2 November 2026 at a local time, plus `days`. */
const local = (h: number, m = 0, days = 0) => MONDAY + days * DAY + h * HOUR + m * MIN - TZ;

type Step = ["read", number] | ["pause" | "unpause", number] | ["tick", number, string[], number?];

interface Case {
  name: string;
  daily?: Partial<NonNullable<MissingRule["daily"]>>;
  armedAt: number;
  steps: Step[];
}

const CASES: Case[] = [
  {
    name: "default (skipped): enrolled Monday 08:00, the first deadline is Tuesday's",
    armedAt: local(8),
    steps: [["tick", local(13), []], ["tick", local(13, 0, 1) - 1, []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "skipped, said explicitly: the same",
    daily: { enrolmentDay: "skipped" },
    armedAt: local(8),
    steps: [["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts: enrolled Monday 08:00, Monday's deadline plus grace is missed",
    daily: { enrolmentDay: "counts" },
    armedAt: local(8),
    steps: [["tick", local(13) - 1, []], ["tick", local(13), ["w raise yellow high"], 1], ["tick", local(13, 0, 1), []]],
  },
  {
    name: "counts, with redAfter 2: Monday and Tuesday missed make it red on Tuesday",
    daily: { enrolmentDay: "counts", redAfter: 2 },
    armedAt: local(8),
    steps: [["tick", local(13), ["w raise yellow high"], 1], ["tick", local(13, 0, 1), ["w upgrade red high"], 2]],
  },
  {
    name: "skipped, with redAfter 2: red only on Wednesday",
    daily: { redAfter: 2 },
    armedAt: local(8),
    steps: [["tick", local(13, 0, 1), ["w raise yellow high"], 1], ["tick", local(13, 0, 2), ["w upgrade red high"], 2]],
  },
  {
    name: "counts, but enrolled at the deadline itself: Monday is not expected",
    daily: { enrolmentDay: "counts" },
    armedAt: local(12),
    steps: [["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts, but enrolled within the grace (12:30): grace is lateness allowed, not time to start",
    daily: { enrolmentDay: "counts" },
    armedAt: local(12, 30),
    steps: [["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts, one millisecond before the deadline: Monday is expected",
    daily: { enrolmentDay: "counts" },
    armedAt: local(12) - 1,
    steps: [["tick", local(13), ["w raise yellow high"], 1]],
  },
  {
    name: "counts: a reading on the enrolment day after enrolment meets it",
    daily: { enrolmentDay: "counts" },
    armedAt: local(8),
    steps: [["read", local(9)], ["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts: a reading earlier that day, before enrolment, meets it too",
    daily: { enrolmentDay: "counts" },
    armedAt: local(8),
    steps: [["read", local(7)], ["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts, but the enrolment day is not a scheduled weekday",
    daily: { enrolmentDay: "counts", weekdays: ["tue"] },
    armedAt: local(8),
    steps: [["tick", local(13), []], ["tick", local(13, 0, 1), ["w raise yellow high"], 1]],
  },
  {
    name: "counts: the day a pause ends is expected when it ends before the deadline",
    daily: { enrolmentDay: "counts" },
    armedAt: local(8),
    steps: [["read", local(9)], ["pause", local(10)], ["unpause", local(9, 0, 2)], ["tick", local(13, 0, 2), ["w raise yellow high"], 1]],
  },
  {
    name: "skipped: the day a pause ends is not",
    armedAt: local(8),
    steps: [["read", local(9)], ["pause", local(10)], ["unpause", local(9, 0, 2)], ["tick", local(13, 0, 2), []], ["tick", local(13, 0, 3), ["w raise yellow high"], 1]],
  },
];

describe.each(EVALUATORS)("daily.enrolmentDay on %s", (name) => {
  for (const c of CASES) {
    it(c.name, () => {
      const rule: MissingRule = { id: "w", kind: "missing", metric: "weight", daily: { deadline: "12:00", grace: "1h", ...c.daily } };
      const s = new Scenario(name, [rule], TZ, c.armedAt);
      for (const step of c.steps) {
        if (step[0] === "read") s.read("weight", 80, step[1]);
        else if (step[0] === "pause" || step[0] === "unpause") s.ev.setSlotPaused(s.slotOf("weight"), step[0] === "pause", step[1]);
        else {
          const [, at, expected, x] = step;
          const transitions = s.tick(at);
          expect(brief(transitions), `tick at ${new Date(at + TZ).toISOString()} local`).toEqual(expected);
          if (x !== undefined) expect(transitions[0].x).toBe(x);
        }
      }
    });
  }
});

describe("daily.enrolmentDay is checked", () => {
  const ctx = { slotOf: () => 0, canonicalUnit: canonicalUnitOf, now: MONDAY };
  it.each([["yes"], [true], ["Counts"]])("%j is refused invalid_threshold", (value) => {
    const rule = { id: "w", kind: "missing", metric: "weight", daily: { deadline: "12:00", enrolmentDay: value } } as unknown as MissingRule;
    expect(() => compileRule(rule, ctx)).toThrow(expect.objectContaining({ code: "invalid_threshold", message: 'rule w: daily.enrolmentDay must be "counts" or "skipped"' }));
  });

  it("counts and skipped compile to different kernel param sets", () => {
    const params = (enrolmentDay: "counts" | "skipped") =>
      compileRule({ id: "w", kind: "missing", metric: "weight", daily: { deadline: "12:00", enrolmentDay } }, ctx).rule.params.enrolmentDay;
    expect([params("skipped"), params("counts")]).toEqual([0, 1]);
  });
});
