// The reference evaluator: docs/kernel.md written as plain TypeScript. It is the oracle the
// wasm kernel is tested against and the baseline of `npm run bench:kernel`. Clarity over speed.
import {
  DIR_HIGH,
  DIR_NONE,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_OFF,
  KIND_RATE,
  KIND_SCORE,
  KIND_SCORE_LINK,
  RULE_ON_OXYGEN,
  SCORE_SET_MS,
  TRIAGE_DUPLICATE,
  TRIAGE_NOT_TRIAGED,
  TRIAGE_OUT_OF_ORDER,
  TRIAGE_REF_NEEDED,
} from "../../assembly/layout.js";
import type { BatchResult, CompiledRule, Evaluator, Limits, ParamSet, SlotConfig, Transition } from "../evaluator.js";
import { classify, NO_ALERT, type Raw } from "./classify.js";
import { baselineDeviation, baselineReference, delta, rate, type Derived } from "./derive.js";
import { overdue } from "./missing.js";
import { news2, parameterTriage } from "./news2.js";
import { moveTo, resetTimers, settle, step } from "./persistence.js";
import type { Cause, RuleState, SlotState } from "./state.js";
import { triageOf, worse } from "./triage.js";

const f32 = Math.fround;

function roundLimits(limits: Limits): Limits {
  return [f32(limits[0]), f32(limits[1]), f32(limits[2]), f32(limits[3])];
}

/** A score's observation set being collected inside one evaluate() call. */
interface PendingSet {
  rule: number;
  /** Time of the reading that opened it, and the latest time that joined it. */
  start: number;
  end: number;
  /** The last reading that joined it. */
  reading: number;
}

function roundParams(params: ParamSet): ParamSet {
  return { ...params, margin: f32(params.margin) };
}

export class Oracle implements Evaluator {
  private readonly slots: SlotState[] = [];
  private readonly rules: RuleState[] = [];
  /** Score sets of the batch being evaluated, in opening order; empty between calls. */
  private pending: PendingSet[] = [];

  addSlot(cfg: SlotConfig): number {
    this.slots.push({
      lastTime: -Infinity,
      lastValue: NaN,
      ref: f32(cfg.ref),
      paused: cfg.paused,
      histCap: cfg.histCap,
      history: [],
      rules: [],
    });
    return this.slots.length - 1;
  }

  setSlotRef(slot: number, ref: number): void {
    this.slots[slot].ref = f32(ref);
  }

  setSlotPaused(slot: number, paused: boolean, now: number): void {
    const s = this.slots[slot];
    const wasPaused = s.paused;
    s.paused = paused;
    if (paused || !wasPaused) return;
    for (const id of s.rules) if (this.rules[id].kind === KIND_MISSING) this.rules[id].anchor = now;
  }

  addRule(rule: CompiledRule): number {
    const id = this.rules.length;
    this.rules.push({
      kind: rule.kind,
      slot: rule.slot,
      flags: rule.flags,
      limits: roundLimits(rule.limits),
      params: roundParams(rule.params),
      scoreInputs: rule.scoreInputs ?? [],
      target: rule.target ?? -1,
      level: 0,
      dir: DIR_NONE,
      rawLevel: 0,
      rawDir: DIR_NONE,
      sinceYellow: NaN,
      sinceRed: NaN,
      belowSince: NaN,
      maskYellow: 0,
      maskRed: 0,
      anchor: rule.anchor,
    });
    this.slots[rule.slot].rules.push(id);
    return id;
  }

  setRuleLimits(rule: number, limits: Limits): void {
    this.rules[rule].limits = roundLimits(limits);
  }

  setRuleParams(rule: number, params: ParamSet): void {
    this.rules[rule].params = roundParams(params);
    resetTimers(this.rules[rule]);
  }

  disableRule(rule: number): void {
    this.rules[rule].kind = KIND_OFF;
  }

  retractLast(slotId: number, t: number): boolean {
    const slot = this.slots[slotId];
    if (slot === undefined) throw new RangeError(`bad slot ${slotId}`);
    if (slot.lastTime !== t) return false;
    // As the kernel: unknown before it (no ring, or a full one-entry ring) = the largest time below t.
    let lastTime = timeBelow(t);
    let lastValue = NaN;
    const len = slot.history.length;
    if (slot.histCap > 0 && len > 0) {
      slot.history.pop();
      const before = slot.history.at(-1);
      if (before !== undefined) {
        lastTime = before.time;
        lastValue = before.value;
      } else if (len < slot.histCap) lastTime = -Infinity; // the ring never dropped one: there was none before
    }
    slot.lastTime = lastTime;
    slot.lastValue = lastValue;
    return true;
  }

  resetRule(id: number): void {
    const rule = this.rules[id];
    rule.level = 0;
    rule.dir = DIR_NONE;
    rule.rawLevel = 0;
    rule.rawDir = DIR_NONE;
    rule.maskYellow = 0;
    rule.maskRed = 0;
    resetTimers(rule);
  }

  evaluate(slots: ArrayLike<number>, times: ArrayLike<number>, values: ArrayLike<number>, now: number, tzOffsetMs: number): BatchResult {
    for (let i = 0; i < slots.length; i++) {
      if (!(slots[i] >= 0 && slots[i] < this.slots.length)) throw new Error(`bad slot ${slots[i]} at ${i}`);
    }
    const triage = new Uint8Array(slots.length);
    const out: Transition[] = [];
    for (let i = 0; i < slots.length; i++) {
      if (this.hasScoreLink(slots[i])) this.scoreSets(times[i], out);
      triage[i] = this.applyReading(i, slots[i], times[i], f32(values[i]), now, tzOffsetMs, out);
    }
    this.scoreSets(Infinity, out);
    return { triage, transitions: out };
  }

  tick(now: number, tzOffsetMs: number): Transition[] {
    const out: Transition[] = [];
    const cause: Cause = { x: NaN, reading: -1, detail: 0 };
    this.rules.forEach((rule, id) => {
      if (rule.kind === KIND_MISSING) this.moveMissing(rule, id, now, tzOffsetMs, cause, out);
      else if (rule.kind !== KIND_OFF && rule.kind !== KIND_SCORE_LINK && (rule.params.forMs > 0 || rule.params.keepMs > 0)) {
        settle(rule, id, now, cause, out);
      }
    });
    return out;
  }

  /** Applies one reading; returns its triage code. */
  private applyReading(i: number, slotId: number, t: number, v: number, now: number, tz: number, out: Transition[]): number {
    const slot = this.slots[slotId];
    if (t < slot.lastTime) return TRIAGE_OUT_OF_ORDER;
    if (t === slot.lastTime) return TRIAGE_DUPLICATE;
    slot.lastTime = t;
    slot.lastValue = v;
    let triage = TRIAGE_NOT_TRIAGED;
    for (const id of slot.rules) {
      const rule = this.rules[id];
      switch (rule.kind) {
        case KIND_BAND:
        case KIND_BASELINE:
        case KIND_DELTA:
        case KIND_RATE: {
          const derived = this.derive(rule, slot, v, t);
          if (derived === null) {
            triage = worse(triage, TRIAGE_REF_NEEDED);
            break;
          }
          if (!Number.isNaN(derived.xLow) || !Number.isNaN(derived.xHigh)) {
            triage = worse(triage, triageOf(classify(derived.xLow, derived.xHigh, rule.limits, 0, DIR_NONE, 0)));
          }
          const raw = classify(derived.xLow, derived.xHigh, rule.limits, rule.level, rule.dir, rule.params.margin);
          step(rule, id, raw, t, causeOf(raw, derived, i, 0), out);
          break;
        }
        case KIND_MISSING:
          this.moveMissing(rule, id, now, tz, { x: NaN, reading: i, detail: 0 }, out);
          break;
        case KIND_SCORE_LINK: {
          const code = this.joinSet(rule.target, slotId, t, v, i);
          if (code !== null) triage = worse(triage, code);
          break;
        }
      }
    }
    if (slot.histCap > 0) {
      slot.history.push({ time: t, value: v });
      if (slot.history.length > slot.histCap) slot.history.shift();
    }
    return triage;
  }

  /** The derived value of a value rule; null when a baseline has no reference. */
  private derive(rule: RuleState, slot: SlotState, v: number, t: number): Derived | null {
    switch (rule.kind) {
      case KIND_BASELINE: {
        const ref = baselineReference(rule, slot, t);
        if (Number.isNaN(ref)) return null;
        const x = baselineDeviation(rule, v, ref);
        return { xLow: x, xHigh: x };
      }
      case KIND_DELTA:
        return delta(rule, slot, v, t);
      case KIND_RATE:
        return rate(rule, slot, v, t);
      default:
        return { xLow: v, xHigh: v };
    }
  }

  private moveMissing(rule: RuleState, id: number, now: number, tz: number, cause: Cause, out: Transition[]): void {
    const slot = this.slots[rule.slot];
    const x = overdue(rule, slot, now, tz);
    const raw = slot.paused ? NO_ALERT : classify(NaN, x, rule.limits, 0, DIR_NONE, 0);
    moveTo(rule, id, raw.level, raw.dir, now, { ...cause, x }, out);
  }

  private hasScoreLink(slotId: number): boolean {
    return this.slots[slotId].rules.some((id) => this.rules[id].kind === KIND_SCORE_LINK);
  }

  /**
   * A score link's reading joins its score's pending set (or opens one); returns the reading's
   * triage by its NEWS2 parameter row (null: not counted).
   */
  private joinSet(scoreId: number, slotId: number, t: number, v: number, reading: number): number | null {
    const score = this.rules[scoreId];
    if (score === undefined || score.kind !== KIND_SCORE) return null;
    const set = this.pending.find((s) => s.rule === scoreId);
    if (set === undefined) this.pending.push({ rule: scoreId, start: t, end: t, reading });
    else {
      set.end = Math.max(set.end, t);
      set.reading = reading;
    }
    const input = score.scoreInputs.indexOf(slotId);
    return input < 0 ? null : parameterTriage(input, v, score.params.mode, (score.flags & RULE_ON_OXYGEN) !== 0);
  }

  /** Scores, in opening order, the pending sets a reading at time t closes (t > start + SCORE_SET_MS; Infinity: all). */
  private scoreSets(t: number, out: Transition[]): void {
    const due = this.pending.filter((s) => t > s.start + SCORE_SET_MS);
    if (due.length === 0) return;
    this.pending = this.pending.filter((s) => !due.includes(s));
    for (const s of due) this.evaluateScore(s.rule, s.end, s.reading, out);
  }

  private evaluateScore(scoreId: number, t: number, reading: number, out: Transition[]): void {
    const rule = this.rules[scoreId];
    if (rule === undefined || rule.kind !== KIND_SCORE) return;
    const values = rule.scoreInputs.map((slotId) => {
      const s = slotId >= 0 ? this.slots[slotId] : undefined;
      return s !== undefined && s.lastTime >= t - rule.params.windowMs && s.lastTime <= t ? s.lastValue : NaN;
    });
    const onOxygen = (rule.flags & RULE_ON_OXYGEN) !== 0;
    const result = news2(values, rule.params.mode, onOxygen);
    let raw = classify(result.score, result.score, rule.limits, rule.level, rule.dir, rule.params.margin);
    if (raw.level === 0 && result.single3) raw = { level: 1, dir: DIR_HIGH };
    const detail = result.missingMask | (result.single3 ? 1 << 8 : 0);
    step(rule, scoreId, raw, t, { x: result.score, reading, detail }, out);
  }
}

/** The largest time below t (t > 0), as the kernel computes it; -Infinity otherwise. */
function timeBelow(t: number): number {
  if (!(t > 0)) return -Infinity;
  const bits = new BigUint64Array(new Float64Array([t]).buffer);
  bits[0] -= 1n;
  return new Float64Array(bits.buffer)[0];
}

function causeOf(raw: Raw, derived: Derived, reading: number, detail: number): Cause {
  return { x: raw.dir === DIR_HIGH ? derived.xHigh : derived.xLow, reading, detail };
}
