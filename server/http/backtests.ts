// POST /v1/backtests and the job it starts (docs/http.md, Backtests; docs/backtest.md): a cohort
// of the caller's scope replayed under the current rules and proposed ones on a worker thread
// (engine/backtest/thread.ts), over its stored readings (read here, window by window, and handed
// to the thread) or an uploaded file. Bounded: at most `maxRunning` jobs at once (more:
// `backtests_busy`), finished jobs kept `keepMs` and at most `keepCount` of them. A job is its
// creator's: anyone else (an admin excepted) gets the unknown id's answer.
import { randomUUID } from "node:crypto";
import type { Static } from "@sinclair/typebox";
import type { ReadingChunk } from "../../engine/backtest/backtest.js";
import { patientCsv } from "../../engine/backtest/csv.js";
import type { InputFormat } from "../../engine/backtest/input.js";
import { markersFrom, proposalsFrom } from "../../engine/backtest/spec.js";
import { storedChunks } from "../../engine/backtest/stored.js";
import { BacktestThread, type ThreadProgress, type UploadOptions, type UploadRejection } from "../../engine/backtest/thread.js";
import type { BacktestPatient, BacktestReport, ProgrammeRules, RuleSetSpec } from "../../engine/backtest/types.js";
import { VarselError } from "../../engine/errors.js";
import { parseIsoTime } from "../../engine/ingest/normalize.js";
import { parseDuration } from "../../engine/rules/duration.js";
import { effectiveRules, PROGRAMMES, programmeSets, type ProgrammeId } from "../../engine/rules/programmes.js";
import { canSeePatient, type Principal } from "../auth.js";
import type { AppContext } from "../context.js";
import type { BacktestBody } from "./schemas.js";

export interface BacktestLimits {
  /** Jobs running at once. */
  maxRunning: number;
  /** How long a finished job (its report) is kept. */
  keepMs: number;
  /** Finished jobs kept at most (the oldest go first). */
  keepCount: number;
}

export const DEFAULT_BACKTEST_LIMITS: BacktestLimits = { maxRunning: 2, keepMs: 3_600_000, keepCount: 20 };

const DAY_MS = 86_400_000;
/** Stored readings: the period by default (up to now), and at most. */
const DEFAULT_PERIOD_MS = 30 * DAY_MS;
const MAX_PERIOD_MS = 366 * DAY_MS;
const STEP_RANGE = { min: 60_000, max: 3_600_000, text: "1m to 1h" };
const MARKER_WINDOW_RANGE = { min: 60_000, max: 90 * DAY_MS, text: "1m to 90d" };
const RETRY_AFTER_MS = 10_000;
/** Proposed rule set names are reported back and name the CSV's rows. */
const CURRENT = "current";

type Status = "running" | "done" | "failed" | "cancelled";

interface Job {
  id: string;
  owner: { sub: string; role: Principal["role"] };
  source: "stored" | "upload";
  status: Status;
  createdAt: number;
  finishedAt?: number;
  patients: number;
  ruleSets: string[];
  thread: BacktestThread;
  report?: BacktestReport;
  error?: { code: string; message: string };
}

/** What GET /v1/backtests/{id} answers. */
export interface JobView {
  id: string;
  status: Status;
  source: "stored" | "upload";
  createdAt: number;
  finishedAt?: number;
  expiresAt?: number;
  patients: number;
  ruleSets: string[];
  progress: ThreadProgress;
  rejected?: { count: number; items: UploadRejection[] };
  error?: { code: string; message: string };
  report?: BacktestReport;
}

export class BacktestJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly limits: BacktestLimits;

  constructor(
    private readonly ctx: AppContext,
    limits: Partial<BacktestLimits> = {},
    /** Wall time, for keeping finished jobs (not the engine's clock, which may be virtual). */
    private readonly wallNow: () => number = Date.now,
  ) {
    this.limits = { ...DEFAULT_BACKTEST_LIMITS, ...limits };
  }

  /** Checks the request, then starts the job: answered at once, the replay runs on its thread. */
  start(who: Principal, body: Static<typeof BacktestBody>): JobView {
    this.sweep();
    const running = [...this.jobs.values()].filter((j) => j.status === "running").length;
    if (running >= this.limits.maxRunning) {
      throw new VarselError("backtests_busy", `${running} backtests are running, the most this server runs at once`, { running, max: this.limits.maxRunning, retryAfterMs: RETRY_AFTER_MS });
    }
    const patients = this.cohort(who, body);
    const proposed = body.proposed === undefined ? [] : proposalsFrom(body.proposed, undefined);
    const names = [CURRENT, ...proposed.map((s) => s.name)];
    if (new Set(names).size !== names.length) throw new VarselError("invalid_body", `rule set names must differ, and none may be "${CURRENT}"`);
    const current = this.currentRules();
    checkMerges(patients, current, proposed);
    const ids = new Set(patients.map((p) => p.id));
    const markers = body.markers === undefined ? undefined : markersFrom(body.markers);
    // A marker of a patient outside the cohort is answered as an unknown patient: nothing to probe.
    if (markers?.some((m) => !ids.has(m.patient))) throw unknownPatient();
    const options: UploadOptions = {
      patients,
      current,
      proposed,
      markers,
      markerWindowMs: duration(body.markerWindow, "markerWindow", MARKER_WINDOW_RANGE) ?? undefined,
      tickStepMs: duration(body.step, "step", STEP_RANGE) ?? undefined,
    };
    let from = body.from === undefined ? undefined : instant(body.from, "from");
    let to = body.to === undefined ? undefined : instant(body.to, "to");
    let thread: BacktestThread;
    if (body.upload !== undefined) {
      checkPeriod(from, to);
      thread = BacktestThread.upload({ ...options, from, to }, body.upload, this.ctx.now(), body.format as InputFormat | undefined);
    } else {
      const store = this.ctx.durable.store;
      if (store === undefined) throw new VarselError("invalid_body", "this server keeps no readings (it runs without a store): send the readings as upload");
      to ??= this.ctx.now();
      from ??= to - DEFAULT_PERIOD_MS;
      checkPeriod(from, to);
      thread = BacktestThread.stored({ ...options, from, to });
      void feed(thread, storedChunks(store, patients.map((p) => p.id), from, to, () => thread.finished));
    }
    const job: Job = {
      id: randomUUID(),
      owner: { sub: who.sub, role: who.role },
      source: body.upload === undefined ? "stored" : "upload",
      status: "running",
      createdAt: this.wallNow(),
      patients: patients.length,
      ruleSets: names,
      thread,
    };
    this.jobs.set(job.id, job);
    thread.report.then(
      (report) => this.settle(job, "done", { report }),
      (err: VarselError) => this.settle(job, job.status === "cancelled" ? "cancelled" : "failed", { error: { code: err.code, message: err.message } }),
    );
    this.ctx.logger.info({ backtest: job.id, source: job.source, patients: patients.length, ruleSets: names.length }, "backtest started");
    return this.view(job);
  }

  /** The job, as its owner (or an admin) may see it. */
  get(who: Principal, id: string): JobView {
    return this.view(this.find(who, id));
  }

  /** The per-patient CSV of a finished job. */
  csv(who: Principal, id: string): string {
    const job = this.find(who, id);
    if (job.report === undefined) throw new VarselError("backtest_not_done", `the backtest is ${job.status}`, { status: job.status });
    return patientCsv(job.report);
  }

  /** Cancels a running job (its thread ends at once); a finished one is forgotten. */
  cancel(who: Principal, id: string): JobView {
    const job = this.find(who, id);
    if (job.status === "running") {
      job.status = "cancelled";
      job.finishedAt = this.wallNow();
      job.thread.cancel();
      this.ctx.logger.info({ backtest: job.id }, "backtest cancelled");
    } else this.jobs.delete(job.id);
    return this.view(job);
  }

  /** Ends every running job (the server stops). */
  close(): void {
    for (const job of this.jobs.values()) if (job.status === "running") job.thread.cancel();
  }

  private find(who: Principal, id: string): Job {
    this.sweep();
    const job = this.jobs.get(id);
    if (job === undefined || (who.role !== "admin" && (job.owner.sub !== who.sub || job.owner.role !== who.role))) {
      throw new VarselError("not_found", "unknown backtest");
    }
    return job;
  }

  private settle(job: Job, status: Status, outcome: Pick<Job, "report" | "error">): void {
    if (job.status === "running") job.status = status;
    job.finishedAt ??= this.wallNow();
    if (job.status === "done") job.report = outcome.report;
    else if (job.status === "failed") job.error = outcome.error;
    if (job.status === "failed") this.ctx.logger.warn({ backtest: job.id, code: job.error?.code }, "backtest failed");
    this.sweep();
  }

  /** Forgets finished jobs past their time, and the oldest past the count. */
  private sweep(): void {
    const now = this.wallNow();
    const finished = [...this.jobs.values()].filter((j) => j.status !== "running").sort((a, b) => a.finishedAt! - b.finishedAt!);
    finished.forEach((job, i) => {
      if (now - job.finishedAt! > this.limits.keepMs || finished.length - i > this.limits.keepCount) this.jobs.delete(job.id);
    });
  }

  private view(job: Job): JobView {
    const v: JobView = {
      id: job.id,
      status: job.status,
      source: job.source,
      createdAt: job.createdAt,
      patients: job.patients,
      ruleSets: job.ruleSets,
      progress: { ...job.thread.progress },
    };
    if (job.finishedAt !== undefined) {
      v.finishedAt = job.finishedAt;
      v.expiresAt = job.finishedAt + this.limits.keepMs;
    }
    if (job.thread.rejected !== undefined) v.rejected = job.thread.rejected;
    if (job.error !== undefined) v.error = job.error;
    if (job.report !== undefined) v.report = job.report;
    return v;
  }

  /**
   * The cohort: the patients named, the programme's, or everyone the caller may see. A named
   * patient that is unknown or outside the caller's teams gets the same answer.
   */
  private cohort(who: Principal, body: Static<typeof BacktestBody>): BacktestPatient[] {
    const pipeline = this.ctx.pipeline;
    if (body.patients !== undefined && body.programme !== undefined) throw new VarselError("invalid_body", "give patients or programme, not both");
    const visible = (id: string) => pipeline.patient(id) !== undefined && canSeePatient(who, pipeline.teamsOf(id));
    let ids: string[];
    if (body.patients !== undefined) {
      ids = [...new Set(body.patients)];
      if (!ids.every(visible)) throw unknownPatient();
    } else {
      const programme = body.programme as ProgrammeId | undefined;
      ids = [...pipeline.patientIds()].filter((id) => visible(id) && (programme === undefined || pipeline.patient(id)!.programmes.includes(programme)));
    }
    if (ids.length === 0) throw new VarselError("invalid_body", "the cohort has no patient");
    return ids.map((id) => {
      const record = pipeline.patient(id)!;
      return { id, programmes: [...record.programmes], overrides: pipeline.thresholds.patientOverrides(id), references: { ...record.references } };
    });
  }

  /** The programmes' rules in force now. */
  private currentRules(): ProgrammeRules {
    return Object.fromEntries(Object.keys(PROGRAMMES).map((id) => [id, this.ctx.pipeline.thresholds.programmeRules(id as ProgrammeId)]));
  }
}

/** Reads the stored readings into the thread, then tells it they are all there. */
async function feed(thread: BacktestThread, chunks: AsyncGenerator<ReadingChunk>): Promise<void> {
  let total = 0;
  try {
    for await (const chunk of chunks) {
      total += chunk.n;
      await thread.push(chunk);
    }
    thread.finish(total);
  } catch (err) {
    // The store failed: the job fails with its code (store_unavailable).
    thread.fail(err instanceof VarselError ? err : new VarselError("internal_error", String(err)));
  }
}

/**
 * Every patient's rules merge under every rule set (a proposal may make two programmes' rules
 * conflict): refused now with invalid_threshold rather than failing on the thread.
 */
function checkMerges(patients: readonly BacktestPatient[], current: ProgrammeRules, proposed: readonly RuleSetSpec[]): void {
  const seen = new Set<string>();
  for (const set of [{ name: CURRENT, programmes: {} as ProgrammeRules }, ...proposed]) {
    for (const p of patients) {
      const programmes = p.programmes ?? [];
      const key = `${set.name}\n${[...programmes].sort().join(",")}\n${p.overrides?.length ? p.id : ""}`;
      if (seen.has(key)) continue;
      seen.add(key);
      effectiveRules(
        programmeSets(programmes, (id) => set.programmes?.[id] ?? current[id] ?? PROGRAMMES[id].rules),
        p.overrides,
      );
    }
  }
}

function unknownPatient(): VarselError {
  return new VarselError("not_found", "unknown patient");
}

function checkPeriod(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && !(to > from)) throw new VarselError("invalid_field", "to must be after from");
  if (from !== undefined && to !== undefined && to - from > MAX_PERIOD_MS) throw new VarselError("invalid_field", "a backtest period is at most 366 days", { maxMs: MAX_PERIOD_MS });
}

/** An ISO 8601 time or epoch ms. */
function instant(value: string | number, name: string): number {
  const t = typeof value === "number" ? value : parseIsoTime(value);
  if (t === undefined || !Number.isSafeInteger(t)) throw new VarselError("invalid_field", `${name} must be an ISO 8601 time or epoch ms`);
  return t;
}

function duration(value: string | undefined, name: string, range: { min: number; max: number; text: string }): number | null {
  if (value === undefined) return null;
  const ms = parseDuration(value);
  if (ms === null || ms < range.min || ms > range.max) throw new VarselError("invalid_field", `${name} must be a duration from ${range.text}`, { [name]: value });
  return ms;
}
