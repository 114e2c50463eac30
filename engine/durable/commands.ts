// Everything that changes varsel's state is a command. Commands are journaled and applied in
// the same order, with the clock time they were received at, so replaying the journal after a
// snapshot rebuilds exactly the same state and the same event numbers (engine/durable/).
import type { RuleDef } from "../rules/definitions.js";
import type { ProgrammeId } from "../rules/programmes.js";
import type { PatientInput } from "../pipeline.js";
import type { RuleOverride } from "../thresholds.js";
import type { CanonicalBatch } from "../ingest/canonical.js";
import type { AlarmPolicy } from "../lifecycle/alarm-policy.js";

export type Command =
  | { kind: "patient"; id: string; input: PatientInput }
  | { kind: "patient_thresholds"; id: string; rules: RuleOverride[]; author: string; reason: string }
  | { kind: "programme_thresholds"; id: ProgrammeId; rules: RuleDef[]; author: string; reason: string }
  | { kind: "ingest"; source: "readings" | "fhir"; batch: CanonicalBatch; teams?: string[]; channel: string; compact?: boolean }
  | { kind: "tick" }
  | { kind: "ack"; alert: string; by: string; note?: string }
  | { kind: "silence_add"; patient?: string; rule?: string; until: number; reason: string; author: string }
  | { kind: "silence_remove"; id: string; by: string }
  /** A measurement withdrawn by its sender or a clinician (scope checked before journaling); `id` is the measurement id. */
  | { kind: "withdraw"; patient: string; id: string; actor: string; reason?: string }
  /**
   * The alarm behaviour in force from here on: the whole policy, canonical (alarm-policy.ts).
   * Journaled at start when the settings differ from the policy the recovered state holds
   * (`actor` "settings"), so a replay applies every command under the policy it was applied under.
   */
  | { kind: "alarm_policy"; policy: AlarmPolicy; actor: string };

export type CommandKind = Command["kind"];

/** A command with its place in the journal and the clock time it was applied at. */
export interface JournalEntry {
  pos: number;
  at: number;
  command: Command;
}
