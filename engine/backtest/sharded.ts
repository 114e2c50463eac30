// A backtest over several worker threads: the cohort dealt out patient by patient to shards, each
// a Backtest of its own on its own thread (thread-entry.ts), readings routed to the shard of their
// patient, and at the end the shards' outcomes merged into one report (outcome.ts). Patients
// share no rule state in a replay (NEWS2 sets: docs/kernel.md "Replay blocks"), so every patient's alerts are those of one Backtest over the whole
// cohort (test/backtest-sharded.test.ts); a cohort-year takes about 1/threads of the time on as
// many cores (bench:backtest). Readings must come in time order (push refuses a chunk that is
// not): a group's clock moves with all its patients' readings, so a late reading is late only
// against a clock a shard would not share.
import type { Worker } from "node:worker_threads";
import { VarselError } from "../errors.js";
import { startWorker } from "../worker.js";
import type { CanonicalReading } from "../ingest/canonical.js";
import { checkedCohort, chunkOf, emptyChunk, type ReadingChunk } from "./backtest.js";
import { mergeOutcomes, reportOf, type OutcomeColumns } from "./outcome.js";
import type { BlockMode } from "./replay.js";
import type { ThreadReply, ThreadRequest } from "./thread.js";
import type { BacktestOptions, BacktestReport } from "./types.js";

/** Readings a shard receives per message. */
const CHUNK = 65_536;
/** Messages sent to a shard and not yet replayed: one being replayed, one waiting. */
const IN_FLIGHT = 2;

class Shard {
  chunk: ReadingChunk = { ...emptyChunk(CHUNK), n: 0 };
  inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private done = false;
  private outcome: ((o: OutcomeColumns) => void) | undefined;
  failure: VarselError | undefined;
  private onFailure: ((err: VarselError) => void) | undefined;

  constructor(
    readonly worker: Worker,
    readonly members: number[],
  ) {
    worker.on("message", (m: ThreadReply) => {
      if (m.type === "progress") {
        this.inFlight--;
        this.wake();
      } else if (m.type === "outcome") {
        this.done = true;
        this.outcome?.(m.outcome);
      } else if (m.type === "error") this.fail(new VarselError(m.code, m.message));
    });
    worker.on("error", (err) => this.fail(new VarselError("internal_error", `a backtest shard failed: ${err.message}`)));
    // A thread that ends before its outcome (terminated, out of memory) fails the backtest instead of leaving it waiting.
    worker.on("exit", (code) => {
      if (!this.done) this.fail(new VarselError("internal_error", `a backtest shard's thread ended (exit code ${code}) before its outcome`));
    });
  }

  send(request: ThreadRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  /**
   * Sends the filled part of the chunk, its buffers transferred: a full chunk as it is (a fresh
   * one takes its place), a partial one (the last) copied to its length first.
   */
  flush(): void {
    const c = this.chunk;
    const n = c.n;
    if (n === 0) return;
    const out: ReadingChunk = n === CHUNK ? c : { n, patient: c.patient.slice(0, n), metric: c.metric.slice(0, n), time: c.time.slice(0, n), value: c.value.slice(0, n) };
    this.inFlight++;
    this.send({ type: "chunk", chunk: out }, [out.patient.buffer, out.metric.buffer, out.time.buffer, out.value.buffer] as ArrayBuffer[]);
    if (out === c) this.chunk = { ...emptyChunk(CHUNK), n: 0 };
    else c.n = 0;
  }

  /** Resolves once at most `limit` messages are unreplayed. */
  async drained(limit: number): Promise<void> {
    while (this.inFlight > limit) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  result(): Promise<OutcomeColumns> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.outcome = resolve;
      this.onFailure = reject;
      this.send({ type: "outcome" });
    });
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  private fail(err: VarselError): void {
    this.failure ??= err;
    this.wake();
    this.onFailure?.(err);
  }
}

export class ShardedBacktest {
  private readonly shards: Shard[];
  /** Per cohort patient: its shard and its index there. */
  private readonly shardOf: Uint16Array;
  private readonly localOf: Uint32Array;
  private readonly patientIndex: Map<string, number>;
  /** Readings of patients outside the cohort (pushReadings). */
  private outside = 0;
  /** The newest reading time pushed (readings must come in time order). */
  private newest = -Infinity;

  /** Starts `threads` shards (at least 1, at most one per patient) over the cohort of `options`. */
  constructor(
    private readonly options: BacktestOptions,
    threads: number,
    blocks: BlockMode = "auto",
  ) {
    const patients = options.patients;
    this.patientIndex = checkedCohort(options);
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a whole number of at least 1, got ${threads}`);
    const count = Math.max(1, Math.min(threads, patients.length, 64));
    this.shardOf = new Uint16Array(patients.length);
    this.localOf = new Uint32Array(patients.length);
    const members: number[][] = Array.from({ length: count }, () => []);
    // Dealt out in turn: each shard gets its share of every programme (cohorts list them in runs).
    patients.forEach((_, i) => {
      const s = i % count;
      this.shardOf[i] = s;
      this.localOf[i] = members[s].push(i) - 1;
    });
    this.shards = members.map((list) => {
      const shard = new Shard(startWorker(import.meta.url, "thread-entry"), list);
      const own = { ...options, patients: list.map((i) => patients[i]), markers: undefined };
      shard.send({ type: "shard", options: own, blocks });
      return shard;
    });
  }

  get threads(): number {
    return this.shards.length;
  }

  /**
   * Routes a chunk (cohort patient indices, in time order after the previous chunks) to the
   * shards; resolves when none has more than two chunks waiting. A chunk out of time order is
   * refused (RangeError, nothing routed); any failure ends every thread.
   */
  async push(chunk: ReadingChunk): Promise<void> {
    const { n, patient, metric, time, value } = chunk;
    let newest = this.newest;
    for (let i = 0; i < n; i++) {
      if (time[i] < newest) throw new RangeError(`a backtest on threads takes readings in time order: reading ${i} of the chunk (${time[i]}) is older than one before it (${newest})`);
      newest = time[i];
    }
    this.newest = newest;
    const shardOf = this.shardOf;
    const localOf = this.localOf;
    const shards = this.shards;
    try {
      for (let i = 0; i < n; i++) {
        const p = patient[i];
        const shard = shards[shardOf[p]];
        const c = shard.chunk;
        const k = c.n;
        c.patient[k] = localOf[p];
        c.metric[k] = metric[i];
        c.time[k] = time[i];
        c.value[k] = value[i];
        c.n = k + 1;
        if (k + 1 === CHUNK) shard.flush();
      }
      for (const s of shards) await s.drained(IN_FLIGHT);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Canonical readings in time order (Backtest.pushReadings); readings of patients outside the cohort are counted as skipped. */
  async pushReadings(readings: readonly CanonicalReading[]): Promise<void> {
    const { chunk, outside } = chunkOf(readings, this.patientIndex);
    this.outside += outside;
    await this.push(chunk);
  }

  /** Replays what is left, merges the shards' outcomes and reports; the threads end. */
  async finish(): Promise<BacktestReport> {
    try {
      for (const s of this.shards) s.flush();
      const outcomes = await Promise.all(this.shards.map((s) => s.result()));
      const merged = mergeOutcomes(
        this.options.patients.length,
        this.shards.map((s, i) => ({ members: s.members, outcome: outcomes[i] })),
      );
      merged.readings.skipped += this.outside;
      return reportOf(this.options, merged);
    } finally {
      this.close();
    }
  }

  /** Ends the threads at once (a cancelled or failed backtest). */
  close(): void {
    for (const s of this.shards) void s.worker.terminate();
  }
}
