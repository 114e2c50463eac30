// The clinical cases of ../shared/spec/rules.md and thresholds.md, on the programme defaults
// where they exist, each run on the oracle and on the wasm kernel.
import { describe, expect, it } from "vitest";
import { TRIAGE_LL, TRIAGE_N, TRIAGE_REF_NEEDED } from "../assembly/layout.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { PROGRAMMES } from "../engine/rules/programmes.js";
import { brief, DAY, EVALUATORS, HOUR, MIN, MONDAY, Scenario } from "./support/scenario.js";

const rule = (programme: keyof typeof PROGRAMMES, id: string): RuleDef => {
  const found = PROGRAMMES[programme].rules.find((r) => r.id === id);
  if (found === undefined) throw new Error(`no rule ${id} in ${programme}`);
  return found;
};

describe.each(EVALUATORS)("clinical rules on %s", (name) => {
  describe("heart failure weight gain (delta over 72 h)", () => {
    it("+2.1 kg in 3 days is red, +1.9 kg is yellow only", () => {
      const s = new Scenario(name, [rule("telehjerte", "weight-change")]);
      s.read("weight", 80.0, MONDAY + 8 * HOUR);
      s.read("weight", 80.5, MONDAY + DAY + 8 * HOUR);
      expect(brief(s.read("weight", 81.9, MONDAY + 2 * DAY + 8 * HOUR).transitions)).toEqual(["weight-change raise yellow high"]);
      const gain = s.read("weight", 82.1, MONDAY + 3 * DAY + 8 * HOUR);
      expect(brief(gain.transitions)).toEqual(["weight-change upgrade red high"]);
      expect(gain.transitions[0].x).toBeCloseTo(2.1, 4);
    });

    it("a gain measured against a reading older than the window does not count", () => {
      const s = new Scenario(name, [rule("telehjerte", "weight-change")]);
      s.read("weight", 80.0, MONDAY);
      expect(brief(s.read("weight", 82.5, MONDAY + 72 * HOUR + 1).transitions)).toEqual([]);
    });

    it("a fast loss (over-diuresis) is flagged low", () => {
      const s = new Scenario(name, [rule("telehjerte", "weight-change")]);
      s.read("weight", 84.0, MONDAY);
      expect(brief(s.read("weight", 81.5, MONDAY + DAY).transitions)).toEqual(["weight-change raise yellow low"]);
    });
  });

  describe("NEWS2 (scale 1, readings within an hour)", () => {
    const NEWS2: RuleDef = { id: "news2", kind: "score", score: "news2", window: "1h" };
    const vitals = (s: Scenario, v: { resp: number; spo2: number; sys: number; pulse: number; temp: number }, t: number) =>
      s.readAll(
        [
          ["resp_rate", v.resp, t],
          ["spo2", v.spo2, t + 1],
          ["bp_sys", v.sys, t + 2],
          ["pulse", v.pulse, t + 3],
          ["temp", v.temp, t + 4],
        ],
        t + 5,
      ).transitions;

    it("0–4 is low: no alert", () => {
      const s = new Scenario(name, [NEWS2]);
      // resp 22 (2) + spo2 95 (1) + pulse 95 (1) = 4
      expect(brief(vitals(s, { resp: 22, spo2: 95, sys: 120, pulse: 95, temp: 37 }, MONDAY))).toEqual([]);
    });

    it("5–6 is medium (yellow) and reports the parameters the set lacks", () => {
      const s = new Scenario(name, [NEWS2]);
      // resp 22 (2) + spo2 94 (1) + sys 105 (1) + pulse 95 (1) + temp 37 (0) = 5, scored once for the set
      const t = vitals(s, { resp: 22, spo2: 94, sys: 105, pulse: 95, temp: 37 }, MONDAY);
      expect(brief(t)).toEqual(["news2 raise yellow high"]);
      expect(t[0].x).toBe(5);
      // only consciousness (bit 5) was not in the set
      expect(t[0].detail & 0xff).toBe(1 << 5);
    });

    it(">= 7 is high (red), raised once for the set", () => {
      const s = new Scenario(name, [NEWS2]);
      // resp 25 (3) + spo2 93 (2) + sys 105 (1) + pulse 115 (2) = 8
      const t = vitals(s, { resp: 25, spo2: 93, sys: 105, pulse: 115, temp: 37 }, MONDAY);
      expect(brief(t)).toEqual(["news2 raise red high"]);
      expect(t[0].x).toBe(8);
    });

    it("a single parameter scoring 3 is a low-medium trigger (yellow) on its own", () => {
      const s = new Scenario(name, [NEWS2]);
      const t = vitals(s, { resp: 16, spo2: 98, sys: 85, pulse: 70, temp: 37 }, MONDAY);
      expect(brief(t)).toEqual(["news2 raise yellow high"]);
      expect(t[0].x).toBe(3);
      expect(t[0].detail >> 8).toBe(1);
    });

    it("scale 2 scores 88–92 % as 0 and, on oxygen, adds 2 and scores high saturations", () => {
      const air = new Scenario(name, [{ ...NEWS2, scale: 2 }]);
      expect(brief(air.read("spo2", 89, MONDAY).transitions)).toEqual([]);
      const oxygen = new Scenario(name, [{ ...NEWS2, scale: 2, onOxygen: true }]);
      // 97 % on oxygen scores 3, plus 2 for oxygen = 5
      const t = oxygen.read("spo2", 97, MONDAY).transitions;
      expect(brief(t)).toEqual(["news2 raise yellow high"]);
      expect(t[0].x).toBe(5);
    });

    it("readings older than the window are missing, not scored", () => {
      const s = new Scenario(name, [NEWS2]);
      s.read("resp_rate", 25, MONDAY); // 3 on its own: yellow
      // Two hours later spo2 91 (3) + pulse 135 (3) = 6 stays yellow; with the stale resp (3) it would be 9, red.
      const later = s.readAll([["spo2", 91, MONDAY + 2 * HOUR], ["pulse", 135, MONDAY + 2 * HOUR + 1]], MONDAY + 2 * HOUR + 2);
      expect(brief(later.transitions)).toEqual([]);
    });
  });

  describe("CGM (Nightscout defaults in mmol/L)", () => {
    const cgm = () => new Scenario(name, PROGRAMMES.cgm.rules.filter((r) => r.kind !== "missing"));

    it("urgent low fires at once, red", () => {
      const s = cgm();
      const r = s.read("cgm", 3.0, MONDAY);
      expect(r.triage).toBe(TRIAGE_LL);
      expect(brief(r.transitions)).toContain("cgm-low raise red low");
    });

    it("a high must persist 15 minutes", () => {
      const s = cgm();
      expect(brief(s.read("cgm", 10.5, MONDAY).transitions)).toEqual([]);
      expect(brief(s.read("cgm", 10.8, MONDAY + 10 * MIN).transitions)).toEqual([]);
      expect(brief(s.read("cgm", 11.0, MONDAY + 15 * MIN).transitions)).toEqual(["cgm-high raise yellow high"]);
    });

    it("predicts a low 20 minutes ahead from a falling trend", () => {
      const s = cgm();
      expect(brief(s.read("cgm", 8.0, MONDAY).transitions)).toEqual([]);
      expect(brief(s.read("cgm", 7.5, MONDAY + 5 * MIN).transitions)).toEqual([]);
      expect(brief(s.read("cgm", 7.0, MONDAY + 10 * MIN).transitions)).toEqual([]);
      // least-squares slope -0.16/min; forecast 5.5 - 0.16 * 20 = 2.3 < 3.1
      const r = s.read("cgm", 5.5, MONDAY + 15 * MIN);
      expect(brief(r.transitions)).toEqual(["cgm-predicted-low raise red low"]);
      expect(r.transitions[0].x).toBeCloseTo(2.3, 6);
      expect(r.triage).toBe(TRIAGE_LL);
    });

    it("stale data: yellow after 15 minutes, red after 30, resolved by the next reading", () => {
      const s = new Scenario(name, [rule("cgm", "cgm-stale")]);
      s.read("cgm", 6, MONDAY);
      expect(brief(s.tick(MONDAY + 15 * MIN))).toEqual([]);
      expect(brief(s.tick(MONDAY + 15 * MIN + 1))).toEqual(["cgm-stale raise yellow high"]);
      expect(brief(s.tick(MONDAY + 30 * MIN + 1))).toEqual(["cgm-stale upgrade red high"]);
      expect(brief(s.read("cgm", 6, MONDAY + 31 * MIN).transitions)).toEqual(["cgm-stale resolve none high"]);
    });
  });

  describe("missing daily weight (deadline 12:00 + 1 h grace, Copenhagen winter time)", () => {
    const TZ = HOUR;
    const weighed = () => {
      const s = new Scenario(name, [rule("telehjerte", "weight-missing")], TZ);
      s.read("weight", 80, MONDAY + 7 * HOUR); // Monday 08:00 local
      return s;
    };
    // Tuesday 13:00 local is 12:00 UTC.
    const tuesdayDeadline = MONDAY + DAY + 12 * HOUR;

    it("fires when the deadline plus grace has passed without a reading", () => {
      const s = weighed();
      expect(brief(s.tick(tuesdayDeadline - 1))).toEqual([]);
      const t = s.tick(tuesdayDeadline);
      expect(brief(t)).toEqual(["weight-missing raise yellow high"]);
      expect(t[0].x).toBe(1);
    });

    it("turns red after three missed days and resolves on the next reading", () => {
      const s = weighed();
      s.tick(tuesdayDeadline);
      expect(brief(s.tick(tuesdayDeadline + 2 * DAY))).toEqual(["weight-missing upgrade red high"]);
      expect(brief(s.read("weight", 80, tuesdayDeadline + 2 * DAY + HOUR).transitions)).toEqual(["weight-missing resolve none high"]);
    });

    it("a paused patient does not fire, and unpausing re-arms from that moment", () => {
      const s = weighed();
      s.ev.setSlotPaused(s.slotOf("weight"), true, MONDAY + 9 * HOUR);
      expect(brief(s.tick(tuesdayDeadline + 3 * DAY))).toEqual([]);
      s.ev.setSlotPaused(s.slotOf("weight"), false, tuesdayDeadline + 3 * DAY);
      expect(brief(s.tick(tuesdayDeadline + 3 * DAY + HOUR))).toEqual([]);
      expect(brief(s.tick(tuesdayDeadline + 4 * DAY))).toEqual(["weight-missing raise yellow high"]);
    });
  });

  describe("COPD SpO2: band and drop from the personal baseline", () => {
    it("without a reference the drop rule says 'reference needed', never green", () => {
      const s = new Scenario(name, [{ ...(rule("telekol", "spo2-drop") as object), computed: undefined } as RuleDef]);
      const r = s.read("spo2", 95, MONDAY);
      expect(r.triage).toBe(TRIAGE_REF_NEEDED);
      expect(r.transitions).toEqual([]);
    });

    it("a clinician reference judges a drop in percentage points", () => {
      const s = new Scenario(name, [rule("telekol", "spo2-drop")]);
      s.ev.setSlotRef(s.slotOf("spo2"), 95);
      expect(s.read("spo2", 93, MONDAY).triage).toBe(TRIAGE_N);
      expect(brief(s.read("spo2", 91.5, MONDAY + HOUR).transitions)).toEqual(["spo2-drop raise yellow low"]);
      expect(brief(s.read("spo2", 89.5, MONDAY + 2 * HOUR).transitions)).toEqual(["spo2-drop upgrade red low"]);
    });

    it("a computed reference (median of 14 days, at least 3 readings) is used when none is set", () => {
      const s = new Scenario(name, [rule("telekol", "spo2-drop")]);
      expect(s.read("spo2", 96, MONDAY).triage).toBe(TRIAGE_REF_NEEDED);
      s.read("spo2", 95, MONDAY + DAY);
      s.read("spo2", 97, MONDAY + 2 * DAY);
      // median 96; 92.5 is 3.5 points below
      expect(brief(s.read("spo2", 92.5, MONDAY + 3 * DAY).transitions)).toEqual(["spo2-drop raise yellow low"]);
    });

    it("the band uses the national example: yellow 88–92, red below 88, cleared 1 point inside", () => {
      const s = new Scenario(name, [rule("telekol", "spo2-band")]);
      expect(brief(s.read("spo2", 88, MONDAY).transitions)).toEqual(["spo2-band raise yellow low"]);
      expect(brief(s.read("spo2", 87, MONDAY + 1).transitions)).toEqual(["spo2-band upgrade red low"]);
      expect(brief(s.read("spo2", 88.5, MONDAY + 2).transitions)).toEqual([]);
      expect(brief(s.read("spo2", 89, MONDAY + 3).transitions)).toEqual(["spo2-band downgrade yellow low"]);
      expect(brief(s.read("spo2", 93, MONDAY + 4).transitions)).toEqual(["spo2-band resolve none low"]);
    });
  });
});
