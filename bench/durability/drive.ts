// Drives commands through a DurablePipeline the way the server does: many requests in flight at
// once (each `execute` applies at once and resolves when its group commit is durable), the
// next one issued as soon as one is answered. Also: a store wrapper that times the commits
// and snapshot writes, from outside the engine.
import { performance, PerformanceObserver } from "node:perf_hooks";
import type { DurablePipeline } from "../../engine/durable/durable-pipeline.js";
import type { IngestAnswer } from "../../engine/pipeline.js";
import type { CommitBatch, Store, StoredSnapshot } from "../../engine/store/store.js";
import type { Command } from "../../engine/durable/commands.js";
import { canonicalReadings } from "../../engine/ingest/canonical.js";
import type { Timed } from "./workload.js";

/** Raw readings become the canonical ingest command the server would execute (validated at issue time, as it does). */
function asCommand(c: Timed["command"], now: number): Command {
  return c.kind === "readings" ? { kind: "ingest", source: "readings", batch: canonicalReadings(c.items, now), channel: c.channel } : c;
}

const OUT_OF_BAND = new Set(["L", "H", "LL", "HH"]);

/** The clock a pipeline reads: set to each command's arrival time just before `execute`. */
export interface SimClock {
  now: number;
}

export interface DriveResult {
  seconds: number;
  commands: number;
  readings: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  transitions: number;
  /** Readings triaged out of band (L, H, LL, HH). */
  offNormal: number;
  /** CGM readings, and those of them out of band. */
  cgm: number;
  offNormalCgm: number;
  /** Garbage collection during the run (seconds, all kinds). */
  gcSeconds: number;
  /** Issue → answer of each readings command (ms; NaN for other commands), in issue order. */
  latencyMs: Float64Array;
}

/** Executes `cmds` in order with at most `inflight` unanswered; resolves when all are answered. */
export function drive(d: DurablePipeline, clock: SimClock, cmds: readonly Timed[], inflight: number): Promise<DriveResult> {
  const n = cmds.length;
  const latencyMs = new Float64Array(n);
  const r: DriveResult = { seconds: 0, commands: n, readings: 0, accepted: 0, duplicates: 0, rejected: 0, transitions: 0, offNormal: 0, cgm: 0, offNormalCgm: 0, gcSeconds: 0, latencyMs };
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const finish = (): void => {
    for (const e of gcObserver.takeRecords()) gcMs += e.duration;
    gcObserver.disconnect();
    r.gcSeconds = gcMs / 1000;
  };
  return new Promise<DriveResult>((resolve, reject) => {
    let next = 0;
    let open = 0;
    let failed = false;
    const t0 = performance.now();
    const issue = (): void => {
      while (open < inflight && next < n && !failed) {
        const i = next++;
        const c = cmds[i];
        clock.now = c.now;
        r.readings += c.readings;
        const started = performance.now();
        open++;
        d.execute(asCommand(c.command, c.now)).then(
          (answer) => {
            latencyMs[i] = c.command.kind === "readings" ? performance.now() - started : NaN;
            open--;
            if (c.command.kind === "readings") {
              const a = answer as IngestAnswer;
              r.accepted += a.accepted;
              r.duplicates += a.duplicates.length;
              r.rejected += a.rejected.length;
              r.transitions += a.transitions;
              for (const x of a.readings) {
                const off = OUT_OF_BAND.has(x.triage);
                if (off) r.offNormal++;
                if (x.metric === "cgm") {
                  r.cgm++;
                  if (off) r.offNormalCgm++;
                }
              }
            }
            if (next < n) issue();
            else if (open === 0) {
              r.seconds = (performance.now() - t0) / 1000;
              finish();
              resolve(r);
            }
          },
          (err: unknown) => {
            failed = true;
            finish();
            reject(err);
          },
        );
      }
    };
    if (n === 0) {
      finish();
      resolve(r);
    }
    else issue();
  });
}

/** Percentile of a sample (nearest rank); NaN when empty. */
export function percentile(xs: Float64Array | number[], p: number): number {
  const s = Float64Array.from(xs).filter((x) => !Number.isNaN(x)).sort();
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface StoreStats {
  commits: number;
  entries: number;
  readingsInCommits: number;
  events: number;
  /** Wall time inside `store.commit` (encode + write + fsync; SQLite blocks the event loop for all of it). */
  commitSeconds: number;
  /** Each commit's wall time (ms). */
  commitMs: number[];
  snapshots: number;
  snapshotSeconds: number;
  snapshotBytes: { kernel: number; state: number };
  /** A few groups kept, with their commit's wall time (ms), to time their encoding alone afterwards (`batchRows`). */
  samples: { batch: CommitBatch; ms: number }[];
}

export function emptyStats(): StoreStats {
  return { commits: 0, entries: 0, readingsInCommits: 0, events: 0, commitSeconds: 0, commitMs: [], snapshots: 0, snapshotSeconds: 0, snapshotBytes: { kernel: 0, state: 0 }, samples: [] };
}

/** Wraps the store's commit and saveSnapshot (same object, methods replaced) to count and time them. */
export function instrument(store: Store, sampleEvery = 64): { stats: StoreStats; reset: () => void } {
  const holder = { stats: emptyStats() };
  const commit = store.commit.bind(store);
  const save = store.saveSnapshot.bind(store);
  store.commit = async (batch: CommitBatch): Promise<void> => {
    const s = holder.stats;
    const t = performance.now();
    try {
      await commit(batch);
    } finally {
      const ms = performance.now() - t;
      s.commitSeconds += ms / 1000;
      s.commitMs.push(ms);
      s.commits++;
      s.entries += batch.entries.length;
      s.events += batch.events.length;
      for (const e of batch.entries) if (e.command.kind === "ingest") s.readingsInCommits += e.command.batch.items;
      if (s.commits % sampleEvery === 1 && s.samples.length < 16) s.samples.push({ batch, ms });
    }
  };
  store.saveSnapshot = async (snap: StoredSnapshot): Promise<void> => {
    const s = holder.stats;
    const t = performance.now();
    try {
      await save(snap);
    } finally {
      s.snapshotSeconds += (performance.now() - t) / 1000;
      s.snapshots++;
      s.snapshotBytes = { kernel: snap.kernel.byteLength, state: snap.state.byteLength };
    }
  };
  return {
    get stats() {
      return holder.stats;
    },
    reset: () => {
      holder.stats = emptyStats();
    },
  } as { stats: StoreStats; reset: () => void };
}
