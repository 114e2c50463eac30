// The per-patient bound on resolved alerts (retention.resolvedAlertsPerPatient) under replay:
// a flapping pulse raises and resolves alerts, many in one batch, with snapshots taken anywhere,
// acks of alerts held or forgotten, ticks and day-long gaps. The engine rebuilt from the journal
// alone, from snapshot + journal, and entry by entry, forgets exactly the alerts the live run
// forgot; a firing alert is never forgotten; an ack of a forgotten alert is not_found and changes
// nothing. SQLite and PostgreSQL (test/support/durable-stores.ts).
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import type { Command } from "../engine/durable/commands.js";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { VarselError } from "../engine/errors.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import { Pipeline } from "../engine/pipeline.js";
import type { Store } from "../engine/store/store.js";
import { STORES } from "./support/durable-stores.js";

const RUNS = Math.max(20, Math.floor(Number(process.env.VARSEL_PROPERTY_RUNS ?? 100) / 3));
const T0 = Date.UTC(2026, 10, 2, 8, 0, 0);
const MIN = 60_000;
const CAP = 3;
const LIFECYCLE = { retention: { resolvedAlertsPerPatient: CAP } };
const stateBytes = new Packr({ useRecords: false, mapsAsObjects: true });

function packedState(p: Pipeline): Buffer {
  const { kernel, state } = p.exportState();
  return Buffer.concat([Buffer.from(kernel), stateBytes.pack(state)]);
}

function journalOnly(store: Store): Store {
  return Object.create(store, { latestSnapshot: { value: async () => undefined } }) as Store;
}

const SETUP: Command[] = [
  { kind: "patient", id: "p1", input: { programme: "telekol", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} } },
  { kind: "patient", id: "p2", input: { programme: "telekol", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} } },
  ...["p1", "p2"].map((id): Command => ({ kind: "patient_thresholds", id, rules: [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: 100, redHigh: 120 } }], author: "admin", reason: "test" })),
];

type Step =
  | { kind: "flap"; patient: "p1" | "p2"; values: number[]; dtMs: number; snapshotAfter: boolean }
  | { kind: "ack"; alert: number; dtMs: number; snapshotAfter: boolean }
  | { kind: "tick"; dtMs: number; snapshotAfter: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("flap" as const), patient: fc.constantFrom("p1" as const, "p2" as const), values: fc.array(fc.constantFrom(70, 110, 130), { minLength: 1, maxLength: 12 }), dtMs: fc.integer({ min: 0, max: 5 * MIN }), snapshotAfter: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("ack" as const), alert: fc.integer({ min: 1, max: 40 }), dtMs: fc.integer({ min: 0, max: MIN }), snapshotAfter: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), dtMs: fc.oneof(fc.integer({ min: 0, max: 10 * MIN }), fc.constant(25 * 3_600_000)), snapshotAfter: fc.boolean() }) },
);

function commandOf(step: Step, now: number): Command {
  switch (step.kind) {
    case "flap": {
      const items = step.values.map((value, i) => ({ patient: step.patient, metric: "pulse", value, time: now - (step.values.length - i) * 1000 }));
      return { kind: "ingest", source: "readings", batch: canonicalReadings(items, now), channel: "http" };
    }
    case "ack":
      return { kind: "ack", alert: `a-${step.alert}`, by: "nurse" };
    case "tick":
      return { kind: "tick" };
  }
}

describe.each(STORES)("resolved alerts held per patient, under replay (%s)", (_name, factory) => {
  it(`journal alone, snapshot + journal and entry by entry forget exactly what the live run forgot (${RUNS} runs)`, async () => {
    let forgotSome = false;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (script) => {
        const store = await factory.create();
        try {
          const clock = { now: T0 };
          const options = { now: () => clock.now, snapshotReplayBudgetMs: Infinity, snapshotEveryMs: Infinity, pipeline: { lifecycle: LIFECYCLE } };
          const live = await DurablePipeline.open({ store, ...options });
          /** Every alert announced, as its last event left it. */
          const announced = new Map<string, string>();
          live.onEvent((e) => void ("alert" in e && announced.set(e.alert.id, e.alert.state)));
          const run = async (command: Command) => {
            try {
              await live.execute(command);
            } catch (err) {
              if (!(err instanceof VarselError) || err.code === "store_unavailable" || err.code === "internal_error") throw err;
              return err.code;
            }
            return undefined;
          };
          const pending: Promise<unknown>[] = [];
          for (const c of SETUP) expect(await run(c)).toBeUndefined();
          for (const step of script) {
            clock.now += step.dtMs;
            const lc = live.pipeline.lifecycle;
            const held = step.kind === "ack" ? lc.list().some((a) => a.id === `a-${step.alert}`) : true;
            const pos = live.position();
            const refused = await run(commandOf(step, clock.now));
            // An ack of an alert the engine does not hold (never raised, or forgotten): not_found, nothing journaled.
            if (step.kind === "ack" && !held) {
              expect(refused).toBe("not_found");
              expect(live.position()).toBe(pos);
            }
            // Never more than CAP resolved per patient; nothing open is ever forgotten.
            const all = lc.list();
            for (const p of ["p1", "p2"]) expect(all.filter((a) => a.patient === p && a.state === "resolved").length).toBeLessThanOrEqual(CAP);
            const held2 = new Set(all.map((a) => a.id));
            for (const [id, state] of announced) if (state !== "resolved") expect(held2.has(id), `${id} (${state}) forgotten`).toBe(true);
            if ([...announced.keys()].some((id) => !held2.has(id))) forgotSome = true;
            // Half the snapshots are still being packed while the next commands run.
            if (step.snapshotAfter) {
              const taken = live.snapshot();
              if (step.dtMs % 2 === 0) await taken;
              else pending.push(taken);
            }
          }
          await Promise.all(pending);
          const liveState = packedState(live.pipeline);
          const liveList = live.pipeline.lifecycle.list();
          const replay = new Pipeline({ lifecycle: LIFECYCLE });
          for (const entry of await store.readJournal(0, 1_000_000)) {
            checkCommand(replay, entry);
            applyCommand(replay, entry);
          }
          expect(packedState(replay)).toEqual(liveState);
          for (const s of [journalOnly(await factory.reopen()), await factory.reopen()]) {
            const restarted = await DurablePipeline.open({ store: s, ...options });
            expect(restarted.pipeline.lifecycle.list()).toEqual(liveList);
            expect(packedState(restarted.pipeline)).toEqual(liveState);
          }
        } finally {
          await factory.cleanup();
        }
      }),
      // One script that surely resolves more than CAP alerts of a patient (random ones did not always, in 33 runs).
      { numRuns: RUNS, examples: [[[{ kind: "flap", patient: "p1", values: [130, 70, 130, 70, 130, 70, 130, 70, 130, 70, 130, 70], dtMs: 1000, snapshotAfter: false }]]] },
    );
    expect(forgotSome, "the script never made the engine forget an alert").toBe(true);
  }, 600_000);
});
