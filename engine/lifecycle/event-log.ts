// The numbered event log (FHIR subscriptions backport): every event gets the next sequence
// number (global, strictly increasing, no gaps); a retention window keeps the recent ones so a
// client that reconnects or sees a gap asks for exactly what it missed, or learns it must
// resynchronise from a snapshot when the window no longer reaches back that far.
import { errorBody } from "../errors.js";
import type { Alert, LifecycleEvent, Scope, SinceResult } from "./types.js";

/** Event retention defaults: 10 000 events, 24 hours. */
export const DEFAULT_MAX_EVENTS = 10_000;
export const DEFAULT_MAX_EVENT_AGE_MS = 24 * 3_600_000;

/** A scope compiled to sets; absent = everything. */
export interface ScopeFilter {
  patients?: ReadonlySet<string>;
  teams?: ReadonlySet<string>;
}

/** Compiles a subscriber's scope. */
export function scopeFilter(scope: Scope = {}): ScopeFilter {
  const out: ScopeFilter = {};
  if (scope.patients !== undefined) out.patients = new Set(scope.patients);
  if (scope.teams !== undefined) out.teams = new Set(scope.teams);
  return out;
}

/** True when a scope admits something about `patient` (absent: organisation-wide) whose patient has `teams`. */
export function admits(f: ScopeFilter, patient: string | undefined, teams: readonly string[]): boolean {
  if (patient === undefined) return true;
  if (f.patients !== undefined && !f.patients.has(patient)) return false;
  if (f.teams !== undefined && !teams.some((t) => f.teams!.has(t))) return false;
  return true;
}

/** In-memory event log with a count and age retention window. */
export class EventLog {
  /** Retained events are events[head..]: dropping advances head (amortised O(1), not a splice per event). */
  private readonly events: LifecycleEvent[] = [];
  private head = 0;
  /**
   * The numbers of the events about each team's patients, ascending, and of those about no
   * patient (every scope admits them). A resume with a team scope reads these instead of every
   * event after its cursor: 5 000 clinicians resuming at once each filtered the whole window, a
   * third of the server's time in a reconnect storm (bench:server storm). Numbers of dropped
   * events are trimmed from the front as a list grows (see indexSeq).
   */
  private readonly byTeam = new Map<string, number[]>();
  private readonly orgWide: number[] = [];
  private last: number;
  private readonly maxEvents: number;
  private readonly maxAgeMs: number;

  /** `startSeq`: the last number already issued (0 for a fresh log). */
  constructor(startSeq = 0, maxEvents = DEFAULT_MAX_EVENTS, maxAgeMs = DEFAULT_MAX_EVENT_AGE_MS) {
    if (!Number.isSafeInteger(startSeq) || startSeq < 0) throw new RangeError("startSeq must be a non-negative integer");
    if (!(maxEvents >= 1)) throw new RangeError("retention.maxEvents must be at least 1");
    if (!(maxAgeMs > 0)) throw new RangeError("retention.maxAgeMs must be positive");
    this.last = startSeq;
    this.maxEvents = maxEvents;
    this.maxAgeMs = maxAgeMs;
  }

  /** The retained events and the last number (plain data, for snapshots). */
  exportState(): { last: number; events: LifecycleEvent[] } {
    return { last: this.last, events: this.events.slice(this.head) };
  }

  /** Restores a snapshot's retained events and numbering. */
  importState(state: { last: number; events: LifecycleEvent[] }): void {
    this.events.length = 0;
    this.head = 0;
    this.byTeam.clear();
    this.orgWide.length = 0;
    for (const event of state.events) {
      this.events.push(event);
      this.index(event);
    }
    this.last = state.last;
  }

  /** The number the next event will get. */
  nextSeq(): number {
    return this.last + 1;
  }

  /** The last number issued (0 before any). */
  lastSeq(): number {
    return this.last;
  }

  /** The oldest retained number (lastSeq + 1 when nothing is retained). */
  oldestSeq(): number {
    return this.events.length > this.head ? this.events[this.head].seq : this.last + 1;
  }

  /** Appends an event numbered by `nextSeq()`; drops what falls out of the window. */
  append(event: LifecycleEvent): void {
    if (event.seq !== this.last + 1) throw new RangeError(`event ${event.seq} out of sequence (expected ${this.last + 1})`);
    this.events.push(event);
    this.last = event.seq;
    this.prune(event.at);
    this.index(event);
  }

  private index(event: LifecycleEvent): void {
    if (event.patient === undefined) return this.indexSeq(this.orgWide, event.seq);
    for (let i = 0; i < event.teams.length; i++) {
      const team = event.teams[i];
      if (event.teams.indexOf(team) !== i) continue; // a team listed twice: once
      let list = this.byTeam.get(team);
      if (list === undefined) this.byTeam.set(team, (list = []));
      this.indexSeq(list, event.seq);
    }
  }

  /** Appends a number; drops the numbers of dropped events once they are half the list (amortised O(1)). */
  private indexSeq(list: number[], seq: number): void {
    list.push(seq);
    if (list.length < 64 || list[0] >= this.oldestSeq()) return;
    const keep = firstAbove(list, this.oldestSeq() - 1);
    if (keep * 2 >= list.length) list.splice(0, keep);
  }

  /** Drops events beyond the count or older than the age limit at `now`; true when it dropped any. */
  prune(now: number): boolean {
    let head = Math.max(this.head, this.events.length - this.maxEvents);
    while (head < this.events.length && this.events[head].at < now - this.maxAgeMs) head++;
    const dropped = head > this.head;
    this.head = head;
    if (head > 0 && head >= this.events.length - head) {
      this.events.splice(0, head);
      this.head = 0;
    }
    return dropped;
  }

  /** The alert as the newest retained event at or before `seq` showed it, or undefined. */
  alertAt(id: string, seq: number): Alert | undefined {
    const oldest = this.oldestSeq();
    for (let k = this.head + Math.min(seq, this.last) - oldest; k >= this.head; k--) {
      const e = this.events[k];
      if ("alert" in e && e.alert.id === id) return e.alert;
    }
    return undefined;
  }

  /** Exactly the events after `seq` the scope admits, or resync_required when some of them are no longer retained. */
  since(seq: number, scope: Scope = {}): SinceResult {
    const oldest = this.oldestSeq();
    if (!Number.isSafeInteger(seq) || seq < oldest - 1 || seq > this.last) {
      return { status: "resync_required", error: errorBody("resync_required", undefined, { seq, oldestSeq: oldest, lastSeq: this.last }), lastSeq: this.last, oldestSeq: oldest };
    }
    const f = scopeFilter(scope);
    if (f.teams !== undefined) return { status: "ok", events: this.teamEvents(seq, f), lastSeq: this.last };
    const from = seq - oldest + 1;
    const events = this.events.slice(this.head + from).filter((e) => admits(f, e.patient, e.teams));
    return { status: "ok", events, lastSeq: this.last };
  }

  /** The events after `seq` (retained) that a scope with teams admits, from the team index. */
  private teamEvents(seq: number, f: ScopeFilter): LifecycleEvent[] {
    const oldest = this.oldestSeq();
    const seqs: number[] = [];
    let lists = 0;
    for (const list of [this.orgWide, ...[...f.teams!].map((t) => this.byTeam.get(t))]) {
      if (list === undefined) continue;
      const start = firstAbove(list, seq);
      if (start === list.length) continue;
      lists++;
      for (let i = start; i < list.length; i++) seqs.push(list[i]);
    }
    if (lists > 1) seqs.sort((a, b) => a - b);
    const events: LifecycleEvent[] = [];
    for (let i = 0; i < seqs.length; i++) {
      if (i > 0 && seqs[i] === seqs[i - 1]) continue; // an event of two of the scope's teams
      const e = this.events[this.head + seqs[i] - oldest];
      if (admits(f, e.patient, e.teams)) events.push(e);
    }
    return events;
  }
}

/** The index of the first number above `seq` in an ascending list (its length when none is). */
function firstAbove(list: readonly number[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] > seq) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
