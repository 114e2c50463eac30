// An ingest is journaled (MessagePack) only with a store; without one it is not encoded at all.
// Both must accept and refuse the same requests: every canonical batch, from any input however
// hostile, encodes and decodes to exactly itself (so encoding never refuses an ingest, and replay
// applies exactly what was applied live), and the durable and the in-memory pipeline answer the
// same ingest alike.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Command } from "../engine/durable/commands.js";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { journaled } from "../engine/durable/journal.js";
import { VarselError } from "../engine/errors.js";
import { canonicalFhir, canonicalReadings } from "../engine/ingest/canonical.js";
import { decodeBody } from "../engine/store/codec.js";
import { STORES } from "./support/durable-stores.js";

const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);
const NOW = Date.UTC(2026, 10, 2, 8, 0, 0);

const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom("p1", "\ud800", "a\udc00b", "\u0000", "x\u2028", "\ufeff", "__proto__", "constructor", "é".normalize("NFD"), "🫀".repeat(200)),
);
const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, 2 ** 31, 2 ** 32, 2 ** 32 + 0.5, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), 1e308, 5e-324, -5e-324, 0.1, 1 / 3, 3.4028234663852886e38, 1.401298464324817e-45),
  fc.float().map((x) => x),
);
const itemArb = fc.oneof(
  fc.record({ patient: fc.constant("p1"), metric: fc.constant("pulse"), value: fc.oneof(fc.integer({ min: 30, max: 200 }), fc.double({ min: 30, max: 200, noNaN: true })), time: fc.integer({ min: NOW - 3_600_000, max: NOW }) }),
  fc.record({
    patient: fc.oneof(fc.constantFrom("p1", "p2"), hostileString),
    metric: fc.constantFrom("pulse", "spo2", "weight", "glucose", "bp_sys", "temperature", "unknown-metric"),
    value: fc.oneof(hostileNumber, fc.constantFrom("12", "1e3", "-0", "0x10", " 7 ")),
    unit: fc.option(fc.constantFrom("/min", "%", "kg", "lb", "mmol/L", "mg/dL", "Cel", "[degF]", "g/dL\ud800"), { nil: undefined }),
    time: fc.oneof(fc.integer({ min: NOW - 48 * 3_600_000, max: NOW + 60_000 }), hostileNumber, fc.constantFrom("2026-11-02T07:00:00Z", "2026-11-02T07:00:00.123456789+01:00")),
    id: fc.option(hostileString, { nil: undefined }),
    device: fc.option(hostileString, { nil: undefined }),
  }, { requiredKeys: ["patient", "metric", "value", "time"] }),
  fc.anything({ maxDepth: 3 }),
);
const fhirArb = fc.array(
  fc.record({
    patient: hostileString,
    code: fc.constantFrom("8867-4", "59408-5", "29463-7", "15074-8", "8480-6"),
    unit: fc.constantFrom("/min", "%", "kg", "mmol/L", "mm[Hg]", "bogus"),
    value: hostileNumber,
    id: hostileString,
    status: fc.constantFrom("final", "amended", "corrected", "cancelled", "entered-in-error", "registered"),
    time: fc.constantFrom("2026-11-02T07:00:00Z", "2026-11-02T07:59:59.999+00:00", "2026-11-02"),
  }),
  { maxLength: 6 },
).map((entries) => ({
  resourceType: "Bundle",
  type: "collection",
  entry: entries.map((e) => ({
    resource: {
      resourceType: "Observation", status: e.status, identifier: [{ value: e.id }],
      code: { coding: [{ system: "http://loinc.org", code: e.code }] },
      subject: { reference: `Patient/${e.patient}` }, effectiveDateTime: e.time,
      valueQuantity: { value: e.value, unit: e.unit, system: "http://unitsofmeasure.org", code: e.unit },
    },
  })),
}));

function ingestOf(kind: "readings" | "fhir", input: unknown): Command | undefined {
  try {
    const batch = kind === "readings" ? canonicalReadings(input as unknown[], NOW) : canonicalFhir(input, NOW);
    return { kind: "ingest", source: kind, batch, channel: "http", teams: ["team-a"] };
  } catch (err) {
    if (err instanceof VarselError) return undefined; // refused before the engine, by both alike
    throw err;
  }
}

/** The outcome of `journaled` as a comparable value: the refusal's code, or "ok". */
function outcome(c: Command, encode: boolean): string {
  try {
    journaled(c, undefined, encode);
    return "ok";
  } catch (err) {
    if (err instanceof VarselError) return err.code;
    throw err;
  }
}

describe("an ingest journaled or not: the same acceptance, exactly what was applied", () => {
  it(`every canonical batch encodes and decodes to exactly itself, with a store and without alike (${RUNS * 3} runs)`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(itemArb, { maxLength: 8 }).map((items) => ["readings", items] as const), fhirArb.map((doc) => ["fhir", doc] as const)), ([kind, input]) => {
        const command = ingestOf(kind, input);
        if (command === undefined) return;
        expect(outcome(command, true)).toBe(outcome(command, false));
        const { command: canonical, bytes } = journaled(command, undefined, true);
        expect(isDeepStrictEqual(decodeBody(bytes!), canonical)).toBe(true);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

describe.each(STORES)("the durable and the in-memory server answer an ingest alike (%s)", (_name, factory) => {
  it(`same answer or same refusal (${RUNS} runs)`, async () => {
    const store = await factory.create();
    const clock = { now: NOW };
    const durable = await DurablePipeline.open({ store, now: () => clock.now });
    const memory = await DurablePipeline.open({ now: () => clock.now });
    const setup: Command = { kind: "patient", id: "p1", input: { programme: "telekol", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} } };
    const answer = async (p: DurablePipeline, c: Command) => {
      try {
        return { ok: await p.execute(c) };
      } catch (err) {
        if (err instanceof VarselError) return { code: err.code };
        throw err;
      }
    };
    const seen = { refused: 0, applied: 0 };
    try {
      for (const p of [durable, memory]) await p.execute(setup);
      await fc.assert(
        fc.asyncProperty(fc.array(itemArb, { maxLength: 6 }), fc.array(hostileString, { maxLength: 2 }), async (items, teams) => {
          clock.now += 1000;
          const batch = canonicalReadings(items, clock.now);
          const command: Command = { kind: "ingest", source: "readings", batch, channel: "http", teams };
          const [a, b] = [await answer(durable, command), await answer(memory, command)];
          expect(a).toEqual(b);
          if ("code" in a) seen.refused++;
          else if (batch.readings.length > 0) seen.applied++;
        }),
        { numRuns: RUNS },
      );
      expect(seen.refused).toBeGreaterThan(0);
      expect(seen.applied).toBeGreaterThan(0);
    } finally {
      await durable.close();
      await memory.close();
      await factory.cleanup();
    }
  }, 300_000);
});
