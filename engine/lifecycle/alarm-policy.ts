// The organisation's alarm behaviour beyond states (IEC 60601-1-8 and what Nightscout, xDrip and
// Dexcom users ask for): re-alert after an acknowledgement, acknowledgement timeouts and loops of
// the escalation chain, silence floors, and episodes. Defaults and checks live here; the
// lifecycle applies them. Pure: every time is the caller's.
//
// Decisions (sources disagree; docs/http.md "Alarm behaviour" explains them to integrators)
// - Re-alert: Dexcom sounds an urgent low again 30 min after confirmation if glucose is still
//   low; IEC 60601-1-8 leaves the interval to the manufacturer. Default: high 30 min, medium 4 h,
//   low never. A re-alert takes the acknowledgement away: the alarm must be acknowledged again.
// - Escalation: PagerDuty and Opsgenie give each step its own acknowledgement timeout and let the
//   chain repeat. A care-chain entry may set `ackTimeout`; otherwise the patient's or the
//   organisation's escalation delay (15 min). After the chain ends it starts again from the top
//   `escalationLoops` times (default 1, at most 3), then every team is told once more and it stops.
// - Silence floor: a silence is accepted up to the longest bound (low: 7 days); it hides alerts
//   of a higher priority only for that priority's bound (high 1 h, medium 24 h) from its creation,
//   so a long snooze of warnings never hides a later urgent alarm for long. Refusing every long
//   silence instead would push clinicians to re-create short ones (alarm fatigue); a patient in
//   hospital is paused, not silenced. A rule marked `unsilenceable` is never hidden from that
//   level up (CGM urgent low: Nightscout/LoopFollow users ask that "snooze" never covers it).
// - Episodes: Alertmanager delays a group by `group_wait` to deliver it together. varsel never
//   delays an alarm: alerts of one patient raised within `episodeGroupWaitMs` (default 60 s) of
//   the episode's first alert carry its id as `episode` and are delivered at once; frontends group.
// - The policy in force is state, not configuration: it is journaled (`alarm_policy` command,
//   engine/durable/) and carried by snapshots, so a replay applies each command under the policy
//   it was applied under live. A change takes effect for what happens after it; see `setPolicy`
//   in lifecycle.ts for what that means for open alerts and silences.
import { isDeepStrictEqual } from "node:util";
import type { Priority } from "../alerts.js";
import { VarselError } from "../errors.js";
import { parseDuration } from "../rules/duration.js";
import { lateAfterOf } from "./late.js";
import type { AlertLevel, LatchingPolicy, RoutingEntry, RuleKind } from "./types.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Per-priority durations (ms); 0 = never (re-alert). */
export type PerPriority = Record<Priority, number>;

export const PRIORITY_ORDER: readonly Priority[] = ["high", "medium", "low"];

/** Re-alert after an acknowledgement while the condition persists: high 30 min, medium 4 h, low never. */
export const DEFAULT_RE_ALERT_AFTER_MS: Readonly<PerPriority> = Object.freeze({ high: 30 * MIN, medium: 4 * HOUR, low: 0 });
/** Longest time a silence hides an alert of each priority: high 1 h, medium 24 h, low 7 days. */
export const DEFAULT_MAX_SILENCE_MS: Readonly<PerPriority> = Object.freeze({ high: HOUR, medium: DAY, low: 7 * DAY });
/** Extra passes through the care chain before the final announcement to every team. */
export const DEFAULT_ESCALATION_LOOPS = 1;
export const MAX_ESCALATION_LOOPS = 3;
/** Alerts of one patient raised this close to an episode's first alert join its episode. */
export const DEFAULT_EPISODE_GROUP_WAIT_MS = 60_000;
/** Bound of every alarm duration setting: a year (as rule durations). */
export const MAX_POLICY_MS = 366 * DAY;
/** Escalation delay default: 15 minutes. */
export const DEFAULT_ESCALATION_DELAY_MS = 15 * MIN;
/** Default latching policy: every red alert latches. */
export const DEFAULT_LATCHING: Readonly<LatchingPolicy> = Object.freeze({ levels: ["red"] satisfies AlertLevel[] });
/** The rule kinds a latching policy may name. */
export const LATCHING_KINDS: readonly Exclude<RuleKind, "unknown">[] = ["band", "baseline", "delta", "rate", "missing", "score"];
const LATCHING_LEVELS: readonly AlertLevel[] = ["red", "yellow"];

/** The alarm behaviour in force, every field set, in canonical form (what the `alarm_policy` command journals). */
export interface AlarmPolicy {
  /** Which alerts latch; every list present, sorted, without repeats. */
  latching: Required<LatchingPolicy>;
  /** Acknowledgement timeout of a care-chain step without its own `ackTimeout` (a patient's own delay wins). */
  escalationDelayMs: number;
  /** Transitions from readings older than this (ms before the request) describe the past (late.ts). */
  lateAfterMs: number;
  reAlertAfterMs: PerPriority;
  maxSilenceMs: PerPriority;
  escalationLoops: number;
  episodeGroupWaitMs: number;
}

/** The options as given (absent = default). */
export interface AlarmPolicyInput {
  /** Default: every red alert latches. `{}` = nothing latches. */
  latching?: LatchingPolicy;
  /** Escalation delay (default 15 min). */
  escalationDelayMs?: number;
  /** Default 15 min (late.ts). */
  lateAfterMs?: number;
  reAlertAfterMs?: Partial<PerPriority>;
  maxSilenceMs?: Partial<PerPriority>;
  escalationLoops?: number;
  episodeGroupWaitMs?: number;
}

/**
 * The policy of a state that records none: a snapshot or a journal written before the policy was
 * journaled, and the start of every journal. These are the defaults of that time, spelled out:
 * they must never follow a later change of the defaults (a replay from the start would change).
 * A server whose settings differ journals an `alarm_policy` command at start (durable-pipeline.ts).
 */
export const BASELINE_POLICY: Readonly<AlarmPolicy> = deepFreeze({
  latching: { levels: ["red"], kinds: [], rules: [] },
  escalationDelayMs: 15 * MIN,
  lateAfterMs: 15 * MIN,
  reAlertAfterMs: { high: 30 * MIN, medium: 4 * HOUR, low: 0 },
  maxSilenceMs: { high: HOUR, medium: DAY, low: 7 * DAY },
  escalationLoops: 1,
  episodeGroupWaitMs: 60_000,
});

/** The policy with defaults filled in, in canonical form; throws RangeError on a value out of bounds. */
export function alarmPolicy(input: AlarmPolicyInput = {}): AlarmPolicy {
  const latching = latchingPolicy(input.latching ?? DEFAULT_LATCHING);
  const delay = input.escalationDelayMs ?? DEFAULT_ESCALATION_DELAY_MS;
  if (typeof delay !== "number" || !(delay > 0 && delay <= MAX_POLICY_MS)) throw new RangeError("escalationDelayMs must be a positive number of ms up to a year");
  const lateAfterMs = lateAfterOf(input.lateAfterMs);
  const reAlertAfterMs = perPriority(input.reAlertAfterMs, DEFAULT_RE_ALERT_AFTER_MS, "reAlertAfterMs", 0);
  const maxSilenceMs = perPriority(input.maxSilenceMs, DEFAULT_MAX_SILENCE_MS, "maxSilenceMs", 1);
  if (!(maxSilenceMs.high <= maxSilenceMs.medium && maxSilenceMs.medium <= maxSilenceMs.low)) {
    throw new RangeError("maxSilenceMs: a higher priority may not be silenced longer than a lower one (high <= medium <= low)");
  }
  const loops = input.escalationLoops ?? DEFAULT_ESCALATION_LOOPS;
  if (!Number.isInteger(loops) || loops < 0 || loops > MAX_ESCALATION_LOOPS) throw new RangeError(`escalationLoops must be an integer from 0 to ${MAX_ESCALATION_LOOPS}`);
  const wait = input.episodeGroupWaitMs ?? DEFAULT_EPISODE_GROUP_WAIT_MS;
  if (!(wait >= 0 && wait <= DAY)) throw new RangeError("episodeGroupWaitMs must be from 0 to a day");
  return { latching, escalationDelayMs: delay, lateAfterMs, reAlertAfterMs, maxSilenceMs, escalationLoops: loops, episodeGroupWaitMs: wait };
}

/** Refuses (invalid_field) a policy that is not complete, in bounds and canonical: the journal holds exactly what is applied. */
export function checkAlarmPolicy(policy: unknown): asserts policy is AlarmPolicy {
  let canonical: AlarmPolicy;
  try {
    canonical = alarmPolicy(policy as AlarmPolicyInput);
  } catch (err) {
    throw new VarselError("invalid_field", `alarm policy: ${(err as Error).message}`);
  }
  if (!isDeepStrictEqual(canonical, policy)) throw new VarselError("invalid_field", "alarm policy: every field must be given, in canonical form (lists sorted, without repeats)");
}

/** The fields in which two policies differ (empty: the same). */
export function policyChanges(from: AlarmPolicy, to: AlarmPolicy): (keyof AlarmPolicy)[] {
  return (Object.keys(to) as (keyof AlarmPolicy)[]).filter((k) => !isDeepStrictEqual(from[k], to[k]));
}

/** Latching in canonical form: every list, sorted, without repeats; throws RangeError on an unknown level or kind. */
function latchingPolicy(given: LatchingPolicy): Required<LatchingPolicy> {
  if (typeof given !== "object" || given === null) throw new RangeError("latching must be an object of levels, kinds and rules");
  const list = <T extends string>(v: T[] | undefined, name: string, allowed?: readonly T[]): T[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "" || (allowed !== undefined && !allowed.includes(x)))) {
      throw new RangeError(`latching.${name} must be a list of ${allowed === undefined ? "rule ids" : allowed.join(", ")}`);
    }
    return [...new Set(v)].sort();
  };
  return { levels: list(given.levels, "levels", LATCHING_LEVELS), kinds: list(given.kinds, "kinds", LATCHING_KINDS), rules: list(given.rules, "rules") };
}

function deepFreeze<T>(x: T): T {
  if (typeof x === "object" && x !== null) for (const v of Object.values(Object.freeze(x))) deepFreeze(v);
  return x;
}

function perPriority(given: Partial<PerPriority> | undefined, defaults: Readonly<PerPriority>, name: string, min: number): PerPriority {
  const out = { ...defaults, ...given };
  for (const p of PRIORITY_ORDER) {
    const ms = out[p];
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < min || ms > MAX_POLICY_MS) throw new RangeError(`${name}.${p} must be a number of ms from ${min} to a year`);
  }
  return out;
}

/** When a silence created at `createdAt` until `until` stops hiding alerts of each priority. */
export function silenceEnds(createdAt: number, until: number, max: PerPriority): PerPriority {
  return { high: Math.min(until, createdAt + max.high), medium: Math.min(until, createdAt + max.medium), low: Math.min(until, createdAt + max.low) };
}

/** Throws `silence_too_long` when a silence from `now` to `until` exceeds the longest bound. */
export function checkSilenceLength(until: number, now: number, max: PerPriority): void {
  const longest = Math.max(max.high, max.medium, max.low);
  if (until - now > longest) {
    throw new VarselError("silence_too_long", `silence: at most ${longest / HOUR} h (alerts of high priority are hidden at most ${max.high / MIN} min, medium ${max.medium / MIN} min)`, {
      maxMs: { ...max },
    });
  }
}

/** A care-chain entry's acknowledgement timeout (ms), or undefined when it sets none. */
export function ackTimeoutOf(entry: RoutingEntry | undefined): number | undefined {
  return entry?.ackTimeout === undefined ? undefined : (parseDuration(entry.ackTimeout) ?? undefined);
}

/** Checks the chain's `ackTimeout`s ("10m", at least a minute); throws `invalid_routing` naming the entry. */
export function checkAckTimeouts(chain: readonly RoutingEntry[]): void {
  chain.forEach((e, i) => {
    if (e?.ackTimeout === undefined) return;
    // As stored and shown: no surrounding spaces (parseDuration would trim them).
    const ms = typeof e.ackTimeout === "string" && e.ackTimeout.trim() === e.ackTimeout ? parseDuration(e.ackTimeout) : null;
    if (ms === null || ms < MIN || ms > DAY) {
      throw new VarselError("invalid_routing", `care team entry ${i}: ackTimeout must be a duration from 1m to 24h such as "10m"`, { entry: i });
    }
  });
}
