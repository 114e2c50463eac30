// The WebSocket protocol's messages as the client sees them (docs/websocket.md). Types only:
// what is imported from the server and the engine is erased, so nothing of theirs reaches a
// browser bundle. Client messages are derived from the server's TypeBox schemas.
import type { Static } from "@sinclair/typebox";
import type { ErrorCode } from "../engine/errors.js";
import type { Alert, AlertEvent, LifecycleEvent, ReviewEvent, Silence, SilenceEvent } from "../engine/lifecycle/types.js";
import type * as schemas from "../server/ws/messages.js";

export type { Alert, AlertEvent, ErrorCode, LifecycleEvent, ReviewEvent, Silence, SilenceEvent };

export type AuthMessage = Static<typeof schemas.AuthMessage>;
export type SubscribeMessage = Static<typeof schemas.SubscribeMessage>;
export type UnsubscribeMessage = Static<typeof schemas.UnsubscribeMessage>;
export type AckMessage = Static<typeof schemas.AckMessage>;
export type PingMessage = Static<typeof schemas.PingMessage>;
/** What this client sends (it does not ingest). */
export type ClientMessage = AuthMessage | SubscribeMessage | UnsubscribeMessage | AckMessage | PingMessage;

export type Role = "device" | "clinician" | "admin";

/** Who the server took the token for. */
export interface Authenticated {
  sub: string;
  role: Role;
  teams: string[];
  /** The token's expiry (epoch ms), null for a token without `exp`. */
  expiresAt: number | null;
}

export interface AuthenticatedMessage extends Authenticated {
  type: "authenticated";
}
/** The open alerts in scope, current at `seq`. */
export interface SnapshotMessage {
  type: "snapshot";
  id?: string;
  seq: number;
  alerts: Alert[];
}
/** A resume: `replayed` events follow; the cursor becomes `seq` once they are processed. */
export interface SubscribedMessage {
  type: "subscribed";
  id?: string;
  seq: number;
  resumedFrom: number;
  replayed: number;
}
export interface UnsubscribedMessage {
  type: "unsubscribed";
  id?: string;
  /** Set when the server ended the subscription itself (a refreshed token no longer covers it). */
  reason?: string;
}
export interface EventMessage {
  type: "event";
  event: LifecycleEvent;
}
export interface HeartbeatMessage {
  type: "heartbeat";
  seq: number;
  at: number;
}
export interface PongMessage {
  type: "pong";
  id?: string;
  seq: number;
}
export interface AckResultMessage {
  type: "ack_result";
  id?: string;
  alert: Alert;
}
export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  id?: string;
  details?: unknown;
}
export type ServerMessage =
  | AuthenticatedMessage
  | SnapshotMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | EventMessage
  | HeartbeatMessage
  | PongMessage
  | AckResultMessage
  | ErrorMessage;

/** A subscription's scope: neither given = every patient of the token's teams (admins: everyone). */
export interface Scope {
  teams?: string[];
  patients?: string[];
}

/** One evaluated reading as stored (GET /v1/patients/:id/readings). */
export interface StoredReading {
  patient: string;
  metric: string;
  time: number;
  value: number;
  unit?: string;
  triage: string;
  receivedAt: number;
  id?: string;
  device?: string;
}
