// Versioned schema of the SQLite store. Append a migration to change the schema; never edit or
// renumber one that has shipped (a store records the versions it applied in schema_migrations).
//
// Columns mirror engine/store/migrations/postgres.ts. Bodies (`body`, `kernel`, `state`) are
// BLOBs: MessagePack (engine/store/codec.ts) for bodies, raw bytes for snapshots.
// Tables are STRICT, so a value of the wrong type is refused rather than stored.

export interface SqliteMigration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE journal (
  pos  INTEGER PRIMARY KEY,
  at   REAL    NOT NULL,
  kind TEXT    NOT NULL,
  body BLOB    NOT NULL
) STRICT;

CREATE TABLE events (
  seq      INTEGER PRIMARY KEY,
  at       REAL    NOT NULL,
  type     TEXT    NOT NULL,
  patient  TEXT,
  alert_id TEXT,
  body     BLOB    NOT NULL
) STRICT;
CREATE INDEX events_alert_id ON events (alert_id, seq) WHERE alert_id IS NOT NULL;
CREATE INDEX events_at ON events (at);

CREATE TABLE alerts (
  id         TEXT PRIMARY KEY,
  patient    TEXT NOT NULL,
  rule       TEXT NOT NULL,
  state      TEXT NOT NULL,
  updated_at REAL NOT NULL,
  body       BLOB NOT NULL
) STRICT;
CREATE INDEX alerts_patient ON alerts (patient);
CREATE INDEX alerts_state ON alerts (state);

CREATE TABLE silences (
  id         TEXT PRIMARY KEY,
  state      TEXT NOT NULL,
  created_at REAL NOT NULL,
  body       BLOB NOT NULL
) STRICT;

CREATE TABLE patients (
  id         TEXT PRIMARY KEY,
  updated_at REAL NOT NULL,
  body       BLOB NOT NULL
) STRICT;

CREATE TABLE threshold_versions (
  scope   TEXT    NOT NULL CHECK (scope IN ('patient', 'programme')),
  id      TEXT    NOT NULL,
  version INTEGER NOT NULL,
  author  TEXT    NOT NULL,
  at      REAL    NOT NULL,
  reason  TEXT    NOT NULL,
  rules   BLOB    NOT NULL,
  PRIMARY KEY (scope, id, version)
) STRICT;

CREATE TABLE snapshots (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  pos    INTEGER NOT NULL,
  seq    INTEGER NOT NULL,
  at     REAL    NOT NULL,
  kernel BLOB    NOT NULL,
  state  BLOB    NOT NULL
) STRICT;
`,
  },
  {
    // Snapshots are written in parts, each its own transaction, so commits are not held up behind
    // hundreds of MB; a snapshot counts once its last part is in (complete = 1). Rows of version 1
    // hold their bytes inline (kernel_length NULL); parts hold the kernel, then the state.
    version: 2,
    name: "snapshot parts",
    sql: `
ALTER TABLE snapshots ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
ALTER TABLE snapshots ADD COLUMN kernel_length INTEGER;
ALTER TABLE snapshots ADD COLUMN state_length INTEGER;
CREATE TABLE snapshot_parts (
  snapshot INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
  part     INTEGER NOT NULL,
  bytes    BLOB    NOT NULL,
  PRIMARY KEY (snapshot, part)
) STRICT;
`,
  },
  {
    // The readings view: every evaluated reading with its triage, for charts and lists. `receipt`
    // is the order they were received in, so readings at the same time still read newest first.
    // One index: every reading written costs each index an insert (bench:durability). A patient's
    // metrics without a metric filter are sorted from it; pruning deletes from the oldest receipt
    // (received_at follows receipt order). Patients,
    // threshold versions and silences were never read from the store (memory and snapshots hold
    // them): their tables go.
    version: 3,
    name: "readings view",
    sql: `
CREATE TABLE readings (
  receipt        INTEGER PRIMARY KEY,
  patient        TEXT NOT NULL,
  metric         TEXT NOT NULL,
  time           REAL NOT NULL,
  value          REAL NOT NULL,
  triage         TEXT NOT NULL,
  received_at    REAL NOT NULL,
  measurement_id TEXT,
  device         TEXT
) STRICT;
CREATE INDEX readings_patient_metric_time ON readings (patient, metric, time, receipt);

DROP TABLE patients;
DROP TABLE threshold_versions;
DROP TABLE silences;
`,
  },
  {
    // The audit trail: one row per admin change (patients, thresholds, silences, acknowledgements),
    // written in the same transaction as the change's journal entry (`pos`), never pruned.
    // `body` holds the change's details as MessagePack.
    version: 4,
    name: "audit trail",
    sql: `
CREATE TABLE audit (
  pos     INTEGER PRIMARY KEY,
  at      REAL    NOT NULL,
  actor   TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  target  TEXT    NOT NULL,
  patient TEXT,
  body    BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_at ON audit (at, pos);
`,
  },
];
