// The audit trail: which commands are admin changes, and what of them is kept. An entry is
// written in the same transaction as its command's journal entry (durable-pipeline.ts), so the
// trail holds exactly the changes that were acknowledged. It is for admins (GET /v1/audit),
// never for logs: it names patients.
import { policyChanges } from "../lifecycle/alarm-policy.js";
import type { IngestWithdrawal } from "../pipeline.js";
import type { AuditEntry } from "../store/store.js";
import type { CommandResults } from "./apply.js";
import type { JournalEntry } from "./commands.js";

/** Who made a change when the command itself does not say (a patient's registration): the token's `sub`. */
export const UNKNOWN_ACTOR = "unknown";

/** The fields that are set (an absent optional field is not stored as `undefined`). */
function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/**
 * The audit entry of an applied command, or undefined when it is not an admin change (tick, an
 * ingest that withdrew nothing); an alarm policy's names no patient. A FHIR ingest that withdrew readings is audited as DELETE
 * /v1/measurements/{id} is: action `withdraw`, one entry for the request (journal position).
 */
export function auditOf(entry: JournalEntry, result: CommandResults[keyof CommandResults], actor: string | undefined): AuditEntry | undefined {
  const { pos, at, command: c } = entry;
  const base = { pos, at, action: c.kind };
  switch (c.kind) {
    case "patient":
      return { ...base, actor: actor ?? UNKNOWN_ACTOR, target: c.id, patient: c.id, details: defined({ ...c.input }) };
    case "patient_thresholds":
      return { ...base, actor: c.author, target: c.id, patient: c.id, details: { reason: c.reason, rules: c.rules, version: (result as CommandResults["patient_thresholds"]).version } };
    case "programme_thresholds":
      return { ...base, actor: c.author, target: c.id, details: { reason: c.reason, rules: c.rules, version: (result as CommandResults["programme_thresholds"]).version } };
    case "silence_add": {
      const silence = result as CommandResults["silence_add"];
      return { ...base, actor: c.author, target: silence.id, ...(c.patient === undefined ? {} : { patient: c.patient }), details: defined({ rule: c.rule, until: c.until, reason: c.reason }) };
    }
    case "silence_remove": {
      const silence = result as CommandResults["silence_remove"];
      return { ...base, actor: c.by, target: c.id, ...(silence.patient === undefined ? {} : { patient: silence.patient }), details: {} };
    }
    case "ack": {
      const alert = result as CommandResults["ack"];
      return { ...base, actor: c.by, target: c.alert, patient: alert.patient, details: defined({ rule: alert.rule, note: c.note }) };
    }
    case "withdraw": {
      const w = result as CommandResults["withdraw"];
      return { ...base, actor: c.actor, target: c.id, patient: c.patient, details: defined({ reason: c.reason, metrics: w.metrics, resolved: w.resolved, marked: w.marked }) };
    }
    case "alarm_policy": {
      const { previous } = result as CommandResults["alarm_policy"];
      return { ...base, actor: c.actor, target: "alarm_policy", details: { changed: policyChanges(previous, c.policy), policy: c.policy, previous } };
    }
    case "ingest":
      return fhirWithdrawalAudit(base, (result as CommandResults["ingest"]).withdrawals, actor);
    case "tick":
      return undefined;
  }
}

/** The withdraw entry of an ingest whose FHIR Observations withdrew readings: target the ids, patient when one. */
function fhirWithdrawalAudit(base: Pick<AuditEntry, "pos" | "at">, withdrawals: IngestWithdrawal[] | undefined, actor: string | undefined): AuditEntry | undefined {
  if (withdrawals === undefined || withdrawals.length === 0) return undefined;
  const patients = [...new Set(withdrawals.map((w) => w.patient))];
  const entry: AuditEntry = {
    ...base,
    action: "withdraw",
    actor: actor ?? UNKNOWN_ACTOR,
    target: withdrawals.map((w) => w.id).join(","),
    details: {
      source: "fhir",
      withdrawals: withdrawals.map((w) => defined({ index: w.index, patient: w.patient, id: w.id, correction: w.correction, metrics: w.metrics, resolved: w.resolved, marked: w.marked })),
    },
  };
  if (patients.length === 1) entry.patient = patients[0];
  return entry;
}
