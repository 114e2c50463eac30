// Event order across reconnects (docs/websocket.md, Staying in sync and resuming): the cursor is
// the highest event number up to which the application is complete. Events reach the
// application once, in order: a resume replays from the cursor, anything at or below it is a
// repeat and dropped, and a snapshot (first, or after resync_required) replaces everything.
import type { Alert, LifecycleEvent, Scope, ServerMessage, SubscribeMessage } from "./protocol.js";

/** What the application applies, in this order. */
export type Update =
  /** Replace every open alert with `alerts` (the first snapshot, or a resynchronisation: `resync`). */
  | { type: "snapshot"; seq: number; alerts: Alert[]; resync: boolean }
  /** One lifecycle event; alert events carry the alert's whole state after it. */
  | { type: "event"; event: LifecycleEvent }
  /** The subscription ended: unsubscribe(), or the server ended it (a refreshed token no longer covers it). */
  | { type: "unsubscribed"; reason: string };

export class EventOrder {
  /** Highest event number applied; null until a snapshot (or after a scope change). */
  cursor: number | null = null;
  /** The subscribe whose answer is awaited (`any`: a snapshot the server sends on its own); events until then are the old subscription's. */
  private awaiting: { id?: string; any: boolean } | undefined;
  private resync = false;
  private replayLeft = 0;
  private replayTarget = 0;
  private subscribed = false;

  /** The subscribe message: resumes from the cursor when there is one (same scope only: see `reset`). */
  subscribe(id: string, scope: Scope): SubscribeMessage {
    this.awaiting = { id, any: false };
    this.subscribed = true;
    this.replayLeft = 0;
    return { type: "subscribe", id, teams: scope.teams, patients: scope.patients, resumeFrom: this.cursor ?? undefined };
  }

  /** A new scope: a replay would not bring the state of patients not followed so far. */
  reset(): void {
    this.cursor = null;
  }

  unsubscribe(): void {
    this.subscribed = false;
    this.awaiting = undefined;
    this.replayLeft = 0;
  }

  /** The socket is gone; the cursor is kept for the resume. */
  lost(): void {
    this.awaiting = undefined;
    this.replayLeft = 0;
  }

  /** The update a frame makes, if any. */
  accept(message: ServerMessage): Update | undefined {
    switch (message.type) {
      case "snapshot": {
        const a = this.awaiting;
        if (a === undefined || !(a.any || a.id === message.id)) return undefined; // a superseded subscribe's
        const resync = this.resync;
        this.awaiting = undefined;
        this.resync = false;
        this.replayLeft = 0;
        this.cursor = message.seq;
        return { type: "snapshot", seq: message.seq, alerts: message.alerts, resync };
      }
      case "subscribed":
        if (this.awaiting?.id !== message.id) return undefined;
        this.awaiting = undefined;
        this.replayLeft = message.replayed;
        this.replayTarget = message.seq;
        if (this.replayLeft === 0) this.advance(message.seq);
        return undefined;
      case "error":
        if (message.code !== "resync_required" || !this.subscribed) return undefined;
        // Answered to our subscribe (same id), or sent on its own (no id): a snapshot follows.
        if (message.id === undefined) this.awaiting = { any: true };
        else if (this.awaiting?.id !== message.id) return undefined;
        this.resync = true;
        this.cursor = null;
        return undefined;
      case "event": {
        const { seq } = message.event;
        if (this.awaiting !== undefined || !this.subscribed || this.cursor === null || seq <= this.cursor) return undefined;
        this.cursor = seq;
        if (this.replayLeft > 0 && --this.replayLeft === 0) this.advance(this.replayTarget);
        return { type: "event", event: message.event };
      }
      case "heartbeat":
      case "pong":
        // Every event in scope up to `seq` has been sent: nothing between is ours.
        if (this.subscribed && this.awaiting === undefined && this.replayLeft === 0) this.advance(message.seq);
        return undefined;
      case "unsubscribed":
        if (message.reason === undefined) return undefined; // the answer to our own unsubscribe
        this.unsubscribe();
        this.cursor = null;
        return { type: "unsubscribed", reason: message.reason };
      default:
        return undefined;
    }
  }

  private advance(seq: number): void {
    if (this.cursor !== null && seq > this.cursor) this.cursor = seq;
  }
}
