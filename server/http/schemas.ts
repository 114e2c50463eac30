// Shapes of the HTTP request bodies (TypeBox). Rule definitions are checked in depth by the
// rule compiler, which answers invalid_threshold with the rule id and the reason.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { OBSERVANCES } from "../../engine/calendar/holidays.js";
import { VarselError } from "../../engine/errors.js";

const Text = (max = 256) => Type.String({ minLength: 1, maxLength: max });
// Hour lists and holiday rules are loose here (bounded strings): validateChain (engine/lifecycle/
// routing.ts) names what is wrong with `invalid_routing`, as the error catalogue says.
const Word = Type.String({ maxLength: 32 });
const RoutingHoursSchema = Type.Object(
  {
    from: Text(5),
    to: Text(5),
    days: Type.Optional(Type.Array(Word, { maxItems: 32, description: "Weekdays mon..sun, each once (at most 7)." })),
    holidays: Type.Optional(Type.String({
      maxLength: 32,
      description: "Danish public holidays: as_sunday (default: a holiday counts as a Sunday), include, exclude or only.",
    })),
    extraHolidays: Type.Optional(Type.Array(Word, { maxItems: 32, description: `Observance days this entry counts as public holidays, each once: ${OBSERVANCES.join(", ")}.` })),
    halfDays: Type.Optional(Type.Object(
      { on: Type.Array(Word, { maxItems: 32, description: `Observance days, each once: ${OBSERVANCES.join(", ")}.` }), from: Type.Optional(Text(5)), to: Type.Optional(Text(5)) },
      { additionalProperties: false, description: "Other hours for windows starting on these observance days." },
    )),
  },
  { additionalProperties: false },
);

export const RoutingEntrySchema = Type.Object(
  {
    team: Text(),
    role: Type.Union([Type.Literal("hospital"), Type.Literal("municipality"), Type.Literal("gp")]),
    programmes: Type.Optional(Type.Array(Text())),
    priorities: Type.Optional(Type.Array(Type.Union([Type.Literal("high"), Type.Literal("medium"), Type.Literal("low")]))),
    hours: Type.Optional(RoutingHoursSchema),
    ackTimeout: Type.Optional(Type.String({ minLength: 2, maxLength: 16, description: 'How long this team has to acknowledge before escalation moves on, "1m".."24h" (default: the escalation delay).' })),
  },
  { additionalProperties: false },
);

/** A programme id: telekol, telehjerte, cgm or niv (checked by the pipeline, which names an unknown one). */
const Programme = Type.String({ minLength: 1, maxLength: 32, description: "telekol, telehjerte, cgm or niv" });

export const PatientBody = Type.Object(
  {
    programmes: Type.Optional(Type.Array(Programme, { maxItems: 4, description: "The patient's programmes, each once; their rules are merged (docs/http.md)." })),
    programme: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: "One programme: the same as programmes: [programme]. Not with programmes." })),
    careTeams: Type.Array(RoutingEntrySchema, { minItems: 1, maxItems: 20 }),
    paused: Type.Optional(Type.Boolean()),
    references: Type.Optional(Type.Record(Type.String(), Type.Number())),
  },
  { additionalProperties: false },
);

export const RuleShape = Type.Object(
  { id: Text(64), kind: Text(16) },
  { additionalProperties: true, description: "A rule definition (docs/kernel.md): the fields of its kind are checked by the rule compiler (invalid_threshold)." },
);
export const RemoveShape = Type.Object({ id: Text(64), remove: Type.Literal(true) }, { additionalProperties: false, description: "Removes the programme's rule of this id for the patient." });

export const PatientThresholdsBody = Type.Object(
  { reason: Text(1000), rules: Type.Array(Type.Union([RemoveShape, RuleShape]), { maxItems: 100 }) },
  { additionalProperties: false },
);

export const ProgrammeThresholdsBody = Type.Object(
  { reason: Text(1000), rules: Type.Array(RuleShape, { maxItems: 100 }) },
  { additionalProperties: false },
);

export const AckBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });

export const SilenceBody = Type.Object(
  {
    patient: Type.Optional(Text()),
    rule: Type.Optional(Text(64)),
    /** ISO 8601 time or epoch ms. */
    until: Type.Union([Type.String({ maxLength: 64 }), Type.Integer()]),
    /** Required; an empty or blank one is `invalid_silence` (the silence book's check). */
    reason: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false },
);

/** POST /v1/clock: exactly one of them (checked by the handler: `invalid_clock_advance`). */
export const ClockBody = Type.Object(
  {
    advanceTo: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Integer()], { description: "ISO 8601 time or epoch ms, not before the clock's now" })),
    advanceBy: Type.Optional(Type.String({ maxLength: 32, description: 'A duration: "90s", "15m", "3h", "2d" (at most 366d)' })),
    step: Type.Optional(Type.String({ maxLength: 32, description: 'The regular tick step, "1s" to "1h" (default "1m"); daily deadlines are ticked exactly whatever the step' })),
  },
  { additionalProperties: false },
);

const Instant = Type.Union([Type.String({ maxLength: 64 }), Type.Integer()], { description: "ISO 8601 time or epoch ms" });
const ProgrammeRuleSets = Type.Object(
  Object.fromEntries(["telekol", "telehjerte", "cgm", "niv"].map((p) => [p, Type.Optional(Type.Array(RuleShape, { maxItems: 100 }))])),
  { additionalProperties: false, description: "A programme's proposed rules replace its current ones; a programme left out keeps them." },
);

/** POST /v1/backtests (docs/backtest.md). */
export const BacktestBody = Type.Object(
  {
    patients: Type.Optional(Type.Array(Text(), { minItems: 1, maxItems: 10_000, description: "The cohort: these patients (of your care teams). Not with programme." })),
    programme: Type.Optional(Type.Union([Programme], { description: "The cohort: the patients of your care teams on this programme. Neither: every patient of your care teams." })),
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    proposed: Type.Optional(Type.Array(Type.Object({ name: Text(64), programmes: ProgrammeRuleSets }, { additionalProperties: false }), { maxItems: 4, description: "Proposed rule sets, judged beside the current one (named current)." })),
    markers: Type.Optional(Type.Array(Type.Object({ patient: Text(), time: Instant, label: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false }), { maxItems: 10_000, description: "Events the alerts should have announced (admissions ...): sensitivity and lead time." })),
    markerWindow: Type.Optional(Type.String({ maxLength: 32, description: 'How long before a marker an alert counts, "1m" to "90d" (default "7d").' })),
    step: Type.Optional(Type.String({ maxLength: 32, description: 'The virtual clock\'s step for stale-data, for and keep-firing rules, "1m" to "1h" (default "5m").' })),
    upload: Type.Optional(Type.String({ description: "Readings to replay instead of the stored ones: the text of an NDJSON, JSON, CSV file or a FHIR Bundle (the body's size limit applies)." })),
    format: Type.Optional(Type.Union(["ndjson", "json", "csv", "fhir"].map((f) => Type.Literal(f)), { description: "The upload's format (default: detected)." })),
  },
  { additionalProperties: false },
);

/** `limit` of GET /v1/patients/:id/readings: readings per answer. */
export const READINGS_LIMIT = { default: 1_000, max: 10_000 } as const;

// Documentation only: ingest bodies are judged item by item by engine/ingest (each refusal with
// its own code and index), not by these schemas; the OpenAPI document shows them.

/** One plain reading (docs/http.md, Readings). */
export const ReadingInput = Type.Object(
  {
    patient: Text(),
    metric: Type.String({ description: 'A metric key ("spo2"), "system|code" or a bare code ("59408-5", "NPU03011").' }),
    value: Type.Union([Type.Number(), Type.String()], { description: "A finite number or a plain decimal string." }),
    unit: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "UCUM; omitted = the metric's canonical unit." })),
    time: Type.Union([Type.Integer(), Type.String()], { description: "Epoch ms, or ISO 8601 with Z or an offset; MessagePack timestamps too." }),
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Measurement id: a repeat of (patient, metric, id) is a duplicate, not evaluated again." })),
    device: Type.Optional(Text()),
  },
  { description: "Validated per item: a bad item is listed in `rejected` with its index and code; unknown fields are dropped." },
);

/** `POST /v1/measurements` with a JSON or MessagePack body. */
export const MeasurementsBody = Type.Union([Type.Array(ReadingInput, { maxItems: 10_000 }), Type.Object({ readings: Type.Array(ReadingInput, { maxItems: 10_000 }) })]);

/** `POST /v1/measurements` with a FHIR body. */
export const FhirBody = Type.Object(
  { resourceType: Type.Union([Type.Literal("Observation"), Type.Literal("Bundle")]) },
  { additionalProperties: true, description: "A FHIR R4 Observation, or a Bundle of Observations (mapping: docs/http.md, FHIR Observations)." },
);

const compiled = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Checks a decoded body against a schema; the first problem is answered as invalid_body. */
export function validate<S extends TSchema>(schema: S, value: unknown): Static<S> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) return value as Static<S>;
  const first = check.Errors(value).First();
  throw new VarselError("invalid_body", first ? `${first.path || "/"}: ${first.message}` : "body has the wrong shape", {
    path: first?.path,
  });
}
