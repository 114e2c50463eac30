// Shapes of the HTTP answers (TypeBox), for the OpenAPI document (server/http/openapi.ts).
// Nothing validates answers at run time; test/contracts.test.ts checks real answers against the
// document, so these cannot drift from what the server sends. Extra fields are allowed: a client
// must ignore fields it does not know (docs/websocket.md says the same of socket messages).
import { Type, type TSchema } from "@sinclair/typebox";
import { ERRORS } from "../../engine/errors.js";
import { RoutingEntrySchema, RuleShape, RemoveShape } from "./schemas.js";

const Str = Type.String();
const Strings = Type.Array(Type.String());
const Enum = (values: readonly string[], description?: string) => Type.Union(values.map((v) => Type.Literal(v)), description === undefined ? {} : { description });

/** Alert states, priorities and levels: the answers' values and the filters of GET /v1/alerts. */
export const ALERT_STATES = ["firing", "cleared_awaiting_ack", "resolved"] as const;
export const PRIORITIES = ["high", "medium", "low"] as const;
export const LEVELS = ["yellow", "red"] as const;

export const EpochMs = Type.Number({ description: "Milliseconds since the Unix epoch (UTC)." });
export const Seq = Type.Integer({ minimum: 0, description: "Event number: global, strictly increasing, no gaps (0 before the first event)." });

export const ErrorCode = Type.Union(
  Object.keys(ERRORS).map((code) => Type.Literal(code)),
  { description: "A code from the catalogue in engine/errors.ts; docs/http.md lists each with its HTTP status." },
);

export const ErrorAnswer = Type.Object(
  { code: ErrorCode, message: Type.String({ description: "For people; may change." }), details: Type.Optional(Type.Unknown({ description: "Code-specific." })) },
  { description: "Every error answer (always JSON)." },
);

// ---------------------------------------------------------------- ingest

const IndexedId = Type.Object({ index: Type.Integer(), id: Str });
export const BatchRejection = Type.Object({
  index: Type.Integer({ description: "Position in the readings, or the FHIR Bundle entry index (0 for a single Observation)." }),
  code: ErrorCode,
  message: Str,
});
const Triage = Enum(["not_triaged", "N", "L", "H", "LL", "HH", "reference_needed", "out_of_order", "duplicate"], "Triage of one reading; not_triaged = no thresholds for this metric (never green).");

export const Withdrawal = Type.Object({
  patient: Str,
  id: Type.String({ description: "The measurement id withdrawn" }),
  metrics: Type.Array(Type.String(), { description: "Metrics whose reading with this id was forgotten: a resend with the id is evaluated as new" }),
  retracted: Type.Array(Type.String(), { description: "Metrics whose reading was taken out of the rules' state (it was that metric's latest reading, or became it again)" }),
  resolved: Type.Array(Type.String(), { description: "Alerts resolved with `reading_withdrawn`: their first raising reading was taken out now" }),
  marked: Type.Array(Type.String(), { description: "Alerts kept open, marked `reading_withdrawn` for review (other readings count, or the reading could not be taken out)" }),
});
const IngestWithdrawal = Type.Composite([
  Withdrawal,
  Type.Object({
    index: Type.Integer({ description: "The FHIR Bundle entry index (0 for a single Observation)." }),
    correction: Type.Optional(Type.Literal(true, { description: "An amended / corrected Observation: it replaced the reading." })),
  }),
]);
export const IngestAnswer = Type.Object(
  {
    accepted: Type.Integer({ minimum: 0, description: "Readings evaluated now." }),
    duplicates: Type.Array(IndexedId, { description: "Measurement ids already received: acknowledged again, not evaluated again." }),
    rejected: Type.Array(BatchRejection),
    invalidated: Type.Array(IndexedId, { description: "FHIR Observations with status cancelled / entered-in-error." }),
    withdrawals: Type.Optional(
      Type.Array(IngestWithdrawal, { description: "FHIR only, when the request withdrew a reading it found (cancelled / entered-in-error, or a correction), in entry order, as DELETE /v1/measurements/{id} answers each." }),
    ),
    readings: Type.Array(Type.Object({ index: Type.Integer(), metric: Str, triage: Triage }), { description: "Every evaluated reading, in evaluation order." }),
    transitions: Type.Integer({ minimum: 0, description: "Alert transitions this batch caused (alerts its FHIR withdrawals resolved included)." }),
  },
  { description: "What became of each item of an ingest request." },
);

// ---------------------------------------------------------------- patients and thresholds

export const Patient = Type.Object({
  id: Str,
  programmes: Type.Array(Enum(["telekol", "telehjerte", "cgm", "niv"]), { description: "The patient's programmes in the order given; empty = none." }),
  careTeams: Type.Array(RoutingEntrySchema, { description: "The care chain in order; its teams decide who may see the patient." }),
  paused: Type.Boolean(),
  references: Type.Record(Type.String(), Type.Number(), { description: "Clinician reference values for baseline rules, by metric key." }),
  updatedAt: EpochMs,
});

const RuleOverride = Type.Union([RemoveShape, RuleShape]);
export const ThresholdVersion = Type.Object({
  version: Type.Integer({ minimum: 1 }),
  author: Str,
  at: EpochMs,
  reason: Str,
  rules: Type.Array(RuleOverride, { description: "Programme sets: the full rule list; patient sets: the overrides." }),
});

export const PatientThresholdsWritten = Type.Object({
  version: Type.Integer({ minimum: 1 }),
  thresholdVersion: Type.String({ description: 'The version that now judges the patient, e.g. "telekol:v0/patient:v1".' }),
});
export const PatientThresholds = Type.Object({
  thresholdVersion: Str,
  programmes: Strings,
  overrides: Type.Array(RuleOverride),
  effective: Type.Array(RuleShape, { description: "The rules that judge the patient now, each with `programmes`: the programmes it belongs to (several when merged)." }),
  history: Type.Array(ThresholdVersion),
});
export const ProgrammeThresholdsWritten = Type.Object({ version: Type.Integer({ minimum: 1 }) });
export const ProgrammeThresholds = Type.Object({
  programme: Str,
  version: Type.Integer({ minimum: 0, description: "0 while the built-in defaults apply." }),
  rules: Type.Array(RuleShape),
  history: Type.Array(ThresholdVersion),
});

export const StoredReadings = Type.Object({
  readings: Type.Array(
    Type.Object({
      patient: Str,
      metric: Str,
      time: EpochMs,
      value: Type.Number({ description: "In the metric's canonical unit." }),
      unit: Str,
      triage: Triage,
      receivedAt: EpochMs,
      id: Type.Optional(Str),
      device: Type.Optional(Str),
    }),
  ),
});

// ---------------------------------------------------------------- alerts and silences

const Level = Enum(LEVELS);
const Limits = Type.Object({ redLow: Type.Optional(Type.Number()), yellowLow: Type.Optional(Type.Number()), yellowHigh: Type.Optional(Type.Number()), redHigh: Type.Optional(Type.Number()) });
const MissingLimits = Type.Object({ stale: Type.Optional(Type.Object({})), daily: Type.Optional(Type.Object({})) });
const TriggerReading = Type.Object({
  time: EpochMs,
  value: Type.Union([Type.Number(), Type.Null()]),
  transition: Enum(["raise", "upgrade", "downgrade", "resolve"]),
  readingValue: Type.Optional(Type.Number()),
  measurementId: Type.Optional(Str),
  index: Type.Optional(Type.Integer()),
  withdrawn: Type.Optional(Type.Literal(true)),
});
export const SilenceRef = Type.Object({ id: Str, until: EpochMs, reason: Str, author: Str });

export const Alert = Type.Object(
  {
    id: Str,
    patient: Str,
    rule: Str,
    ruleKind: Enum(["band", "baseline", "delta", "rate", "missing", "score", "unknown"]),
    metric: Str,
    programmes: Type.Optional(Type.Array(Str, { description: "The programme(s) whose rule fired; routing matches any of them. Absent on alerts raised before several programmes per patient." })),
    state: Enum(ALERT_STATES),
    level: Level,
    priority: Enum(PRIORITIES),
    interpretation: Enum(["N", "L", "H", "LL", "HH"]),
    direction: Enum(["low", "high", "none"]),
    peakLevel: Level,
    latching: Type.Boolean({ description: "Stays until acknowledged after the condition clears (VARSEL_LATCHING, or the rule's latching: true)." }),
    episode: Type.String({ minLength: 1, description: "Id of the first alert of the patient's episode (alerts raised within the group wait of it); its own id when it opened one." }),
    unsilenceable: Type.Optional(Type.Union([Type.Literal("yellow"), Type.Literal("red")], { description: "From this level up no silence hides the alert (the rule's unsilenceable)." })),
    reAlertAt: Type.Optional(Type.Number({ description: "Acknowledged and still firing: when it is announced again (updated, change re_alerted) if still in condition (epoch ms)." })),
    reAlerts: Type.Optional(Type.Integer({ minimum: 1, description: "How many times it was announced again after an acknowledgement." })),
    late: Type.Optional(Type.Literal(true, { description: "Raised by readings older than lateAfter for an episode already over: a record of the past for review, priority low, never escalated." })),
    openedAt: EpochMs,
    conditionSince: EpochMs,
    updatedAt: EpochMs,
    clearedAt: Type.Optional(EpochMs),
    resolvedAt: Type.Optional(EpochMs),
    resolution: Type.Optional(Enum(["condition_cleared", "acknowledged", "rule_removed", "backfilled", "reading_withdrawn"])),
    ack: Type.Optional(Type.Object({ by: Str, at: EpochMs, note: Type.Optional(Str) })),
    silencedBy: Type.Array(SilenceRef),
    inhibitedBy: Type.Optional(Type.Object({ alert: Str, rule: Str, reason: Enum(["stale_data", "higher_severity"]) })),
    routedTo: Type.Union([Type.Object({ team: Str, role: Enum(["hospital", "municipality", "gp"]), entry: Type.Integer() }), Type.Null()]),
    escalation: Type.Object({
      step: Type.Integer(),
      loop: Type.Optional(Type.Integer({ minimum: 0, description: "Passes through the care chain started again after it ended (VARSEL_ESCALATION_LOOPS)." })),
      nextAt: Type.Optional(EpochMs),
      done: Type.Boolean(),
      notified: Strings,
    }),
    teams: Strings,
    why: Type.Object({
      thresholdVersion: Type.Union([Str, Type.Number(), Type.Null()]),
      limits: Type.Union([Limits, MissingLimits, Type.Null()]),
      readings: Type.Array(TriggerReading),
      missingParameters: Type.Optional(Strings),
    }),
  },
  { description: "One alert per (patient, rule) while open (fields as in docs/asyncapi.yaml's Alert)." },
);

export const AlertList = Type.Object({
  alerts: Type.Array(Alert),
  seq: Type.Integer({ minimum: 0, description: "The last durable event: resume the WebSocket from it with subscribe's resumeFrom." }),
});

export const AlertHistory = Type.Object({
  alert: Alert,
  events: Type.Array(
    Type.Object({
      seq: Seq,
      at: EpochMs,
      type: Enum(["raised", "updated", "acknowledged", "resolved", "silenced", "unsilenced", "inhibited", "uninhibited", "escalated"]),
      patient: Str,
      teams: Strings,
      alert: Alert,
    }),
    { description: "Every event of the alert, oldest first, as pushed on the WebSocket." },
  ),
});

export const Silence = Type.Object({
  id: Str,
  patient: Type.Optional(Type.String({ description: "Absent: the rule for every patient (admins only)." })),
  rule: Type.Optional(Type.String({ description: "Absent: every rule of the patient." })),
  until: EpochMs,
  untilByPriority: Type.Optional(
    Type.Object(
      { high: EpochMs, medium: EpochMs, low: EpochMs },
      { description: "When it stops hiding alerts of each priority: the organisation's maximum per priority (VARSEL_MAX_SILENCE) from creation, never after until." },
    ),
  ),
  reason: Str,
  author: Str,
  createdAt: EpochMs,
  state: Enum(["active", "expired", "removed"]),
  removedBy: Type.Optional(Str),
  endedAt: Type.Optional(EpochMs),
});
export const SilenceList = Type.Object({ silences: Type.Array(Silence) });

export const AuditList = Type.Object({
  entries: Type.Array(
    Type.Object({
      pos: Type.Integer({ description: "The journal position of the change (one command, one entry)" }),
      at: EpochMs,
      actor: Type.String({ description: "Who made it: the token's `sub` (`settings`: the server's alarm settings at start)" }),
      action: Enum(["patient", "patient_thresholds", "programme_thresholds", "silence_add", "silence_remove", "ack", "withdraw", "alarm_policy"]),
      target: Type.String({ description: "The patient, programme, silence or alert id (`alarm_policy` for an alarm policy change)" }),
      patient: Type.Optional(Type.String({ description: "The patient concerned, when there is one" })),
      details: Type.Record(Type.String(), Type.Unknown(), { description: "The change itself and what it answered" }),
    }),
  ),
});

export const DevToken = Type.Object(
  {
    token: Type.String({ description: "A clinician JWT signed with the development secret (15 minutes)" }),
    sub: Str,
    role: Type.Literal("clinician"),
    teams: Strings,
    expiresAt: EpochMs,
  },
  { description: "A development sign-in (dev mode only)" },
);

export const ClockState = Type.Object({
  clock: Enum(["system", "virtual"], "virtual: the engine's time moves only by POST /v1/clock (a development server)"),
  now: EpochMs,
});

export const ClockAdvance = Type.Object(
  {
    clock: Type.Literal("virtual"),
    from: EpochMs,
    now: EpochMs,
    ticks: Type.Integer({ minimum: 0, description: "Instants the engine's clock was ticked at on the way (every whole minute and every daily deadline + grace)" }),
    events: Type.Integer({ minimum: 0, description: "Lifecycle events the engine emitted while the clock advanced" }),
    seq: Seq,
  },
  { description: "What an advance did; its events are on the socket and in GET /v1/alerts" },
);

// ---------------------------------------------------------------- backtests

const Num = Type.Number();
const NullableNum = Type.Union([Type.Number(), Type.Null()]);
const ByPriority = Type.Object({ all: Num, high: Num, medium: Num });
const Change = Enum(["appeared", "disappeared"]);
const CgmSummary = Type.Object(
  {
    readings: Type.Integer(),
    timeInRange: NullableNum,
    below3_9: NullableNum,
    below3_0: NullableNum,
    above10: NullableNum,
    above13_9: NullableNum,
    mean: NullableNum,
    sd: NullableNum,
    cv: NullableNum,
    gmi: NullableNum,
    coverage: Num,
  },
  { description: "By the international consensus on time in ranges (docs/backtest.md, CGM summary): percent of readings, mmol/L, CV and GMI in percent." },
);
const RuleSetReport = Type.Object({
  name: Str,
  transitions: Type.Integer(),
  alerts: ByPriority,
  alertsPerPatientDay: ByPriority,
  patientDays: Type.Object({ red: Num, yellow: Num, shareRed: Num, shareYellow: Num }),
  timeInAlert: Type.Object({ hours: Num, redHours: Num, share: Num, shareRed: Num }),
  byRule: Type.Array(Type.Object({ rule: Str, alerts: ByPriority, hours: Num })),
  diff: Type.Optional(
    Type.Object({
      appeared: Type.Integer(),
      disappeared: Type.Integer(),
      items: Type.Array(Type.Object({ patient: Str, rule: Str, time: EpochMs, end: EpochMs, open: Type.Boolean(), priority: Enum(["high", "medium"]), change: Change })),
      truncated: Type.Boolean(),
    }, { description: "Proposed sets: the alerts that appear or disappear against the current set." }),
  ),
  markers: Type.Optional(
    Type.Object({
      events: Type.Integer(),
      detected: Type.Integer(),
      sensitivity: NullableNum,
      detectedHigh: Type.Integer(),
      sensitivityHigh: NullableNum,
      leadHours: Type.Object({ median: NullableNum, mean: NullableNum, min: NullableNum, max: NullableNum }),
      windowHours: Num,
      outcomes: Type.Array(Type.Object({ patient: Str, time: EpochMs, label: Type.Optional(Str), firstAlert: Type.Union([Type.Object({ rule: Str, time: EpochMs, priority: Enum(["high", "medium"]) }), Type.Null()]), leadHours: NullableNum })),
    }),
  ),
});
export const BacktestReport = Type.Object(
  {
    period: Type.Object({ from: EpochMs, to: EpochMs, days: Type.Integer() }),
    patients: Type.Integer(),
    patientDays: Type.Integer(),
    readings: Type.Object({ replayed: Type.Integer(), skipped: Type.Integer(), late: Type.Integer() }),
    tickStepMs: Type.Integer(),
    ruleSets: Type.Array(RuleSetReport, { description: "The current set first (named current), then the proposed ones." }),
    cgm: Type.Union([CgmSummary, Type.Null()]),
    perPatient: Type.Array(
      Type.Object({
        id: Str,
        programmes: Strings,
        readings: Type.Integer(),
        ruleSets: Type.Record(Type.String(), Type.Object({ alerts: ByPriority, redDays: Num, yellowDays: Num, hoursInAlert: Num, hoursRed: Num, appeared: Type.Optional(Num), disappeared: Type.Optional(Num) })),
        cgm: Type.Union([CgmSummary, Type.Null()]),
      }),
    ),
  },
  { description: "What each rule set would have done to the cohort over the period (docs/backtest.md, The report)." },
);
export const Backtest = Type.Object(
  {
    id: Str,
    status: Enum(["running", "done", "failed", "cancelled"]),
    source: Enum(["stored", "upload"]),
    createdAt: EpochMs,
    finishedAt: Type.Optional(EpochMs),
    expiresAt: Type.Optional(Type.Number({ description: "When the finished job and its report are forgotten (epoch ms)." })),
    patients: Type.Integer({ minimum: 1, description: "Patients in the cohort." }),
    ruleSets: Strings,
    progress: Type.Object({
      readings: Type.Integer({ minimum: 0, description: "Readings replayed." }),
      total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: "Readings in all, once known (an upload once parsed, stored readings once all are read)." }),
      share: Type.Number({ minimum: 0, maximum: 1, description: "Share of the period replayed, by virtual time." }),
    }),
    rejected: Type.Optional(Type.Object({ count: Type.Integer(), items: Type.Array(BatchRejection, { description: "The first 20." }) }, { description: "An upload's refused items." })),
    error: Type.Optional(Type.Object({ code: ErrorCode, message: Str }, { description: "Why the job failed." })),
    report: Type.Optional(BacktestReport),
  },
  { description: "A backtest job: its status and progress; when done, its report." },
);

export const OpenApiDocument = Type.Object({ openapi: Type.Literal("3.1.0") }, { additionalProperties: true, description: "An OpenAPI 3.1 document" });

/** The answers named in the document's components, by name. */
export const NAMED_ANSWERS: Record<string, TSchema> = {
  ErrorCode,
  Error: ErrorAnswer,
  BatchRejection,
  IngestAnswer,
  Withdrawal,
  Patient,
  ThresholdVersion,
  PatientThresholds,
  PatientThresholdsWritten,
  ProgrammeThresholds,
  ProgrammeThresholdsWritten,
  StoredReadings,
  SilenceRef,
  Alert,
  AlertList,
  AlertHistory,
  Silence,
  SilenceList,
  AuditList,
  ClockState,
  ClockAdvance,
  Backtest,
  BacktestReport,
};
