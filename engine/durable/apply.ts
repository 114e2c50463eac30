// Applies one journaled command to a pipeline at the command's own clock time. Live requests and
// recovery replay both go through here, which is what makes replay reproduce the same state.
//
// Two steps, as ws's handleUpgrade → completeUpgrade: `checkCommand` runs every precondition of
// the command and changes nothing; `applyCommand` then makes the change and returns what it
// caused (the answer, the lifecycle events, the readings evaluated). A command that fails its
// check is refused with no change; one that throws inside `applyCommand` is a bug (the durable
// layer rebuilds from the store).
import { VarselError } from "../errors.js";
import { canonicalFhir, canonicalReadings } from "../ingest/canonical.js";
import type { IngestAnswer, PatientRecord, Pipeline, Withdrawal } from "../pipeline.js";
import type { AlarmPolicy } from "../lifecycle/alarm-policy.js";
import type { Alert, LifecycleEvent, Silence } from "../lifecycle/types.js";
import type { StoredReading } from "../store/store.js";
import type { ThresholdVersion } from "../thresholds.js";
import type { Command, JournalEntry } from "./commands.js";

/** What each command answers. */
export interface CommandResults {
  patient: PatientRecord;
  patient_thresholds: ThresholdVersion;
  programme_thresholds: ThresholdVersion;
  ingest: IngestAnswer;
  /** `forgot`: the tick dropped retained data (a change without an event). */
  tick: { forgot: boolean };
  ack: Alert;
  silence_add: Silence;
  silence_remove: Silence;
  withdraw: Withdrawal;
  /** The policy now in force and the one it replaced. */
  alarm_policy: { policy: AlarmPolicy; previous: AlarmPolicy };
}

export type ResultOf<C extends Command> = CommandResults[C["kind"]];

/** What applying a command did. */
export interface Applied<R = CommandResults[Command["kind"]]> {
  result: R;
  /** The lifecycle events it caused, in order (numbered). */
  events: LifecycleEvent[];
  /** The readings it evaluated, with their triage (the store's readings view; empty unless asked). */
  readings: StoredReading[];
}

/** Throws (VarselError) what the command would be refused with; changes nothing. */
export function checkCommand(pipeline: Pipeline, entry: JournalEntry): void {
  const { command: c, at } = entry;
  switch (c.kind) {
    case "patient":
      return pipeline.checkPatient(c.id, c.input, at);
    case "patient_thresholds":
      return pipeline.checkPatientThresholds(c.id, c.rules, at);
    case "programme_thresholds":
      return pipeline.checkProgrammeThresholds(c.id, c.rules, at);
    case "ingest": // every item was validated into the batch; the rest are item outcomes
    case "tick":
      return;
    case "ack":
      return pipeline.lifecycle.checkAck(c.alert, c.by, c.note);
    case "silence_add":
      return pipeline.lifecycle.checkSilence(silenceInput(c), at);
    case "silence_remove":
      return pipeline.lifecycle.checkRemoveSilence(c.id, c.by, at);
    case "withdraw":
      return pipeline.checkWithdraw(c.patient, c.id);
    case "alarm_policy":
      if (typeof c.actor !== "string" || c.actor.trim() === "") throw new VarselError("invalid_field", "alarm_policy: actor is required");
      return pipeline.lifecycle.checkPolicy(c.policy);
  }
}

/** Applies a command that passed checkCommand; `keepReadings`: return the evaluated readings too. */
export function applyCommand(pipeline: Pipeline, entry: JournalEntry, keepReadings = false): Applied {
  const { command: c, at } = entry;
  const done = (result: CommandResults[Command["kind"]], readings: StoredReading[] = []): Applied => ({ result, events: pipeline.lifecycle.takeEvents(), readings });
  switch (c.kind) {
    case "patient":
      return done(pipeline.upsertPatient(c.id, c.input, at));
    case "patient_thresholds":
      return done(pipeline.setPatientThresholds(c.id, c.rules, c.author, c.reason, at));
    case "programme_thresholds":
      return done(pipeline.setProgrammeThresholds(c.id, c.rules, c.author, c.reason, at));
    case "ingest": {
      const { answer, readings } = pipeline.ingest(c.batch, { teams: c.teams, channel: c.channel }, at, { compact: c.compact, keep: keepReadings });
      return done(answer, readings);
    }
    case "tick":
      return done({ forgot: pipeline.tick(at) });
    case "ack":
      return done(pipeline.lifecycle.ack(c.alert, c.by, c.note, at));
    case "silence_add":
      return done(pipeline.lifecycle.addSilence(silenceInput(c), at));
    case "silence_remove":
      return done(pipeline.lifecycle.removeSilence(c.id, c.by, at));
    case "withdraw":
      return done(pipeline.withdraw(c.patient, c.id, at));
    case "alarm_policy":
      return done(pipeline.lifecycle.setPolicy(c.policy));
  }
}

function silenceInput(c: Extract<Command, { kind: "silence_add" }>) {
  return { patient: c.patient, rule: c.rule, until: c.until, reason: c.reason, author: c.author };
}

/** A journal entry of an older layout (raw `readings` / `fhir` bodies), validated now as it was then: at its own time. */
export function upgradeEntry(entry: JournalEntry): JournalEntry {
  const c = entry.command as unknown as { kind: string; items?: unknown[]; resource?: unknown; teams?: string[]; channel: string; compact?: boolean };
  if (c.kind !== "readings" && c.kind !== "fhir") return entry;
  const batch = c.kind === "readings" ? canonicalReadings(c.items ?? [], entry.at) : canonicalFhir(c.resource, entry.at);
  const command: Command = { kind: "ingest", source: c.kind, batch, channel: c.channel };
  if (c.teams !== undefined) command.teams = c.teams;
  if (c.compact !== undefined) command.compact = c.compact;
  return { ...entry, command };
}
