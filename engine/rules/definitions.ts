// Rule definitions as clinicians and integrators write them (the thresholds API and programme
// defaults). Values are in the metric's canonical unit (docs/rules.md explains every kind).

/** Red/yellow, low/high limits (national RAL/GAL). Strict: a value on a limit is inside. */
export interface LimitsDef {
  redLow?: number;
  yellowLow?: number;
  yellowHigh?: number;
  redHigh?: number;
}

/** Alarm-fatigue modifiers, usable on every kind except missing. */
export interface ModifiersDef {
  /** The condition must hold this long before the alert fires (Prometheus `for`), e.g. "15m". */
  for?: string;
  /** At least n of the last m readings must be out of band (m <= 16). */
  nOfM?: [number, number];
  /** Hysteresis: the value must come back past the limit by this much to clear it. */
  clearMargin?: number;
  /** Keep firing this long after the condition clears (Prometheus `keep_firing_for`). */
  keepFiringFor?: string;
}

/** Alarm behaviour a rule may ask for, whatever the organisation's defaults (the lifecycle applies it). */
export interface AlarmFlags {
  /** The rule's alerts latch (stay until acknowledged) even where the organisation's policy would not latch them. */
  latching?: boolean;
  /** From this level up a silence never hides the rule's alert ("red": urgent only; "yellow": always). */
  unsilenceable?: "yellow" | "red";
}

interface RuleBase extends AlarmFlags {
  /** Stable name within the threshold set; an alert is identified by (patient, rule id). */
  id: string;
  /** The metric key (engine/metrics.ts). */
  metric: string;
  /** Unit the limits are written in; must be the metric's canonical unit when given. */
  unit?: string;
  modifiers?: ModifiersDef;
}

export interface BandRule extends RuleBase {
  kind: "band";
  limits: LimitsDef;
}

export interface BaselineRule extends RuleBase {
  kind: "baseline";
  /** absolute: value − reference; points: the same for % metrics; percent: (value − ref) / ref × 100. */
  mode: "absolute" | "percent" | "points";
  limits: LimitsDef;
  /** Without a clinician reference, use the median of the last readings in this window. */
  computed?: { window: string; minCount: number };
}

export interface DeltaRule extends RuleBase {
  kind: "delta";
  window: string;
  /** yellowHigh/redHigh: gain over the window; yellowLow/redLow: loss (negative numbers). */
  limits: LimitsDef;
}

export interface RateRule extends RuleBase {
  kind: "rate";
  window: string;
  /** slope: limits on change per minute; forecast: limits on the value predicted at `horizon`. */
  basis: "slope" | "forecast";
  horizon?: string;
  limits: LimitsDef;
}

export interface MissingRule extends Omit<RuleBase, "modifiers"> {
  kind: "missing";
  /** Stale data: yellow/red after this long without a reading (CGM: 15m / 30m). */
  stale?: { yellow?: string; red?: string };
  /** A reading is expected on scheduled days by a local deadline (OpenTele BLUE alarm). */
  daily?: {
    deadline: string;
    grace?: string;
    weekdays?: Weekday[];
    everyNDays?: number;
    /** Missed deadlines in a row that make it red (default: never red). */
    redAfter?: number;
    /** The day the rule is armed (enrolment, added, end of a pause): "skipped" (default) or "counts" when armed before its deadline. */
    enrolmentDay?: "counts" | "skipped";
  };
}

export interface ScoreRule extends AlarmFlags {
  kind: "score";
  id: string;
  score: "news2";
  /** SpO2 scale 2 is for hypercapnic patients with a prescribed 88–92 % target. */
  scale?: 1 | 2;
  onOxygen?: boolean;
  /** Readings older than this are not used (they are reported missing). */
  window: string;
  limits?: LimitsDef;
  modifiers?: ModifiersDef;
}

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";
export const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export type RuleDef = BandRule | BaselineRule | DeltaRule | RateRule | MissingRule | ScoreRule;

/** The metric a rule reads (a NEWS2 score is the patient's derived `news2` metric). */
export function ruleMetric(rule: RuleDef): string {
  return rule.kind === "score" ? "news2" : rule.metric;
}
