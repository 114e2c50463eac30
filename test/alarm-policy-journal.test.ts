// The alarm policy is journaled (the `alarm_policy` command): a restart with changed alarm
// settings (VARSEL_LATCHING, VARSEL_LATE_AFTER, ...) after kill -9 replays the commands since the
// last snapshot under the policy they were applied under live, then journals the new policy, which
// governs what comes after; an unchanged policy journals nothing; a snapshot carries the policy.
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import type { Command } from "../engine/durable/commands.js";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { VarselError } from "../engine/errors.js";
import { canonicalReadings } from "../engine/ingest/canonical.js";
import { WasmKernel } from "../engine/kernel/wasm-kernel.js";
import { alarmPolicy, BASELINE_POLICY, type AlarmPolicy, type AlarmPolicyInput } from "../engine/lifecycle/alarm-policy.js";
import type { Alert } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import { STORES } from "./support/durable-stores.js";

const T0 = Date.UTC(2026, 10, 2, 8, 0, 0);
const MIN = 60_000;
const stateBytes = new Packr({ useRecords: false, mapsAsObjects: true });

/** Policy A: nothing latches, readings up to 2 h old are the present. Policy B: red latches, 15 min. */
const A: AlarmPolicyInput = { latching: {}, lateAfterMs: 120 * MIN };
const B: AlarmPolicyInput = { latching: { levels: ["red"] }, lateAfterMs: 15 * MIN };

const SETUP: Command[] = ["p1", "p2", "p3", "p4"].flatMap((id): Command[] => [
  { kind: "patient", id, input: { programme: "telekol", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} } },
  { kind: "patient_thresholds", id, rules: [{ id: "pulse", kind: "band", metric: "pulse", limits: { yellowHigh: 100, redHigh: 120 } }], author: "admin", reason: "test" },
]);

const ingest = (now: number, items: { patient: string; value: number; agoMin: number }[]): Command => ({
  kind: "ingest",
  source: "readings",
  batch: canonicalReadings(items.map((i) => ({ patient: i.patient, metric: "pulse", value: i.value, time: now - i.agoMin * MIN })), now),
  channel: "http",
  teams: ["team-a"],
});

/** What each policy decides differently: a red alert that clears (latches or resolves), and a red episode 60 to 55 min ago (late or present). */
const scenario = (now: number, red: string, past: string): Command[] => [
  ingest(now, [{ patient: red, value: 130, agoMin: 0 }]),
  ingest(now + MIN, [{ patient: red, value: 80, agoMin: 0 }]),
  ingest(now + 2 * MIN, [
    { patient: past, value: 130, agoMin: 60 },
    { patient: past, value: 80, agoMin: 55 },
  ]),
];

/** The alerts of the patients' own `pulse` rule (the programme's pulse-band fires alike), in short. */
const view = (alerts: Alert[]) => alerts.filter((a) => a.rule === "pulse").map((a) => ({ patient: a.patient, state: a.state, priority: a.priority, late: a.late ?? false, resolution: a.resolution ?? null }));

function packedState(p: Pipeline): Buffer {
  const { kernel, state } = p.exportState();
  return Buffer.concat([Buffer.from(kernel), stateBytes.pack(state)]);
}

describe.each(STORES)("alarm policy across restarts (%s)", (_name, factory) => {
  it("a restart under changed settings replays to the live alerts, journals the new policy once, and applies it from there on", async () => {
    const store = await factory.create();
    try {
      const clock = { now: T0 };
      const options = { now: () => clock.now, snapshotReplayBudgetMs: Infinity, snapshotEveryMs: Infinity };
      const run = async (d: DurablePipeline, commands: Command[]) => {
        for (const c of commands) {
          clock.now += MIN;
          await d.execute(c);
        }
      };

      // Live under A (journaled at the first start: A is not the policy a journal starts under).
      const live = await DurablePipeline.open({ store, ...options, pipeline: { lifecycle: A } });
      expect((await store.readJournal(0, 10)).map((e) => e.command)).toEqual([{ kind: "alarm_policy", policy: alarmPolicy(A), actor: "settings" }]);
      await run(live, SETUP);
      await live.snapshot(); // the policy A travels in the snapshot
      await run(live, scenario(clock.now, "p1", "p2"));
      const liveAlerts = live.pipeline.lifecycle.list();
      // Under A: the cleared red alert resolved (no latching), the episode of an hour ago is the present.
      expect(view(liveAlerts)).toEqual([
        { patient: "p1", state: "resolved", priority: "high", late: false, resolution: "condition_cleared" },
        { patient: "p2", state: "resolved", priority: "high", late: false, resolution: "condition_cleared" },
      ]);
      const livePos = live.position();
      const liveSeq = live.pipeline.lifecycle.lastSeq();

      // kill -9 (no final snapshot), restart under B: the journal tail replays under A.
      clock.now += MIN;
      const restarted = await DurablePipeline.open({ store: await factory.reopen(), ...options, pipeline: { lifecycle: B } });
      expect(restarted.pipeline.lifecycle.list()).toEqual(liveAlerts);
      expect(restarted.pipeline.lifecycle.lastSeq()).toBe(liveSeq);
      expect(restarted.position()).toBe(livePos + 1);
      const [policyEntry] = await store.readJournal(livePos, 10);
      expect(policyEntry.command).toEqual({ kind: "alarm_policy", policy: alarmPolicy(B), actor: "settings" });
      expect(restarted.pipeline.lifecycle.alarmPolicy()).toEqual(alarmPolicy(B));
      // Operators see the change in the audit trail.
      const audit = await store.audit({ after: livePos, limit: 10 });
      expect(audit).toEqual([
        { pos: livePos + 1, at: clock.now, actor: "settings", action: "alarm_policy", target: "alarm_policy", details: { changed: ["latching", "lateAfterMs"], policy: alarmPolicy(B), previous: alarmPolicy(A) } },
      ]);

      // What comes after runs under B: the red alert latches, the episode of an hour ago is late (and latches: it reached red).
      await run(restarted, scenario(clock.now, "p3", "p4"));
      expect(view(restarted.pipeline.lifecycle.list({ patient: "p3" }))).toEqual([{ patient: "p3", state: "cleared_awaiting_ack", priority: "high", late: false, resolution: null }]);
      expect(view(restarted.pipeline.lifecycle.list({ patient: "p4" }))).toEqual([{ patient: "p4", state: "cleared_awaiting_ack", priority: "low", late: true, resolution: null }]);
      const afterState = packedState(restarted.pipeline);
      const afterPos = restarted.position();

      // kill -9 again, restart under B: nothing journaled, the same state (A's tail, the policy command, B's tail).
      const again = await DurablePipeline.open({ store: await factory.reopen(), ...options, pipeline: { lifecycle: B } });
      expect(again.position()).toBe(afterPos);
      expect(packedState(again.pipeline)).toEqual(afterState);
      // A snapshot carries B: restored from it, still nothing to journal.
      await again.close();
      const fromSnapshot = await DurablePipeline.open({ store: await factory.reopen(), ...options, pipeline: { lifecycle: B } });
      expect(fromSnapshot.position()).toBe(afterPos);
      expect(packedState(fromSnapshot.pipeline)).toEqual(afterState);
      expect(await store.readJournal(afterPos, 10)).toEqual([]);
    } finally {
      await factory.cleanup();
    }
  }, 60_000);

  it("default settings on a new journal and unchanged settings at a restart journal nothing", async () => {
    const store = await factory.create();
    try {
      const first = await DurablePipeline.open({ store, now: () => T0 });
      expect(first.position()).toBe(0);
      await first.close();
      const reopened = await factory.reopen();
      // The defaults spelled out (latching in another form): the same policy.
      const second = await DurablePipeline.open({ store: reopened, now: () => T0, pipeline: { lifecycle: { lateAfterMs: 15 * MIN, latching: { levels: ["red", "red"] } } } });
      expect(second.position()).toBe(0);
      expect(await reopened.readJournal(0, 10)).toEqual([]);
      expect(await reopened.audit({ limit: 10 })).toEqual([]);
    } finally {
      await factory.cleanup();
    }
  });
});

describe("the alarm_policy command", () => {
  const policy = alarmPolicy(B);
  const bad: [string, unknown][] = [
    ["a field missing", (({ maxSilenceMs: _, ...rest }) => rest)(policy)],
    ["latching lists unsorted", { ...policy, latching: { levels: ["yellow", "red"], kinds: [], rules: [] } }],
    ["latching without its empty lists", { ...policy, latching: { levels: ["red"] } }],
    ["an unknown latching kind", { ...policy, latching: { levels: [], kinds: ["loud"], rules: [] } }],
    ["late-after out of bounds", { ...policy, lateAfterMs: 1 }],
    ["a high silence longer than a medium one", { ...policy, maxSilenceMs: { high: 2 * 86_400_000, medium: 86_400_000, low: 7 * 86_400_000 } }],
    ["an unknown field", { ...policy, volume: 11 }],
    ["not an object", null],
  ];
  it.each(bad)("refuses %s (invalid_field), changing nothing", async (_what, given) => {
    const d = DurablePipeline.inMemory({ now: () => T0 });
    const before = packedState(d.pipeline);
    const refused = await d.execute({ kind: "alarm_policy", policy: given as AlarmPolicy, actor: "settings" }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(VarselError);
    expect((refused as VarselError).code).toBe("invalid_field");
    expect(packedState(d.pipeline)).toEqual(before);
  });

  it("refuses a blank actor", async () => {
    const d = DurablePipeline.inMemory({ now: () => T0 });
    await expect(d.execute({ kind: "alarm_policy", policy, actor: " " })).rejects.toMatchObject({ code: "invalid_field" });
  });

  it("changes no open alert and causes no event: what was decided stays, what comes after follows the new policy", async () => {
    const clock = { now: T0 };
    const d = DurablePipeline.inMemory({ now: () => clock.now, pipeline: { lifecycle: { ...B, reAlertAfterMs: { high: 30 * MIN } } } });
    for (const c of SETUP) await d.execute(c);
    await d.execute(ingest(clock.now, [{ patient: "p1", value: 130, agoMin: 0 }]));
    const [alert] = d.pipeline.lifecycle.list({ patient: "p1" });
    await d.execute({ kind: "ack", alert: alert.id, by: "nurse" });
    await d.execute({ kind: "silence_add", patient: "p2", until: clock.now + 6 * 60 * MIN, reason: "visit", author: "nurse" });
    const before = { alerts: d.pipeline.lifecycle.list(), silences: d.pipeline.lifecycle.listSilences(), seq: d.pipeline.lifecycle.lastSeq() };
    const changed = alarmPolicy({ latching: {}, reAlertAfterMs: { high: 5 * MIN }, maxSilenceMs: { high: 10 * MIN } });
    const answer = await d.execute({ kind: "alarm_policy", policy: changed, actor: "settings" });
    expect(answer).toEqual({ policy: changed, previous: alarmPolicy({ ...B, reAlertAfterMs: { high: 30 * MIN } }) });
    expect({ alerts: d.pipeline.lifecycle.list(), silences: d.pipeline.lifecycle.listSilences(), seq: d.pipeline.lifecycle.lastSeq() }).toEqual(before);
    // A new silence gets the new per-priority ends.
    const silence = await d.execute({ kind: "silence_add", patient: "p3", until: clock.now + 6 * 60 * MIN, reason: "visit", author: "nurse" });
    expect(silence.untilByPriority?.high).toBe(clock.now + 10 * MIN);
  });

  it("a snapshot state without a policy (written before it was journaled) restores BASELINE_POLICY", () => {
    const live = new Pipeline({ evaluator: WasmKernel.load(), lifecycle: A });
    const { kernel, state } = live.exportState();
    expect(state.lifecycle.policy).toEqual(alarmPolicy(A));
    const restored = Pipeline.fromState(WasmKernel.restore(kernel), structuredClone(state), { lifecycle: A });
    expect(restored.lifecycle.alarmPolicy()).toEqual(alarmPolicy(A));
    delete state.lifecycle.policy;
    const old = Pipeline.fromState(WasmKernel.restore(kernel), structuredClone(state), { lifecycle: A });
    expect(old.lifecycle.alarmPolicy()).toEqual(BASELINE_POLICY);
  });
});
