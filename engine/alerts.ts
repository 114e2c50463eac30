// Kernel transitions in clinical terms: who, which rule, how severe, which way, why.
import {
  DIR_HIGH,
  DIR_LOW,
  TR_DOWNGRADE,
  TR_RAISE,
  TR_RESOLVE,
  TR_UPGRADE,
  TRIAGE_DUPLICATE,
  TRIAGE_H,
  TRIAGE_HH,
  TRIAGE_L,
  TRIAGE_LL,
  TRIAGE_N,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_OUT_OF_ORDER,
  TRIAGE_REF_NEEDED,
} from "../assembly/layout.js";
import { NEWS2_INPUTS } from "./oracle/news2.js";

export type Level = "none" | "yellow" | "red";
export type Direction = "low" | "high" | "none";
export type TransitionKind = "raise" | "upgrade" | "downgrade" | "resolve";
/** IEC 60601-1-8 priority: red → high, yellow → medium. */
export type Priority = "high" | "medium" | "low";
/** FHIR observation interpretation codes. */
export type Interpretation = "N" | "L" | "H" | "LL" | "HH";

export const LEVELS: readonly Level[] = ["none", "yellow", "red"];

export const TRANSITION_KINDS: Record<number, TransitionKind> = {
  [TR_RAISE]: "raise",
  [TR_UPGRADE]: "upgrade",
  [TR_DOWNGRADE]: "downgrade",
  [TR_RESOLVE]: "resolve",
};

/** Triage of one reading, as the API reports it. */
export type Triage = "not_triaged" | "N" | "L" | "H" | "LL" | "HH" | "reference_needed" | "out_of_order" | "duplicate";

export const TRIAGE_NAMES: Record<number, Triage> = {
  [TRIAGE_NOT_TRIAGED]: "not_triaged",
  [TRIAGE_N]: "N",
  [TRIAGE_L]: "L",
  [TRIAGE_H]: "H",
  [TRIAGE_LL]: "LL",
  [TRIAGE_HH]: "HH",
  [TRIAGE_REF_NEEDED]: "reference_needed",
  [TRIAGE_OUT_OF_ORDER]: "out_of_order",
  [TRIAGE_DUPLICATE]: "duplicate",
};

export function directionName(dir: number): Direction {
  return dir === DIR_LOW ? "low" : dir === DIR_HIGH ? "high" : "none";
}

export function priorityOf(level: number): Priority {
  return level >= 2 ? "high" : level === 1 ? "medium" : "low";
}

export function interpretationOf(level: number, dir: number): Interpretation {
  if (level === 0) return "N";
  const low = dir === DIR_LOW;
  return level === 2 ? (low ? "LL" : "HH") : low ? "L" : "H";
}

/** The NEWS2 parameters a score transition's detail says were missing. */
export function missingParameters(detail: number): string[] {
  return NEWS2_INPUTS.filter((_, i) => (detail & (1 << i)) !== 0);
}
