// Bounded admission: what is applied in memory but not yet committed (pending, plus the group a
// flush is committing) is held in memory until the store takes it. Under an ingest flood faster
// than the store, that grew without bound (issue 11: 1.9 GB, answers 20 s late, every other
// client slowed down). New ingest is refused `overloaded` past a bound instead; everything
// else (acks, patients, thresholds, ticks) is still admitted: it is small, and clinically it
// must not wait behind readings.
import { VarselError } from "../errors.js";
import type { Command } from "./commands.js";

export interface BacklogLimits {
  /** Readings applied but not yet committed (default 100 000: ≈ 9 gateway group commits, 1–2 s of SQLite's durable rate). */
  maxReadings: number;
  /** Journal bytes applied but not yet committed (default 64 MiB). */
  maxBytes: number;
  /** What an `overloaded` answer asks the client to wait (default 1 000 ms: a few group commits). */
  retryAfterMs: number;
}

export const DEFAULT_BACKLOG: BacklogLimits = { maxReadings: 100_000, maxBytes: 64 * 1024 * 1024, retryAfterMs: 1_000 };

/** The weight of one uncommitted command. */
export interface Weight {
  readings: number;
  bytes: number;
}

export function weightOf(command: Command, body: Uint8Array): Weight {
  return { readings: command.kind === "ingest" ? command.batch.readings.length : 0, bytes: body.byteLength };
}

export class Backlog {
  private readings = 0;
  private bytes = 0;

  constructor(private readonly limits: BacklogLimits) {}

  /** Throws `overloaded` for an ingest command while the backlog is at or past a bound (nothing changed). */
  admit(command: Command): void {
    if (command.kind !== "ingest") return;
    if (this.readings < this.limits.maxReadings && this.bytes < this.limits.maxBytes) return;
    throw new VarselError("overloaded", undefined, { retryAfterMs: this.limits.retryAfterMs });
  }

  add(w: Weight): void {
    this.readings += w.readings;
    this.bytes += w.bytes;
  }

  remove(w: Weight): void {
    this.readings -= w.readings;
    this.bytes -= w.bytes;
  }

  /** For tests and metrics. */
  get size(): Weight {
    return { readings: this.readings, bytes: this.bytes };
  }
}
