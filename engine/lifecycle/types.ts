// The alert lifecycle's public vocabulary: alerts as clinicians see them, silences, care-team
// routing, subscriber scopes and the numbered events pushed to clinical frontends.
// Everything here is plain data (JSON-serialisable), so a store can persist it as it is.
import type { Direction, Interpretation, Level, Priority, TransitionKind } from "../alerts.js";
import type { ErrorBody } from "../errors.js";
import type { LimitsDef, MissingRule, RuleDef, Weekday } from "../rules/definitions.js";
import type { Observance } from "../calendar/holidays.js";
import type { AlarmPolicy, AlarmPolicyInput, PerPriority } from "./alarm-policy.js";

/** A rule kind (engine/rules/definitions.ts), or "unknown" when the rule lookup does not know the rule. */
export type RuleKind = RuleDef["kind"] | "unknown";

/** Where an open alert stands (see state-machine.ts for the transitions). */
export type AlertState = "firing" | "cleared_awaiting_ack" | "resolved";

/** Why an alert was resolved. */
export type Resolution = "condition_cleared" | "acknowledged" | "rule_removed" | "backfilled" | "reading_withdrawn";

/** A level an alert can have while it exists. */
export type AlertLevel = Exclude<Level, "none">;

/** Missing rules: the stale/daily settings in force. */
export interface MissingLimits {
  stale?: NonNullable<MissingRule["stale"]>;
  daily?: NonNullable<MissingRule["daily"]>;
}

/** What the caller knows about a patient's rule at the time of a transition. */
export interface RuleContext {
  kind: Exclude<RuleKind, "unknown">;
  /** The threshold version that judged (versioned elsewhere; opaque here). */
  thresholdVersion?: string | number;
  /** The limits in force (value and score rules: red/yellow limits; missing rules: stale/daily). */
  limits?: LimitsDef | MissingLimits;
  /** The rule latches whatever the organisation's latching policy says (rule definition `latching: true`). */
  latching?: boolean;
  /** From this level up, silences do not hide the rule's alert (rule definition `unsilenceable`). */
  unsilenceable?: AlertLevel;
  /** The programmes the rule belongs to (several when their rules were merged), matched against RoutingEntry.programmes. */
  programmes?: string[];
}

/** Looks up a patient's rule by its rule id; undefined when unknown. */
export type RuleLookup = (patient: string, rule: string) => RuleContext | undefined;

/** One reading (or clock event) that moved the alert. */
export interface TriggerReading {
  /** Reading time (epoch ms), or the clock time for missing-data transitions. */
  time: number;
  /** The derived value that decided (reading, deviation, change, slope, score, minutes/deadlines overdue); null when none. */
  value: number | null;
  transition: TransitionKind;
  /** The reading's own value in the canonical unit, when the transition came from an ingested reading. */
  readingValue?: number;
  /** The client's measurement id, when known. */
  measurementId?: string;
  /** Index of the reading in its ingest request, when known. */
  index?: number;
  /** The source withdrew this measurement afterwards (FHIR cancelled / entered-in-error). */
  withdrawn?: true;
}

/** Why an alert exists: everything a clinician needs to judge it. */
export interface AlertWhy {
  thresholdVersion: string | number | null;
  limits: LimitsDef | MissingLimits | null;
  /** The latest transitions' readings, oldest first (at most `keepReadings`). */
  readings: TriggerReading[];
  /** NEWS2: parameters without a reading in the window (stated, never scored 0 silently). */
  missingParameters?: string[];
}

/** Who acknowledged, when, and what they wrote. */
export interface Acknowledgement {
  by: string;
  at: number;
  note?: string;
}

/** A silence as shown on the alerts it silences. */
export interface SilenceRef {
  id: string;
  until: number;
  reason: string;
  author: string;
}

/** The alert that inhibits another, and why. */
export interface Inhibition {
  alert: string;
  rule: string;
  /** stale_data: a missing-data alert on the metric; higher_severity: a red alert of another rule on the metric. */
  reason: "stale_data" | "higher_severity";
}

/** A care team's role for the patient. */
export type TeamRole = "hospital" | "municipality" | "gp";

/** Local hours an entry covers (Europe/Copenhagen by default); `from` > `to` spans midnight. */
export interface RoutingHours {
  /** "HH:MM", inclusive. */
  from: string;
  /** "HH:MM" (or "24:00"), exclusive; equal to `from` = the whole day. */
  to: string;
  /** Days the window starts on (a window spanning midnight belongs to the day it starts); all days when absent. */
  days?: Weekday[];
  /**
   * Public holidays (engine/calendar/holidays.ts), decided for the day a window starts on:
   * "as_sunday" (default) = a holiday counts as a Sunday, so an entry whose days leave out Sunday
   * is off on holidays; "include" = the days and every holiday; "exclude" = the days except
   * holidays; "only" = holidays among the days.
   */
  holidays?: HolidayRule;
  /** Observance days this entry counts as public holidays (e.g. a practice closed on grundlovsdag). */
  extraHolidays?: Observance[];
  /** Other hours for windows starting on these observance days (e.g. `to: "12:00"` on juleaftensdag); a public holiday on the same day wins. */
  halfDays?: { on: Observance[]; from?: string; to?: string };
}

/** How an hours window treats public holidays (see RoutingHours.holidays). */
export type HolidayRule = "as_sunday" | "include" | "exclude" | "only";

/** One link of a patient's care chain, in chain order. Absent criteria match everything. */
export interface RoutingEntry {
  team: string;
  role: TeamRole;
  programmes?: string[];
  priorities?: Priority[];
  hours?: RoutingHours;
  /** How long this entry's team has to acknowledge before escalation moves on ("10m", 1m..24h); default: the escalation delay. */
  ackTimeout?: string;
}

/** What the lifecycle knows about a patient. */
export interface PatientRouting {
  /** The patient's programmes (e.g. ["telekol", "telehjerte"]): routing of an alert whose rule is not known. */
  programmes?: string[];
  /** The one programme of states from before `programmes`. */
  programme?: string;
  /** The care chain in order; empty = the organisation's default chain. */
  careTeams: RoutingEntry[];
  /** Escalation delay for this patient's alerts (ms), overriding the organisation's. */
  escalationDelayMs?: number;
}

/** The team currently responsible for an alert. */
export interface RoutedTo {
  team: string;
  role: TeamRole;
  /** Index of the chosen entry in the patient's care chain. */
  entry: number;
}

/** Escalation progress of an alert. */
export interface EscalationState {
  /** 0 = routed only; n = escalated n times (restarts of the chain and the final re-announcement count as steps). */
  step: number;
  /** Passes through the chain started again after it ended (0 on the first pass; absent in alerts stored before loops existed). */
  loop?: number;
  /** When the next escalation is due; absent while the alert is not live (acked, silenced, inhibited, cleared, not high) or the chain has ended. */
  nextAt?: number;
  /** The chain ended and every team was told once more: no further escalation. */
  done: boolean;
  /** Teams told so far in this routing, in order. */
  notified: string[];
}

/** An alert as clinicians and the API see it (a copy: mutating it changes nothing). */
export interface Alert {
  id: string;
  patient: string;
  rule: string;
  ruleKind: RuleKind;
  metric: string;
  /** The programme(s) whose rule fired; routing takes the alert to an entry listing any of them. Absent on alerts from before. */
  programmes?: string[];
  state: AlertState;
  /** Current level; while cleared_awaiting_ack, the last level before the condition cleared. */
  level: AlertLevel;
  priority: Priority;
  interpretation: Interpretation;
  direction: Direction;
  /** Highest level reached while open. */
  peakLevel: AlertLevel;
  /** Whether the alert latches (the organisation's latching policy, or the rule's own `latching: true`). */
  latching: boolean;
  /** The episode: the id of the first alert of this patient raised within the group wait before this one (its own id when it opened the episode). */
  episode: string;
  /** From this level up (the rule's `unsilenceable`) silences do not hide the alert; absent: silences apply. */
  unsilenceable?: AlertLevel;
  /** Acknowledged while the condition holds: when it is announced again (re-alert) if still firing then. */
  reAlertAt?: number;
  /** How many times the alert was re-announced after an acknowledgement. */
  reAlerts?: number;
  /** Raised by readings older than lateAfter: a record of the past for review (priority low), never an alarm; removed when a reading of now holds the condition. */
  late?: true;
  /** When the lifecycle opened the alert (its clock, ms). */
  openedAt: number;
  /** Time of the transition (reading or clock) that raised it. */
  conditionSince: number;
  updatedAt: number;
  /** When the condition last cleared (latched alerts awaiting ack, and resolved ones). */
  clearedAt?: number;
  resolvedAt?: number;
  resolution?: Resolution;
  ack?: Acknowledgement;
  /** Active silences matching the alert: silenced alerts stay visible, with the silence shown. */
  silencedBy: SilenceRef[];
  inhibitedBy?: Inhibition;
  /** The responsible team now; null only when neither the patient nor the organisation has a care chain. */
  routedTo: RoutedTo | null;
  escalation: EscalationState;
  /** The patient's teams (every one may see the alert). */
  teams: string[];
  why: AlertWhy;
}

/** A silence (Alertmanager style): matches a patient, a rule, or both. */
export interface Silence {
  id: string;
  patient?: string;
  rule?: string;
  until: number;
  /** When it stops hiding alerts of each priority (the organisation's maximum per priority, counted from creation; never after `until`). */
  untilByPriority?: PerPriority;
  reason: string;
  author: string;
  createdAt: number;
  state: "active" | "expired" | "removed";
  removedBy?: string;
  endedAt?: number;
}

/** What a caller gives to create a silence. */
export interface SilenceInput {
  patient?: string;
  rule?: string;
  until: number;
  reason: string;
  author: string;
}

/** Why a reading surfaces for review without being an alert. */
export type ReviewReason = "not_triaged" | "reference_needed" | "unit_mismatch";

/** What changed in an `updated` event. */
export type UpdateChange = "upgraded" | "downgraded" | "cleared" | "reopened" | "rerouted" | "silences" | "reading_withdrawn" | "re_alerted";

interface EventBase {
  /** Strictly increasing, global, no gaps. */
  seq: number;
  /** Lifecycle clock when the event happened (ms). */
  at: number;
  /** The patient concerned; absent only for organisation-wide events (a silence of a rule for all patients). */
  patient?: string;
  /** The patient's teams at the time of the event (scope filtering). */
  teams: string[];
}

/** An event about one alert; `alert` is its state right after the event. */
export interface AlertEvent extends EventBase {
  type: "raised" | "updated" | "acknowledged" | "resolved" | "silenced" | "unsilenced" | "inhibited" | "uninhibited" | "escalated";
  patient: string;
  alert: Alert;
  /** `updated`: what changed. */
  change?: UpdateChange;
  /** `silenced`: the silence that now matches; `unsilenced`/`updated` (silences): the silence that ended. */
  silence?: SilenceRef;
  /** `escalated`: the step, and the team told (null for the final re-announcement to every team). */
  escalation?: { step: number; team: string | null; role?: TeamRole; final: boolean; teams: string[]; loop: number };
  /** `updated` (re_alerted): the acknowledgement that lapsed because the condition still holds. */
  lapsedAck?: Acknowledgement;
  /** The transition came from readings older than lateAfter: the event describes the past. */
  late?: true;
}

/** A silence was created, removed or expired. */
export interface SilenceEvent extends EventBase {
  type: "silence";
  action: "created" | "removed" | "expired";
  silence: Silence;
}

/** A reading that needs a clinician's eye without being an alert (no patient data beyond this). */
export interface ReviewEvent extends EventBase {
  type: "review";
  patient: string;
  reason: ReviewReason;
  metric: string;
  /** Readings of this patient, metric and reason in the same request. */
  count: number;
}

/** Everything the lifecycle announces. */
export type LifecycleEvent = AlertEvent | SilenceEvent | ReviewEvent;
export type LifecycleEventType = LifecycleEvent["type"];

/** A lifecycle's whole state as plain data (snapshots). */
export interface LifecycleState {
  alerts: Alert[];
  open: [string, string][];
  /** Absent when the owner restores the routing from its own records (the pipeline does). */
  patients?: [string, PatientRouting][];
  silences: Silence[];
  log: { last: number; events: LifecycleEvent[] };
  counters: { alert: number; silence: number };
  /** The alarm policy in force; absent in a state written before it was journaled (BASELINE_POLICY). */
  policy?: AlarmPolicy;
}

/** A subscriber's scope: absent sets admit everything; both given = both must admit. */
export interface Scope {
  patients?: Iterable<string>;
  /** Teams: admits patients having any of these teams in their care chain. */
  teams?: Iterable<string>;
}

/** The answer to `since`. */
export type SinceResult =
  | { status: "ok"; events: LifecycleEvent[]; lastSeq: number }
  | { status: "resync_required"; error: ErrorBody; lastSeq: number; oldestSeq: number };

/** The open alerts in a scope, and the event number they are current at. */
export interface Snapshot {
  seq: number;
  alerts: Alert[];
}

/** Query of `list`. */
export interface AlertQuery extends Scope {
  patient?: string;
  state?: AlertState | AlertState[];
  priority?: Priority | Priority[];
  level?: AlertLevel | AlertLevel[];
  /** Alerts updated at or after this time (ms). */
  since?: number;
}

/** Which alerts latch (IEC 60601-1-8): an alert latches when any given criterion matches. */
export interface LatchingPolicy {
  /** Rule ids that latch. */
  rules?: string[];
  /** Levels that latch, judged on the highest level the alert reached (e.g. ["red"]: all red alerts latch). */
  levels?: AlertLevel[];
  /** Rule kinds that latch (e.g. ["missing"]). */
  kinds?: Exclude<RuleKind, "unknown">[];
}

/** How long events and resolved alerts are kept. */
export interface RetentionPolicy {
  /** Events kept at most (default 10 000). */
  maxEvents?: number;
  /** Events older than this are dropped (default 24 h). */
  maxAgeMs?: number;
  /** Resolved alerts stay queryable this long (default 24 h). */
  resolvedAlertMs?: number;
  /** ... and at most this many per patient, the most recently resolved (default 100). */
  resolvedAlertsPerPatient?: number;
}

/**
 * Organisation configuration of the lifecycle. The alarm behaviour (latching, escalation delay,
 * late-after and the rest: alarm-policy.ts) is the initial policy; the durable layer journals it.
 */
export interface LifecycleOptions extends AlarmPolicyInput {
  /** What the caller knows about rules: kind, threshold version, limits in force. */
  rules: RuleLookup;
  /** Chain for patients without their own (default none). */
  defaultCareTeams?: RoutingEntry[];
  /** Local-time offset at an instant (ms); default: Europe/Copenhagen via engine/clock.ts. */
  utcOffset?: (at: number) => number;
  retention?: RetentionPolicy;
  /** Last event number already issued (crash recovery): the next event is `startSeq + 1`. Default 0. */
  startSeq?: number;
  /** Trigger readings kept per alert (default 5). */
  keepReadings?: number;
  /** Id generator (default `a-<n>` / `s-<n>`; give a UUID generator when alerts are persisted). */
  newId?: (kind: "alert" | "silence") => string;
}
