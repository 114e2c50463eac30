// What ingest needs per registered patient — evaluator slot per metric and whether a sender's
// teams may send for the patient — cached so that a reading costs one lookup, not a walk of the
// patient's care chain and the registry's maps. The pipeline drops a patient's entry whenever
// the patient changes; slots never move once allocated.
import { METRIC_COUNT } from "../metrics.js";

/** One registered patient as ingest sees it. */
export interface IngestEntry {
  /** Care teams, for the sender's scope. */
  readonly teams: readonly string[];
  /** Evaluator slot by metric index; -1 until the first reading allocates it. */
  readonly slots: Int32Array;
  /** The sender team set `inScope` answers for (a device sends for its own patients, so one suffices). */
  scopeId: number;
  inScope: boolean;
}

/** A sender's team set, as admit() checks it. */
export interface SenderScope {
  /** undefined: any patient (admins, internal). */
  readonly allowed: ReadonlySet<string> | undefined;
  /** Its number in the cache: equal team lists get equal numbers. */
  readonly id: number;
}

const MAX_SCOPES = 10_000;

export class PatientCache {
  private readonly entries = new Map<string, IngestEntry>();
  /** Sender scopes by their team list: built once, not per batch (a command carries its own copy of the list). */
  private readonly scopes = new Map<string, SenderScope>();
  private nextScopeId = 1;

  /** `teamsOf` answers undefined for a patient that is not registered. */
  constructor(private readonly teamsOf: (patient: string) => readonly string[] | undefined) {}

  /** The patient's entry, or undefined when not registered. */
  entry(patient: string): IngestEntry | undefined {
    let entry = this.entries.get(patient);
    if (entry === undefined) {
      const teams = this.teamsOf(patient);
      if (teams === undefined) return undefined;
      entry = { teams, slots: new Int32Array(METRIC_COUNT).fill(-1), scopeId: 0, inScope: false };
      this.entries.set(patient, entry);
    }
    return entry;
  }

  /** The patient changed (care teams): rebuilt at the next reading. */
  forget(patient: string): void {
    this.entries.delete(patient);
  }

  scope(teams: readonly string[] | undefined): SenderScope {
    if (teams === undefined) return { allowed: undefined, id: 0 };
    const key = JSON.stringify(teams); // unambiguous whatever the team names hold
    let scope = this.scopes.get(key);
    if (scope === undefined) {
      if (this.scopes.size >= MAX_SCOPES) this.scopes.clear(); // numbers keep increasing: no stale match
      this.scopes.set(key, (scope = { allowed: new Set(teams), id: this.nextScopeId++ }));
    }
    return scope;
  }

  /** True when the sender may send for the patient (an unregistered patient: only an unscoped sender). */
  admits(entry: IngestEntry | undefined, scope: SenderScope): boolean {
    if (scope.allowed === undefined) return true;
    if (entry === undefined) return false;
    if (entry.scopeId !== scope.id) {
      entry.scopeId = scope.id;
      entry.inScope = false;
      for (const team of entry.teams) if (scope.allowed.has(team)) entry.inScope = true;
    }
    return entry.inScope;
  }
}
