// Versioned schema of the PostgreSQL store. Append a migration to change the schema; never edit
// or renumber one that has shipped (a store records the versions it applied in
// <schema>.schema_migrations). Each migration is SQL for one schema: `s` is the quoted schema
// identifier, e.g. "public" or "varsel_test_ab12".
//
// Columns mirror engine/store/migrations/sqlite.ts. Bodies (`body`) are bytea holding
// MessagePack (engine/store/codec.ts); snapshot `kernel`/`state` are raw bytes stored EXTERNAL
// (uncompressed, out of line) so a large kernel is written and read in slices without
// decompressing the whole value.

export interface PostgresMigration {
  version: number;
  name: string;
  sql: (s: string) => string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: "initial",
    sql: (s) => `
CREATE TABLE ${s}.journal (
  pos  bigint           PRIMARY KEY,
  at   double precision NOT NULL,
  kind text             NOT NULL,
  body bytea            NOT NULL
);

CREATE TABLE ${s}.events (
  seq      bigint           PRIMARY KEY,
  at       double precision NOT NULL,
  type     text             NOT NULL,
  patient  text,
  alert_id text,
  body     bytea            NOT NULL
);
CREATE INDEX events_alert_id ON ${s}.events (alert_id, seq) WHERE alert_id IS NOT NULL;
CREATE INDEX events_at ON ${s}.events (at);

CREATE TABLE ${s}.alerts (
  id         text             PRIMARY KEY,
  patient    text             NOT NULL,
  rule       text             NOT NULL,
  state      text             NOT NULL,
  updated_at double precision NOT NULL,
  body       bytea            NOT NULL
);
CREATE INDEX alerts_patient ON ${s}.alerts (patient);
CREATE INDEX alerts_state ON ${s}.alerts (state);

CREATE TABLE ${s}.silences (
  id         text             PRIMARY KEY,
  state      text             NOT NULL,
  created_at double precision NOT NULL,
  body       bytea            NOT NULL
);

CREATE TABLE ${s}.patients (
  id         text             PRIMARY KEY,
  updated_at double precision NOT NULL,
  body       bytea            NOT NULL
);

CREATE TABLE ${s}.threshold_versions (
  scope   text             NOT NULL CHECK (scope IN ('patient', 'programme')),
  id      text             NOT NULL,
  version integer          NOT NULL,
  author  text             NOT NULL,
  at      double precision NOT NULL,
  reason  text             NOT NULL,
  rules   bytea            NOT NULL,
  PRIMARY KEY (scope, id, version)
);

CREATE TABLE ${s}.snapshots (
  id     bigserial        PRIMARY KEY,
  pos    bigint           NOT NULL,
  seq    bigint           NOT NULL,
  at     double precision NOT NULL,
  kernel bytea            NOT NULL,
  state  bytea            NOT NULL
);
ALTER TABLE ${s}.snapshots ALTER COLUMN kernel SET STORAGE EXTERNAL;
ALTER TABLE ${s}.snapshots ALTER COLUMN state SET STORAGE EXTERNAL;
`,
  },
  {
    // Snapshots in parts, each its own transaction (see the SQLite migration 2).
    version: 2,
    name: "snapshot parts",
    sql: (s) => `
ALTER TABLE ${s}.snapshots ADD COLUMN complete boolean NOT NULL DEFAULT true;
ALTER TABLE ${s}.snapshots ADD COLUMN kernel_length bigint;
ALTER TABLE ${s}.snapshots ADD COLUMN state_length bigint;
CREATE TABLE ${s}.snapshot_parts (
  snapshot bigint  NOT NULL REFERENCES ${s}.snapshots (id) ON DELETE CASCADE,
  part     integer NOT NULL,
  bytes    bytea   NOT NULL,
  PRIMARY KEY (snapshot, part)
);
ALTER TABLE ${s}.snapshot_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;
`,
  },
  {
    // The readings view and the tables nobody read (see the SQLite migration 3). `receipt` is
    // assigned in the order a commit lists its readings (the insert orders by it).
    version: 3,
    name: "readings view",
    sql: (s) => `
CREATE TABLE ${s}.readings (
  receipt        bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient        text             NOT NULL,
  metric         text             NOT NULL,
  time           double precision NOT NULL,
  value          double precision NOT NULL,
  triage         text             NOT NULL,
  received_at    double precision NOT NULL,
  measurement_id text,
  device         text
);
CREATE INDEX readings_patient_metric_time ON ${s}.readings (patient, metric, time, receipt);

DROP TABLE ${s}.patients;
DROP TABLE ${s}.threshold_versions;
DROP TABLE ${s}.silences;
`,
  },
  {
    // The audit trail (see the SQLite migration 4).
    version: 4,
    name: "audit trail",
    sql: (s) => `
CREATE TABLE ${s}.audit (
  pos     bigint           PRIMARY KEY,
  at      double precision NOT NULL,
  actor   text             NOT NULL,
  action  text             NOT NULL,
  target  text             NOT NULL,
  patient text,
  body    bytea            NOT NULL
);
CREATE INDEX audit_at ON ${s}.audit (at, pos);
`,
  },
];
