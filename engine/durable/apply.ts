// Applies one journaled command to a pipeline at the command's own clock time. Live requests and
// recovery replay both go through here, which is what makes replay reproduce the same state.
import type { IngestAnswer, PatientRecord, Pipeline } from "../pipeline.js";
import type { Alert, Silence } from "../lifecycle/types.js";
import type { ThresholdVersion } from "../thresholds.js";
import type { Command, JournalEntry } from "./commands.js";

/** What each command answers. */
export interface CommandResults {
  patient: PatientRecord;
  patient_thresholds: ThresholdVersion;
  programme_thresholds: ThresholdVersion;
  readings: IngestAnswer;
  fhir: IngestAnswer;
  tick: undefined;
  ack: Alert;
  silence_add: Silence;
  silence_remove: Silence;
}

export type ResultOf<C extends Command> = CommandResults[C["kind"]];

/** Applies a command; throws (VarselError) without changing state when the command is refused. */
export function applyCommand(pipeline: Pipeline, entry: JournalEntry): CommandResults[Command["kind"]] {
  const { command: c, at } = entry;
  switch (c.kind) {
    case "patient":
      return pipeline.upsertPatient(c.id, c.input, at);
    case "patient_thresholds":
      return pipeline.setPatientThresholds(c.id, c.rules, c.author, c.reason, at);
    case "programme_thresholds":
      return pipeline.setProgrammeThresholds(c.id, c.rules, c.author, c.reason, at);
    case "readings":
      return pipeline.ingest(c.items, { teams: c.teams, channel: c.channel }, at, { compact: c.compact });
    case "fhir":
      return pipeline.ingestFhir(c.resource, { teams: c.teams, channel: c.channel }, at, { compact: c.compact });
    case "tick":
      pipeline.tick(at);
      return undefined;
    case "ack":
      return pipeline.lifecycle.ack(c.alert, c.by, c.note, at);
    case "silence_add":
      return pipeline.lifecycle.addSilence({ patient: c.patient, rule: c.rule, until: c.until, reason: c.reason, author: c.author }, at);
    case "silence_remove":
      return pipeline.lifecycle.removeSilence(c.id, c.by, at);
  }
}
