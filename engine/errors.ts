// The one catalogue of error codes varsel answers with: code -> default message and HTTP status.
// To add a code, add one line to ERRORS; ErrorCode, VarselError and errorBody follow from it.
// Codes are part of the public contract: never rename or reuse one, only add.
//
// Status choice: 400 for a body that cannot be decoded at all, 422 for a well-formed body whose
// content is refused, 200 for an item-level outcome that is not a failure (the request did what
// it could and says why an item produced no reading).

/** One catalogue entry. */
export interface ErrorSpec {
  /** Default human-readable message (English, one sentence, no trailing period). */
  readonly message: string;
  /** HTTP status when this error is the answer to the whole request. */
  readonly status: number;
}

/** Every error code varsel answers with. */
export const ERRORS = {
  // -- one reading (ingest/normalize) --
  missing_field: { status: 422, message: "a required field is missing" },
  invalid_field: { status: 422, message: "a field has the wrong type or shape" },
  not_a_number: { status: 422, message: "value is not a finite number" },
  implausible_value: { status: 422, message: "value is outside the plausible range for the metric" },
  unknown_metric: { status: 422, message: "metric is not known to varsel" },
  unit_mismatch: { status: 422, message: "unit is not accepted for the metric" },
  invalid_time: { status: 422, message: "time is not a valid timestamp or lies in the future" },
  unknown_patient: { status: 422, message: "patient is not registered" },
  duplicate_measurement: { status: 409, message: "a measurement with this id was already received" },

  // -- FHIR --
  invalid_fhir: { status: 422, message: "resource is not a valid FHIR R4 resource" },
  unsupported_fhir_resource: { status: 422, message: "FHIR resource type is not supported" },
  observation_cancelled: { status: 200, message: "observation is cancelled or entered in error: earlier reading invalidated" },
  value_absent: { status: 200, message: "observation carries no value (data absent)" },

  // -- transport and request --
  malformed_json: { status: 400, message: "body is not valid JSON" },
  malformed_msgpack: { status: 400, message: "body is not valid MessagePack" },
  nesting_too_deep: { status: 400, message: "body is nested too deeply" },
  unsupported_media_type: { status: 415, message: "content type is not supported" },
  payload_too_large: { status: 413, message: "body is too large" },
  length_required: { status: 411, message: "this request needs a Content-Length body, not a chunked one" },
  headers_too_large: { status: 431, message: "request headers are too large" },
  batch_too_large: { status: 413, message: "batch has too many items" },
  rate_limited: { status: 429, message: "too many requests" },

  // -- auth --
  unauthorized: { status: 401, message: "authentication required" },
  token_expired: { status: 401, message: "token has expired" },
  forbidden: { status: 403, message: "not allowed" },

  // -- resources and state --
  not_found: { status: 404, message: "not found" },
  invalid_threshold: { status: 422, message: "threshold definition is invalid" },
  resync_required: { status: 410, message: "requested events are no longer retained: resynchronise from a snapshot" },
  store_unavailable: { status: 503, message: "store is unavailable" },
  engine_recovering: { status: 503, message: "the engine is rebuilding its state from the store after an internal error; retry shortly" },
  overloaded: { status: 503, message: "too much ingest is waiting for the store; retry after the given time" },
  internal_error: { status: 500, message: "internal error" },

  // -- server protocol --
  invalid_body: { status: 422, message: "body does not match the expected shape" },
  invalid_message: { status: 422, message: "socket message does not match the protocol" },
  method_not_allowed: { status: 405, message: "method is not allowed on this path" },
  slow_consumer: { status: 503, message: "client did not read its events fast enough and was disconnected; resume from the last event number" },
  shutting_down: { status: 503, message: "server is shutting down" },
  not_subscribed: { status: 409, message: "subscribe before acknowledging over the socket" },

  // -- alert lifecycle --
  alert_not_open: { status: 409, message: "alert is not open: it has already been resolved" },
  invalid_silence: { status: 422, message: "silence is invalid: it needs a patient and/or a rule, a future end, a reason and an author" },
  silence_ended: { status: 409, message: "silence has already ended" },
  silence_too_long: { status: 422, message: "silence is longer than the organisation allows (details.maxMs: the bound per priority)" },
  invalid_routing: { status: 422, message: "care-team routing entry is invalid" },

  // -- virtual clock (development only) --
  clock_not_virtual: { status: 409, message: "the server runs on the system clock: only a server started with --clock virtual moves time by calls" },
  clock_backwards: { status: 409, message: "the virtual clock never goes backwards" },
  invalid_clock_advance: { status: 422, message: "give advanceTo (a time) or advanceBy (a duration), at most 366 days ahead" },

  // -- backtests --
  backtests_busy: { status: 503, message: "as many backtests as the server runs at once are running; retry after the given time" },
  backtest_not_done: { status: 409, message: "the backtest has no report: it is still running, failed or was cancelled" },
} as const satisfies Record<string, ErrorSpec>;

/** A code from the catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of an error answer. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** True when `code` is a catalogued error code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERRORS, code);
}

/** HTTP status of a code. */
export function statusOf(code: ErrorCode): number {
  return ERRORS[code].status;
}

/** Builds `{code, message, details?}`; the message defaults to the catalogue's. */
export function errorBody(code: ErrorCode, message?: string, details?: unknown): ErrorBody {
  const body: ErrorBody = { code, message: message ?? ERRORS[code].message };
  if (details !== undefined) body.details = details;
  return body;
}

/** Throws a VarselError: `fail("unit_mismatch", "...")` reads as a guard that cannot return. */
export function fail(code: ErrorCode, message?: string, details?: unknown): never {
  throw new VarselError(code, message, details);
}

/** An error carrying a catalogued code, its HTTP status and optional details. */
export class VarselError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  /** `message` defaults to the catalogue's message for `code`. */
  constructor(code: ErrorCode, message?: string, details?: unknown, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = "VarselError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  /** The JSON body for this error. */
  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}
