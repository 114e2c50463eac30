// Development sign-in: a short-lived clinician token without pasting one, for `npm start` in dev
// mode only (a generated development secret, announced as NOT FOR PATIENT DATA); routes.ts
// answers 404 "no such path" otherwise. It answers only callers on this machine, at its loopback
// address, from its own origin.
import { VarselError } from "../../engine/errors.js";
import { MAX_TEXT_LENGTH } from "../../engine/ingest/normalize.js";
import { textProblem } from "../../engine/ingest/text.js";
import type { AppContext } from "../context.js";
import type { HttpRequest, HttpResponse } from "../transport/types.js";
import { reply } from "./respond.js";

/** Lifetime of a development token; the board fetches a new one before it ends. */
export const DEV_TOKEN_SECONDS = 15 * 60;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;
/** A Host naming this machine: a page of another site rebound to 127.0.0.1 still sends its own name. */
const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

/** `GET /v1/dev/token?role=clinician&teams=a,b[&sub=name]` → `{token, sub, role, teams, expiresAt}`. */
export async function devToken(ctx: AppContext, req: HttpRequest): Promise<HttpResponse> {
  if (!LOOPBACK.test(req.remoteAddress)) throw new VarselError("forbidden", "development sign-in only from this machine");
  // Only the board on this machine's own address: not a rebound name (DNS rebinding), and not a
  // page of another origin (whatever CORS the server was started with, a token must not leave).
  const host = req.headers.host ?? "";
  if (!LOOPBACK_HOST.test(host)) throw new VarselError("forbidden", "development sign-in only at a loopback address (localhost, 127.0.0.1, [::1])");
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) throw new VarselError("forbidden", "development sign-in only from the board's own origin");
  const role = req.query.get("role") ?? "clinician";
  if (role !== "clinician") throw new VarselError("invalid_field", "role must be clinician", { role });
  const teams = (req.query.get("teams") ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  if (teams.length === 0) throw new VarselError("invalid_field", "teams is required: a comma-separated list of care teams");
  const sub = req.query.get("sub") ?? "dev-clinician";
  for (const text of [sub, ...teams]) {
    const problem = text.length > MAX_TEXT_LENGTH ? `is longer than ${MAX_TEXT_LENGTH} characters` : text === "" ? "is empty" : textProblem(text);
    if (problem !== undefined) throw new VarselError("invalid_field", `sub and teams must be plain text: one ${problem}`);
  }
  const token = await ctx.auth.sign({ sub, role, teams }, `${DEV_TOKEN_SECONDS}s`);
  const expiresAt = (Math.floor(Date.now() / 1000) + DEV_TOKEN_SECONDS) * 1000;
  ctx.logger.info({ sub, teams }, "development token issued"); // the token itself is never logged
  const answer = reply(req, 200, { token, sub, role, teams, expiresAt });
  return { ...answer, headers: { ...answer.headers, "cache-control": "no-store" } };
}
