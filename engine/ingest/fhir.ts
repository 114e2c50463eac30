// FHIR R4 Observation / Bundle of Observations -> raw readings for normalize, invalidations,
// and per-entry rejections. Pure; patient-reference mapping is the caller's (ingestFhir takes
// an optional resolver).
//
// Shape: a single resource is entry 0; a Bundle's entries keep their index. A component of an
// Observation (BP panel) is one reading, reported with its component index. A document that
// cannot be read at all (not an object, no resourceType, unsupported top-level type, Bundle.entry
// not an array) throws VarselError: the whole request fails. Everything else is per entry.
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
// - status: preliminary/final/amended/corrected -> readings; cancelled/entered-in-error ->
//   invalidation of the earlier readings with the same id (`observation_cancelled`);
//   registered -> `value_absent`; anything else -> `invalid_fhir`.

import { VarselError, fail as refuse, type ErrorCode } from "../errors.js";
import { codeMatch, isPanelCode, SYSTEM } from "../metrics.js";
import { isRecord, normalizeReading, type Reading } from "./normalize.js";

/** Where a result came from: Bundle entry index (0 for a single resource) and component index. */
export interface FhirOrigin {
  entry: number;
  component?: number;
}

/** A raw reading mapped from FHIR, ready for normalizeReading. */
export interface FhirItem extends FhirOrigin {
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
}

/** fhirToItems' answer. */
export interface FhirItems {
  items: FhirItem[];
  invalidations: Invalidation[];
  rejected: FhirRejection[];
}

/** ingestFhir's answer: normalized readings with their origin. */
export interface FhirIngest {
  accepted: (FhirOrigin & { reading: Reading })[];
  invalidations: Invalidation[];
  rejected: FhirRejection[];
}

const READING_STATUSES = new Set(["preliminary", "final", "amended", "corrected"]);
const INVALIDATING_STATUSES = new Set(["cancelled", "entered-in-error"]);

type Json = Record<string, unknown>;

function str(x: unknown): string | undefined {
  return typeof x === "string" && x !== "" ? x : undefined;
}

/**
 * Maps an Observation or a Bundle of them to raw readings, invalidations and rejections.
 * Throws VarselError (`invalid_fhir`, `unsupported_fhir_resource`) when the document as a whole
 * cannot be read.
 */
export function fhirToItems(resource: unknown): FhirItems {
  const out: FhirItems = { items: [], invalidations: [], rejected: [] };
  if (!isRecord(resource)) throw new VarselError("invalid_fhir", "a FHIR resource must be a JSON object");
  const type = resource.resourceType;
  if (typeof type !== "string") throw new VarselError("invalid_fhir", "resourceType is missing");
  if (type === "Observation") {
    entry(resource, 0, out);
  } else if (type === "Bundle") {
    const entries = resource.entry ?? [];
    if (!Array.isArray(entries)) throw new VarselError("invalid_fhir", "Bundle.entry must be an array");
    entries.forEach((e: unknown, i) => entry(isRecord(e) ? e.resource : undefined, i, out));
  } else {
    throw new VarselError("unsupported_fhir_resource", `resourceType '${type}' is not supported (Observation or Bundle)`);
  }
  return out;
}

function entry(resource: unknown, index: number, out: FhirItems): void {
  collect({ entry: index }, out, () => {
    if (!isRecord(resource)) refuse("invalid_fhir", "entry has no resource");
    if (resource.resourceType !== "Observation") {
      refuse("unsupported_fhir_resource", `resourceType '${String(resource.resourceType)}' is not supported in a Bundle (Observation only)`);
    }
    observation(resource, index, out);
  });
}

/** Runs `work`; a VarselError it throws becomes a rejection at `origin`. */
function collect(origin: FhirOrigin, out: FhirItems, work: () => void): void {
  try {
    work();
  } catch (e) {
    if (!(e instanceof VarselError)) throw e;
    out.rejected.push({ ...origin, code: e.code, message: e.message });
  }
}

function observation(obs: Json, index: number, out: FhirItems): void {
  const status = str(obs.status) ?? refuse("invalid_fhir", "Observation.status is required");
  const identifier = firstOf(obs.identifier);
  const id = str(isRecord(identifier) ? identifier.value : undefined) ?? str(obs.id);
  const patient = patientOf(obs.subject);

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
  if (!READING_STATUSES.has(status)) refuse("invalid_fhir", `Observation status '${status}' carries no usable result`);

  const base = {
    patient: patient ?? refuse("missing_field", "Observation.subject (Patient reference or identifier) is required"),
    time: effectiveTime(obs) ?? refuse("missing_field", "effectiveDateTime, effectiveInstant or effectivePeriod is required"),
    ...(id === undefined ? {} : { id }),
    ...deviceOf(obs.device),
  };

  const components = obs.component ?? [];
  if (!Array.isArray(components)) refuse("invalid_fhir", "Observation.component must be an array");
  if (components.length === 0 || hasValue(obs)) valued(obs, base, { entry: index }, out);
  components.forEach((c: unknown, i) => valued(isRecord(c) ? c : {}, base, { entry: index, component: i }, out));
}

type Base = Omit<FhirItem["item"], "metric" | "value" | "unit">;

/** One node with code + value[x] (the Observation itself or a component) -> item or rejection. */
function valued(node: Json, base: Base, origin: FhirOrigin, out: FhirItems): void {
  collect(origin, out, () => {
    const metric = metricRef(node.code);
    const item: FhirItem["item"] = { ...base, metric, value: undefined };
    if (node.dataAbsentReason !== undefined) refuse("value_absent", `value absent: ${conceptText(node.dataAbsentReason)}`);
    if (node.valueQuantity !== undefined) {
      const q = isRecord(node.valueQuantity) ? node.valueQuantity : refuse("invalid_fhir", "valueQuantity must be an object");
      if (q.comparator !== undefined) refuse("not_a_number", `value is a bound (${String(q.comparator)} ${String(q.value)}), not a measurement`);
      const code = str(q.code);
      if (code !== undefined && q.system !== undefined && q.system !== SYSTEM.ucum) {
        refuse("unit_mismatch", `unit system '${String(q.system)}' is not UCUM`);
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
    out.items.push({ ...origin, item });
  });
}

function hasValue(node: Json): boolean {
  return node.dataAbsentReason !== undefined || Object.keys(node).some((k) => k.startsWith("value"));
}

/** `system|code` of the first known coding; refuses panels, unknown and contradictory codings. */
function metricRef(concept: unknown): string {
  const codings = isRecord(concept) && Array.isArray(concept.coding) ? concept.coding : refuse("invalid_fhir", "code.coding is required");
  let first: { ref: string; key: string } | undefined;
  let panel: string | undefined;
  const seen: string[] = [];
  for (const c of codings) {
    const system = isRecord(c) ? str(c.system) : undefined;
    const code = isRecord(c) ? str(c.code) : undefined;
    if (system === undefined || code === undefined) continue;
    seen.push(`${system}|${code}`);
    if (isPanelCode(system, code)) panel = code;
    const key = codeMatch(system, code)?.metric.key;
    if (key === undefined) continue;
    if (first === undefined) first = { ref: `${system}|${code}`, key };
    else if (first.key !== key) refuse("unknown_metric", `codings name different metrics: ${first.key} and ${key}`);
  }
  if (first !== undefined) return first.ref;
  if (panel !== undefined) refuse("unknown_metric", `panel ${panel} is not a metric: its readings belong in component[]`);
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
    refuse("invalid_fhir", `subject '${ref}' is not a Patient`);
  }
  return isRecord(subject.identifier) ? str(subject.identifier.value) : undefined;
}

function effectiveTime(obs: Json): string | undefined {
  const period = isRecord(obs.effectivePeriod) ? obs.effectivePeriod : {};
  return str(obs.effectiveDateTime) ?? str(obs.effectiveInstant) ?? str(period.start) ?? str(period.end);
}

function deviceOf(device: unknown): { device?: string } {
  const d = isRecord(device) ? str(device.reference) ?? str(device.display) : undefined;
  return d === undefined ? {} : { device: d };
}

function firstOf(x: unknown): unknown {
  return Array.isArray(x) ? x[0] : undefined;
}

function conceptText(concept: unknown): string {
  if (!isRecord(concept)) return "unspecified";
  const coding = firstOf(concept.coding);
  return str(concept.text) ?? (isRecord(coding) ? str(coding.code) ?? str(coding.display) : undefined) ?? "unspecified";
}

/**
 * fhirToItems, then normalizeReading on every item at `now`. `resolvePatient` maps a FHIR
 * patient reference (`example`) to a registered patient id; undefined from it is
 * `unknown_patient`. Without a resolver the reference is the patient id. Throws as fhirToItems.
 */
export function ingestFhir(resource: unknown, now: number, resolvePatient?: (ref: string) => string | undefined): FhirIngest {
  const mapped = fhirToItems(resource);
  const out: FhirIngest = { accepted: [], invalidations: [], rejected: [...mapped.rejected] };
  const resolve = (ref: string, origin: FhirOrigin): string | undefined => {
    const p = resolvePatient === undefined ? ref : resolvePatient(ref);
    if (p === undefined) out.rejected.push({ ...origin, code: "unknown_patient", message: `patient '${ref}' is not registered` });
    return p;
  };
  for (const { item, ...origin } of mapped.items) {
    const patient = resolve(item.patient, origin);
    if (patient === undefined) continue;
    const r = normalizeReading({ ...item, patient }, now);
    if (r.ok) out.accepted.push({ ...origin, reading: r.reading });
    else out.rejected.push({ ...origin, ...r.rejection });
  }
  for (const inv of mapped.invalidations) {
    if (inv.patient === undefined) {
      out.invalidations.push(inv);
      continue;
    }
    const patient = resolve(inv.patient, { entry: inv.entry });
    if (patient !== undefined) out.invalidations.push({ ...inv, patient });
  }
  out.rejected.sort((a, b) => a.entry - b.entry || (a.component ?? -1) - (b.component ?? -1));
  return out;
}
