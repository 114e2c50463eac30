// The contract shared by the wasm kernel host and the TypeScript oracle.
// Semantics: docs/kernel.md. Both implementations must give identical results.

/** Settings shared by many rules (a programme default usually shares one set). */
export interface ParamSet {
  /** Condition must hold continuously this long before the alert reaches a level (Prometheus `for`). */
  forMs: number;
  /** Keep the alert at its level this long after the condition weakens (Prometheus `keep_firing_for`). */
  keepMs: number;
  /** History window for baseline (computed), delta, rate and score rules. */
  windowMs: number;
  /** Forecast horizon for rate rules in forecast mode. */
  horizonMs: number;
  /** Missing rules, daily mode: deadline as ms after local midnight. */
  deadlineMs: number;
  /** Missing rules, daily mode: grace after the deadline. */
  graceMs: number;
  /** Hysteresis: how far back past a limit a value must come to clear that level. */
  margin: number;
  /** N of the last M readings must be out of band (M = 0: off). M <= 16. */
  n: number;
  m: number;
  /** Kind-specific mode (baseline: absolute/percent/points; rate: slope/forecast; missing: interval/daily; score: NEWS2 scale). */
  mode: number;
  /** Baseline computed reference: readings needed in the window. */
  minCount: number;
  /** Missing daily mode: bit 0 = Monday ... bit 6 = Sunday. */
  weekdays: number;
  /** Missing daily mode: every n-th day counted from the anchor's day (1 = every scheduled weekday). */
  everyNDays: number;
  /** Missing daily mode: MISSING_ENROLMENT_DAY_SKIPPED (0) or _COUNTS (1): does the day the rule is armed on count? */
  enrolmentDay: number;
}

/** Four limits: red low, yellow low, yellow high, red high. NaN = absent. */
export type Limits = [number, number, number, number];

export interface CompiledRule {
  kind: number;
  slot: number;
  flags: number;
  limits: Limits;
  params: ParamSet;
  /** Missing rules: the time the rule was armed. */
  anchor: number;
  /** Score rules: input slot ids (resp, spo2, sys, pulse, temp, consciousness), -1 when absent. */
  scoreInputs?: number[];
  /** Score link rules: the score rule id they trigger. */
  target?: number;
}

export interface SlotConfig {
  /** History ring length (0..255): how many past readings window rules can see. */
  histCap: number;
  /** Clinician reference value for baseline rules, NaN when none. */
  ref: number;
  paused: boolean;
}

export interface Transition {
  rule: number;
  kind: number;
  from: number;
  to: number;
  dir: number;
  time: number;
  x: number;
  reading: number;
  detail: number;
}

export interface BatchResult {
  triage: Uint8Array;
  transitions: Transition[];
}

export interface Evaluator {
  addSlot(cfg: SlotConfig): number;
  setSlotRef(slot: number, ref: number): void;
  /** Pausing stops missing rules; unpausing re-arms them at `now`. */
  setSlotPaused(slot: number, paused: boolean, now: number): void;
  addRule(rule: CompiledRule): number;
  setRuleLimits(rule: number, limits: Limits): void;
  /** Replaces the param set; resets the rule's timers and masks, keeps its level. */
  setRuleParams(rule: number, params: ParamSet): void;
  /** Stops evaluating a rule (its alert state is left as it was; the lifecycle resolves it). */
  disableRule(rule: number): void;
  /**
   * Takes back the slot's latest reading, at time t (a withdrawn measurement): its history entry
   * goes, the slot's last time and value return to the reading before (unknown: the largest time
   * below t, value NaN). False, changing nothing, when t is not the slot's latest reading.
   */
  retractLast(slot: number, t: number): boolean;
  /** Puts a rule back to no alert with empty timers and N-of-M masks (a missing rule keeps its anchor). */
  resetRule(rule: number): void;
  evaluate(
    slots: ArrayLike<number>,
    times: ArrayLike<number>,
    values: ArrayLike<number>,
    now: number,
    tzOffsetMs: number,
  ): BatchResult;
  tick(now: number, tzOffsetMs: number): Transition[];
}

export const DEFAULT_PARAMS: ParamSet = Object.freeze({
  forMs: 0,
  keepMs: 0,
  windowMs: 0,
  horizonMs: 0,
  deadlineMs: 0,
  graceMs: 0,
  margin: 0,
  n: 0,
  m: 0,
  mode: 0,
  minCount: 0,
  weekdays: 0x7f,
  everyNDays: 1,
  enrolmentDay: 0,
});
