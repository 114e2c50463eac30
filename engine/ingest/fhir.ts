// FHIR R4 Observation / Bundle of Observations -> raw readings for normalize, invalidations,
// and per-entry rejections. Pure; patient-reference mapping is the caller's.
//
// Shape: a single resource is entry 0; a Bundle's entries keep their index. A component of an
// Observation (BP panel) is one reading, reported with its component index. A document that
// cannot be read at all (not an object, no resourceType, unsupported top-level type, Bundle.entry
// not an array) throws VarselError: the whole request fails. Everything else is per entry: an
// entry nested deeper than MAX_ITEM_DEPTH is `invalid_field`, and an unexpected exception while
// mapping one is `internal_error` for that entry alone.
//
// Mapping (measurements.md, FHIR notes):
// - metric: the first coding of `code` that varsel knows (LOINC, NPU/DNK/MCS, MDC); known
//   codings that name different metrics are `unknown_metric`; a panel code alone is not a metric.
// - value: valueQuantity.value with its UCUM `code` (`unit` only when `code` is absent; a
//   non-UCUM `system` is `unit_mismatch`; a `comparator` (<, >) is `not_a_number`: a bound is
//   not a measurement), or valueInteger (canonical unit). dataAbsentReason or no value:
//   `value_absent`. Other value[x] types: `not_a_number`.
// - time: effectiveDateTime, effectiveInstant, effectivePeriod.start (else .end).
// - patient: subject.reference `[base/]Patient/<id>[/_history/n]` -> <id>, a `urn:` reference
//   as is, else subject.identifier.value. A subject that is not a Patient is `invalid_fhir`.
// - id: identifier[0].value, else the resource id. Components of one panel share it: the
//   measurement is the observation, so duplicates are (patient, metric, id).
// - patient and id are checked as text (normalize's validText: well-formed, no control
//   characters, bounded) when read, since an invalidation keeps them without normalizing.
// - a unit_mismatch rejection carries the entry's patient and metric key (FhirRejection), so
//   its clinicians can be told without mapping the document again.
// - status: preliminary/final/amended/corrected -> readings; cancelled/entered-in-error ->
//   invalidation of the earlier readings with the same id (`observation_cancelled`);
//   registered -> `value_absent`; anything else -> `invalid_fhir`. amended/corrected with an id
//   is FHIR's correction path: the reading replaces the earlier one with that id (`correction`:
//   canonicalFhir adds a withdrawal of the id just before it).

import { VarselError, type ErrorCode } from "../errors.js";
import { codeMatch, isPanelCode, SYSTEM, type MetricKey } from "../metrics.js";
import { MAX_ITEM_DEPTH, nestedDeeperThan } from "./depth.js";
import { ECHO_LENGTH, INTERNAL_ERROR_MESSAGE, isRecord, validText } from "./normalize.js";
import { Refusal, refuse } from "./refusal.js";
import { clip } from "./text.js";

/** Components of one Observation, at most: each becomes a reading. */
export const MAX_COMPONENTS = 16;

/** Where a result came from: Bundle entry index (0 for a single resource) and component index. */
export interface FhirOrigin {
  entry: number;
  component?: number;
}

/** A raw reading mapped from FHIR, ready for normalize's readInto. */
export interface FhirItem extends FhirOrigin {
  /** status corrected / amended with an id: it replaces the earlier reading with that id. */
  correction?: true;
  item: {
    patient: string;
    /** `system|code` of the coding that identified the metric. */
    metric: string;
    value: unknown;
    unit?: string;
    time: string;
    id?: string;
    device?: string;
  };
}

/** An Observation that withdraws earlier readings with the same measurement id. */
export interface Invalidation {
  kind: "invalidate";
  entry: number;
  id: string;
  patient?: string;
  reason: "observation_cancelled";
  /** The Observation status that caused it: `cancelled` or `entered-in-error`. */
  status: string;
  message: string;
}

/** One entry or component that produced no reading, and why. */
export interface FhirRejection extends FhirOrigin {
  code: ErrorCode;
  message: string;
  /** unit_mismatch only: whose reading it was. */
  patient?: string;
  metric?: MetricKey;
}

/** fhirToItems' answer. */
export interface FhirItems {
  /** Entries in the document (1 for a single Observation). */
  entries: number;
  items: FhirItem[];
  invalidations: Invalidation[];
  rejected: FhirRejection[];
}

const READING_STATUSES = new Set(["preliminary", "final", "amended", "corrected"]);
const INVALIDATING_STATUSES = new Set(["cancelled", "entered-in-error"]);

type Json = Record<string, unknown>;

function str(x: unknown): string | undefined {
  return typeof x === "string" && x !== "" ? x : undefined;
}

/** A piece of the document repeated in a message, clipped. */
function echo(x: unknown): string {
  // Only primitives are echoed: String() of an object runs its own toString (input may set it).
  const text = typeof x === "string" || typeof x === "number" || typeof x === "boolean" ? String(x) : Array.isArray(x) ? "an array" : typeof x === "object" && x !== null ? "an object" : String(x);
  return clip(text, ECHO_LENGTH);
}

/** At most this many codings are listed in an unknown_metric message. */
const LISTED_CODINGS = 5;

/**
 * Maps an Observation or a Bundle of them to raw readings, invalidations and rejections.
 * Throws VarselError (`invalid_fhir`, `unsupported_fhir_resource`) when the document as a whole
 * cannot be read.
 */
export function fhirToItems(resource: unknown): FhirItems {
  const out: FhirItems = { entries: 0, items: [], invalidations: [], rejected: [] };
  if (!isRecord(resource)) throw new VarselError("invalid_fhir", "a FHIR resource must be a JSON object");
  const type = resource.resourceType;
  if (typeof type !== "string") throw new VarselError("invalid_fhir", "resourceType is missing");
  if (type === "Observation") {
    out.entries = 1;
    entry({ resource }, 0, out);
  } else if (type === "Bundle") {
    const entries = resource.entry ?? [];
    if (!Array.isArray(entries)) throw new VarselError("invalid_fhir", "Bundle.entry must be an array");
    out.entries = entries.length;
    for (let i = 0; i < entries.length; i++) entry(entries[i], i, out);
  } else {
    throw new VarselError("unsupported_fhir_resource", `resourceType '${echo(type)}' is not supported (Observation or Bundle)`);
  }
  return out;
}

/** One Bundle entry (`{resource}`; a single Observation is wrapped as one). */
function entry(element: unknown, index: number, out: FhirItems): void {
  try {
    if (nestedDeeperThan(element, MAX_ITEM_DEPTH)) refuse("invalid_field", `entry is nested deeper than ${MAX_ITEM_DEPTH} levels`);
    const resource = isRecord(element) ? element.resource : undefined;
    if (!isRecord(resource)) refuse("invalid_fhir", "entry has no resource");
    if (resource.resourceType !== "Observation") {
      refuse("unsupported_fhir_resource", `resourceType '${echo(resource.resourceType)}' is not supported in a Bundle (Observation only)`);
    }
    observation(resource, index, out);
  } catch (e) {
    reject(out, index, undefined, e, undefined);
  }
}

/**
 * Records what mapping an entry or component threw as its rejection: a Refusal with its code
 * (a unit_mismatch attributed to `whose`), anything else `internal_error`, so one entry that
 * trips a bug never costs its neighbours.
 */
function reject(out: FhirItems, index: number, component: number | undefined, e: unknown, whose: Attribution | undefined): void {
  const rejection: FhirRejection =
    e instanceof Refusal ? { entry: index, code: e.code, message: e.message } : { entry: index, code: "internal_error", message: INTERNAL_ERROR_MESSAGE };
  if (component !== undefined) rejection.component = component;
  if (whose !== undefined && rejection.code === "unit_mismatch") {
    rejection.patient = whose.patient;
    rejection.metric = whose.metric;
  }
  out.rejected.push(rejection);
}

/** Whose reading a unit_mismatch was. */
interface Attribution {
  patient: string;
  metric: MetricKey;
}

function observation(obs: Json, index: number, out: FhirItems): void {
  const status = str(obs.status) ?? refuse("invalid_fhir", "Observation.status is required");
  const identifier = firstOf(obs.identifier);
  const id = keptText(str(isRecord(identifier) ? identifier.value : undefined) ?? str(obs.id), "id");
  const patient = keptText(patientOf(obs.subject), "patient");

  if (INVALIDATING_STATUSES.has(status)) {
    if (id === undefined) refuse("invalid_fhir", `a ${status} Observation needs an identifier or id to say which reading it withdraws`);
    const inv: Invalidation = {
      kind: "invalidate", entry: index, id, reason: "observation_cancelled", status,
      message: `Observation is ${status}: readings with id '${id}' are withdrawn`,
    };
    if (patient !== undefined) inv.patient = patient;
    out.invalidations.push(inv);
    return;
  }
  if (status === "registered") refuse("value_absent", "Observation status is registered: no result yet");
  if (!READING_STATUSES.has(status)) refuse("invalid_fhir", `Observation status '${echo(status)}' carries no usable result`);

  const base: Base = {
    patient: patient ?? refuse("missing_field", "Observation.subject (Patient reference or identifier) is required"),
    time: effectiveTime(obs) ?? refuse("missing_field", "effectiveDateTime, effectiveInstant or effectivePeriod is required"),
  };
  if (id !== undefined) base.id = id;
  const device = deviceOf(obs.device);
  if (device !== undefined) base.device = device;
  const correction = id !== undefined && (status === "corrected" || status === "amended");

  const components = obs.component ?? [];
  if (!Array.isArray(components)) refuse("invalid_fhir", "Observation.component must be an array");
  // A panel has a few components (BP: 2); a long list would multiply one entry past the batch limit.
  if (components.length > MAX_COMPONENTS) refuse("invalid_fhir", `Observation has ${components.length} components; at most ${MAX_COMPONENTS}`);
  if (components.length === 0 || hasValue(obs)) valued(obs, base, index, undefined, out, correction);
  for (let i = 0; i < components.length; i++) {
    const c: unknown = components[i];
    valued(isRecord(c) ? c : {}, base, index, i, out, correction);
  }
}

type Base = Omit<FhirItem["item"], "metric" | "value" | "unit">;

/** One node with code + value[x] (the Observation itself or a component) -> item or rejection. */
function valued(node: Json, base: Base, index: number, component: number | undefined, out: FhirItems, correction: boolean): void {
  let metricKey: MetricKey | undefined;
  try {
    const { ref, key } = metricRef(node.code);
    metricKey = key;
    const item: FhirItem["item"] = { patient: base.patient, metric: ref, value: undefined, time: base.time };
    if (base.id !== undefined) item.id = base.id;
    if (base.device !== undefined) item.device = base.device;
    if (node.dataAbsentReason !== undefined) refuse("value_absent", `value absent: ${echo(conceptText(node.dataAbsentReason))}`);
    if (node.valueQuantity !== undefined) {
      const q = isRecord(node.valueQuantity) ? node.valueQuantity : refuse("invalid_fhir", "valueQuantity must be an object");
      if (q.comparator !== undefined) refuse("not_a_number", `value is a bound (${echo(q.comparator)} ${echo(q.value)}), not a measurement`);
      const code = str(q.code);
      if (code !== undefined && q.system !== undefined && q.system !== SYSTEM.ucum) {
        refuse("unit_mismatch", `unit system '${echo(q.system)}' is not UCUM`);
      }
      item.value = q.value;
      const unit = code ?? str(q.unit);
      if (unit !== undefined) item.unit = unit;
    } else if (node.valueInteger !== undefined) {
      item.value = node.valueInteger;
    } else {
      const other = Object.keys(node).find((k) => k.startsWith("value"));
      if (other !== undefined) refuse("not_a_number", `${other} is not a numeric value`);
      refuse("value_absent", "no value");
    }
    const mapped: FhirItem = { entry: index, item };
    if (component !== undefined) mapped.component = component;
    if (correction) mapped.correction = true;
    out.items.push(mapped);
  } catch (e) {
    reject(out, index, component, e, metricKey === undefined ? undefined : { patient: base.patient, metric: metricKey });
  }
}

function hasValue(node: Json): boolean {
  if (node.dataAbsentReason !== undefined) return true;
  for (const k in node) if (k.startsWith("value")) return true;
  return false;
}

/** `system|code` and metric key of the first known coding; refuses panels, unknown and contradictory codings. */
function metricRef(concept: unknown): { ref: string; key: MetricKey } {
  const codings = isRecord(concept) && Array.isArray(concept.coding) ? concept.coding : refuse("invalid_fhir", "code.coding is required");
  let first: { ref: string; key: MetricKey } | undefined;
  let panel: string | undefined;
  const seen: string[] = [];
  for (const c of codings) {
    const system = isRecord(c) ? str(c.system) : undefined;
    const code = isRecord(c) ? str(c.code) : undefined;
    if (system === undefined || code === undefined) continue;
    if (seen.length < LISTED_CODINGS) seen.push(echo(`${system}|${code}`));
    else if (seen.length === LISTED_CODINGS) seen.push("…");
    if (isPanelCode(system, code)) panel = code;
    const key = codeMatch(system, code)?.metric.key;
    if (key === undefined) continue;
    if (first === undefined) first = { ref: `${system}|${code}`, key };
    else if (first.key !== key) refuse("unknown_metric", `codings name different metrics: ${first.key} and ${key}`);
  }
  if (first !== undefined) return first;
  if (panel !== undefined) refuse("unknown_metric", `panel ${echo(panel)} is not a metric: its readings belong in component[]`);
  refuse("unknown_metric", `no coding varsel knows (LOINC, NPU/MedCom, MDC) among: ${seen.join(", ") || "none"}`);
}

const PATIENT_REF = /(?:^|\/)Patient\/([^/]+)(?:\/_history\/[^/]+)?$/;

function patientOf(subject: unknown): string | undefined {
  if (subject === undefined) return undefined;
  if (!isRecord(subject)) refuse("invalid_fhir", "Observation.subject must be a Reference");
  const ref = str(subject.reference);
  if (ref !== undefined) {
    const m = PATIENT_REF.exec(ref);
    if (m !== null) return m[1];
    if (ref.startsWith("urn:")) return ref;
    refuse("invalid_fhir", `subject '${echo(ref)}' is not a Patient`);
  }
  return isRecord(subject.identifier) ? str(subject.identifier.value) : undefined;
}

function effectiveTime(obs: Json): string | undefined {
  const period = isRecord(obs.effectivePeriod) ? obs.effectivePeriod : {};
  return str(obs.effectiveDateTime) ?? str(obs.effectiveInstant) ?? str(period.start) ?? str(period.end);
}

function deviceOf(device: unknown): string | undefined {
  return isRecord(device) ? str(device.reference) ?? str(device.display) : undefined;
}

/** `s` checked as text when present: an invalidation keeps it without normalizing. */
function keptText(s: string | undefined, field: string): string | undefined {
  return s === undefined ? undefined : validText(s, field);
}

function firstOf(x: unknown): unknown {
  return Array.isArray(x) ? x[0] : undefined;
}

function conceptText(concept: unknown): string {
  if (!isRecord(concept)) return "unspecified";
  const coding = firstOf(concept.coding);
  return str(concept.text) ?? (isRecord(coding) ? str(coding.code) ?? str(coding.display) : undefined) ?? "unspecified";
}
