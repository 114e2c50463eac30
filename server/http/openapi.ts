// The OpenAPI 3.1 document of the HTTP API, built from the route table below and the TypeBox
// schemas the routes validate bodies with (schemas.ts) and answer with (answers.ts). Served at
// GET /openapi.json and kept as docs/openapi.json (`npm run contracts` writes it). buildRouter
// refuses to start when a served route is missing here or a route here is not served, and
// test/contracts.test.ts checks real answers against the document, so it cannot drift.
import type { TSchema } from "@sinclair/typebox";
import type { Role } from "../auth.js";
import * as answers from "./answers.js";
import { FHIR_TYPES, READING_TYPES } from "./measurements.js";
import { JSON_TYPE, MSGPACK_TYPE } from "./respond.js";
import * as bodies from "./schemas.js";

/** The version of the /v1 contract (docs/asyncapi.yaml's info.version is the socket's). */
export const API_VERSION = "1.0.0";

interface QueryParam {
  name: string;
  schema: TSchema | object;
  description: string;
  /** May be given more than once (`?state=firing&state=resolved`). */
  repeated?: boolean;
}

interface RouteDoc {
  summary: string;
  tag: "ingest" | "patients" | "thresholds" | "alerts" | "silences" | "backtests" | "operations" | "board";
  /** Who may call it; absent = no authentication. */
  roles?: readonly Role[];
  description?: string;
  query?: readonly QueryParam[];
  /** The request body by media type; `optional` when it may be empty. */
  body?: { schemas: Record<string, TSchema>; optional?: boolean };
  /** The success status and answer (a TypeBox schema: JSON or MessagePack; or text, plain unless `types` says). */
  ok: { status: number; answer: TSchema | TextAnswer; description: string };
  /** Other answers than the error body, by status. */
  more?: Record<string, { answer: TSchema | TextAnswer; description: string }>;
  /** A 503 that says when to retry (Retry-After): what it means here. */
  retryAfter?: string;
}

/** A text answer: an example, and its media types (default text/plain). */
interface TextAnswer {
  text: string;
  types?: readonly string[];
}

const ALL: readonly Role[] = ["device", "clinician", "admin"];
const CLINICAL: readonly Role[] = ["clinician", "admin"];
const ADMIN: readonly Role[] = ["admin"];
const jsonOrMsgpack = (schema: TSchema) => ({ [JSON_TYPE]: schema, [MSGPACK_TYPE]: schema });
const time = { anyOf: [{ type: "string", description: "ISO 8601 with Z or an offset" }, { type: "integer", description: "epoch ms" }] };

type Tag = RouteDoc["tag"];
type Extra = Partial<Pick<RouteDoc, "description" | "query" | "more">>;

/** A route without a body: who, what, and its answer. */
function reading(tag: Tag, roles: readonly Role[] | undefined, summary: string, answer: RouteDoc["ok"]["answer"], description: string, extra: Extra = {}): RouteDoc {
  return { tag, roles, summary, ok: { status: 200, answer, description }, ...extra };
}

/** A route with a JSON or MessagePack body. */
function writing(tag: Tag, roles: readonly Role[], summary: string, body: TSchema, answer: TSchema, description: string, options: { status?: number; optional?: boolean } = {}): RouteDoc {
  return { tag, roles, summary, body: { schemas: jsonOrMsgpack(body), optional: options.optional }, ok: { status: options.status ?? 200, answer, description } };
}

/** Every route the server serves, by "METHOD /pattern" as router.ts registers it. */
export const ROUTE_DOCS: Record<string, RouteDoc> = {
  "GET /healthz": reading("operations", undefined, "Liveness: 200 while the process serves requests", { text: "ok" }, "ok"),
  "GET /readyz": reading("operations", undefined, "Readiness: 503 while the store is unavailable, the engine rebuilds itself, or the server shuts down", { text: "ready" }, "ready", {
    more: { "503": { answer: { text: "not ready" }, description: "not ready" } },
  }),
  "GET /metrics": reading("operations", undefined, "Prometheus metrics (varsel_* and Node's process metrics; no patient identifier)", { text: "text/plain; version=0.0.4" }, "Prometheus text format"),
  "GET /openapi.json": reading("operations", undefined, "This document", answers.OpenApiDocument, "This OpenAPI 3.1 document"),

  "GET /": reading("board", undefined, "The clinician's board (it signs in with a token itself)", { text: "<!doctype html>…", types: ["text/html"] }, "The page (Cache-Control: no-cache; a strict Content-Security-Policy)", {
    description: "404 `not_found` when the board is not built (`npm run build:board`).",
  }),
  "GET /board/:file": reading("board", undefined, "A script, stylesheet or icon of the board", { text: "…", types: ["text/javascript", "text/css", "image/svg+xml"] }, "The file; its name carries its content hash (Cache-Control: immutable)"),
  "GET /v1/dev/token": reading("board", undefined, "Development sign-in: a short-lived clinician token, without one", answers.DevToken, "The token", {
    description:
      "Only on a server that signs with a generated development secret (dev mode), and only from this machine (`403 forbidden` otherwise); " +
      "on any other server `404 not_found` as for an unknown path. `422 invalid_field` without `teams` or with a role other than clinician.",
    query: [
      { name: "role", schema: { type: "string", enum: ["clinician"], default: "clinician" }, description: "Only clinician" },
      { name: "teams", schema: { type: "string" }, description: "Care teams, comma-separated (required)" },
      { name: "sub", schema: { type: "string", default: "dev-clinician" }, description: "Who" },
    ],
  }),

  "POST /v1/measurements": {
    tag: "ingest",
    roles: ["device", "admin"],
    summary: "Ingest readings or FHIR Observations",
    description:
      "Each item is judged on its own: a bad item is listed in `rejected` with its index and code, and its neighbours are kept. " +
      "At most 10 000 items and 4 MiB. 200 when at least one item was accepted, a duplicate or invalidated (or the batch was empty); 422 when every item was rejected. " +
      "503 `overloaded` (with Retry-After) when too many readings wait for the store: resend the same batch later.",
    body: {
      schemas: {
        ...Object.fromEntries(READING_TYPES.map((t) => [t, bodies.MeasurementsBody])),
        ...Object.fromEntries(FHIR_TYPES.map((t) => [t, bodies.FhirBody])),
      },
    },
    ok: { status: 200, answer: answers.IngestAnswer, description: "What became of each item" },
    more: { "422": { answer: answers.IngestAnswer, description: "Every item was rejected (a body that is refused as a whole gets the error body)" } },
  },

  "DELETE /v1/measurements/:id": reading("ingest", ALL, "Withdraw a reading (its sender's device, a clinician of the patient's teams, an admin): alerts only it raised resolve (`reading_withdrawn`); the id may be sent again", answers.Withdrawal, "What the withdrawal did", {
    query: [
      { name: "patient", schema: { type: "string" }, description: "The patient the reading is of (required)" },
      { name: "reason", schema: { type: "string" }, description: "Why (kept in the journal and the audit trail)" },
    ],
  }),
  "PUT /v1/patients/:id": writing("patients", ADMIN, "Register or update a patient and its care chain", bodies.PatientBody, answers.Patient, "The patient"),
  "GET /v1/patients/:id": reading("patients", ALL, "A patient of your care teams", answers.Patient, "The patient"),
  "GET /v1/patients/:id/readings": reading("patients", CLINICAL, "Stored readings of a patient with their triage, newest first", answers.StoredReadings, "The readings", {
    query: [
      { name: "metric", schema: { type: "string" }, description: "A metric key or code" },
      { name: "from", schema: time, description: "Earliest measurement time" },
      { name: "to", schema: time, description: "Latest measurement time" },
      { name: "limit", schema: { type: "integer", minimum: 1, maximum: bodies.READINGS_LIMIT.max, default: bodies.READINGS_LIMIT.default }, description: "Readings per answer" },
    ],
  }),
  "PUT /v1/patients/:id/thresholds": writing("thresholds", ADMIN, "Replace a patient's rule overrides", bodies.PatientThresholdsBody, answers.PatientThresholdsWritten, "The new version"),
  "GET /v1/patients/:id/thresholds": reading("thresholds", ALL, "A patient's overrides, effective rules and history", answers.PatientThresholds, "The thresholds"),
  "PUT /v1/programmes/:id/thresholds": writing("thresholds", ADMIN, "Replace a programme's rules (telekol, telehjerte, cgm, niv)", bodies.ProgrammeThresholdsBody, answers.ProgrammeThresholdsWritten, "The new version"),
  "GET /v1/programmes/:id/thresholds": reading("thresholds", ALL, "A programme's rules and history", answers.ProgrammeThresholds, "The rules"),

  "GET /v1/alerts": reading("alerts", CLINICAL, "Alerts of your care teams' patients, as of the last durable event", answers.AlertList, "The alerts and the event number they are current at", {
    query: [
      { name: "patient", schema: { type: "string" }, description: "One patient" },
      { name: "state", schema: { type: "string", enum: answers.ALERT_STATES }, description: "Alert states", repeated: true },
      { name: "severity", schema: { type: "string", enum: answers.PRIORITIES }, description: "Priorities (also as `priority`)", repeated: true },
      { name: "priority", schema: { type: "string", enum: answers.PRIORITIES }, description: "Priorities (also as `severity`)", repeated: true },
      { name: "level", schema: { type: "string", enum: answers.LEVELS }, description: "Levels", repeated: true },
      { name: "since", schema: time, description: "Updated at or after" },
    ],
  }),
  "POST /v1/alerts/:id/ack": writing("alerts", CLINICAL, "Acknowledge an alert (stops escalation; resolves a latched alert whose condition cleared)", bodies.AckBody, answers.Alert, "The alert", { optional: true }),
  "GET /v1/alerts/:id/history": reading("alerts", CLINICAL, "An alert and every event of it, oldest first", answers.AlertHistory, "The alert and its events"),

  "GET /v1/silences": reading("silences", CLINICAL, "Active silences of your care teams' patients and every all-patient silence", answers.SilenceList, "The silences", {
    query: [{ name: "ended", schema: { type: "string", enum: ["true"] }, description: "Also expired and removed ones (kept 24 h)" }],
  }),
  "POST /v1/silences": writing("silences", CLINICAL, "Silence a patient, a rule, or a rule for one patient, until a time (all-patient silences: admins)", bodies.SilenceBody, answers.Silence, "The silence", { status: 201 }),
  "DELETE /v1/silences/:id": reading("silences", CLINICAL, "End a silence", answers.Silence, "The ended silence"),

  "POST /v1/backtests": {
    ...writing("backtests", CLINICAL, "Start a backtest: what the current rules and proposed ones would have done to a cohort of your care teams", bodies.BacktestBody, answers.Backtest, "Started: follow it at Location (GET /v1/backtests/{id})", { status: 202 }),
    description:
      "The cohort: `patients` (unknown ones and other teams' answer alike `404 not_found`), a `programme`, or every patient of your care teams. " +
      "Replays their stored readings over `from`–`to` (default: the 30 days up to now; at most 366 days), or the readings of `upload`, on a thread of its own (docs/backtest.md). " +
      "`422 invalid_threshold` for a proposed rule that does not compile or cannot be merged with a patient's other programme.",
    retryAfter: "`backtests_busy`: as many backtests as the server runs at once are running (Retry-After)",
  },
  "GET /v1/backtests/:id": reading("backtests", CLINICAL, "A backtest you started: status, progress and, once done, the report", answers.Backtest, "The job", {
    description: "Another user's job answers `404 not_found` as an unknown one (admins see every job). A finished job is kept an hour (`expiresAt`), the 20 newest at most.",
  }),
  "DELETE /v1/backtests/:id": reading("backtests", CLINICAL, "Cancel a running backtest (its thread stops at once), or forget a finished one", answers.Backtest, "The job as it ends"),
  "GET /v1/backtests/:id/patients.csv": reading("backtests", CLINICAL, "A finished backtest's per-patient table as CSV (docs/backtest.md)", { text: "patient,programmes,rule_set,readings,alerts,…", types: ["text/csv"] }, "One row per patient and rule set", {
    description: "`409 backtest_not_done` while it runs, or when it failed or was cancelled.",
  }),

  "GET /v1/audit": reading("operations", ADMIN, "The audit trail: who changed patients, thresholds, silences and acknowledgements, in journal order", answers.AuditList, "Entries after `after`, at or after `since`", {
    query: [
      { name: "since", schema: time, description: "Applied at or after" },
      { name: "after", schema: { type: "integer", minimum: 0 }, description: "Journal position to continue after (the last entry's `pos`)" },
      { name: "limit", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 }, description: "Entries per answer" },
    ],
  }),

  "GET /v1/clock": reading("operations", ADMIN, "The engine's clock: system, or virtual (a development server whose time moves only by POST /v1/clock)", answers.ClockState, "The clock and its now"),
  "POST /v1/clock": {
    ...writing("operations", ADMIN, "Move a virtual clock forward, ticking the engine at every minute and every daily deadline + grace on the way", bodies.ClockBody, answers.ClockAdvance, "What the advance did, once every tick is durable"),
    description:
      "Only on a server started with `--clock virtual --allow-virtual-clock` (`409 clock_not_virtual` otherwise). " +
      "`409 clock_backwards` for a target before the clock's now; `422 invalid_clock_advance` without exactly one of `advanceTo` / `advanceBy`, or more than 366 days ahead. " +
      "Advances run one after another; readings sent meanwhile are received at the virtual now.",
  },
};

/** The routes served but not documented here, and documented but not served: both empty, or the server does not start. */
export function undocumentedRoutes(served: readonly string[]): { undocumented: string[]; unserved: string[] } {
  return { undocumented: served.filter((r) => !Object.hasOwn(ROUTE_DOCS, r)), unserved: Object.keys(ROUTE_DOCS).filter((r) => !served.includes(r)) };
}

/** The OpenAPI 3.1 document, as plain JSON data. */
export function openApiDocument(): Record<string, unknown> {
  const named: Record<string, TSchema> = {
    ...answers.NAMED_ANSWERS,
    RoutingEntry: bodies.RoutingEntrySchema,
    Rule: bodies.RuleShape,
    RuleRemoval: bodies.RemoveShape,
    Reading: bodies.ReadingInput,
    MeasurementsBody: bodies.MeasurementsBody,
    FhirBody: bodies.FhirBody,
    PatientBody: bodies.PatientBody,
    PatientThresholdsBody: bodies.PatientThresholdsBody,
    ProgrammeThresholdsBody: bodies.ProgrammeThresholdsBody,
    AckBody: bodies.AckBody,
    SilenceBody: bodies.SilenceBody,
    ClockBody: bodies.ClockBody,
    BacktestBody: bodies.BacktestBody,
  };
  const refs = new Refs(named);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [route, doc] of Object.entries(ROUTE_DOCS)) {
    const [method, pattern] = route.split(" ");
    const path = pattern.replace(/:(\w+)/g, "{$1}");
    (paths[path] ??= {})[method.toLowerCase()] = operation(method, pattern, doc, refs);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "varsel HTTP API",
      version: API_VERSION,
      description:
        "Real-time threshold evaluation for home monitoring of chronic patients. Guide with examples: docs/http.md; " +
        "the real-time alert stream is the WebSocket /v1/ws (docs/websocket.md, docs/asyncapi.yaml). " +
        "Every error answer is `{code, message, details?}` (schema Error); its HTTP status follows from the code (docs/http.md, Error codes).",
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: "http://127.0.0.1:8080", description: "`npm start` (PORT, HOST)" }],
    tags: ["ingest", "patients", "thresholds", "alerts", "silences", "backtests", "operations", "board"].map((name) => ({ name })),
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(named).map(([name, schema]) => [name, refs.json(schema, name)])),
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "HS256 with the server's secret, or a key of its JWKS; claims sub, role (device | clinician | admin), teams, optional exp (iss / aud when configured).",
        },
      },
      responses: { Error: { description: "An error from the catalogue", content: { [JSON_TYPE]: { schema: { $ref: "#/components/schemas/Error" } } } } },
    },
  };
}

function operation(method: string, pattern: string, doc: RouteDoc, refs: Refs): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: operationId(method, pattern),
    tags: [doc.tag],
    summary: doc.summary,
  };
  const roles = doc.roles === undefined ? "No authentication." : `Roles: ${doc.roles.join(", ")}.`;
  op.description = doc.description === undefined ? roles : `${roles} ${doc.description}`;
  if (doc.roles === undefined) op.security = [];
  else op["x-roles"] = doc.roles;
  const parameters = [
    ...[...pattern.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: "path", required: true, schema: { type: "string" }, description: "Percent-decoded" })),
    ...(doc.query ?? []).map((q) => ({
      name: q.name,
      in: "query",
      description: q.description,
      schema: q.repeated ? { type: "array", items: refs.json(q.schema) } : refs.json(q.schema),
      ...(q.repeated ? { style: "form", explode: true } : {}),
    })),
  ];
  if (parameters.length > 0) op.parameters = parameters;
  if (doc.body !== undefined) {
    op.requestBody = {
      required: doc.body.optional !== true,
      content: Object.fromEntries(Object.entries(doc.body.schemas).map(([type, schema]) => [type, { schema: refs.json(schema) }])),
    };
  }
  const responses: Record<string, unknown> = { [doc.ok.status]: answer(doc.ok.answer, doc.ok.description, refs) };
  for (const [status, more] of Object.entries(doc.more ?? {})) responses[status] = answer(more.answer, more.description, refs);
  // Ingest's 503 says when to retry (the admission bound, engine/durable/backlog.ts); so does a busy backtest's.
  const retryAfter = pattern === "/v1/measurements" ? "`overloaded` (resend after Retry-After), `store_unavailable`, `engine_recovering` or `shutting_down`" : doc.retryAfter;
  if (retryAfter !== undefined) {
    responses["503"] = {
      description: retryAfter,
      headers: { "Retry-After": { description: "Seconds to wait", schema: { type: "integer" } } },
      content: { [JSON_TYPE]: { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  responses.default = { $ref: "#/components/responses/Error" };
  op.responses = responses;
  return op;
}

function answer(shape: TSchema | TextAnswer, description: string, refs: Refs): Record<string, unknown> {
  if ("text" in shape && typeof shape.text === "string") {
    const text = shape as TextAnswer;
    return { description, content: Object.fromEntries((text.types ?? ["text/plain"]).map((type) => [type, { schema: { type: "string" }, example: text.text }])) };
  }
  const schema = refs.json(shape as TSchema);
  // Answers are JSON, or MessagePack when the request's Accept asks for it (errors always JSON).
  return { description, content: { [JSON_TYPE]: { schema }, [MSGPACK_TYPE]: { schema } } };
}

/** "GET /v1/patients/:id/thresholds" → "getPatientThresholds"; "GET /v1/patients/:id" → "getPatient". */
function operationId(method: string, pattern: string): string {
  const words = pattern
    .split("/")
    .filter((w) => w !== "" && w !== "v1")
    .map((w, i, all) => (w.startsWith(":") ? "" : i < all.length - 1 && all[i + 1].startsWith(":") && w.endsWith("s") ? w.slice(0, -1) : w))
    .filter(Boolean)
    .flatMap((w) => w.split(/[^a-z0-9]+/i))
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return method.toLowerCase() + words.join("");
}

/**
 * JSON Schema from TypeBox, with every part that is one of the named schemas replaced by a
 * `$ref` to it (TypeBox inlines composed schemas; matched by content, so an Optional copy counts).
 */
class Refs {
  private readonly byJson = new Map<string, string>();

  constructor(named: Record<string, TSchema>) {
    for (const [name, schema] of Object.entries(named)) this.byJson.set(JSON.stringify(schema), name);
  }

  json(schema: TSchema | object, self?: string): unknown {
    return this.walk(JSON.parse(JSON.stringify(schema)), self, true);
  }

  private walk(node: unknown, self: string | undefined, root: boolean): unknown {
    if (node === null || typeof node !== "object") return node;
    const name = this.byJson.get(JSON.stringify(node));
    if (name !== undefined && !(root && name === self)) return { $ref: `#/components/schemas/${name}` };
    if (Array.isArray(node)) return node.map((n) => this.walk(n, self, false));
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, this.walk(v, self, false)]));
  }
}

/** The document as docs/openapi.json keeps it (two-space indent, final newline). */
export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}
