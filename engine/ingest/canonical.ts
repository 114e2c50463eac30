// The canonical form of an ingest batch: what the journal holds and what the pipeline applies.
// Raw input (JSON, MessagePack, FHIR) never reaches the journal: it is validated here, once, into
// readings built field by field from checked values (well-formed strings of bounded length, finite
// numbers in the canonical unit, safe-integer times in the plausible range), plus a rejection per
// bad item with our own message. Unknown fields are dropped. Pure: the clock is an argument.
import type { ErrorCode } from "../errors.js";
import type { MetricKey } from "../metrics.js";

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

/** A FHIR Observation that withdraws earlier readings with the same measurement id. */
export interface CanonicalInvalidation {
  index: number;
  id: string;
  patient?: string;
}

/** A validated batch: the readings to evaluate, the items refused, the withdrawals. */
export interface CanonicalBatch {
  /** Items in the request (readings, or FHIR entries). */
  items: number;
  readings: CanonicalReading[];
  /** Sorted by index. */
  rejected: ItemRejection[];
  invalidations: CanonicalInvalidation[];
}
