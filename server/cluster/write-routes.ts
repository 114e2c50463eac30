// The admin changes an ingest node takes over HTTP (docs/cluster.md "Changes over HTTP"): the
// single process's write routes (server/http/routes.ts) with the same paths, body schemas and
// role checks, validated into the same canonical commands and published to their partitions
// (ClusterCommandSink.publishChange). The answer is 202 `{accepted, command, partitions}` once
// JetStream stored every part; the engine that owns a partition applies it later.
//
// Decision: admins only on these routes. The single process also lets clinicians add and end
// silences and acknowledge over HTTP, limited to their teams' patients; an ingest node holds no
// patients, so it cannot tell a clinician's patient from another team's without answering
// differently for each (a probe). Clinicians acknowledge over the gateway's socket, which knows
// the alerts. Checks that need engine state (the patient exists, the silence or alert exists and
// is open) are the engine's: a command it refuses changes nothing and is not answered.
import type { Command } from "../../engine/durable/commands.js";
import { VarselError } from "../../engine/errors.js";
import { MAX_TEXT_LENGTH } from "../../engine/ingest/normalize.js";
import { textProblem } from "../../engine/ingest/text.js";
import type { RoutingEntry } from "../../engine/lifecycle/types.js";
import type { RuleDef } from "../../engine/rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "../../engine/rules/programmes.js";
import { bearerToken, requireRole, type Principal } from "../auth.js";
import type { SocketContext } from "../context.js";
import { readBody, reply } from "../http/respond.js";
import type { Router } from "../http/router.js";
import { timeParam } from "../http/routes.js";
import { AckBody, PatientBody, PatientThresholdsBody, ProgrammeThresholdsBody, SilenceBody, validate } from "../http/schemas.js";
import type { HttpRequest, HttpResponse } from "../transport/types.js";
import type { ClusterCommandSink } from "./command-sink.js";

type Change = Exclude<Command, { kind: "ingest" | "tick" }>;

/** Adds the write routes to an ingest node's router. */
export function addWriteRoutes(router: Router, ctx: SocketContext, sink: ClusterCommandSink): Router {
  const admin = async (req: HttpRequest): Promise<Principal> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw new VarselError("unauthorized", "send Authorization: Bearer <token>");
    const p = await ctx.auth.verify(token);
    requireRole(p, "admin");
    return p;
  };
  const accepted = async (req: HttpRequest, command: Change): Promise<HttpResponse> =>
    reply(req, 202, { accepted: true, command: command.kind, partitions: await sink.publishChange(command) });
  const patientId = (id: string) => {
    const problem = id.length > MAX_TEXT_LENGTH ? `is longer than ${MAX_TEXT_LENGTH} characters` : textProblem(id);
    if (problem !== undefined) throw new VarselError("invalid_field", `patient id ${problem}`);
  };

  return router
    .on("PUT", "/v1/patients/:id", async (req, { id }) => {
      await admin(req);
      patientId(id);
      const body = validate(PatientBody, readBody(req));
      if (body.programme !== undefined && body.programmes !== undefined) throw new VarselError("invalid_body", "give programmes or programme, not both");
      const programmes = (body.programmes ?? (body.programme === undefined ? [] : [body.programme])) as ProgrammeId[];
      return accepted(req, {
        kind: "patient",
        id,
        input: { programmes, careTeams: body.careTeams as RoutingEntry[], paused: body.paused ?? false, references: body.references ?? {} },
      });
    })
    .on("PUT", "/v1/patients/:id/thresholds", async (req, { id }) => {
      const p = await admin(req);
      patientId(id);
      const body = validate(PatientThresholdsBody, readBody(req));
      return accepted(req, { kind: "patient_thresholds", id, rules: body.rules as RuleDef[], author: p.sub, reason: body.reason });
    })
    .on("PUT", "/v1/programmes/:id/thresholds", async (req, { id }) => {
      const p = await admin(req);
      if (!Object.hasOwn(PROGRAMMES, id)) throw new VarselError("not_found", `unknown programme ${id}`);
      const body = validate(ProgrammeThresholdsBody, readBody(req));
      return accepted(req, { kind: "programme_thresholds", id: id as ProgrammeId, rules: body.rules as unknown as RuleDef[], author: p.sub, reason: body.reason });
    })
    .on("POST", "/v1/alerts/:id/ack", async (req, { id }) => {
      const p = await admin(req);
      const body = validate(AckBody, req.body.length === 0 ? {} : readBody(req));
      return accepted(req, { kind: "ack", alert: id, by: p.sub, note: body.note });
    })
    .on("POST", "/v1/silences", async (req) => {
      const p = await admin(req);
      const body = validate(SilenceBody, readBody(req));
      if (body.patient !== undefined) patientId(body.patient);
      const until = timeParam(body.until, "until");
      if (!(until > ctx.now())) throw new VarselError("invalid_silence", "until must be in the future");
      return accepted(req, { kind: "silence_add", patient: body.patient, rule: body.rule, until, reason: body.reason, author: p.sub });
    })
    .on("DELETE", "/v1/silences/:id", async (req, { id }) => {
      const p = await admin(req);
      return accepted(req, { kind: "silence_remove", id, by: p.sub });
    });
}
