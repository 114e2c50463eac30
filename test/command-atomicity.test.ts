// A refused command changes nothing. Random sequences of commands of every kind, valid and
// invalid mixed (patients with a bad programme, chain or references; thresholds that do not
// compile; acks of unknown or resolved alerts; invalid silences; removals of unknown, removed,
// expired and expiring-now silences), applied the way DurablePipeline.execute applies them:
// checkCommand, then applyCommand only when the check passed. For every refused command, the
// whole state (pipeline.exportState: the kernel's bytes, and the rest packed with msgpackr) is
// byte-identical before and after, and the lifecycle has no event to hand out.
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import type { Command, JournalEntry } from "../engine/durable/commands.js";
import { VarselError } from "../engine/errors.js";
import type { CanonicalBatch, CanonicalReading } from "../engine/ingest/canonical.js";
import type { MetricKey } from "../engine/metrics.js";
import { Pipeline, type PatientInput } from "../engine/pipeline.js";
import type { RuleDef } from "../engine/rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "../engine/rules/programmes.js";
import type { RuleOverride } from "../engine/thresholds.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);
const T0 = Date.UTC(2026, 0, 14, 9, 0, 0);
const MIN = 60_000;
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const PATIENTS = ["p1", "p2", "p3", "p4"]; // p4 is not registered at first
const PROGRAMME_OF: Record<string, ProgrammeId> = { p1: "telehjerte", p2: "telekol", p3: "cgm", p4: "telehjerte" };
const TEAM = [{ team: "team-a", role: "hospital" as const }];

/** The whole state as bytes: the kernel's, and everything else packed. */
function stateBytes(p: Pipeline): { kernel: Buffer; state: Buffer } {
  const { kernel, state } = p.exportState();
  return { kernel: Buffer.from(kernel), state: Buffer.from(packr.pack(state)) };
}

// ---- commands, drawn as plans resolved against the state at the time they are sent ----------

type Plan =
  | { kind: "patient"; who: number; variant: "valid" | "bad_programme" | "bad_chain_role" | "bad_chain_team" | "bad_reference_metric" | "bad_reference_value"; programme: ProgrammeId; paused: boolean }
  | { kind: "patient_thresholds"; who: number; variant: "valid" | "remove" | "none" | "no_compile" | "unknown_metric" | "unknown_patient" }
  | { kind: "programme_thresholds"; programme: ProgrammeId; variant: "valid" | "no_compile" | "unknown_programme" | "bad_rule" }
  | { kind: "ingest"; readings: { who: number; metric: number; value: number }[]; unitMismatch: boolean; withdraw: boolean }
  | { kind: "tick" }
  | { kind: "ack"; pick: number; variant: "pick" | "unknown" | "blank_by" | "bad_note" }
  | { kind: "silence_add"; who: number; rule: boolean; variant: "valid" | "global" | "now" | "past" | "no_reason" | "no_author" | "empty_patient"; minutes: number }
  | { kind: "silence_remove"; pick: number; variant: "pick" | "unknown" | "blank_by" | "at_until" };

type Step = { dt: number; plan: Plan };

const METRICS: { key: MetricKey; values: number[] }[] = [
  { key: "pulse", values: [70, 105, 125, 45, 35] },
  { key: "spo2", values: [96, 91, 86] },
  { key: "cgm", values: [6, 4, 3, 11, 15] },
  { key: "weight", values: [80, 82.5, 76] },
  { key: "bp_sys", values: [120, 170, 190] },
];

const who = fc.nat(PATIENTS.length - 1);
const plan: fc.Arbitrary<Plan> = fc.oneof(
  fc.record({
    kind: fc.constant("patient" as const),
    who,
    variant: fc.constantFrom("valid" as const, "valid" as const, "bad_programme" as const, "bad_chain_role" as const, "bad_chain_team" as const, "bad_reference_metric" as const, "bad_reference_value" as const),
    programme: fc.constantFrom<ProgrammeId>("telehjerte", "telekol", "cgm"),
    paused: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("patient_thresholds" as const),
    who,
    variant: fc.constantFrom("valid" as const, "remove" as const, "none" as const, "no_compile" as const, "unknown_metric" as const, "unknown_patient" as const),
  }),
  fc.record({
    kind: fc.constant("programme_thresholds" as const),
    programme: fc.constantFrom<ProgrammeId>("telehjerte", "telekol", "cgm"),
    variant: fc.constantFrom("valid" as const, "no_compile" as const, "unknown_programme" as const, "bad_rule" as const),
  }),
  fc.record({
    kind: fc.constant("ingest" as const),
    readings: fc.array(fc.record({ who, metric: fc.nat(METRICS.length - 1), value: fc.nat(4) }), { minLength: 1, maxLength: 4 }),
    unitMismatch: fc.boolean(),
    withdraw: fc.boolean(),
  }),
  fc.constant({ kind: "tick" as const }),
  fc.record({ kind: fc.constant("ack" as const), pick: fc.nat(), variant: fc.constantFrom("pick" as const, "pick" as const, "unknown" as const, "blank_by" as const, "bad_note" as const) }),
  fc.record({
    kind: fc.constant("silence_add" as const),
    who,
    rule: fc.boolean(),
    variant: fc.constantFrom("valid" as const, "valid" as const, "global" as const, "now" as const, "past" as const, "no_reason" as const, "no_author" as const, "empty_patient" as const),
    minutes: fc.integer({ min: 1, max: 45 }),
  }),
  fc.record({ kind: fc.constant("silence_remove" as const), pick: fc.nat(), variant: fc.constantFrom("pick" as const, "pick" as const, "unknown" as const, "blank_by" as const, "at_until" as const) }),
);
const steps = fc.array(fc.record({ dt: fc.constantFrom(0, 0, 1, MIN, 5 * MIN, 20 * MIN), plan }), { minLength: 1, maxLength: 20, size: "max" });

/** A world: a pipeline with three patients, a clock, and the ids it has handed out. */
class World {
  readonly pipeline = new Pipeline({ idempotencyWindow: 4096 });
  now = T0;
  private pos = 0;
  private measurement = 0;
  private readonly sent: { patient: string; id: string }[] = [];

  constructor() {
    for (const id of ["p1", "p2", "p3"]) this.run({ kind: "patient", id, input: this.patientInput(id, PROGRAMME_OF[id], false) });
  }

  patientInput(id: string, programme: ProgrammeId, paused: boolean): PatientInput {
    return { programme, careTeams: TEAM, paused, references: id === "p2" ? { spo2: 95 } : {} };
  }

  /** Checks then applies, as DurablePipeline.execute does; returns the refusal, if any. */
  run(command: Command): VarselError | undefined {
    const entry: JournalEntry = { pos: ++this.pos, at: this.now, command };
    try {
      checkCommand(this.pipeline, entry);
    } catch (err) {
      if (!(err instanceof VarselError)) throw err; // a check that crashes is a bug, not a refusal
      return err;
    }
    applyCommand(this.pipeline, entry);
    return undefined;
  }

  /** The command a plan stands for now; may move the clock (at_until). */
  command(p: Plan): Command {
    const lc = this.pipeline.lifecycle;
    const patient = PATIENTS[(p as { who?: number }).who ?? 0];
    switch (p.kind) {
      case "patient": {
        const input = this.patientInput(patient, p.programme, p.paused);
        if (p.variant === "bad_programme") input.programme = "nope" as ProgrammeId;
        if (p.variant === "bad_chain_role") input.careTeams = [{ team: "team-a", role: "nurse" as "gp" }];
        if (p.variant === "bad_chain_team") input.careTeams = [...TEAM, { team: "", role: "gp" }];
        if (p.variant === "bad_reference_metric") input.references = { nope: 1 };
        if (p.variant === "bad_reference_value") input.references = { spo2: Number.POSITIVE_INFINITY };
        return { kind: "patient", id: patient, input };
      }
      case "patient_thresholds": {
        const rules: Record<typeof p.variant, RuleOverride[]> = {
          valid: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowLow: 45, yellowHigh: 110, redHigh: 130 } }],
          remove: [{ id: "pulse-band", remove: true }],
          none: [],
          no_compile: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 120, redHigh: 110 } }],
          unknown_metric: [{ id: "x-band", kind: "band", metric: "nope", limits: { yellowHigh: 1 } }],
          unknown_patient: [],
        };
        return { kind: "patient_thresholds", id: p.variant === "unknown_patient" ? "p-unknown" : patient, rules: rules[p.variant], author: "dr", reason: "test" };
      }
      case "programme_thresholds": {
        let rules: RuleDef[] = structuredClone(PROGRAMMES[p.programme].rules);
        const id = p.variant === "unknown_programme" ? ("nope" as ProgrammeId) : p.programme;
        if (p.variant === "valid") rules = rules.map((r) => (r.kind === "band" && r.limits.yellowHigh !== undefined ? { ...r, limits: { ...r.limits, yellowHigh: r.limits.yellowHigh + 1 } } : r));
        if (p.variant === "no_compile") rules.push({ id: "pulse-x", kind: "band", metric: "pulse", limits: { yellowHigh: 120, redHigh: 110 } });
        if (p.variant === "bad_rule") rules.push({ id: "bad", kind: "delta", metric: "weight", window: "forever", limits: { yellowHigh: 1 } });
        return { kind: "programme_thresholds", id, rules, author: "dr", reason: "test" };
      }
      case "ingest": {
        const readings: CanonicalReading[] = p.readings.map((r, index) => {
          const m = METRICS[r.metric];
          const id = `m-${++this.measurement}`;
          const reading: CanonicalReading = { index, patient: PATIENTS[r.who], metric: m.key, value: m.values[r.value % m.values.length], time: this.now - (p.readings.length - index) * 1000, id };
          this.sent.push({ patient: reading.patient, id });
          return reading;
        });
        const batch: CanonicalBatch = { items: readings.length, readings, rejected: [], invalidations: [] };
        if (p.unitMismatch) {
          batch.items++;
          batch.rejected.push({ index: readings.length, code: "unit_mismatch", message: "stone is not a unit of weight", patient: "p1", metric: "weight" });
        }
        if (p.withdraw && this.sent.length > 1) {
          const earlier = this.sent[this.measurement % (this.sent.length - 1)];
          batch.invalidations.push({ index: batch.items++, id: earlier.id, patient: earlier.patient });
        }
        return { kind: "ingest", source: "readings", batch, channel: "test" };
      }
      case "tick":
        return { kind: "tick" };
      case "ack": {
        const alerts = lc.list();
        const id = p.variant === "unknown" || alerts.length === 0 ? "a-404" : alerts[p.pick % alerts.length].id;
        if (p.variant === "blank_by") return { kind: "ack", alert: id, by: " " };
        if (p.variant === "bad_note") return { kind: "ack", alert: id, by: "nurse", note: 7 as unknown as string };
        return { kind: "ack", alert: id, by: "nurse", note: "seen" };
      }
      case "silence_add": {
        const c: Extract<Command, { kind: "silence_add" }> = { kind: "silence_add", until: this.now + p.minutes * MIN, reason: "r", author: "a" };
        if (p.variant !== "global") {
          c.patient = p.variant === "empty_patient" ? "" : patient;
          if (p.rule) c.rule = "pulse-band";
        }
        if (p.variant === "now") c.until = this.now;
        if (p.variant === "past") c.until = this.now - MIN;
        if (p.variant === "no_reason") c.reason = "";
        if (p.variant === "no_author") c.author = " ";
        return c;
      }
      case "silence_remove": {
        const silences = lc.listSilences({ includeEnded: true });
        const s = silences.length === 0 ? undefined : silences[p.pick % silences.length];
        if (p.variant === "unknown" || s === undefined) return { kind: "silence_remove", id: "s-404", by: "a" };
        // expiring now: sent exactly at its `until` (not yet expired by a tick)
        if (p.variant === "at_until" && s.state === "active" && s.until >= this.now) this.now = s.until;
        return { kind: "silence_remove", id: s.id, by: p.variant === "blank_by" ? "" : "a" };
      }
    }
  }
}

/** Runs the steps; every refused command must leave the state byte for byte as it was. Returns the kinds refused. */
function runSteps(steps: readonly Step[]): Command["kind"][] {
  const w = new World();
  const lc = w.pipeline.lifecycle;
  const refusedKinds: Command["kind"][] = [];
  for (const [i, { dt, plan }] of steps.entries()) {
    w.now += dt;
    const command = w.command(plan);
    const before = stateBytes(w.pipeline);
    const refusal = w.run(command);
    if (refusal === undefined) continue;
    refusedKinds.push(command.kind);
    const after = stateBytes(w.pipeline);
    const where = `step ${i}: ${command.kind} refused with ${refusal.code} (${refusal.message})`;
    expect(after.kernel.equals(before.kernel), `${where}: kernel bytes changed`).toBe(true);
    expect(after.state.equals(before.state), `${where}: state changed`).toBe(true);
    expect(lc.takeEvents(), `${where}: events`).toEqual([]);
  }
  return refusedKinds;
}

describe("commands: a refused command leaves the state as it was", () => {
  it("random command sequences: every refusal changes no byte of the state and causes no event", () => {
    const refused = new Set<Command["kind"]>();
    fc.assert(
      fc.property(steps, (s) => {
        for (const kind of runSteps(s)) refused.add(kind);
      }),
      { numRuns: RUNS },
    );
    // the sequences did exercise refusals of every kind that can be refused
    expect([...refused].sort()).toEqual(["ack", "patient", "patient_thresholds", "programme_thresholds", "silence_add", "silence_remove"]);
  });

  it("a second remove of an ended silence, sent after another silence's `until` passed, changes nothing (it used to expire the other one first)", () => {
    const w = new World();
    const lc = w.pipeline.lifecycle;
    expect(w.run({ kind: "silence_add", patient: "p1", until: T0 + 60 * MIN, reason: "one", author: "a" })).toBeUndefined();
    expect(w.run({ kind: "silence_add", patient: "p2", until: T0 + 10 * MIN, reason: "two", author: "a" })).toBeUndefined();
    const [first, second] = lc.listSilences();
    w.now = T0 + MIN;
    expect(w.run({ kind: "silence_remove", id: first.id, by: "a" })).toBeUndefined();
    w.now = T0 + 20 * MIN; // the second silence's `until` has passed; nothing expired it yet
    const before = stateBytes(w.pipeline);
    expect(w.run({ kind: "silence_remove", id: first.id, by: "a" })?.code).toBe("silence_ended");
    const after = stateBytes(w.pipeline);
    expect(after.state.equals(before.state)).toBe(true);
    expect(after.kernel.equals(before.kernel)).toBe(true);
    expect(lc.takeEvents()).toEqual([]);
    expect(lc.listSilences({ includeEnded: true }).find((s) => s.id === second.id)?.state).toBe("active");
    // removing the second one at or after its `until` is refused the same way
    expect(w.run({ kind: "silence_remove", id: second.id, by: "a" })?.code).toBe("silence_ended");
    expect(stateBytes(w.pipeline).state.equals(before.state)).toBe(true);
  });

  it("a silence removed exactly at its `until` is refused as ended, with no change", () => {
    const w = new World();
    expect(w.run({ kind: "silence_add", rule: "pulse-band", until: T0 + 5 * MIN, reason: "r", author: "a" })).toBeUndefined();
    const [s] = w.pipeline.lifecycle.listSilences();
    w.now = s.until;
    const before = stateBytes(w.pipeline);
    expect(w.run({ kind: "silence_remove", id: s.id, by: "a" })?.code).toBe("silence_ended");
    expect(stateBytes(w.pipeline).state.equals(before.state)).toBe(true);
    expect(w.pipeline.lifecycle.takeEvents()).toEqual([]);
  });
});
