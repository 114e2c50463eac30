// Several programmes per patient (issue 14): the programmes' rules merged into one set by rule id
// (engine/rules/merge.ts), the merged set compiled once and evaluated alike by the oracle and the
// wasm kernel, one alert per condition naming its programmes, routing by those programmes, and
// patients of before (`programme`) still read from journals and snapshots.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TRIAGE_H, TRIAGE_HH, TRIAGE_L, TRIAGE_LL, TRIAGE_N } from "../assembly/layout.js";
import type { LimitsDef } from "../engine/rules/definitions.js";
import type { Evaluator } from "../engine/evaluator.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import type { Alert, AlertEvent, LifecycleEvent } from "../engine/lifecycle/types.js";
import { Oracle } from "../engine/oracle/oracle.js";
import { Pipeline, type PatientInput } from "../engine/pipeline.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { mergeProgrammes, type Override, type ProgrammeRules } from "../engine/rules/merge.js";
import { PROGRAMMES, type ProgrammeId } from "../engine/rules/programmes.js";
import { codeOf } from "./support/code-of.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";
import { startServer } from "./support/server.js";
import { brief, EVALUATORS, MIN, MONDAY, Scenario, type EvaluatorName } from "./support/scenario.js";

const sets = (...ids: ProgrammeId[]): ProgrammeRules[] => ids.map((id) => PROGRAMMES[id]);
const band = (id: string, metric: string, limits: object, modifiers?: object): RuleDef =>
  ({ id, kind: "band", metric, limits, ...(modifiers === undefined ? {} : { modifiers }) }) as RuleDef;
const custom = (id: string, ...rules: RuleDef[]): ProgrammeRules => ({ id, rules });
const find = (list: ReturnType<typeof mergeProgrammes>, id: string) => list.find((e) => e.rule.id === id);

describe("merging programmes", () => {
  const cases: { name: string; sets: ProgrammeRules[]; overrides?: Override[]; rule: string; expect: object | undefined; programmes?: string[] }[] = [
    {
      name: "telekol + telehjerte pulse: per direction the stricter limit (red high 110 of TeleKOL, not 120)",
      sets: sets("telekol", "telehjerte"),
      rule: "pulse-band",
      expect: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 110 },
      programmes: ["telekol", "telehjerte"],
    },
    {
      name: "the order of the programmes changes the names' order, not the limits",
      sets: sets("telehjerte", "telekol"),
      rule: "pulse-band",
      expect: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 110 },
      programmes: ["telehjerte", "telekol"],
    },
    {
      name: "a clinician override by rule id wins over the merge, and keeps the programmes",
      sets: sets("telekol", "telehjerte"),
      overrides: [band("pulse-band", "pulse", { yellowHigh: 110, redHigh: 130 })],
      rule: "pulse-band",
      expect: { yellowHigh: 110, redHigh: 130 },
      programmes: ["telekol", "telehjerte"],
    },
    {
      name: "a remove override removes the merged rule",
      sets: sets("telekol", "telehjerte"),
      overrides: [{ id: "pulse-band", remove: true }],
      rule: "pulse-band",
      expect: undefined,
    },
    {
      name: "a clinician's own rule belongs to all the patient's programmes",
      sets: sets("telekol", "telehjerte"),
      overrides: [band("glucose-own", "cgm", { yellowHigh: 12 })],
      rule: "glucose-own",
      expect: { yellowHigh: 12 },
      programmes: ["telekol", "telehjerte"],
    },
    {
      name: "per limit: low side from one programme, high side from the other",
      sets: [custom("a", band("x", "pulse", { yellowLow: 55, yellowHigh: 120 })), custom("b", band("x", "pulse", { yellowLow: 45, yellowHigh: 100 }))],
      rule: "x",
      expect: { yellowLow: 55, yellowHigh: 100 },
      programmes: ["a", "b"],
    },
    {
      name: "a yellow that is not inside the stricter red is dropped (it could never be reached)",
      sets: [custom("a", band("x", "pulse", { yellowHigh: 120 })), custom("b", band("x", "pulse", { redHigh: 110 }))],
      rule: "x",
      expect: { redHigh: 110 },
    },
    {
      name: "a duplicate entry of one programme counts once",
      sets: [PROGRAMMES.telehjerte, PROGRAMMES.telehjerte],
      rule: "pulse-band",
      expect: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 120 },
      programmes: ["telehjerte"],
    },
  ];
  it.each(cases)("$name", (c) => {
    const merged = mergeProgrammes(c.sets, c.overrides);
    const e = find(merged, c.rule);
    expect(e === undefined ? undefined : (e.rule as { limits: object }).limits).toEqual(c.expect);
    if (c.programmes !== undefined) expect(e!.programmes).toEqual(c.programmes);
    // Every rule id appears once.
    expect(new Set(merged.map((m) => m.rule.id)).size).toBe(merged.length);
  });

  it("a patient on one programme is judged by the programme's own rule objects, unchanged", () => {
    const merged = mergeProgrammes(sets("cgm"));
    expect(merged.map((e) => e.rule)).toEqual(PROGRAMMES.cgm.rules);
    merged.forEach((e, i) => expect(e.rule).toBe(PROGRAMMES.cgm.rules[i]));
    expect(merged.every((e) => e.programmes.join() === "cgm")).toBe(true);
  });

  it("modifiers fire no later and clear no sooner than either programme's", () => {
    const merged = mergeProgrammes([
      custom("a", band("x", "cgm", { yellowHigh: 10 }, { for: "15m", clearMargin: 0.5, nOfM: [3, 4] })),
      custom("b", band("x", "cgm", { yellowHigh: 11 }, { for: "5m", clearMargin: 0.2, keepFiringFor: "10m", nOfM: [2, 3] })),
    ]);
    expect(merged[0].rule).toMatchObject({ limits: { yellowHigh: 10 }, modifiers: { for: "5m", clearMargin: 0.5, keepFiringFor: "10m", nOfM: [2, 3] } });
    // A rule without `for` fires at once: the merged rule does too.
    const noFor = mergeProgrammes([custom("a", band("x", "cgm", { yellowHigh: 10 }, { for: "15m" })), custom("b", band("x", "cgm", { yellowHigh: 11 }))]);
    expect((noFor[0].rule as { modifiers?: object }).modifiers).toBeUndefined();
  });

  it("stale-data rules: per level the shorter wait", () => {
    const stale = (yellow: string, red: string): RuleDef => ({ id: "gone", kind: "missing", metric: "cgm", stale: { yellow, red } });
    const merged = mergeProgrammes([custom("a", stale("15m", "60m")), custom("b", stale("20m", "30m"))]);
    expect(merged[0].rule).toMatchObject({ stale: { yellow: "15m", red: "30m" } });
  });

  const refusals: { name: string; sets: ProgrammeRules[]; settledBy: Override }[] = [
    {
      name: "the same id meaning different conditions (another metric)",
      sets: [custom("a", band("x", "pulse", { yellowHigh: 100 })), custom("b", band("x", "bp_sys", { yellowHigh: 160 }))],
      settledBy: band("x", "pulse", { yellowHigh: 100 }),
    },
    {
      name: "stricter limits that cross (every value would alarm)",
      sets: [custom("a", band("x", "pulse", { yellowLow: 60 })), custom("b", band("x", "pulse", { yellowHigh: 55 }))],
      settledBy: { id: "x", remove: true },
    },
    {
      name: "daily and stale missing-data rules of one id",
      sets: [
        custom("a", { id: "m", kind: "missing", metric: "weight", daily: { deadline: "12:00" } }),
        custom("b", { id: "m", kind: "missing", metric: "weight", stale: { red: "2d" } }),
      ],
      settledBy: { id: "m", kind: "missing", metric: "weight", daily: { deadline: "10:00" } },
    },
    {
      name: "the same condition under two ids (two alerts for one reading)",
      sets: [custom("a", band("hr-high", "pulse", { yellowHigh: 100 })), custom("b", band("pulse-band", "pulse", { yellowLow: 50, redHigh: 130 }))],
      settledBy: { id: "hr-high", remove: true },
    },
  ];
  it.each(refusals)("refused with invalid_threshold unless an override settles it: $name", (c) => {
    expect(codeOf(() => mergeProgrammes(c.sets))).toBe("invalid_threshold");
    expect(() => mergeProgrammes(c.sets, [c.settledBy])).not.toThrow();
  });

  it("rules of different kinds on one metric stay separate conditions", () => {
    const merged = mergeProgrammes([custom("a", band("x", "spo2", { yellowLow: 92 })), custom("b", { id: "y", kind: "rate", metric: "spo2", basis: "slope", window: "1h", limits: { yellowLow: -1 } })]);
    expect(merged.map((e) => e.rule.id)).toEqual(["x", "y"]);
  });

  it("every pair of built-in programmes merges and compiles", () => {
    const ids = Object.keys(PROGRAMMES) as ProgrammeId[];
    for (const a of ids) for (const b of ids) if (a !== b) expect(() => new Pipeline().upsertPatient("p", patient([a, b]), MONDAY)).not.toThrow();
  });
});

const patient = (programmes: ProgrammeId[], careTeams: PatientInput["careTeams"] = [{ team: "t", role: "hospital" }]): PatientInput => ({
  programmes,
  careTeams,
  paused: false,
  references: {},
});

describe("patient commands", () => {
  it("the engine refuses an unknown or repeated programme with invalid_threshold and keeps the patient as it was", () => {
    const p = new Pipeline();
    p.upsertPatient("p", patient(["telekol"]), MONDAY);
    const engine = p.engine;
    expect(codeOf(() => engine.configurePatient("p", { programmes: ["telekol", "nope" as ProgrammeId] }, MONDAY))).toBe("invalid_threshold");
    expect(codeOf(() => engine.configurePatient("p", { programmes: ["telekol", "telekol"] }, MONDAY))).toBe("invalid_threshold");
    expect(p.effectiveRules("p").map((e) => e.rule.id)).toEqual(PROGRAMMES.telekol.rules.map((r) => r.id));
  });

  it.each([
    ["an unknown programme", { programmes: ["telekol", "nope"] }],
    ["a programme listed twice", { programmes: ["telekol", "telehjerte", "telekol"] }],
    ["both forms", { programme: "telekol", programmes: ["telehjerte"] }],
  ])("a patient command with %s is refused with invalid_body", (_name, form) => {
    const p = new Pipeline();
    const input = { careTeams: [{ team: "t", role: "hospital" as const }], paused: false, references: {}, ...form } as PatientInput;
    expect(codeOf(() => p.checkPatient("p", input, MONDAY))).toBe("invalid_body");
  });

  it("`programme` (journals and clients of before) is read as the one-element list", () => {
    const p = new Pipeline();
    const record = p.upsertPatient("p", { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }], paused: false, references: {} }, MONDAY);
    expect(record.programmes).toEqual(["telehjerte"]);
    expect("programme" in record).toBe(false);
    expect(p.thresholdVersion("p")).toBe("telehjerte:v0/patient:v0");
  });

  it("the threshold version names every programme's version", () => {
    const p = new Pipeline();
    p.upsertPatient("p", patient(["telekol", "telehjerte"]), MONDAY);
    p.setProgrammeThresholds("telehjerte", PROGRAMMES.telehjerte.rules, "admin", "review", MONDAY);
    expect(p.thresholdVersion("p")).toBe("telekol:v0+telehjerte:v1/patient:v0");
  });

  it("a programme set that would not merge for a patient on it is refused before anything changes", () => {
    const p = new Pipeline();
    p.upsertPatient("p", patient(["telekol", "telehjerte"]), MONDAY);
    // TeleHjerte's pulse-band made a blood-pressure rule: it no longer means TeleKOL's pulse-band.
    const changed = PROGRAMMES.telehjerte.rules.map((r) => (r.id === "pulse-band" ? band("pulse-band", "bp_sys", { yellowHigh: 160 }) : r));
    expect(codeOf(() => p.checkProgrammeThresholds("telehjerte", changed, MONDAY))).toBe("invalid_threshold");
  });
});

/** Pulse readings an hour apart and what each does to the merged pulse-band rule. */
const PULSE: [value: number, transitions: string[]][] = [
  [70, []],
  [105, ["pulse-band raise yellow high"]],
  // 115: red on TeleKOL's 110, only yellow on TeleHjerte's 120: the stricter decides.
  [115, ["pulse-band upgrade red high"]],
  [95, ["pulse-band resolve none high"]],
  [45, ["pulse-band raise yellow low"]],
  [38, ["pulse-band upgrade red low"]],
  [70, ["pulse-band resolve none low"]],
];

const evaluator = (name: EvaluatorName): Evaluator => (name === "oracle" ? new Oracle() : WasmKernel.load());
const alertEvents = (events: LifecycleEvent[]) => events.filter((e): e is AlertEvent => e.type !== "review" && e.type !== "silence");

describe.each(EVALUATORS)("the merged rule set on %s", (name) => {
  it("gives the transitions of the stricter limits", () => {
    const merged = mergeProgrammes(sets("telekol", "telehjerte")).map((e) => e.rule);
    const s = new Scenario(name, merged.filter((r) => r.id === "pulse-band"));
    PULSE.forEach(([value, expected], i) => expect(brief(s.read("pulse", value, MONDAY + i * 60 * MIN).transitions), `pulse ${value}`).toEqual(expected));
  });

  it("a pulse reading raises exactly one alert, naming both programmes", () => {
    const p = new Pipeline({ evaluator: evaluator(name) });
    p.upsertPatient("p", patient(["telekol", "telehjerte"]), MONDAY);
    const at = MONDAY + 60 * MIN;
    ingestRaw(p, [{ patient: "p", metric: "pulse", value: 115, time: new Date(at).toISOString() }], ANY_SENDER, at);
    const raised = alertEvents(p.lifecycle.takeEvents()).filter((e) => e.type === "raised");
    expect(raised.map((e) => [e.alert.rule, e.alert.level, e.alert.programmes])).toEqual([["pulse-band", "red", ["telekol", "telehjerte"]]]);
    expect(raised[0].alert.why.limits).toEqual({ redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 110 });
  });

  it("routes each alert by the programmes of its rule", () => {
    const p = new Pipeline({ evaluator: evaluator(name) });
    const chain: PatientInput["careTeams"] = [
      { team: "lung", role: "hospital", programmes: ["telekol"] },
      { team: "heart", role: "hospital", programmes: ["telehjerte"] },
      { team: "gp", role: "gp" },
    ];
    p.upsertPatient("p", patient(["telehjerte", "telekol"], chain), MONDAY);
    const at = MONDAY + 60 * MIN;
    const time = new Date(at).toISOString();
    ingestRaw(
      p,
      [
        { patient: "p", metric: "spo2", value: 85, time }, // TeleKOL only
        { patient: "p", metric: "bp_sys", value: 190, time }, // TeleHjerte only
        { patient: "p", metric: "pulse", value: 130, time }, // both: the first entry listing either
      ],
      ANY_SENDER,
      at,
    );
    const open = new Map<string, Alert>(alertEvents(p.lifecycle.takeEvents()).map((e) => [e.alert.rule, e.alert]));
    expect([...open].map(([rule, a]) => [rule, a.programmes, a.routedTo?.team]).sort()).toEqual([
      ["bp-sys-band", ["telehjerte"], "heart"],
      ["pulse-band", ["telehjerte", "telekol"], "lung"],
      ["spo2-band", ["telekol"], "lung"],
    ]);
  });
});

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);

/** What one band rule alone makes of a value (strict: a value on a limit is inside). */
function triageOf(l: LimitsDef, v: number): number {
  if (l.redHigh !== undefined && v > l.redHigh) return TRIAGE_HH;
  if (l.redLow !== undefined && v < l.redLow) return TRIAGE_LL;
  if (l.yellowHigh !== undefined && v > l.yellowHigh) return TRIAGE_H;
  if (l.yellowLow !== undefined && v < l.yellowLow) return TRIAGE_L;
  return TRIAGE_N;
}
const SEVERITY = { [TRIAGE_N]: 0, [TRIAGE_L]: 1, [TRIAGE_H]: 1, [TRIAGE_LL]: 2, [TRIAGE_HH]: 2 } as Record<number, number>;

/** Band limits on a pulse-like scale: each present, or not, rising. */
const limitsArb = fc
  .tuple(fc.integer({ min: 20, max: 60 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 10, max: 80 }), fc.integer({ min: 1, max: 30 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
  .map(([redLow, gap, inner, gap2, keep]) => {
    const all: LimitsDef = { redLow, yellowLow: redLow + gap, yellowHigh: redLow + gap + inner, redHigh: redLow + gap + inner + gap2 };
    const out: LimitsDef = {};
    (["redLow", "yellowLow", "yellowHigh", "redHigh"] as const).forEach((k, i) => {
      if (keep[i]) out[k] = all[k];
    });
    return Object.keys(out).length === 0 ? { yellowHigh: all.yellowHigh } : out;
  });

describe("the merge, property-based", () => {
  it(`a merged band rule alarms each value as the worst of the programmes' rules, and the kernel gives the oracle's transitions (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(limitsArb, limitsArb, fc.array(fc.integer({ min: 10, max: 220 }), { minLength: 1, maxLength: 12 }), (a, b, values) => {
        let merged: RuleDef;
        try {
          [{ rule: merged }] = mergeProgrammes([custom("a", band("x", "pulse", a)), custom("b", band("x", "pulse", b))]);
        } catch {
          // Refused only when the stricter limits cross.
          const low = Math.max(a.yellowLow ?? -Infinity, b.yellowLow ?? -Infinity, a.redLow ?? -Infinity, b.redLow ?? -Infinity);
          const high = Math.min(a.yellowHigh ?? Infinity, b.yellowHigh ?? Infinity, a.redHigh ?? Infinity, b.redHigh ?? Infinity);
          expect(low).toBeGreaterThanOrEqual(high);
          return;
        }
        const runs = EVALUATORS.map((name) => {
          const s = new Scenario(name, [merged]);
          return values.map((v, i) => {
            const r = s.read("pulse", v, MONDAY + i * MIN);
            const expected = [triageOf(a, v), triageOf(b, v)].sort((x, y) => SEVERITY[y] - SEVERITY[x])[0];
            expect(r.triage, `value ${v}`).toBe(expected);
            return brief(r.transitions);
          });
        });
        expect(runs[1]).toEqual(runs[0]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("patients of before", () => {
  it("a snapshot whose records have `programme` restores to the same state and goes on alike", () => {
    const live = new Pipeline({ evaluator: WasmKernel.load() });
    live.upsertPatient("p", patient(["telehjerte"]), MONDAY);
    const { kernel, state } = live.exportState();
    const old = structuredClone(state);
    old.patients = old.patients.map(({ programmes, ...rest }) => ({ ...rest, programme: programmes[0] }) as never);
    const restored = Pipeline.fromState(WasmKernel.restore(kernel), old);
    expect(restored.patient("p")!.programmes).toEqual(["telehjerte"]);
    const at = MONDAY + 60 * MIN;
    const reading = [{ patient: "p", metric: "bp_sys", value: 190, time: new Date(at).toISOString() }];
    const answers = [live, restored].map((p) => {
      ingestRaw(p, reading, ANY_SENDER, at);
      return alertEvents(p.lifecycle.takeEvents()).map((e) => [e.type, e.alert.rule, e.alert.programmes, e.alert.routedTo]);
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]).toEqual([["raised", "bp-sys-band", ["telehjerte"], { team: "t", role: "hospital", entry: 0 }]]);
  });

  it("an open alert of before (no programmes) escalates by the patient's programmes", () => {
    const options = { lifecycle: { escalationDelayMs: 10 * MIN } };
    const live = new Pipeline({ ...options, evaluator: WasmKernel.load() });
    const chain: PatientInput["careTeams"] = [
      { team: "heart", role: "hospital", programmes: ["telehjerte"] },
      { team: "lung", role: "hospital", programmes: ["telekol"] },
      { team: "heart-night", role: "hospital", programmes: ["telehjerte"] },
    ];
    live.upsertPatient("p", patient(["telehjerte"], chain), MONDAY);
    const at = MONDAY + 60 * MIN;
    ingestRaw(live, [{ patient: "p", metric: "bp_sys", value: 190, time: new Date(at).toISOString() }], ANY_SENDER, at);
    const { kernel, state } = live.exportState();
    const old = structuredClone(state);
    for (const a of old.lifecycle.alerts) delete a.programmes;
    const restored = Pipeline.fromState(WasmKernel.restore(kernel), old, options);
    for (const p of [live, restored]) {
      p.lifecycle.takeEvents();
      p.tick(at + 11 * MIN);
      const escalated = alertEvents(p.lifecycle.takeEvents()).filter((e) => e.type === "escalated");
      // Not the next entry (TeleKOL's lung team) but the next TeleHjerte one.
      expect(escalated.map((e) => e.alert.routedTo?.team)).toEqual(["heart-night"]);
    }
  });
});

describe("over HTTP", () => {
  it("PUT takes programmes (or the one programme), GET shows each effective rule's programmes, the alert names them", async () => {
    const h = await startServer("ws");
    try {
      const admin = await h.token("admin", []);
      const careTeams = [{ team: "lung", role: "hospital" }];
      const put = (body: object) => h.http("PUT", "/v1/patients/p-1", { token: admin, body: { careTeams, ...body } });
      expect((await put({ programme: "telekol", programmes: ["telehjerte"] })).body.code).toBe("invalid_body");
      expect((await put({ programmes: ["telekol", "telekol"] })).body.code).toBe("invalid_body");
      expect((await put({ programme: "telekol" })).body.programmes).toEqual(["telekol"]);
      const record = await put({ programmes: ["telekol", "telehjerte"] });
      expect([record.status, record.body.programmes, "programme" in record.body]).toEqual([200, ["telekol", "telehjerte"], false]);

      const thresholds = (await h.http("GET", "/v1/patients/p-1/thresholds", { token: admin })).body;
      expect(thresholds.thresholdVersion).toBe("telekol:v0+telehjerte:v0/patient:v0");
      expect(thresholds.programmes).toEqual(["telekol", "telehjerte"]);
      const pulse = thresholds.effective.filter((r: { id: string }) => r.id === "pulse-band");
      expect(pulse).toMatchObject([{ limits: { redHigh: 110 }, programmes: ["telekol", "telehjerte"] }]);
      expect(thresholds.effective.find((r: { id: string }) => r.id === "weight-change").programmes).toEqual(["telehjerte"]);

      const reading = [{ patient: "p-1", metric: "pulse", value: 115, time: new Date(h.clock.now()).toISOString() }];
      expect((await h.http("POST", "/v1/measurements", { token: admin, body: reading })).status).toBe(200);
      const alerts = (await h.http("GET", "/v1/alerts", { token: admin })).body.alerts;
      expect(alerts.map((a: Alert) => [a.rule, a.level, a.programmes])).toEqual([["pulse-band", "red", ["telekol", "telehjerte"]]]);
    } finally {
      await h.close();
    }
  });
});
