// What both stores share: how bodies are encoded, how a CommitBatch becomes rows, and how
// driver failures become VarselErrors.
//
// Encoding: every body column (journal.body = the Command, events.body = the LifecycleEvent,
// alerts.body = the Alert) holds MessagePack bytes (msgpackr, plain maps and arrays, no records
// extension); readings have no body, their few fields are plain columns. MessagePack rather than
// JSON because the journal must replay exactly what was applied, and MessagePack keeps what JSON
// text loses (a key present with `undefined`, NaN, ±Infinity, byte strings); it is also smaller
// and faster to decode. Same options as the durable layer's snapshot state.
// The columns next to the bodies (kind, type, patient, alert_id, state, ...) are for queries and
// for people reading the database; the body alone is authoritative.
import { Packr } from "msgpackr";
import type { MetricKey } from "../metrics.js";
import type { AuditEntry, CommitBatch, StoredReading } from "./store.js";
import { VarselError } from "../errors.js";

const packr = new Packr({ useRecords: false, mapsAsObjects: true, encodeUndefinedAsNil: false, int64AsType: "number" });

/** MessagePack bytes of a body. */
export function encodeBody(value: unknown): Buffer {
  return packr.pack(value);
}

/** The value of MessagePack bytes written by `encodeBody`. */
export function decodeBody<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes instanceof Buffer ? bytes : asBuffer(bytes)) as T;
}

/** A Buffer over the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- snapshots in parts ----

/** Snapshot bytes per part: one part is one short transaction, so commits get in between. */
export const SNAPSHOT_PART_BYTES = 4 * 1024 * 1024;

/** The kernel's bytes then the state's, cut into parts (views, no copies; a part never spans both). */
export function snapshotParts(kernel: Uint8Array, state: Uint8Array): Buffer[] {
  const parts: Buffer[] = [];
  for (const bytes of [asBuffer(kernel), asBuffer(state)]) {
    for (let at = 0; at < bytes.length; at += SNAPSHOT_PART_BYTES) parts.push(bytes.subarray(at, at + SNAPSHOT_PART_BYTES));
  }
  return parts;
}

/** Reassembles `snapshotParts`' output, part by part in order, into a kernel and a state buffer. */
export class SnapshotAssembler {
  readonly kernel: Buffer;
  readonly state: Buffer;
  private at = 0;

  constructor(kernelLength: number, stateLength: number) {
    this.kernel = Buffer.allocUnsafe(kernelLength);
    this.state = Buffer.allocUnsafe(stateLength);
  }

  add(part: Uint8Array): void {
    const k = this.kernel.length;
    if (this.at < k) {
      if (this.at + part.length > k) throw new Error("snapshot part spans kernel and state");
      this.kernel.set(part, this.at);
    } else {
      if (this.at + part.length > k + this.state.length) throw new Error("snapshot parts are longer than recorded");
      this.state.set(part, this.at - k);
    }
    this.at += part.length;
  }

  done(): { kernel: Buffer; state: Buffer } {
    if (this.at !== this.kernel.length + this.state.length) throw new Error(`snapshot parts hold ${this.at} bytes, ${this.kernel.length + this.state.length} recorded`);
    return { kernel: this.kernel, state: this.state };
  }
}

// ---- batch -> rows ----

/** Readings deleted per transaction when pruning: short transactions, so commits get in between. */
export const PRUNE_ROWS = 10_000;


export interface JournalRow { pos: number; at: number; kind: string; body: Buffer }
export interface EventRow { seq: number; at: number; type: string; patient: string | null; alertId: string | null; body: Buffer }
export interface AlertRow { id: string; patient: string; rule: string; state: string; updatedAt: number; body: Buffer }
export interface ReadingRow { patient: string; metric: string; time: number; value: number; triage: string; receivedAt: number; id: string | null; device: string | null }
export interface AuditRow { pos: number; at: number; actor: string; action: string; target: string; patient: string | null; body: Buffer }

export interface BatchRows {
  journal: JournalRow[];
  events: EventRow[];
  /** One row per alert: its state after its last event in the batch. */
  alerts: AlertRow[];
  /** In the batch's order: the order they were received in. */
  readings: ReadingRow[];
  audit: AuditRow[];
}

/**
 * Checks what can be checked without the database (positions and event numbers strictly
 * increasing within the batch) and encodes the rows. Throws before anything is written.
 */
export function batchRows(batch: CommitBatch): BatchRows {
  let prev = -Infinity;
  for (const e of batch.entries) {
    if (!Number.isSafeInteger(e.pos) || e.pos <= prev) {
      throw conflict(`journal positions must be strictly increasing integers: ${e.pos} follows ${prev}`, { pos: e.pos });
    }
    prev = e.pos;
  }
  prev = -Infinity;
  for (const e of batch.events) {
    if (!Number.isSafeInteger(e.seq) || e.seq <= prev) {
      throw conflict(`event numbers must be strictly increasing integers: ${e.seq} follows ${prev}`, { seq: e.seq });
    }
    prev = e.seq;
  }
  prev = -Infinity;
  for (const a of batch.audit ?? []) {
    if (!Number.isSafeInteger(a.pos) || a.pos <= prev) {
      throw conflict(`audit positions must be strictly increasing integers: ${a.pos} follows ${prev}`, { pos: a.pos });
    }
    prev = a.pos;
  }

  const alerts = new Map<string, AlertRow>();
  const events: EventRow[] = [];
  for (const event of batch.events) {
    let alertId: string | null = null;
    if (event.type !== "silence" && event.type !== "review") {
      const a = event.alert;
      alertId = a.id;
      alerts.delete(a.id); // re-insert: rows keep the order of each alert's last event
      alerts.set(a.id, { id: a.id, patient: a.patient, rule: a.rule, state: a.state, updatedAt: a.updatedAt, body: encodeBody(a) });
    }
    events.push({ seq: event.seq, at: event.at, type: event.type, patient: event.patient ?? null, alertId, body: encodeBody(event) });
  }
  return {
    // The durable layer encoded each command before applying it: those bytes are what was applied.
    journal: batch.entries.map((e, i) => ({ pos: e.pos, at: e.at, kind: e.command.kind, body: batch.bodies?.[i] === undefined ? encodeBody(e.command) : asBuffer(batch.bodies[i]) })),
    events,
    alerts: [...alerts.values()],
    readings: batch.readings.map((r) => ({
      patient: r.patient,
      metric: r.metric,
      time: r.time,
      value: r.value,
      triage: r.triage,
      receivedAt: r.receivedAt,
      id: r.id ?? null,
      device: r.device ?? null,
    })),
    audit: (batch.audit ?? []).map((a) => ({ pos: a.pos, at: a.at, actor: a.actor, action: a.action, target: a.target, patient: a.patient ?? null, body: encodeBody(a.details) })),
  };
}

/** A stored audit row back as an AuditEntry. */
export function auditEntry(r: AuditRow): AuditEntry {
  const out: AuditEntry = { pos: r.pos, at: r.at, actor: r.actor, action: r.action, target: r.target, details: decodeBody<Record<string, unknown>>(r.body) };
  if (r.patient !== null) out.patient = r.patient;
  return out;
}

/** A stored row back as a StoredReading (absent id and device stay absent). */
export function storedReading(r: ReadingRow): StoredReading {
  const out: StoredReading = { patient: r.patient, metric: r.metric as MetricKey, time: r.time, value: r.value, triage: r.triage, receivedAt: r.receivedAt };
  if (r.id !== null) out.id = r.id;
  if (r.device !== null) out.device = r.device;
  return out;
}

// ---- errors ----

/** A batch the store refuses (its positions do not follow what is stored): nothing was written. */
export function conflict(message: string, details: Record<string, unknown>): VarselError {
  return new VarselError("internal_error", `store refused the batch: ${message}`, { reason: "journal_conflict", ...details });
}

/**
 * A driver failure as a VarselError: a constraint the data violates is `internal_error` (a bug
 * or a second writer; retrying the same batch fails again), anything else (connection refused,
 * timeout, disk, locked database) is `store_unavailable`.
 */
export function storeError(err: unknown, store: "sqlite" | "postgres", op: string): VarselError {
  if (err instanceof VarselError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const text = typeof e?.message === "string" ? e.message : String(err);
  const constraint = code !== undefined && (store === "postgres" ? code.startsWith("23") : code.startsWith("SQLITE_CONSTRAINT"));
  if (constraint) {
    return new VarselError("internal_error", `store refused ${op}: ${text}`, { reason: "constraint", store, op, code }, { cause: err });
  }
  return new VarselError("store_unavailable", `${store} store: ${op} failed: ${text}`, { store, op, code }, { cause: err });
}

/** Runs async tasks one after another, in call order, whatever each one's outcome. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once everything queued so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
