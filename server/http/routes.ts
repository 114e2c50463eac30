// The HTTP API under /v1 (docs/http.md). Every route authenticates, checks role and care-team
// scope, and answers errors as JSON {code, message, details} from engine/errors.ts.
import type { Command } from "../../engine/durable/commands.js";
import { VarselError } from "../../engine/errors.js";
import { MAX_TEXT_LENGTH, parseIsoTime } from "../../engine/ingest/normalize.js";
import { textProblem } from "../../engine/ingest/text.js";
import type { Alert, AlertQuery, LifecycleEvent, RoutingEntry } from "../../engine/lifecycle/types.js";
import { canonicalUnitOf, resolveMetric, type MetricKey } from "../../engine/metrics.js";
import type { RuleDef } from "../../engine/rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "../../engine/rules/programmes.js";
import type { AuditQuery, ReadingQuery, StoredReading } from "../../engine/store/store.js";
import { alertNotFound, bearerToken, canSeePatient, requireAck, requireRole, type Principal } from "../auth.js";
import type { AppContext } from "../context.js";
import type { HttpRequest } from "../transport/types.js";
import { boardAsset, boardPage } from "./board.js";
import { BacktestJobs } from "./backtests.js";
import { advanceClock, clockState } from "./clock.js";
import { devToken } from "./dev-token.js";
import { postMeasurements } from "./measurements.js";
import { openApiDocument, undocumentedRoutes } from "./openapi.js";
import { reply, readBody } from "./respond.js";
import { Router } from "./router.js";
import { ALERT_STATES, LEVELS, PRIORITIES } from "./answers.js";
import { AckBody, BacktestBody, ClockBody, PatientBody, PatientThresholdsBody, ProgrammeThresholdsBody, READINGS_LIMIT, SilenceBody, validate } from "./schemas.js";

const TEXT = { "content-type": "text/plain; charset=utf-8" };

export function buildRouter(ctx: AppContext, backtests: BacktestJobs = new BacktestJobs(ctx)): Router {
  const who = async (req: HttpRequest): Promise<Principal> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw new VarselError("unauthorized", "send Authorization: Bearer <token>");
    return ctx.auth.verify(token);
  };
  // Outside admins, an unknown patient and another team's patient get the same answer: no probing.
  const seePatient = (p: Principal, patient: string) => {
    const known = ctx.pipeline.patient(patient) !== undefined;
    if (p.role === "admin" && !known) throw new VarselError("not_found", "unknown patient");
    if (!known || !canSeePatient(p, ctx.pipeline.teamsOf(patient))) throw new VarselError("forbidden", "patient is not in your care teams");
  };
  /**
   * Alerts and silences: one of another care team's patients is answered exactly as an unknown
   * one (`notFound`), so ids cannot be probed. Admins see every patient.
   */
  const seeOrNotFound = (p: Principal, patient: string, notFound: () => VarselError) => {
    if (!canSeePatient(p, ctx.pipeline.teamsOf(patient))) throw notFound();
  };
  const scopeOf = (p: Principal) => (p.role === "admin" ? {} : { teams: p.teams });
  /** The alert as the engine holds it now (open, or resolved within its retention), if it does. */
  const heldAlert = (id: string): Alert | undefined => {
    try {
      return ctx.pipeline.lifecycle.get(id);
    } catch (err) {
      if (err instanceof VarselError && err.code === "not_found") return undefined;
      throw err;
    }
  };
  /** Without a store: the events of one alert that the in-memory event log still holds (of its patient, when known). */
  const heldHistory = (id: string, patient: string | undefined): LifecycleEvent[] => {
    const lifecycle = ctx.pipeline.lifecycle;
    const scope = patient === undefined ? {} : { patients: [patient] };
    let held = lifecycle.since(0, scope);
    if (held.status === "resync_required") held = lifecycle.since(held.oldestSeq - 1, scope); // from the oldest it still holds
    return held.status === "ok" ? held.events.filter((e) => e.type !== "silence" && e.type !== "review" && e.alert.id === id) : [];
  };
  const programmeOf = (id: string): ProgrammeId => {
    if (!Object.hasOwn(PROGRAMMES, id)) throw new VarselError("not_found", `unknown programme ${id}`);
    return id as ProgrammeId;
  };

  const openapi = JSON.stringify(openApiDocument());
  const router = new Router()
    // The clinician's board (board/, built into build/board/).
    .on("GET", "/", () => boardPage())
    .on("GET", "/board/:file", (_req, { file }) => boardAsset(file))
    .on("GET", "/healthz", () => ({ status: 200, headers: TEXT, body: "ok" }))
    .on("GET", "/readyz", () => (ctx.ready() ? { status: 200, headers: TEXT, body: "ready" } : { status: 503, headers: TEXT, body: "not ready" }))
    .on("GET", "/metrics", async () => {
      const { contentType, body } = await ctx.metrics.exposition();
      return { status: 200, headers: { "content-type": contentType }, body };
    })
    .on("GET", "/openapi.json", () => ({ status: 200, headers: { "content-type": "application/json" }, body: openapi }))

    .on("POST", "/v1/measurements", async (req) => {
      return postMeasurements(ctx, req, await who(req));
    })

    // Withdrawing a reading: its patient's devices (a device's token covers the teams it sends
    // for), clinicians of the patient's teams, admins. An unknown patient, one outside the
    // caller's teams and an unknown measurement id get the same 404: nothing can be probed.
    .on("DELETE", "/v1/measurements/:id", async (req, { id }) => {
      const p = await who(req);
      const patient = req.query.get("patient");
      if (patient === null || patient === "") throw new VarselError("invalid_field", "patient is required");
      const reason = req.query.get("reason") ?? undefined;
      if (reason !== undefined && (reason.length > MAX_TEXT_LENGTH || textProblem(reason) !== undefined)) throw new VarselError("invalid_field", "reason is not valid text");
      const unknown = () => new VarselError("not_found", "unknown measurement");
      if (ctx.pipeline.patient(patient) === undefined || !canSeePatient(p, ctx.pipeline.teamsOf(patient))) throw unknown();
      const command: Command = { kind: "withdraw", patient, id, actor: p.sub };
      if (reason !== undefined) command.reason = reason;
      return reply(req, 200, await ctx.durable.execute(command, { actor: p.sub, sender: p.sub }));
    })

    .on("PUT", "/v1/patients/:id", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "admin");
      const problem = id.length > MAX_TEXT_LENGTH ? `is longer than ${MAX_TEXT_LENGTH} characters` : textProblem(id);
      if (problem !== undefined) throw new VarselError("invalid_field", `patient id ${problem}`);
      const body = validate(PatientBody, readBody(req));
      if (body.programme !== undefined && body.programmes !== undefined) throw new VarselError("invalid_body", "give programmes or programme, not both");
      // The journal holds the canonical list; `programme` is its one-element form.
      const programmes = (body.programmes ?? (body.programme === undefined ? [] : [body.programme])) as ProgrammeId[];
      const record = await ctx.durable.execute(
        {
          kind: "patient",
          id,
          // Hour lists and programme ids are checked by the command's check (invalid_routing, invalid_body naming them).
          input: { programmes, careTeams: body.careTeams as RoutingEntry[], paused: body.paused ?? false, references: body.references ?? {} },
        },
        { actor: p.sub, sender: p.sub },
      );
      return reply(req, 200, record);
    })
    .on("GET", "/v1/patients/:id", async (req, { id }) => {
      const p = await who(req);
      seePatient(p, id);
      return reply(req, 200, ctx.pipeline.patient(id));
    })

    .on("GET", "/v1/patients/:id/readings", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      seePatient(p, id);
      const q = req.query;
      const query: ReadingQuery = { patient: id, limit: limitParam(q.get("limit")) };
      const metric = q.get("metric");
      if (metric !== null) query.metric = metricParam(metric);
      const from = q.get("from");
      if (from !== null) query.from = timeParam(from, "from");
      const to = q.get("to");
      if (to !== null) query.to = timeParam(to, "to");
      if (query.from !== undefined && query.to !== undefined && query.from > query.to) throw new VarselError("invalid_field", "from must not be after to");
      // Without a store (--memory) nothing is kept: the answer is what is held, none.
      const stored = (await ctx.durable.store?.readings(query)) ?? [];
      return reply(req, 200, { readings: stored.map(withUnit) });
    })

    .on("PUT", "/v1/patients/:id/thresholds", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "admin");
      if (ctx.pipeline.patient(id) === undefined) throw new VarselError("not_found", "unknown patient");
      const body = validate(PatientThresholdsBody, readBody(req));
      const version = await ctx.durable.execute({ kind: "patient_thresholds", id, rules: body.rules as RuleDef[], author: p.sub, reason: body.reason }, { sender: p.sub });
      return reply(req, 200, { version: version.version, thresholdVersion: ctx.pipeline.thresholdVersion(id) });
    })
    .on("GET", "/v1/patients/:id/thresholds", async (req, { id }) => {
      const p = await who(req);
      seePatient(p, id);
      const record = ctx.pipeline.patient(id)!;
      return reply(req, 200, {
        thresholdVersion: ctx.pipeline.thresholdVersion(id),
        programmes: record.programmes,
        overrides: ctx.pipeline.thresholds.patientOverrides(id),
        effective: ctx.pipeline.effectiveRules(id).map((e) => ({ ...e.rule, programmes: e.programmes })),
        history: ctx.pipeline.thresholds.patientHistory(id),
      });
    })

    .on("PUT", "/v1/programmes/:id/thresholds", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "admin");
      const programme = programmeOf(id);
      const body = validate(ProgrammeThresholdsBody, readBody(req));
      const version = await ctx.durable.execute({ kind: "programme_thresholds", id: programme, rules: body.rules as unknown as RuleDef[], author: p.sub, reason: body.reason }, { sender: p.sub });
      return reply(req, 200, { version: version.version });
    })
    .on("GET", "/v1/programmes/:id/thresholds", async (req, { id }) => {
      await who(req);
      const programme = programmeOf(id);
      return reply(req, 200, {
        programme,
        version: ctx.pipeline.thresholds.programmeHistory(programme).length,
        rules: ctx.pipeline.thresholds.programmeRules(programme),
        history: ctx.pipeline.thresholds.programmeHistory(programme),
      });
    })

    .on("GET", "/v1/alerts", async (req) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const q = req.query;
      const query: AlertQuery = { ...scopeOf(p) };
      const patient = q.get("patient");
      if (patient !== null) {
        seePatient(p, patient);
        query.patient = patient;
      }
      const state = oneOf(q.getAll("state"), ALERT_STATES, "state");
      if (state.length > 0) query.state = state as AlertQuery["state"];
      const severity = oneOf([...q.getAll("severity"), ...q.getAll("priority")], PRIORITIES, "severity");
      if (severity.length > 0) query.priority = severity as AlertQuery["priority"];
      const level = oneOf(q.getAll("level"), LEVELS, "level");
      if (level.length > 0) query.level = level as AlertQuery["level"];
      const since = q.get("since");
      if (since !== null) query.since = timeParam(since, "since");
      // As of the last durable event: nothing a restart could undo, and `seq` resumes exactly from it.
      const seq = ctx.releasedSeq();
      return reply(req, 200, { alerts: ctx.pipeline.lifecycle.list(query, seq), seq });
    })
    .on("POST", "/v1/alerts/:id/ack", async (req, { id }) => {
      const p = await who(req);
      requireAck(p, () => ctx.pipeline.teamsOf(ctx.pipeline.lifecycle.get(id).patient));
      const body = validate(AckBody, req.body.length === 0 ? {} : readBody(req));
      return reply(req, 200, await ctx.durable.execute({ kind: "ack", alert: id, by: p.sub, note: body.note }, { sender: p.sub }));
    })
    .on("GET", "/v1/alerts/:id/history", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const store = ctx.durable.store;
      // An id no alert can have never reaches the store (PostgreSQL text refuses U+0000).
      let alert = heldAlert(id) ?? (store !== undefined && textProblem(id) === undefined ? await store.alert(id) : undefined);
      // Without a store, an alert the engine forgot (a patient's resolved ones past the 100 most
      // recent, well within the day the event log holds) is as of its last event held.
      const held = store === undefined ? heldHistory(id, alert?.patient) : undefined;
      const last = held?.at(-1);
      alert ??= last !== undefined && "alert" in last ? last.alert : undefined;
      if (alert === undefined) throw alertNotFound();
      seeOrNotFound(p, alert.patient, alertNotFound);
      const events = held ?? (await store!.alertHistory(id));
      return reply(req, 200, { alert, events });
    })

    .on("GET", "/v1/silences", async (req) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const visible = ctx.pipeline.lifecycle
        .listSilences({ includeEnded: req.query.get("ended") === "true" })
        .filter((s) => s.patient === undefined || canSeePatient(p, ctx.pipeline.teamsOf(s.patient)));
      return reply(req, 200, { silences: visible });
    })
    .on("POST", "/v1/silences", async (req) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const body = validate(SilenceBody, readBody(req));
      if (body.patient !== undefined) seePatient(p, body.patient);
      else if (p.role !== "admin") throw new VarselError("forbidden", "only an admin may silence a rule for every patient");
      const until = timeParam(body.until, "until");
      if (!(until > ctx.now())) throw new VarselError("invalid_silence", "until must be in the future");
      const silence = await ctx.durable.execute({ kind: "silence_add", patient: body.patient, rule: body.rule, until, reason: body.reason, author: p.sub }, { sender: p.sub });
      return reply(req, 201, silence);
    })
    .on("DELETE", "/v1/silences/:id", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const silenceNotFound = () => new VarselError("not_found", "unknown silence");
      const silence = ctx.pipeline.lifecycle.listSilences({ includeEnded: true }).find((s) => s.id === id);
      if (silence === undefined) throw silenceNotFound();
      if (silence.patient !== undefined) seeOrNotFound(p, silence.patient, silenceNotFound);
      else if (p.role !== "admin") throw new VarselError("forbidden", "only an admin may end a silence for every patient");
      return reply(req, 200, await ctx.durable.execute({ kind: "silence_remove", id, by: p.sub }, { sender: p.sub }));
    })

    // Backtests (docs/backtest.md): a job on a thread of its own; clinicians over their teams' patients.
    .on("POST", "/v1/backtests", async (req) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      const job = backtests.start(p, validate(BacktestBody, readBody(req)));
      const answer = reply(req, 202, job);
      return { ...answer, headers: { ...answer.headers, location: `/v1/backtests/${job.id}` } };
    })
    .on("GET", "/v1/backtests/:id", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      return reply(req, 200, backtests.get(p, id));
    })
    .on("DELETE", "/v1/backtests/:id", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      return reply(req, 200, backtests.cancel(p, id));
    })
    .on("GET", "/v1/backtests/:id/patients.csv", async (req, { id }) => {
      const p = await who(req);
      requireRole(p, "clinician", "admin");
      return { status: 200, headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": 'attachment; filename="patients.csv"' }, body: backtests.csv(p, id) };
    })

    .on("GET", "/v1/audit", async (req) => {
      const p = await who(req);
      requireRole(p, "admin");
      const q = req.query;
      const query: AuditQuery = { limit: limitParam(q.get("limit"), AUDIT_LIMITS) };
      const since = q.get("since");
      if (since !== null) query.since = timeParam(since, "since");
      const after = q.get("after");
      if (after !== null) query.after = positionParam(after, "after");
      // Without a store (--memory) nothing is kept: no trail.
      return reply(req, 200, { entries: (await ctx.durable.store?.audit(query)) ?? [] });
    })

    // The engine's clock; a virtual one (serve --clock virtual, development only) moves by calls.
    .on("GET", "/v1/clock", async (req) => {
      requireRole(await who(req), "admin");
      return reply(req, 200, clockState(ctx));
    })
    .on("POST", "/v1/clock", async (req) => {
      requireRole(await who(req), "admin");
      return reply(req, 200, await advanceClock(ctx, validate(ClockBody, readBody(req))));
    });
  // Development sign-in: only with a generated development secret; otherwise answered exactly as
  // an unknown path (a route table that does not depend on the mode keeps one OpenAPI document).
  router.on("GET", "/v1/dev/token", (req) => {
    if (!ctx.devSignIn) throw new VarselError("not_found", "no such path");
    return devToken(ctx, req);
  });
  // The document is built from server/http/openapi.ts's route table: a route missing there (or
  // there but not served) is a bug caught at the first start, never a silently wrong document.
  const { undocumented, unserved } = undocumentedRoutes(router.list());
  if (undocumented.length + unserved.length > 0) {
    throw new Error(`server/http/openapi.ts and the routes disagree: not documented ${JSON.stringify(undocumented)}, not served ${JSON.stringify(unserved)}`);
  }
  return router;
}

/** Query values from a closed list; anything else is invalid_field (never a silent empty answer). */
function oneOf(values: string[], allowed: readonly string[], name: string): string[] {
  const bad = values.filter((v) => !allowed.includes(v));
  if (bad.length > 0) throw new VarselError("invalid_field", `${name} must be one of ${allowed.join(", ")}`, { [name]: bad });
  return values;
}

/** An ISO 8601 time or epoch ms, as query parameter or body field. */
export function timeParam(value: string | number, name: string): number {
  const t = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : parseIsoTime(value);
  if (t === undefined || !Number.isFinite(t)) throw new VarselError("invalid_field", `${name} must be an ISO 8601 time or epoch ms`);
  return t;
}

/** Audit entries per answer: `limit`, default 100, at most 1 000. */
const AUDIT_LIMITS = { default: 100, max: 1_000 };

/** Entries per answer: `limit`, from 1 to the limit's max (readings by default: 1 000, at most 10 000). */
function limitParam(value: string | null, limits: { default: number; max: number } = READINGS_LIMIT): number {
  if (value === null) return limits.default;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= limits.max)) throw new VarselError("invalid_field", `limit must be a whole number from 1 to ${limits.max}`, { limit: value });
  return n;
}

/** A journal position (a whole number ≥ 0) as a query parameter. */
function positionParam(value: string, name: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new VarselError("invalid_field", `${name} must be a whole number ≥ 0`, { [name]: value });
  return n;
}

/** A metric key or code, resolved as ingest resolves it. */
function metricParam(value: string): MetricKey {
  const match = resolveMetric(value);
  if (match === undefined) throw new VarselError("invalid_field", "metric must be a metric key or code", { metric: value });
  return match.metric.key;
}

/** A stored reading with its unit named, so a client never has to know the canonical units. */
function withUnit(r: StoredReading) {
  const { patient, metric, time, value, ...rest } = r;
  return { patient, metric, time, value, unit: canonicalUnitOf(metric), ...rest };
}
