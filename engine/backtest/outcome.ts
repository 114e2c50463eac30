// What a finished replay leaves (its episodes per rule set, the CGM sums, the counts) and the
// report made of it. A sharded backtest (sharded.ts) merges its shards' outcomes into one first:
// the report is the same function of the same episodes whichever way they were replayed.
import { programmesOf } from "../rules/programmes.js";
import { CgmAccumulator } from "./cgm.js";
import { EpisodeLog } from "./episodes.js";
import { LocalDays, periodDays, ruleSetReport } from "./report.js";
import type { BacktestOptions, BacktestReport, PatientReport, PatientRuleSetRow } from "./types.js";

/** The virtual clock's default step (and the CGM interval's). */
export const DEFAULT_STEP_MS = 5 * 60_000;
const DEFAULT_MARKER_WINDOW_MS = 7 * 86_400_000;

export interface ReplayOutcome {
  /** Rule names by the index the episodes hold. */
  ruleNames: string[];
  /** Per rule set, the current one first. */
  ruleSets: { name: string; episodes: EpisodeLog; transitions: number }[];
  cgm: CgmAccumulator;
  /** Readings replayed per patient (cohort index). */
  perPatient: Float64Array;
  readings: { replayed: number; skipped: number; late: number };
}

/** The report of a finished replay of `options`' cohort. */
export function reportOf(options: BacktestOptions, outcome: ReplayOutcome): BacktestReport {
  const { patients, from, to } = options;
  const localDays = new LocalDays();
  const base = {
    ruleNames: outcome.ruleNames,
    patients,
    patientIndex: new Map(patients.map((p, i) => [p.id, i])),
    from,
    to,
    days: localDays,
    markers: options.markers,
    markerWindowMs: options.markerWindowMs ?? DEFAULT_MARKER_WINDOW_MS,
    maxDiffItems: options.maxDiffItems ?? 1000,
  };
  const current = outcome.ruleSets[0].episodes;
  const results = outcome.ruleSets.map((r, i) =>
    ruleSetReport({ ...base, name: r.name, log: r.episodes, transitions: r.transitions, current: i === 0 ? undefined : current }),
  );
  const periodMs = to - from;
  const intervalMs = options.cgmIntervalMs ?? DEFAULT_STEP_MS;
  const { cgm } = outcome;
  const perPatient: PatientReport[] = patients.map((p, i) => {
    const ruleSets: Record<string, PatientRuleSetRow> = {};
    results.forEach((res, k) => (ruleSets[outcome.ruleSets[k].name] = res.rows[i]));
    return { id: p.id, programmes: programmesOf(p), readings: outcome.perPatient[i], ruleSets, cgm: cgm.seen[i] === 1 ? cgm.patient(i, periodMs, intervalMs) : null };
  });
  const days = periodDays(from, to, localDays);
  return {
    period: { from, to, days },
    patients: patients.length,
    patientDays: patients.length * days,
    readings: outcome.readings,
    tickStepMs: options.tickStepMs ?? DEFAULT_STEP_MS,
    ruleSets: outcome.ruleSets.map((_, i) => results[i].report),
    cgm: cgm.cohort(periodMs, intervalMs),
    perPatient,
  };
}

/** An outcome as plain columns (what a worker thread posts; the arrays can be transferred). */
export interface OutcomeColumns {
  ruleNames: string[];
  ruleSets: { name: string; episodes: ReturnType<EpisodeLog["columns"]>; transitions: number }[];
  cgm: ReturnType<CgmAccumulator["columns"]>;
  perPatient: Float64Array;
  readings: ReplayOutcome["readings"];
}

export function outcomeColumns(o: ReplayOutcome): OutcomeColumns {
  return {
    ruleNames: o.ruleNames,
    ruleSets: o.ruleSets.map((r) => ({ name: r.name, episodes: r.episodes.columns(), transitions: r.transitions })),
    cgm: o.cgm.columns(),
    perPatient: o.perPatient,
    readings: o.readings,
  };
}

/**
 * One outcome of the whole cohort from its shards' (each replayed `members`: cohort indices, by
 * its own patient index). Episodes keep each shard's order, shard after shard; rule names are
 * matched by name.
 */
export function mergeOutcomes(patients: number, shards: { members: readonly number[]; outcome: OutcomeColumns }[]): ReplayOutcome {
  const ruleNames: string[] = [];
  const nameIndex = new Map<string, number>();
  const ruleSets = shards[0].outcome.ruleSets.map((r) => ({ name: r.name, episodes: new EpisodeLog(), transitions: 0 }));
  const cgm = new CgmAccumulator(patients);
  const perPatient = new Float64Array(patients);
  const readings = { replayed: 0, skipped: 0, late: 0 };
  for (const { members, outcome } of shards) {
    const ruleMap = outcome.ruleNames.map((name) => {
      let i = nameIndex.get(name);
      if (i === undefined) nameIndex.set(name, (i = ruleNames.push(name) - 1));
      return i;
    });
    outcome.ruleSets.forEach((r, k) => {
      ruleSets[k].episodes.append(r.episodes, members, ruleMap);
      ruleSets[k].transitions += r.transitions;
    });
    cgm.take(outcome.cgm, members);
    members.forEach((p, local) => (perPatient[p] = outcome.perPatient[local]));
    readings.replayed += outcome.readings.replayed;
    readings.skipped += outcome.readings.skipped;
    readings.late += outcome.readings.late;
  }
  return { ruleNames, ruleSets, cgm, perPatient, readings };
}
