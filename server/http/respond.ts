// Building answers and reading bodies: JSON or MessagePack by content type, errors from the catalogue.
import { errorBody, statusOf, VarselError, type ErrorCode } from "../../engine/errors.js";
import { decode, encode, type Format } from "../codec.js";
import type { HttpRequest, HttpResponse } from "../transport/types.js";

export const JSON_TYPE = "application/json";
export const MSGPACK_TYPE = "application/msgpack";

/** A JSON answer (or MessagePack when the client asked for it with Accept). */
export function reply(req: HttpRequest, status: number, value: unknown): HttpResponse {
  const format: Format = (req.headers.accept ?? "").includes(MSGPACK_TYPE) ? "msgpack" : "json";
  return { status, headers: { "content-type": format === "json" ? JSON_TYPE : MSGPACK_TYPE }, body: encode(value, format) };
}

/**
 * An error answer `{code, message, details}` with the catalogue's status; an error that says
 * when to retry (`details.retryAfterMs`, e.g. `overloaded`) also gets `Retry-After` in seconds.
 */
export function replyError(code: ErrorCode, message?: string, details?: unknown): HttpResponse {
  const body = errorBody(code, message, details);
  const headers: Record<string, string> = { "content-type": JSON_TYPE };
  const retryAfterMs = (details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  if (typeof retryAfterMs === "number" && retryAfterMs >= 0) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return { status: statusOf(code), headers, body: JSON.stringify(body) };
}

/** The media type of the request without parameters, lower case. */
export function mediaType(req: HttpRequest): string {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/** Decodes a JSON or MessagePack body; other media types are unsupported_media_type. */
export function readBody(req: HttpRequest, accept: readonly string[] = [JSON_TYPE, MSGPACK_TYPE]): unknown {
  const type = mediaType(req);
  if (!accept.includes(type)) throw new VarselError("unsupported_media_type", `content type must be ${accept.join(" or ")}`, { got: type || null });
  return decode(req.body, type === MSGPACK_TYPE || type === "application/x-msgpack" ? "msgpack" : "json");
}
