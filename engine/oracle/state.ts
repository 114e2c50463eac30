// The oracle's state: plain objects, one per slot and per rule.
import type { Limits, ParamSet } from "../evaluator.js";

export interface HistoryEntry {
  time: number;
  value: number;
}

export interface SlotState {
  lastTime: number;
  lastValue: number;
  ref: number;
  paused: boolean;
  histCap: number;
  /** Oldest first; at most histCap entries. */
  history: HistoryEntry[];
  rules: number[];
}

export interface RuleState {
  kind: number;
  slot: number;
  flags: number;
  limits: Limits;
  params: ParamSet;
  scoreInputs: number[];
  target: number;
  /** Current alert. */
  level: number;
  dir: number;
  /** Raw classification of the last observation. */
  rawLevel: number;
  rawDir: number;
  sinceYellow: number;
  sinceRed: number;
  belowSince: number;
  maskYellow: number;
  maskRed: number;
  /** Missing rules: when the rule was armed. */
  anchor: number;
}

/** Where a transition came from: the decisive value, the reading index (-1 on tick), detail bits. */
export interface Cause {
  x: number;
  reading: number;
  detail: number;
}
