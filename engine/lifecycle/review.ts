// Readings that need a clinician's eye without being alerts (FUT tasks): a metric without
// thresholds (not_triaged, MeasurementForAssessment), a baseline rule without a reference
// (reference_needed, RefBaseNeeded), and a unit the metric does not accept for a known patient
// (unit_mismatch, MeasurementForAssessmentFailureInAutoProcessing). Pure: it only extracts the
// patient, metric and reason — no values, times or devices leave through review events.
import type { IngestResult } from "../engine.js";
import { isRecord, type BatchRejection } from "../ingest/normalize.js";
import { resolveMetric } from "../metrics.js";
import type { ReviewReason } from "./types.js";

/** One review item, coalesced per (patient, metric, reason) in a request. */
export interface ReviewItem {
  patient: string;
  metric: string;
  reason: ReviewReason;
  count: number;
}

/** Where a rejected item's patient and metric come from. */
export interface ReviewSource {
  /** The request's raw readings ({patient, metric, ...}): rejections carry only their index. */
  items?: readonly unknown[];
  /** Alternatively (e.g. FHIR, where items are resources): the patient and metric of a rejected item. Without either, unit failures cannot be attributed and are not reported. */
  attribute?: (rejection: BatchRejection) => { patient: string; metric: string } | undefined;
  /** Whether a patient is known (unit failures of unknown patients are not surfaced). */
  knownPatient: (patient: string) => boolean;
}

/** The review items of one ingest result, in first-seen order. */
export function reviewItems(result: Pick<IngestResult, "readings" | "rejected">, source: ReviewSource): ReviewItem[] {
  const out = new Map<string, ReviewItem>();
  const add = (patient: string, metric: string, reason: ReviewReason) => {
    const key = JSON.stringify([patient, metric, reason]);
    const item = out.get(key);
    if (item !== undefined) item.count++;
    else out.set(key, { patient, metric, reason, count: 1 });
  };
  for (const r of result.readings) {
    if (r.triage === "not_triaged" || r.triage === "reference_needed") add(r.patient, r.metric, r.triage);
  }
  for (const rej of result.rejected) {
    if (rej.code !== "unit_mismatch") continue;
    const who = source.attribute?.(rej) ?? fromItem(source.items?.[rej.index]);
    if (who === undefined || !source.knownPatient(who.patient)) continue;
    add(who.patient, resolveMetric(who.metric)?.metric.key ?? who.metric, "unit_mismatch");
  }
  return [...out.values()];
}

function fromItem(raw: unknown): { patient: string; metric: string } | undefined {
  if (!isRecord(raw) || typeof raw.patient !== "string" || typeof raw.metric !== "string") return undefined;
  return { patient: raw.patient, metric: raw.metric };
}
