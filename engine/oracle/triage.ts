// Per-reading triage codes and their severity order (docs/kernel.md, "Triage of a reading").
import {
  DIR_LOW,
  TRIAGE_H,
  TRIAGE_HH,
  TRIAGE_L,
  TRIAGE_LL,
  TRIAGE_N,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_REF_NEEDED,
} from "../../assembly/layout.js";
import type { Raw } from "./classify.js";

/** The triage code (FHIR interpretation N, L, H, LL, HH) of a plain classification. */
export function triageOf(raw: Raw): number {
  if (raw.level === 0) return TRIAGE_N;
  if (raw.level === 1) return raw.dir === DIR_LOW ? TRIAGE_L : TRIAGE_H;
  return raw.dir === DIR_LOW ? TRIAGE_LL : TRIAGE_HH;
}

const SEVERITY: Record<number, number> = {
  [TRIAGE_NOT_TRIAGED]: 0,
  [TRIAGE_N]: 1,
  [TRIAGE_REF_NEEDED]: 2,
  [TRIAGE_L]: 3,
  [TRIAGE_H]: 3,
  [TRIAGE_LL]: 4,
  [TRIAGE_HH]: 4,
};

/** The more severe of two codes; on a tie the first one stays. */
export function worse(current: number, candidate: number): number {
  return SEVERITY[candidate] > SEVERITY[current] ? candidate : current;
}
