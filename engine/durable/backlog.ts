// Bounded admission: what is applied in memory but not yet committed (pending, plus the group a
// flush is committing) is held in memory until the store takes it. Under an ingest flood faster
// than the store, that grew without bound (issue 11: 1.9 GB, answers 20 s late, every other
// client slowed down). New ingest is refused `overloaded` past a bound instead; everything
// else (acks, patients, thresholds, ticks) is still admitted: it is small, and clinically it
// must not wait behind readings. One sender (a token's `sub`, however many sockets it opens) may
// hold at most a tenth of the bound, so its flood is refused before everyone else's readings.
import { VarselError } from "../errors.js";
import type { Command } from "./commands.js";

export interface BacklogLimits {
  /** Readings applied but not yet committed (default 100 000: ≈ 9 gateway group commits, 1–2 s of SQLite's durable rate). */
  maxReadings: number;
  /** Journal bytes applied but not yet committed (default 64 MiB). */
  maxBytes: number;
  /** Readings one sender may have applied but not committed (default 10 000: the group being committed and the one applied ahead of it; a tenth of the whole). */
  maxReadingsPerSender: number;
  /** What an `overloaded` answer asks the client to wait (default 1 000 ms: a few group commits). */
  retryAfterMs: number;
}

export const DEFAULT_BACKLOG: BacklogLimits = { maxReadings: 100_000, maxBytes: 64 * 1024 * 1024, maxReadingsPerSender: 10_000, retryAfterMs: 1_000 };

/** About the journal bytes of one canonical reading (patient, metric, value, unit, time, id). */
const READING_BYTES = 96;

/** The weight of one uncommitted command. */
export interface Weight {
  readings: number;
  bytes: number;
  /** Who sent it, when known (the share it counts against). */
  sender?: string;
}

export function weightOf(command: Command, body: Uint8Array | undefined, sender?: string): Weight {
  const readings = command.kind === "ingest" ? command.batch.readings.length : 0;
  // Not encoded (no store): about what a reading's journal bytes would be.
  return { readings, bytes: body?.byteLength ?? readings * READING_BYTES, sender };
}

export class Backlog {
  private readings = 0;
  private bytes = 0;
  /** Uncommitted readings by sender (only senders with some). */
  private readonly bySender = new Map<string, number>();

  constructor(private readonly limits: BacklogLimits) {}

  /** Throws `overloaded` for an ingest command while the backlog, or the sender's share of it, is at or past its bound (nothing changed). */
  admit(kind: Command["kind"], sender?: string): void {
    if (kind !== "ingest") return;
    const own = sender === undefined ? 0 : (this.bySender.get(sender) ?? 0);
    if (this.readings < this.limits.maxReadings && this.bytes < this.limits.maxBytes && own < this.limits.maxReadingsPerSender) return;
    throw new VarselError("overloaded", undefined, { retryAfterMs: this.limits.retryAfterMs });
  }

  add(w: Weight): void {
    this.readings += w.readings;
    this.bytes += w.bytes;
    if (w.sender !== undefined && w.readings > 0) this.bySender.set(w.sender, (this.bySender.get(w.sender) ?? 0) + w.readings);
  }

  remove(w: Weight): void {
    this.readings -= w.readings;
    this.bytes -= w.bytes;
    if (w.sender === undefined || w.readings === 0) return;
    const left = (this.bySender.get(w.sender) ?? 0) - w.readings;
    if (left > 0) this.bySender.set(w.sender, left);
    else this.bySender.delete(w.sender);
  }

  /** For tests and metrics. */
  get size(): Weight {
    return { readings: this.readings, bytes: this.bytes };
  }
}
