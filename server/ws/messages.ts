// The client → server messages of the WebSocket protocol (docs/websocket.md), as schemas.
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { VarselError } from "../../engine/errors.js";

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Ids = Type.Array(Id, { maxItems: 1000 });

export const AuthMessage = Type.Object({ type: Type.Literal("auth"), token: Type.String({ maxLength: 8192 }) });
export const SubscribeMessage = Type.Object({
  type: Type.Literal("subscribe"),
  id: Type.Optional(Id),
  patients: Type.Optional(Ids),
  teams: Type.Optional(Ids),
  /** Resume: replay the events after this number. */
  resumeFrom: Type.Optional(Type.Integer({ minimum: 0 })),
});
export const UnsubscribeMessage = Type.Object({ type: Type.Literal("unsubscribe"), id: Type.Optional(Id) });
export const AckMessage = Type.Object({
  type: Type.Literal("ack"),
  id: Type.Optional(Id),
  alert: Id,
  note: Type.Optional(Type.String({ maxLength: 2000 })),
});
export const IngestMessage = Type.Object({
  type: Type.Literal("ingest"),
  id: Id,
  /** Plain readings, or FHIR Observations / a Bundle with format "fhir". */
  readings: Type.Optional(Type.Array(Type.Unknown())),
  fhir: Type.Optional(Type.Unknown()),
  /** "compact" (default): `readings` in the answer lists only readings whose triage is not N; "full": every reading. */
  answer: Type.Optional(Type.Union([Type.Literal("compact"), Type.Literal("full")])),
});
export const PingMessage = Type.Object({ type: Type.Literal("ping"), id: Type.Optional(Id) });

export const ClientMessage = Type.Union([AuthMessage, SubscribeMessage, UnsubscribeMessage, AckMessage, IngestMessage, PingMessage]);
export type ClientMessage = Static<typeof ClientMessage>;

const check = TypeCompiler.Compile(ClientMessage);

/** Validates a decoded frame; anything else is a VarselError `invalid_message`. */
export function parseClientMessage(value: unknown): ClientMessage {
  if (check.Check(value)) return value;
  const first = check.Errors(value).First();
  const type = typeof value === "object" && value !== null ? (value as { type?: unknown }).type : undefined;
  throw new VarselError("invalid_message", `invalid ${typeof type === "string" ? type : "message"}: ${first ? `${first.path || "/"} ${first.message}` : "unknown shape"}`, {
    id: typeof value === "object" && value !== null ? (value as { id?: unknown }).id : undefined,
  });
}
