// Replay equals live, for ANY input (fast-check): random command sequences with hostile items
// (lone surrogates, prototype-named keys, deep nesting, extreme numbers, 16-byte BigInts, invalid
// UTF-8, duplicate ids), sent as JSON or MessagePack bytes through the server's decoder and the
// canonical validation, on SQLite and PostgreSQL. After the run, without a clean shutdown (as after
// kill -9), the engine rebuilt from the journal alone and from snapshot + journal holds exactly
// the live state and event number; replaying the journal entry by entry gives the live answers
// and events; the store holds exactly the events that were published. The mix includes alarm
// policy changes (latching, late-after, re-alert, loops, episodes), each journaled as the
// `alarm_policy` command; a restart whose settings equal the policy in force journals nothing.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { applyCommand, checkCommand } from "../engine/durable/apply.js";
import type { Command } from "../engine/durable/commands.js";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { VarselError } from "../engine/errors.js";
import { canonicalFhir, canonicalReadings } from "../engine/ingest/canonical.js";
import { alarmPolicy, type AlarmPolicy } from "../engine/lifecycle/alarm-policy.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { Pipeline } from "../engine/pipeline.js";
import type { Store } from "../engine/store/store.js";
import { decode, type Format } from "../server/codec.js";
import { STORES } from "./support/durable-stores.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);
const T0 = Date.UTC(2026, 10, 2, 8, 0, 0);
const MIN = 60_000;
// A client that sends big integers as the 16-byte BigInt extension (type 0x42).
const wire = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number", encodeUndefinedAsNil: true, useBigIntExtension: true });
const stateBytes = new Packr({ useRecords: false, mapsAsObjects: true });

const PATIENTS = ["p1", "p2", "k\ud800"] as const;
const IDS = ["m1", "m2", "k\ud800", "k\udc00", "k\u0000x", "m1"];

// ---- hostile and valid items ----

const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

const itemArb = (now: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({
      patient: fc.constantFrom("p1", "p2", "p3"),
      metric: fc.constantFrom("pulse", "spo2", "weight", "bp_sys", "resp_rate"),
      value: fc.oneof(fc.integer({ min: 30, max: 200 }), fc.double({ min: 80, max: 100, noNaN: true })),
      time: fc.integer({ min: now - 2 * 3_600_000, max: now }),
      id: fc.option(fc.constantFrom(...IDS), { nil: undefined }),
    }, { requiredKeys: ["patient", "metric", "value", "time"] }) },
    { weight: 1, arbitrary: fc.constant({ constructor: 1, toJSON: 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 30, max: 900 }).map((n) => ({ patient: "p1", metric: "pulse", value: 80, time: now, deep: deep(n) })) },
    { weight: 1, arbitrary: fc.constantFrom(8_640_000_000_000_001, 1e20, -1e20, 1.5, Number.MAX_SAFE_INTEGER).map((time) => ({ patient: "p1", metric: "pulse", value: 70, time })) },
    { weight: 1, arbitrary: fc.constantFrom(1e308, -0, 2 ** 53 + 1).map((value) => ({ patient: "p2", metric: "pulse", value, time: now })) },
    { weight: 1, arbitrary: fc.constant({ patient: "p1", metric: "pulse", value: 2n ** 100n, time: now }) },
    { weight: 1, arbitrary: fc.record({ patient: fc.string({ unit: "binary", maxLength: 6 }), metric: fc.constantFrom("pulse", "spo2"), value: fc.constant(90), time: fc.constant(now), id: fc.string({ unit: "binary", maxLength: 6 }) }) },
    { weight: 1, arbitrary: fc.constant({ patient: "p1", metric: "glucose", value: 7, unit: "g/dL\ud800", time: now }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
  );

const fhirArb = (now: number): fc.Arbitrary<unknown> =>
  fc.array(
    fc.record({
      patient: fc.constantFrom("p1", "p2", "k\ud800"),
      code: fc.constantFrom("8867-4", "59408-5"),
      unit: fc.constantFrom("/min", "%", "kg", "mmHg"),
      value: fc.integer({ min: 40, max: 180 }),
      id: fc.constantFrom(...IDS),
      status: fc.constantFrom("final", "final", "cancelled", "registered", "bogus"),
    }),
    { maxLength: 5 },
  ).map((entries) => ({
    resourceType: "Bundle",
    type: "collection",
    entry: entries.map((e) => ({
      resource: {
        resourceType: "Observation",
        status: e.status,
        identifier: [{ value: e.id }],
        subject: { reference: `Patient/${e.patient}` },
        code: { coding: [{ system: "http://loinc.org", code: e.code }] },
        effectiveDateTime: new Date(now - 60_000).toISOString(),
        valueQuantity: { value: e.value, unit: e.unit, system: "http://unitsofmeasure.org", code: e.unit },
      },
    })),
  }));

/** Objects as Maps: what another MessagePack library sends for {"constructor":1,"toJSON":1}, which msgpackr will not pack as an object. */
function asMaps(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(asMaps);
  if (typeof v !== "object" || v === null || v instanceof Date || ArrayBuffer.isView(v)) return v;
  return new Map(Object.entries(v).map(([k, x]) => [k, asMaps(x)]));
}

/** Bytes on the wire; sometimes with invalid UTF-8 spliced into a JSON string. */
function bytesOf(body: unknown, format: Format, corrupt: boolean): Buffer {
  if (format === "msgpack") return wire.pack(asMaps(body));
  const text = Buffer.from(JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? Number(v) : v)) ?? "null");
  if (!corrupt) return text;
  const at = text.indexOf('"m');
  return at < 0 ? text : Buffer.concat([text.subarray(0, at + 1), Buffer.from([0xff, 0xfe]), text.subarray(at + 1)]);
}

// ---- the requests of one run ----

type Request =
  | { kind: "readings"; format: Format; corrupt: boolean; items: unknown[]; teams: string[] }
  | { kind: "fhir"; resource: unknown }
  | { kind: "tick" }
  | { kind: "ack"; alert: string; note?: string }
  | { kind: "silence_add"; patient?: string; rule?: string; untilMin: number; reason: string }
  | { kind: "silence_remove"; id: string }
  | { kind: "withdraw"; patient: string; id: string }
  | { kind: "patient"; id: string; programme: string; references: string; team: string }
  | { kind: "thresholds"; id: string; red: number; rule: string }
  | { kind: "policy"; latching: string; lateAfterMin: number; reAlertHighMin: number; loops: number; waitMin: number; variant: "whole" | "partial" | "unsorted" };

interface Step {
  dtMs: number;
  request: Request;
  snapshotAfter: boolean;
}

/** An alarm policy change (the settings at a restart: always whole). */
const policyArb = fc.record({
  kind: fc.constant("policy" as const),
  latching: fc.constantFrom("none", "red", "yellow", "missing", "pulse-band"),
  lateAfterMin: fc.constantFrom(1, 15, 120),
  reAlertHighMin: fc.constantFrom(0, 5, 30),
  loops: fc.integer({ min: 0, max: 3 }),
  waitMin: fc.constantFrom(0, 1, 10),
  variant: fc.constantFrom("whole" as const, "whole" as const, "whole" as const, "partial" as const, "unsorted" as const),
});

const requestArb = (now: number): fc.Arbitrary<Request> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant("readings" as const), format: fc.constantFrom<Format>("json", "msgpack"), corrupt: fc.boolean(), items: fc.array(itemArb(now), { maxLength: 6 }), teams: fc.constantFrom("team-a", "team-a", "team-a", "\ud800", "\ufffd\ufffd\ufffd").map((t) => [t]) }) },
    { weight: 2, arbitrary: fhirArb(now).map((resource) => ({ kind: "fhir" as const, resource })) },
    { weight: 2, arbitrary: fc.constant({ kind: "tick" as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("ack" as const), alert: fc.constantFrom("a-1", "a-2", "a-3", "a-9"), note: fc.option(fc.constantFrom("ok", "seen\ud800"), { nil: undefined }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("silence_add" as const), patient: fc.option(fc.constantFrom(...PATIENTS), { nil: undefined }), rule: fc.option(fc.constantFrom("pulse-band", "spo2-band"), { nil: undefined }), untilMin: fc.integer({ min: -5, max: 30 }), reason: fc.constantFrom("visit", "r\udc00") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("silence_remove" as const), id: fc.constantFrom("s-1", "s-2", "s-3") }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), patient: fc.constantFrom("p1", "p2", "p9"), id: fc.constantFrom(...IDS) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("patient" as const), id: fc.constantFrom("p1", "p3", "k\ud800"), programme: fc.constantFrom("telekol", "telehjerte", "constructor"), references: fc.constantFrom("{}", '{"weight":80}', '{"weight":-0}', '{"constructor":5}', '{"__proto__":{"weight":1}}'), team: fc.constantFrom("team-a", "\ufffd\ufffd\ufffd", "team\u0000a") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("thresholds" as const), id: fc.constantFrom("p1", "p2", "p9"), red: fc.integer({ min: 90, max: 200 }), rule: fc.constantFrom("pulse-band", "pulse-band", "m\u0000", "x\udc00") }) },
    { weight: 1, arbitrary: policyArb },
  );

/** The whole policy a policy request sets; `partial` and `unsorted` are not canonical (refused: invalid_field). */
function policyOf(r: Extract<Request, { kind: "policy" }>): AlarmPolicy {
  const latching = { none: {}, red: { levels: ["red" as const] }, yellow: { levels: ["yellow" as const, "red" as const] }, missing: { kinds: ["missing" as const] }, "pulse-band": { rules: ["pulse-band"] } }[r.latching];
  const policy = alarmPolicy({ latching, lateAfterMs: r.lateAfterMin * MIN, reAlertAfterMs: { high: r.reAlertHighMin * MIN }, escalationLoops: r.loops, episodeGroupWaitMs: r.waitMin * MIN });
  if (r.variant === "partial") delete (policy as Partial<AlarmPolicy>).maxSilenceMs;
  if (r.variant === "unsorted") policy.latching.levels = ["yellow", "red", "red"];
  return policy;
}

const scriptArb = fc.array(
  // Mostly minutes apart; sometimes a day (resolved alerts, ended silences and old events are forgotten by a tick).
  fc.record({ dtMs: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 20 * MIN }) }, { weight: 1, arbitrary: fc.integer({ min: 20 * 3_600_000, max: 30 * 3_600_000 }) }), request: requestArb(T0 + 3 * 3_600_000), snapshotAfter: fc.boolean() }),
  { minLength: 1, maxLength: 14 },
);

/** The command a server would execute for a request (decoding and validation included); throws VarselError when refused before that. */
function commandOf(r: Request, now: number): Command {
  switch (r.kind) {
    case "readings": {
      const body = decode(bytesOf(r.items, r.format, r.corrupt), r.format);
      if (!Array.isArray(body)) throw new VarselError("invalid_body");
      return { kind: "ingest", source: "readings", batch: canonicalReadings(body, now), channel: "http", teams: r.teams };
    }
    case "fhir":
      return { kind: "ingest", source: "fhir", batch: canonicalFhir(decode(bytesOf(r.resource, "json", false), "json"), now), channel: "ws" };
    case "tick":
      return { kind: "tick" };
    case "ack":
      return r.note === undefined ? { kind: "ack", alert: r.alert, by: "nurse" } : { kind: "ack", alert: r.alert, by: "nurse", note: r.note };
    case "silence_add":
      return { kind: "silence_add", patient: r.patient, rule: r.rule, until: now + r.untilMin * MIN, reason: r.reason, author: "nurse" };
    case "silence_remove":
      return { kind: "silence_remove", id: r.id, by: "nurse" };
    case "withdraw":
      return { kind: "withdraw", patient: r.patient, id: r.id, actor: "nurse", reason: "entered in error" };
    case "patient":
      return {
        kind: "patient",
        id: r.id,
        input: { programme: r.programme as "telekol", careTeams: [{ team: r.team, role: "hospital" }], paused: false, references: JSON.parse(r.references) },
      };
    case "thresholds":
      return { kind: "patient_thresholds", id: r.id, rules: [{ id: r.rule, kind: "band", metric: "pulse", limits: { yellowHigh: r.red - 10, redHigh: r.red } }], author: "admin", reason: "test" };
    case "policy":
      return { kind: "alarm_policy", policy: policyOf(r), actor: "settings" };
  }
}

/** The state's bytes; `policy`: as if that alarm policy were in force. */
function packedState(p: Pipeline, policy?: AlarmPolicy): Buffer {
  const { kernel, state } = p.exportState();
  if (policy !== undefined) state.lifecycle.policy = policy;
  return Buffer.concat([Buffer.from(kernel), stateBytes.pack(state)]);
}

/** The same store, without its snapshots: recovery replays the whole journal. */
function journalOnly(store: Store): Store {
  return Object.create(store, { latestSnapshot: { value: async () => undefined } }) as Store;
}

const SETUP: Command[] = [
  { kind: "patient", id: "p1", input: { programme: "telekol", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} } },
  { kind: "patient", id: "p2", input: { programme: "telehjerte", careTeams: [{ team: "team-a", role: "hospital" }, { team: "team-b", role: "gp" }], paused: false, references: {} } },
  { kind: "patient", id: "p3", input: { programme: "telekol", careTeams: [{ team: "team-b", role: "municipality" }], paused: false, references: {} } },
];

describe.each(STORES)("replay equals live under any input (%s)", (_name, factory) => {
  it(`journal alone and snapshot + journal rebuild the live state, answers and events (${RUNS} runs)`, async () => {
    await fc.assert(
      // The settings of the restarts: the policy in force (unchanged), or another one (changed).
      fc.asyncProperty(scriptArb, fc.option(policyArb, { nil: undefined }), async (script: Step[], restartPolicy: Extract<Request, { kind: "policy" }> | undefined) => {
        const store = await factory.create();
        try {
          const clock = { now: T0 };
          // No snapshot but the ones the script asks for.
          const options = { now: () => clock.now, snapshotReplayBudgetMs: Infinity, snapshotEveryMs: Infinity };
          const live = await DurablePipeline.open({ store, ...options });
          const published: LifecycleEvent[] = [];
          live.onEvent((e) => published.push(e));
          /** Journal position → the live answer and events of that command. */
          const byPos = new Map<number, { answer: unknown; events: LifecycleEvent[] }>();
          const run = async (command: Command) => {
            const before = published.length;
            const pos = live.position();
            try {
              const answer = await live.execute(command);
              // A tick that changed nothing is not journaled (no position of its own).
              if (live.position() !== pos) byPos.set(live.position(), { answer, events: published.slice(before) });
            } catch (err) {
              if (!(err instanceof VarselError) || err.code === "store_unavailable" || err.code === "internal_error") throw err;
            }
          };
          for (const c of SETUP) await run(c);
          for (const step of script) {
            clock.now += step.dtMs;
            let command: Command;
            try {
              command = commandOf(step.request, clock.now);
            } catch (err) {
              if (err instanceof VarselError) continue; // refused before the engine (a decode error): nothing to journal
              throw err;
            }
            await run(command);
            if (step.snapshotAfter) await live.snapshot();
          }
          expect(live.ready()).toBe(true);
          const liveState = packedState(live.pipeline);
          const liveSeq = live.pipeline.lifecycle.lastSeq();

          // The store holds exactly what was published.
          expect(await store.eventsAfter(0, 1_000_000)).toEqual(published);

          // Entry by entry: the same answers and events.
          const replay = new Pipeline();
          for (const entry of await store.readJournal(0, 1_000_000)) {
            checkCommand(replay, entry);
            const applied = applyCommand(replay, entry);
            const seen = byPos.get(entry.pos);
            expect(seen, `journal entry ${entry.pos} has no live answer`).toBeDefined();
            expect(applied.result).toEqual(seen!.answer);
            expect(applied.events).toEqual(seen!.events);
          }
          expect(packedState(replay)).toEqual(liveState);

          // Restarts without a clean shutdown: journal alone, then snapshot + journal. Settings
          // equal to the policy in force journal nothing; other ones journal one alarm_policy
          // command after the replay, which rebuilt the live state all the same.
          const inForce = live.pipeline.lifecycle.alarmPolicy();
          const wanted = restartPolicy === undefined ? inForce : policyOf({ ...restartPolicy, variant: "whole" });
          const changed = !isDeepStrictEqual(wanted, inForce);
          for (const s of [journalOnly(await factory.reopen()), await factory.reopen()]) {
            const restarted = await DurablePipeline.open({ store: s, ...options, pipeline: { lifecycle: wanted } });
            expect(restarted.position()).toBe(live.position() + (changed ? 1 : 0));
            expect(restarted.pipeline.lifecycle.lastSeq()).toBe(liveSeq);
            expect(restarted.pipeline.lifecycle.alarmPolicy()).toEqual(wanted);
            expect(packedState(restarted.pipeline, inForce)).toEqual(liveState);
          }
          if (changed) {
            const [last] = await store.readJournal(live.position(), 10);
            expect(last.command).toEqual({ kind: "alarm_policy", policy: wanted, actor: "settings" });
          }
        } finally {
          await factory.cleanup();
        }
      }),
      { numRuns: RUNS },
    );
  }, 900_000);
});
