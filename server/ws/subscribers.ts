// Subscribed sessions indexed by what their scope names: a patient list, else a team list, else
// everything (admins). An event is then offered to the sessions of its patient, of its patient's
// teams, and to the unscoped ones — a superset of its recipients, each offered once; the session's
// own filter makes the final decision.
import type { ScopeFilter } from "../../engine/lifecycle/event-log.js";

export class SubscriberIndex<S> {
  private readonly filters = new Map<S, ScopeFilter>();
  private readonly everything = new Set<S>();
  private readonly byPatient = new Map<string, Set<S>>();
  private readonly byTeam = new Map<string, Set<S>>();

  get size(): number {
    return this.filters.size;
  }

  /** Subscribes `s` with its scope, replacing an earlier one; undefined unsubscribes. */
  set(s: S, filter: ScopeFilter | undefined): void {
    const old = this.filters.get(s);
    if (old !== undefined) {
      this.filters.delete(s);
      this.everything.delete(s);
      for (const key of old.patients ?? []) drop(this.byPatient, key, s);
      if (old.patients === undefined) for (const key of old.teams ?? []) drop(this.byTeam, key, s);
    }
    if (filter === undefined) return;
    this.filters.set(s, filter);
    if (filter.patients !== undefined) for (const key of filter.patients) add(this.byPatient, key, s);
    else if (filter.teams !== undefined) for (const key of filter.teams) add(this.byTeam, key, s);
    else this.everything.add(s);
  }

  /** Every subscribed session. */
  all(): Iterable<S> {
    return this.filters.keys();
  }

  /** The sessions that may want an event about `patient` (undefined: organisation-wide) with these teams. */
  candidates(patient: string | undefined, teams: readonly string[]): Iterable<S> {
    if (patient === undefined) return this.filters.keys();
    const out = new Set<S>(this.everything);
    for (const s of this.byPatient.get(patient) ?? []) out.add(s);
    for (const team of teams) for (const s of this.byTeam.get(team) ?? []) out.add(s);
    return out;
  }
}

function add<S>(index: Map<string, Set<S>>, key: string, s: S): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(s);
}

function drop<S>(index: Map<string, Set<S>>, key: string, s: S): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(s);
  if (set.size === 0) index.delete(key);
}
