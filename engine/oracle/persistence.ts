// Persistence (`for`, N of M), keep-firing and the transitions they produce
// (docs/kernel.md, "Persistence and keep-firing"). Prometheus rules/alerting.go is the model:
// pending → firing once the condition has held `for`; firing is kept `keep_firing_for`.
import { DIR_NONE, TR_DOWNGRADE, TR_RAISE, TR_RESOLVE, TR_UPGRADE } from "../../assembly/layout.js";
import type { Transition } from "../evaluator.js";
import type { Raw } from "./classify.js";
import type { Cause, RuleState } from "./state.js";

const MASK_LIMIT = 16;

/** Records one observation's raw classification, then settles the alert at time `t`. */
export function step(rule: RuleState, id: number, raw: Raw, t: number, cause: Cause, out: Transition[]): void {
  rule.sinceYellow = raw.level >= 1 ? (Number.isNaN(rule.sinceYellow) ? t : rule.sinceYellow) : NaN;
  rule.sinceRed = raw.level >= 2 ? (Number.isNaN(rule.sinceRed) ? t : rule.sinceRed) : NaN;
  const m = Math.min(rule.params.m, MASK_LIMIT);
  if (m > 0) {
    const keep = (1 << m) - 1;
    rule.maskYellow = ((rule.maskYellow << 1) | (raw.level >= 1 ? 1 : 0)) & keep;
    rule.maskRed = ((rule.maskRed << 1) | (raw.level >= 2 ? 1 : 0)) & keep;
  }
  rule.rawLevel = raw.level;
  rule.rawDir = raw.dir;
  settle(rule, id, t, cause, out);
}

/** Has the condition for level k persisted long enough at `now`? */
function persisted(rule: RuleState, k: number, now: number): boolean {
  const since = k === 2 ? rule.sinceRed : rule.sinceYellow;
  const held = !Number.isNaN(since) && now - since >= rule.params.forMs;
  if (rule.params.m === 0) return held;
  const mask = k === 2 ? rule.maskRed : rule.maskYellow;
  return popcount(mask) >= rule.params.n && (rule.params.forMs === 0 || held);
}

/** Moves the alert to the level its persisted condition supports, honouring keep-firing. */
export function settle(rule: RuleState, id: number, now: number, cause: Cause, out: Transition[]): void {
  const target = persisted(rule, 2, now) ? 2 : persisted(rule, 1, now) ? 1 : 0;
  const targetDir = target === 0 ? DIR_NONE : rule.rawLevel >= 1 ? rule.rawDir : rule.dir;
  if (target === rule.level && targetDir === rule.dir) {
    rule.belowSince = NaN;
    return;
  }
  const weaker = target < rule.level || (target === rule.level && targetDir !== rule.dir);
  if (weaker && rule.params.keepMs > 0) {
    if (Number.isNaN(rule.belowSince)) rule.belowSince = now;
    if (now - rule.belowSince < rule.params.keepMs) return;
  }
  rule.belowSince = NaN;
  moveTo(rule, id, target, targetDir, now, cause, out);
}

/** The only place transitions are written: resolve the old alert if it ends, then raise/upgrade/downgrade. */
export function moveTo(rule: RuleState, id: number, target: number, targetDir: number, time: number, cause: Cause, out: Transition[]): void {
  if (rule.level > 0 && (target === 0 || targetDir !== rule.dir)) {
    out.push(transition(id, TR_RESOLVE, rule.level, 0, rule.dir, time, cause));
    rule.level = 0;
  }
  if (target > 0) {
    const kind = rule.level === 0 ? TR_RAISE : target > rule.level ? TR_UPGRADE : TR_DOWNGRADE;
    if (target !== rule.level || targetDir !== rule.dir) out.push(transition(id, kind, rule.level, target, targetDir, time, cause));
  }
  rule.level = target;
  rule.dir = target === 0 ? DIR_NONE : targetDir;
}

/** Forget timers and masks (a changed param set starts its persistence afresh). */
export function resetTimers(rule: RuleState): void {
  rule.sinceYellow = NaN;
  rule.sinceRed = NaN;
  rule.belowSince = NaN;
  rule.maskYellow = 0;
  rule.maskRed = 0;
}

function transition(rule: number, kind: number, from: number, to: number, dir: number, time: number, cause: Cause): Transition {
  return { rule, kind, from, to, dir, time, x: cause.x, reading: cause.reading, detail: cause.detail };
}

function popcount(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}
