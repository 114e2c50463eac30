// The canonical form of an ingest batch: what the journal holds and what the pipeline applies.
// Raw input (JSON, MessagePack, FHIR) never reaches the journal: it is validated here, once, into
// readings built field by field from checked values (well-formed strings of bounded length, finite
// numbers in the canonical unit, safe-integer times in the plausible range), plus a rejection per
// bad item with our own message. Unknown fields are dropped. Pure: the clock is an argument.
import { VarselError, type ErrorCode } from "../errors.js";
import type { MetricKey } from "../metrics.js";
import { MAX_ITEM_DEPTH, nestedDeeperThan } from "./depth.js";
import { fhirToItems, type FhirRejection } from "./fhir.js";
import { INTERNAL_ERROR_MESSAGE, newReadingFields, readInto, type ReadingFields, type Rejection } from "./normalize.js";
import { clip, wellFormed } from "./text.js";

/** One valid reading in canonical form. */
export interface CanonicalReading {
  /** Position in the request (FHIR: Bundle entry index; a BP panel's components share it). */
  index: number;
  patient: string;
  metric: MetricKey;
  /** In the metric's canonical unit. */
  value: number;
  /** Epoch ms, a safe integer within the plausible range. */
  time: number;
  id?: string;
  device?: string;
}

/** Why one item produced no reading. */
export interface ItemRejection {
  index: number;
  code: ErrorCode;
  /** Our own text (well-formed, bounded); never the raw input. */
  message: string;
  /** unit_mismatch only: whose reading it was, so its clinicians can be told (review event). */
  patient?: string;
  metric?: MetricKey;
}

/**
 * A FHIR Observation that withdraws earlier readings with the same measurement id: cancelled /
 * entered-in-error, or (`correction`) an amended / corrected one, whose readings at the same
 * index replace them. Applied in entry order, before the readings of its own index.
 */
export interface CanonicalInvalidation {
  index: number;
  id: string;
  patient?: string;
  /** amended / corrected: withdraws what the id held, if anything, before its own readings are evaluated. */
  correction?: true;
}

/** A validated batch: the readings to evaluate, the items refused, the withdrawals. */
export interface CanonicalBatch {
  /** Items in the request (readings, or FHIR entries). */
  items: number;
  readings: CanonicalReading[];
  /** Sorted by index. */
  rejected: ItemRejection[];
  /** Sorted by index. */
  invalidations: CanonicalInvalidation[];
}

/** Longest message of a rejection, in UTF-16 units. */
export const MAX_MESSAGE_LENGTH = 300;

/**
 * Validates every item of a readings request at `now` (epoch ms). Each item becomes one reading
 * or one rejection with its index; a bad item, even one that trips a bug (`internal_error`),
 * never costs its neighbours. Items nested deeper than MAX_ITEM_DEPTH are `invalid_field`.
 */
export function canonicalReadings(items: readonly unknown[], now: number): CanonicalBatch {
  const batch: CanonicalBatch = { items: items.length, readings: [], rejected: [], invalidations: [] };
  const fields = newReadingFields();
  for (let index = 0; index < items.length; index++) {
    let rejection: Rejection | undefined;
    try {
      const item = items[index];
      rejection = nestedDeeperThan(item, MAX_ITEM_DEPTH) ? TOO_DEEP : readInto(item, now, fields);
    } catch {
      rejection = INTERNAL;
    }
    if (rejection === undefined) batch.readings.push(canonicalReading(index, fields));
    else batch.rejected.push(itemRejection(index, rejection, fields));
  }
  return batch;
}

/**
 * Validates a FHIR Observation or Bundle at `now` in one pass over its entries: `index` is the
 * entry index (a BP panel's components share it; a component's rejection says which in its
 * message), cancelled and entered-in-error Observations become invalidations, and a valid
 * amended / corrected Observation with an id an invalidation (`correction`) before its readings. Throws
 * VarselError (`invalid_fhir`, `unsupported_fhir_resource`) when the document as a whole cannot
 * be read.
 */
export function canonicalFhir(resource: unknown, now: number): CanonicalBatch {
  const mapped = fhirToItems(resource);
  const batch: CanonicalBatch = { items: mapped.entries, readings: [], rejected: [], invalidations: [] };
  const refused: { component: number; rejection: ItemRejection }[] = mapped.rejected.map((r) => ({
    component: r.component ?? -1,
    rejection: fhirRejection(r),
  }));
  const fields = newReadingFields();
  for (const { entry, component, item, correction } of mapped.items) {
    let rejection: Rejection | undefined;
    try {
      rejection = readInto(item, now, fields); // the entry's nesting was checked by fhirToItems
    } catch {
      rejection = INTERNAL;
    }
    if (rejection === undefined) {
      const reading = canonicalReading(entry, fields);
      // A valid correction withdraws the id first (once per entry: a panel's components share it).
      if (correction === true && reading.id !== undefined && batch.invalidations.at(-1)?.index !== entry) {
        batch.invalidations.push({ index: entry, id: reading.id, patient: reading.patient, correction: true });
      }
      batch.readings.push(reading);
    } else refused.push({ component: component ?? -1, rejection: itemRejection(entry, rejection, fields, component) });
  }
  refused.sort((a, b) => a.rejection.index - b.rejection.index || a.component - b.component);
  batch.rejected = refused.map((r) => r.rejection);
  for (const inv of mapped.invalidations) {
    const invalidation: CanonicalInvalidation = { index: inv.entry, id: inv.id };
    if (inv.patient !== undefined) invalidation.patient = inv.patient;
    batch.invalidations.push(invalidation);
  }
  batch.invalidations.sort((a, b) => a.index - b.index); // stable: entries map in order
  return batch;
}

/**
 * The canonical batch of an ingest request's readings or FHIR document at `now`, with its source;
 * throws VarselError `batch_too_large` past `maxItems` items (FHIR: entries, then readings and
 * refusals, as a panel's components count as items) and what canonicalFhir throws. The one
 * sequence every channel runs, on whichever thread (server/ws/frame-prep.ts).
 */
export function canonicalRequest(body: { readings: readonly unknown[] } | { fhir: unknown }, now: number, maxItems: number): { source: "readings" | "fhir"; batch: CanonicalBatch } {
  if ("readings" in body) {
    checkItems(body.readings.length, maxItems);
    return { source: "readings", batch: canonicalReadings(body.readings, now) };
  }
  const entries = (body.fhir as { entry?: unknown[] })?.entry;
  checkItems(Array.isArray(entries) ? entries.length : 1, maxItems);
  const batch = canonicalFhir(body.fhir, now);
  checkItems(batch.readings.length + batch.rejected.length, maxItems);
  return { source: "fhir", batch };
}

function checkItems(n: number, max: number): void {
  if (n > max) throw new VarselError("batch_too_large", `at most ${max} items per batch`, { items: n, max });
}

const TOO_DEEP: Rejection = { code: "invalid_field", message: `reading is nested deeper than ${MAX_ITEM_DEPTH} levels` };
const INTERNAL: Rejection = { code: "internal_error", message: INTERNAL_ERROR_MESSAGE };

/** A reading built field by field from validated values: nothing of the raw item comes along. */
function canonicalReading(index: number, f: ReadingFields): CanonicalReading {
  const reading: CanonicalReading = { index, patient: f.patient, metric: f.metric.key, value: f.value, time: f.time };
  if (f.id !== undefined) reading.id = f.id;
  if (f.device !== undefined) reading.device = f.device;
  return reading;
}

/** A normalize rejection; a unit_mismatch is attributed from `f` (see ReadingFields). */
function itemRejection(index: number, r: Rejection, f: ReadingFields, component?: number): ItemRejection {
  const rejection: ItemRejection = { index, code: r.code, message: ownMessage(r.message, component) };
  if (r.code === "unit_mismatch") {
    rejection.patient = f.patient;
    rejection.metric = f.metric.key;
  }
  return rejection;
}

function fhirRejection(r: FhirRejection): ItemRejection {
  const rejection: ItemRejection = { index: r.entry, code: r.code, message: ownMessage(r.message, r.component) };
  if (r.patient !== undefined && r.metric !== undefined) {
    rejection.patient = r.patient;
    rejection.metric = r.metric;
  }
  return rejection;
}

/** A message as the journal keeps it: well-formed and at most MAX_MESSAGE_LENGTH long. */
function ownMessage(message: string, component: number | undefined): string {
  const text = component === undefined ? message : `component ${component}: ${message}`;
  return wellFormed(clip(text, MAX_MESSAGE_LENGTH - 1));
}
