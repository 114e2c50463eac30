// The storage contract. Two implementations pass one contract suite (test/store-contract.test.ts):
// SQLite (embedded default, engine/store/sqlite.ts) and PostgreSQL (engine/store/postgres.ts).
// The durable layer (engine/durable/) decides what to write and when; a store writes it.
import type { JournalEntry } from "../durable/commands.js";
import type { Alert, LifecycleEvent } from "../lifecycle/types.js";
import type { MetricKey } from "../metrics.js";

/** One group commit: commands applied in memory, in order, and everything they produced. */
export interface CommitBatch {
  /** Journal entries, positions strictly increasing and contiguous with what is stored. */
  entries: JournalEntry[];
  /** The entries' commands as MessagePack (encodeBody), when the caller encoded them already (the durable layer does, before applying). */
  /** (an entry without bytes is encoded by the store) */
  bodies?: (Uint8Array | undefined)[];
  /** The lifecycle events the entries produced (their returned events), seq strictly increasing. */
  events: LifecycleEvent[];
  /** The readings the entries evaluated, with their triage (the readings view). */
  readings: StoredReading[];
  /** The admin changes among the entries (the audit trail), positions strictly increasing. */
  audit?: AuditEntry[];
}

/** One admin change in the audit trail: a patient, thresholds, a silence or an acknowledgement. */
export interface AuditEntry {
  /** The journal position of the change (one command, one entry). */
  pos: number;
  /** Clock time it was applied at (epoch ms). */
  at: number;
  /** Who made it: the token's `sub` (`settings`: the server's alarm settings at start). */
  actor: string;
  /** The command: `patient`, `patient_thresholds`, `programme_thresholds`, `silence_add`, `silence_remove`, `ack`, `withdraw` or `alarm_policy`. */
  action: string;
  /** What it changed: the patient, programme, silence or alert id. */
  target: string;
  /** The patient concerned, when there is one. */
  patient?: string;
  /** The change itself (reason, rules, until, note, care teams, ...) and what it answered (version, silence id). */
  details: Record<string, unknown>;
}

/** Which audit entries to read: oldest first. */
export interface AuditQuery {
  /** Applied at or after this time (epoch ms). */
  since?: number;
  /** After this journal position (paging: the last `pos` of the previous page). */
  after?: number;
  limit: number;
}

/** What opening a store did to its schema. */
export interface MigrationReport {
  /** The schema version now. */
  version: number;
  /** The migrations this open applied (none when the schema was current). */
  applied: { version: number; name: string }[];
}

/** One evaluated reading as stored: canonical unit, with the triage it got. */
export interface StoredReading {
  patient: string;
  metric: MetricKey;
  /** Epoch ms of the measurement. */
  time: number;
  /** In the metric's canonical unit. */
  value: number;
  /** As the ingest answer names it (engine/alerts.ts TRIAGE_NAMES): "N", "L", "HH", "not_triaged", ... */
  triage: string;
  /** Clock time it was received at (its journal entry's). */
  receivedAt: number;
  id?: string;
  device?: string;
}

/** Which stored readings to read. */
export interface ReadingQuery {
  patient: string;
  metric?: MetricKey;
  /** Inclusive bounds on the measurement time (epoch ms). */
  from?: number;
  to?: number;
  /** At most this many, newest first. */
  limit: number;
}

/** The whole engine state at a journal position. */
export interface StoredSnapshot {
  /** The last journal position whose effects the snapshot includes. */
  pos: number;
  /** The last event number the snapshot includes. */
  seq: number;
  /** Clock time of the snapshot. */
  at: number;
  /** The wasm kernel's state region. */
  kernel: Uint8Array;
  /** Everything else (patients, rules, lifecycle, idempotency), MessagePack-encoded by the durable layer. */
  state: Uint8Array;
}

export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** Connects and runs the versioned migrations. */
  open(): Promise<MigrationReport>;
  close(): Promise<void>;
  /** Cheap round trip; throws when the store cannot be reached. */
  ping(): Promise<void>;

  /** Writes one group commit in ONE transaction; resolves only when it is durable. */
  commit(batch: CommitBatch): Promise<void>;
  /** The last journal position stored (0 when empty). */
  lastPosition(): Promise<number>;
  /** Journal entries after `pos`, in order (at most `limit`). */
  readJournal(afterPos: number, limit: number): Promise<JournalEntry[]>;

  /** Stores a snapshot; keeps no reference to its bytes once the promise settled (the engine reuses that memory). */
  saveSnapshot(snapshot: StoredSnapshot): Promise<void>;
  /** The newest snapshot, or undefined. Older snapshots may be pruned by the store. */
  latestSnapshot(): Promise<StoredSnapshot | undefined>;

  /** Events after `seq` (for resume), in order, at most `limit`. */
  eventsAfter(seq: number, limit: number): Promise<LifecycleEvent[]>;
  /** Deletes events older than `before` (ms); returns how many. */
  pruneEvents(before: number): Promise<number>;

  // ---- read models, written from the commits' returned events and readings ----
  /** The alert as of its latest event. */
  alert(id: string): Promise<Alert | undefined>;
  /** Every event of one alert (raised, updated, acknowledged, ..., resolved), in order. */
  alertHistory(id: string): Promise<LifecycleEvent[]>;
  /** Stored readings of one patient, newest first (time, then receipt order). */
  readings(query: ReadingQuery): Promise<StoredReading[]>;
  /** Deletes readings received before `before` (ms), oldest receipt first, stopping at the first received at or after it; returns how many. */
  pruneReadings(before: number): Promise<number>;
  /** The audit trail, oldest first (never pruned). */
  audit(query: AuditQuery): Promise<AuditEntry[]>;
}
