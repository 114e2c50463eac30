// Silences (Alertmanager style): time-bounded, with an author and a reason, matching a patient,
// a rule or both. Scoped on purpose (Nightscout's single global snooze is what users complain
// about): a silence needs at least a patient or a rule, and is shown on every alert it silences.
// This book only keeps silences; the lifecycle announces what they do to alerts.
import { VarselError } from "../errors.js";
import type { Silence, SilenceInput, SilenceRef } from "./types.js";

/** The longest silence: a year. */
export const MAX_SILENCE_MS = 366 * 86_400_000;

/** The silences of the organisation, active and ended. */
export class SilenceBook {
  private readonly silences = new Map<string, Silence>();

  /** Every silence, active and ended (plain data, for snapshots). */
  exportAll(): Silence[] {
    return [...this.silences.values()].map((s) => ({ ...s }));
  }

  /** Restores silences from a snapshot. */
  importAll(silences: readonly Silence[]): void {
    this.silences.clear();
    for (const s of silences) this.silences.set(s.id, { ...s });
  }

  /** A new active silence from `input`, not stored yet (check before any change); throws `invalid_silence`. */
  static validate(input: SilenceInput, now: number): Omit<Silence, "id"> {
    const bad = (why: string): never => {
      throw new VarselError("invalid_silence", `silence: ${why}`);
    };
    if (typeof input !== "object" || input === null) bad("must be an object");
    const patient = optionalText(input.patient, "patient", bad);
    const rule = optionalText(input.rule, "rule", bad);
    if (patient === undefined && rule === undefined) bad("give a patient, a rule or both (no global silences)");
    if (typeof input.until !== "number" || !Number.isFinite(input.until) || input.until <= now) bad("until must be a time in the future (epoch ms)");
    if (input.until > now + MAX_SILENCE_MS) bad("until must be within a year: a silence is for a while, not for good");
    if (typeof input.reason !== "string" || input.reason.trim() === "") bad("reason is required");
    if (typeof input.author !== "string" || input.author.trim() === "") bad("author is required");
    const silence: Omit<Silence, "id"> = { until: input.until, reason: input.reason, author: input.author, createdAt: now, state: "active" };
    if (patient !== undefined) silence.patient = patient;
    if (rule !== undefined) silence.rule = rule;
    return silence;
  }

  /** Stores a silence that `validate` returned. */
  add(id: string, valid: Omit<Silence, "id">): Silence {
    const silence: Silence = { id, ...valid };
    this.silences.set(id, silence);
    return { ...silence };
  }

  /** Throws `not_found`, or `silence_ended` when the silence is no longer active at `now` (it ends at `until`). */
  checkRemovable(id: string, now: number): void {
    const s = this.silences.get(id);
    if (s === undefined) throw new VarselError("not_found", `silence ${id} not found`);
    if (s.state === "removed") throw new VarselError("silence_ended", `silence ${id} has already been removed`);
    if (s.state === "expired" || s.until <= now) throw new VarselError("silence_ended", `silence ${id} has already expired`);
  }

  /** Ends an active silence by deletion (checked by `checkRemovable`). */
  remove(id: string, by: string, now: number): Silence {
    const s = this.silences.get(id)!;
    s.state = "removed";
    s.removedBy = by;
    s.endedAt = now;
    return { ...s };
  }

  /** Ends every active silence whose `until` is at or before `now`; returns them. */
  expire(now: number): Silence[] {
    const ended: Silence[] = [];
    for (const s of this.silences.values()) {
      if (s.state === "active" && s.until <= now) {
        s.state = "expired";
        s.endedAt = s.until;
        ended.push({ ...s });
      }
    }
    return ended;
  }

  /** The active silences matching a patient's rule. */
  matching(patient: string, rule: string): Silence[] {
    return [...this.silences.values()].filter((s) => s.state === "active" && matches(s, patient, rule));
  }

  /** One silence (a copy), or undefined. */
  get(id: string): Silence | undefined {
    const s = this.silences.get(id);
    return s === undefined ? undefined : { ...s };
  }

  /** Silences (copies), oldest first; ended ones only when asked. */
  list(options: { patient?: string; includeEnded?: boolean } = {}): Silence[] {
    return [...this.silences.values()]
      .filter((s) => (options.includeEnded === true || s.state === "active") && (options.patient === undefined || s.patient === undefined || s.patient === options.patient))
      .map((s) => ({ ...s }));
  }

  /** Forgets ended silences that ended before `before`; true when it forgot any. */
  prune(before: number): boolean {
    let forgot = false;
    for (const [id, s] of this.silences) {
      if (s.state === "active" || (s.endedAt ?? 0) >= before) continue;
      this.silences.delete(id);
      forgot = true;
    }
    return forgot;
  }
}

/** True when the silence matches the patient's rule (absent fields match everything). */
export function matches(s: Pick<Silence, "patient" | "rule">, patient: string, rule: string): boolean {
  return (s.patient === undefined || s.patient === patient) && (s.rule === undefined || s.rule === rule);
}

/** How a silence is shown on an alert. */
export function refOf(s: Silence): SilenceRef {
  return { id: s.id, until: s.until, reason: s.reason, author: s.author };
}

function optionalText(v: unknown, field: string, bad: (why: string) => never): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") bad(`${field} must be a non-empty string`);
  return v as string;
}
