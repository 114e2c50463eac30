// NEWS2 observation sets (docs/kernel.md, "NEWS2 score"): inside one evaluate() call a score
// link's reading joins its score's pending set instead of scoring at once; a set is scored once,
// when a reading on a linked slot lies past the set's window or the batch ends. The pending list
// lives in the score-input records (SC_OPENER, SC_NEXT) and the opening link's timers: no memory
// of its own, and NONE / NaN again when evaluate() returns.
import {
  I_FIRST_RULE,
  KIND_SCORE,
  KIND_SCORE_LINK,
  NONE,
  R_AUX,
  R_KIND,
  R_NEXT,
  R_SLOT,
  R_T0,
  R_T1,
  R_T2,
  SC_NEXT,
  SC_OPENER,
  SCORE_SET_MS,
} from "../layout";
import { gRuleCount, gScoreCount, gScores, infoPtr, rulePtr } from "../memory";
import { scoreEval, scoreTriage } from "./score";

const NO: u32 = <u32>NONE;

// Pending score rules in opening order; gDue = the earliest set end (start + SCORE_SET_MS).
let gHead: u32 = NO;
let gTail: u32 = NO;
let gDue: f64 = Infinity;

/** Score-input record of a pending-capable score rule. */
// @ts-ignore: decorator
@inline
function recordOf(rid: u32): usize {
  return gScores + (<usize>load<u32>(rulePtr(rid), R_AUX) << 5);
}

/** Starts an evaluate() call with no pending set. */
export function setsBegin(): void {
  gHead = NO;
  gTail = NO;
  gDue = Infinity;
}

/**
 * The score link at `lp` met reading `reading` = (t, v) on its slot: the reading joins the linked
 * score's set (or opens one). Returns the reading's triage by its NEWS2 parameter row (0: not counted).
 */
export function joinSet(lp: usize, t: f64, v: f64, reading: i32): u32 {
  const rid = load<u32>(lp, R_AUX);
  if (rid >= gRuleCount || load<u8>(rulePtr(rid), R_KIND) != KIND_SCORE) return 0;
  if (load<u32>(rulePtr(rid), R_AUX) >= gScoreCount) {
    scoreEval(rid, t, reading); // no inputs record (the host always adds one): score at once
    return 0;
  }
  const sc = recordOf(rid);
  const opener = load<u32>(sc, SC_OPENER);
  if (opener == NO) {
    const lid = <u32>((lp - rulePtr(0)) >> 6);
    store<u32>(sc, lid, SC_OPENER);
    store<u32>(sc, NO, SC_NEXT);
    if (gTail == NO) gHead = rid;
    else store<u32>(recordOf(gTail), rid, SC_NEXT);
    gTail = rid;
    store<f64>(lp, t, R_T0);
    store<f64>(lp, t, R_T1);
    store<f64>(lp, <f64>reading, R_T2);
    gDue = min<f64>(gDue, t + SCORE_SET_MS);
  } else {
    const op = rulePtr(opener);
    store<f64>(op, max<f64>(load<f64>(op, R_T1), t), R_T1);
    store<f64>(op, <f64>reading, R_T2);
  }
  return scoreTriage(rid, sc, load<u32>(lp, R_SLOT), v);
}

/** Does slot s have an enabled score link? (asked only while some set is due) */
function hasScoreLink(s: u32): bool {
  let r = load<u32>(infoPtr(s), I_FIRST_RULE);
  while (r != NO) {
    const rp = rulePtr(r);
    if (load<u8>(rp, R_KIND) == KIND_SCORE_LINK) return true;
    r = load<u32>(rp, R_NEXT);
  }
  return false;
}

/** Before a reading on slot s at time t: scores the sets it closes (t past their window), if s is linked. */
// @ts-ignore: decorator
@inline
export function setsBefore(s: u32, t: f64): void {
  if (t > gDue && hasScoreLink(s)) scoreSets(t);
}

/** At the end of evaluate(): scores every pending set. */
export function setsEnd(): void {
  if (gHead != NO) scoreSets(Infinity);
}

/** Scores, in opening order, the pending sets with t > start + SCORE_SET_MS; keeps the others in order. */
function scoreSets(t: f64): void {
  let prev: u32 = NO;
  let rid = gHead;
  let due: f64 = Infinity;
  while (rid != NO) {
    const sc = recordOf(rid);
    const next = load<u32>(sc, SC_NEXT);
    const op = rulePtr(load<u32>(sc, SC_OPENER));
    const end = load<f64>(op, R_T0) + SCORE_SET_MS;
    if (t > end) {
      const last = load<f64>(op, R_T1);
      const reading = <i32>load<f64>(op, R_T2);
      store<f64>(op, NaN, R_T0);
      store<f64>(op, NaN, R_T1);
      store<f64>(op, NaN, R_T2);
      store<u32>(sc, NO, SC_OPENER);
      store<u32>(sc, NO, SC_NEXT);
      if (prev == NO) gHead = next;
      else store<u32>(recordOf(prev), next, SC_NEXT);
      if (gTail == rid) gTail = prev;
      scoreEval(rid, last, reading);
    } else {
      due = min<f64>(due, end);
      prev = rid;
    }
    rid = next;
  }
  gDue = due;
}
