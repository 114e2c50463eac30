// The backtest's vocabulary: a cohort, rule sets to compare, a period, marker events, and the
// report (docs/backtest.md describes every field).
import type { RuleDef } from "../rules/definitions.js";
import type { ProgrammeId } from "../rules/programmes.js";
import type { RuleOverride } from "../thresholds.js";
import type { CgmSummary } from "./cgm.js";

/** A patient of the cohort as the replay configures it (as the live pipeline would). */
export interface BacktestPatient {
  id: string;
  /** The patient's programmes: their rules are merged into one set (engine/rules/merge.ts), as live. */
  programmes?: ProgrammeId[];
  /** One programme: the same as `programmes: [programme]` (used when `programmes` is absent). */
  programme?: ProgrammeId;
  /** The patient's own overrides, applied on top of every rule set's programme rules. */
  overrides?: RuleOverride[];
  references?: Record<string, number>;
}

/** Programme rule sets by programme; a programme left out keeps the current rules. */
export type ProgrammeRules = Partial<Record<ProgrammeId, RuleDef[]>>;

/** A rule set to judge the cohort with: the current one, or a proposal. */
export interface RuleSetSpec {
  name: string;
  programmes?: ProgrammeRules;
}

/** An event the alerts should have announced (an admission, an exacerbation). */
export interface Marker {
  patient: string;
  time: number;
  /** Free text (e.g. "admission"); reported back as given. */
  label?: string;
}

export interface BacktestOptions {
  patients: BacktestPatient[];
  /** Readings in [from, to) are replayed; the clock ticks up to `to`. Epoch ms. */
  from: number;
  to: number;
  /** The rules in force (default: the built-in programme sets). */
  current?: ProgrammeRules;
  /** Proposed rule sets, judged beside the current one. */
  proposed?: RuleSetSpec[];
  markers?: Marker[];
  /** How far before a marker an alert counts as announcing it (default 7 days). */
  markerWindowMs?: number;
  /**
   * The virtual clock's step for rules that need it (stale data, `for`, keep-firing), default
   * 5 minutes; daily deadlines are ticked at their own instants.
   */
  tickStepMs?: number;
  /** Patient rows of the per-patient tables are kept for at most this many appeared/disappeared alerts (default 1000). */
  maxDiffItems?: number;
  /** Expected CGM interval for sensor coverage (default 5 minutes). */
  cgmIntervalMs?: number;
}

/** One alert: an episode of one patient's rule from raise to resolve. */
export interface AlertItem {
  patient: string;
  rule: string;
  /** Raise time (epoch ms). */
  time: number;
  /** Resolve time, or the period's end while still open. */
  end: number;
  open: boolean;
  /** Highest level reached: red → high, yellow → medium. */
  priority: "high" | "medium";
}

export interface ByPriority {
  all: number;
  high: number;
  medium: number;
}

export interface MarkerOutcome {
  patient: string;
  time: number;
  label?: string;
  /** The first alert raised in the window before the marker, or null when none. */
  firstAlert: { rule: string; time: number; priority: "high" | "medium" } | null;
  /** Hours from that alert to the marker. */
  leadHours: number | null;
}

export interface MarkerSummary {
  events: number;
  detected: number;
  /** detected / events (null without events). */
  sensitivity: number | null;
  /** Counting red alerts only. */
  detectedHigh: number;
  sensitivityHigh: number | null;
  leadHours: { median: number | null; mean: number | null; min: number | null; max: number | null };
  windowHours: number;
  outcomes: MarkerOutcome[];
}

/** What one rule set did to the cohort over the period. */
export interface RuleSetReport {
  name: string;
  /** Transitions the kernel produced. */
  transitions: number;
  alerts: ByPriority;
  alertsPerPatientDay: ByPriority;
  /** Patient-days with a red alert at some moment; yellow: a yellow one, never red. */
  patientDays: { red: number; yellow: number; shareRed: number; shareYellow: number };
  /** Time with at least one open alert (any rule; overlaps counted once), summed over patients. */
  timeInAlert: { hours: number; redHours: number; share: number; shareRed: number };
  byRule: { rule: string; alerts: ByPriority; hours: number }[];
  /** Proposed sets only: alerts against the current set (an alert is kept when an alert of the same patient and rule overlaps it in time). */
  diff?: { appeared: number; disappeared: number; items: (AlertItem & { change: "appeared" | "disappeared" })[]; truncated: boolean };
  markers?: MarkerSummary;
}

/** Per patient and rule set (the CSV's rows). */
export interface PatientRuleSetRow {
  alerts: ByPriority;
  redDays: number;
  yellowDays: number;
  hoursInAlert: number;
  hoursRed: number;
  appeared?: number;
  disappeared?: number;
}

export interface PatientReport {
  id: string;
  /** The patient's programmes (empty: none). */
  programmes: ProgrammeId[];
  readings: number;
  ruleSets: Record<string, PatientRuleSetRow>;
  cgm: CgmSummary | null;
}

export interface BacktestReport {
  period: { from: number; to: number; days: number };
  patients: number;
  patientDays: number;
  /** Readings replayed; outside the period or of patients outside the cohort: skipped. */
  readings: { replayed: number; skipped: number; late: number };
  tickStepMs: number;
  ruleSets: RuleSetReport[];
  cgm: CgmSummary | null;
  perPatient: PatientReport[];
}
