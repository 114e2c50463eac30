// The alert lifecycle: engine transitions and clock ticks in, numbered events for clinical
// frontends out. Pure TypeScript, no I/O; the clock is always the caller's `now`.
//
// One method changes what others can see: every state change ends in `emitAlert`/`emit`, which
// numbers the event, logs it and appends it to the outbox. The caller of a command takes the
// outbox with `takeEvents()`: the events a command returns are exactly those it caused (the
// durable layer journals the command and stores and publishes those events; no listeners).
// Alerts and silences are plain data (types.ts).
//
// States and timing rules: state-machine.ts. Routing and escalation: routing.ts. Inhibition:
// inhibition.ts. Silences: silences.ts. Event numbers and retention: event-log.ts.
//
// Decisions
// - Latching default: every alert that reached red latches (configurable: rule ids, levels, kinds).
// - Escalation: default 15 min per step (organisation or per patient). When the chain has no team
//   left, the alert is re-announced once to every team of the patient (`escalated`, final) and
//   escalation stops; it stays routed to the last team.
// - Retention: 10 000 events / 24 h; resolved alerts and ended silences are kept 24 h.
// - An ack of an already acknowledged alert is a no-op (the first ack stands, no event).
// - Re-alert, acknowledgement timeouts and loops, silence floors, episodes: alarm-policy.ts.
// - Late data (late.ts decides which transitions are late): a late transition that opens an
//   alert opens a record of the past (`late: true`, priority low: never escalated, routed as
//   low); on a late alert it moves the level with the priority kept low; on a present alert it
//   never raises the priority nor reopens a latched alert awaiting acknowledgement (that alert is
//   already there to be reviewed). A present transition holding the condition makes a late alert
//   present when its episode still holds (firing); one that reopens a late alert whose condition
//   had cleared is a new episode: the late alert resolves (`condition_cleared`, late) as the
//   record of its episode and a new alert is raised from the present episode's start. A late alert never inhibits another: the past does not hide the present. A missing-
//   data alert whose gap a backfill covers (the request's oldest reading of the metric is no later
//   than the alert's conditionSince) resolves (`backfilled`) even when it latches: the gap is data now.
import type { AlertTransition, EvaluatedReading, IngestResult } from "../engine.js";
import type { Priority } from "../alerts.js";
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../clock.js";
import { VarselError } from "../errors.js";
import { ackTimeoutOf, alarmPolicy, BASELINE_POLICY, checkAckTimeouts, checkAlarmPolicy, checkSilenceLength, silenceEnds, type AlarmPolicy } from "./alarm-policy.js";
import { admits, EventLog, scopeFilter } from "./event-log.js";
import { inhibitorOf, sameInhibition } from "./inhibition.js";
import { lateFlags, presentReading, supersededMissing } from "./late.js";
import { reviewItems, type ReviewSource } from "./review.js";
import { localTime, nextInChain, route, teamsOf, validateChain } from "./routing.js";
import { matches, refOf, SilenceBook } from "./silences.js";
import { levelChange, step, type AlertInput, type Step } from "./state-machine.js";
import type {
  Alert,
  AlertEvent,
  AlertLevel,
  AlertQuery,
  LifecycleEvent,
  LifecycleOptions,
  LifecycleState,
  PatientRouting,
  RoutingEntry,
  Scope,
  Silence,
  SilenceInput,
  SilenceRef,
  SinceResult,
  Snapshot,
  TriggerReading,
} from "./types.js";

/** Resolved alerts and ended silences stay queryable this long by default. */
export const DEFAULT_RESOLVED_RETENTION_MS = 24 * 3_600_000;
/**
 * Resolved alerts kept per patient by default, the most recent (within resolvedAlertMs): a
 * reading that flaps around a limit raises and resolves an alert each time, so a day of one
 * flapping device held tens of thousands (bench:abuse's bystander: 5 a second). Their events stay
 * in the store (alert history).
 */
export const DEFAULT_RESOLVED_ALERTS_PER_PATIENT = 100;
/** Trigger readings kept per alert by default. */
export const DEFAULT_KEEP_READINGS = 5;
export { DEFAULT_ESCALATION_DELAY_MS, DEFAULT_LATCHING } from "./alarm-policy.js";

const RANK: Record<AlertLevel, number> = { yellow: 1, red: 2 };
const PRIORITY: Record<AlertLevel, Priority> = { yellow: "medium", red: "high" };
const PRIORITY_RANK: Record<Priority, number> = { low: 0, medium: 1, high: 2 };

/** What the lifecycle knows about the request a transition came from. */
export interface BatchFacts {
  /** Per transition (same order): it describes the past (late.ts). */
  late?: readonly boolean[];
  /** Per transition: a later one of the same missing-data rule in the request supersedes it (late.ts); skipped. */
  skip?: readonly boolean[];
  /** The request's oldest reading time of a patient's metric (a backfill covering a missing-data gap). */
  oldestReading?: (patient: string, metric: string) => number | undefined;
}

type Draft<E extends LifecycleEvent> = E extends LifecycleEvent ? Omit<E, "seq" | "teams"> : never;

/** The alert lifecycle of one organisation (see the file header). */
export class AlertLifecycle {
  private readonly alerts = new Map<string, Alert>();
  /** (patient, rule) → id of its open alert. */
  private readonly open = new Map<string, string>();
  /** patient → ids of its open alerts (the same alerts as `open`, indexed by patient). */
  private readonly openByPatient = new Map<string, Set<string>>();
  /** patient → ids of its resolved alerts still held (bounded by resolvedPerPatient). */
  private readonly resolvedByPatient = new Map<string, Set<string>>();
  private readonly patients = new Map<string, PatientRouting>();
  private readonly silenceBook = new SilenceBook();
  private readonly log: EventLog;
  /** Events emitted since the last takeEvents(), in order. */
  private outbox: LifecycleEvent[] = [];
  /** The alerts a snapshot's capture holds by reference while they are packed (see holdAlerts). */
  private hold: AlertHold | undefined;
  /** The alarm behaviour in force: the options' at construction, then what `setPolicy` and `importState` set. */
  private policy: AlarmPolicy;
  private readonly defaultChain: RoutingEntry[];
  private readonly offset: (at: number) => number;
  private readonly keepReadings: number;
  private readonly resolvedMs: number;
  private readonly resolvedPerPatient: number;
  private readonly newId: (kind: "alert" | "silence") => string;
  private counters = { alert: 0, silence: 0 };

  /** Creates an empty lifecycle; `options.rules` says what each rule is (kind, version, limits). */
  constructor(private readonly options: LifecycleOptions) {
    this.policy = alarmPolicy(options);
    this.defaultChain = [...(options.defaultCareTeams ?? [])];
    validateChain(this.defaultChain);
    checkAckTimeouts(this.defaultChain);
    this.offset = options.utcOffset ?? ((at) => utcOffsetMs(DEFAULT_TIME_ZONE, at));
    this.keepReadings = Math.max(1, options.keepReadings ?? DEFAULT_KEEP_READINGS);
    this.resolvedMs = options.retention?.resolvedAlertMs ?? DEFAULT_RESOLVED_RETENTION_MS;
    this.resolvedPerPatient = options.retention?.resolvedAlertsPerPatient ?? DEFAULT_RESOLVED_ALERTS_PER_PATIENT;
    if (!Number.isSafeInteger(this.resolvedPerPatient) || this.resolvedPerPatient < 1) throw new RangeError("retention.resolvedAlertsPerPatient must be a positive integer");
    this.log = new EventLog(options.startSeq ?? 0, options.retention?.maxEvents, options.retention?.maxAgeMs);
    this.newId = options.newId ?? ((kind) => `${kind === "alert" ? "a" : "s"}-${++this.counters[kind]}`);
  }

  // ---- snapshots ------------------------------------------------------------------------

  /**
   * Everything this lifecycle holds, as plain data (engine/durable snapshots). The alerts and
   * routings are the live objects, not copies: serialize them before the lifecycle changes again
   * (copying them cost most of a snapshot's capture at 100 000 patients). `routing: false` leaves
   * the patients' routing out, for an owner that restores it from its own records.
   */
  exportState(options: { routing?: boolean } = {}): LifecycleState {
    return {
      alerts: [...this.alerts.values()],
      open: [...this.open.entries()],
      ...(options.routing === false ? {} : { patients: [...this.patients.entries()] }),
      silences: this.silenceBook.exportAll(),
      log: this.log.exportState(),
      counters: { ...this.counters },
      policy: this.policy,
    };
  }

  /**
   * The alerts as they are now, for a snapshot to pack later in slices while the lifecycle goes
   * on: until releaseAlerts, an alert of `alerts` is copied (deep) into `before` ahead of its
   * first change, so `before.get(a) ?? a` is `a` as it was at this call. Copying all of them now
   * blocked the event loop ~0.2–1 s at 100 000 patients; few change while a snapshot is packed.
   */
  holdAlerts(): AlertHold {
    this.hold = { alerts: [...this.alerts.values()], before: new Map(), born: new WeakSet() };
    return this.hold;
  }

  /** Ends a hold (its snapshot is packed, or failed). */
  releaseAlerts(hold: AlertHold): void {
    if (this.hold === hold) this.hold = undefined;
  }

  /** Called before any change to an existing alert: keeps its state for a hold that has it (see holdAlerts). */
  private keep(a: Alert): void {
    const h = this.hold;
    if (h === undefined || h.born.has(a) || h.before.has(a)) return;
    h.before.set(a, clonePlain(a, false));
  }

  /**
   * Restores `exportState`'s data into this (empty) lifecycle, its alarm policy included (a state
   * that records none was written before the policy was journaled: BASELINE_POLICY). Takes
   * the objects over rather than copying them (a decoded snapshot has no other owner; copying
   * tens of thousands of alerts was a visible part of recovery).
   */
  importState(state: LifecycleState, routing: Iterable<[string, PatientRouting]> = state.patients ?? []): void {
    this.alerts.clear();
    this.resolvedByPatient.clear();
    for (const a of state.alerts) {
      a.episode ??= a.id; // alerts stored before episodes existed are episodes of their own
      this.alerts.set(a.id, a);
      if (a.state === "resolved") this.markResolved(a);
    }
    this.open.clear();
    this.openByPatient.clear();
    for (const [k, id] of state.open) this.markOpen(k, this.alerts.get(id)!);
    this.patients.clear();
    for (const [id, r] of routing) this.patients.set(id, r);
    this.silenceBook.importAll(state.silences);
    this.log.importState(state.log);
    this.counters = { ...state.counters };
    this.policy = state.policy ?? BASELINE_POLICY;
  }

  // ---- alarm policy ---------------------------------------------------------------------

  /** The alarm behaviour in force (a copy). */
  alarmPolicy(): AlarmPolicy {
    return structuredClone(this.policy);
  }

  /** Throws what setPolicy would refuse (`invalid_field`: not a complete, canonical policy); changes nothing. */
  checkPolicy(policy: AlarmPolicy): void {
    checkAlarmPolicy(policy);
  }

  /**
   * Puts a policy in force (the `alarm_policy` command); returns it and the one it replaces. It
   * governs what happens from now on, and nothing already decided is redone, so no event: an
   * alert keeps its latching, re-alert time and armed escalation timer until its next change
   * computes them afresh (its next event), and a silence keeps its per-priority ends. What is
   * read when used applies at once to open alerts too: the escalation delay and loops at their
   * next escalation step, the late-after limit at the next ingest, the episode wait at the next
   * alert raised. (Recomputing open alerts without an event would show clients alerts no event
   * carries.)
   */
  setPolicy(policy: AlarmPolicy): { policy: AlarmPolicy; previous: AlarmPolicy } {
    this.checkPolicy(policy);
    const previous = this.policy;
    this.policy = structuredClone(policy);
    return { policy: structuredClone(policy), previous };
  }

  // ---- configuration ------------------------------------------------------------------

  /** Sets a patient's programme and care chain; open alerts routed to a team no longer in the chain are routed afresh. */
  setPatient(patient: string, routing: PatientRouting, now: number): void {
    validateChain(routing.careTeams);
    checkAckTimeouts(routing.careTeams);
    if (routing.escalationDelayMs !== undefined) positive(routing.escalationDelayMs, "escalationDelayMs");
    this.patients.set(patient, { ...routing, careTeams: routing.careTeams.map((e) => ({ ...e })) });
    const chain = this.chainOf(patient);
    for (const a of this.openOf(patient)) {
      const r = a.routedTo;
      if (r === null ? chain.length > 0 : chain[r.entry]?.team !== r.team) {
        this.reroute(a, now);
        this.emitAlert("updated", a, now, { change: "rerouted" });
      }
    }
  }

  /** The patient's routing as set (a copy), or undefined. */
  patient(patient: string): PatientRouting | undefined {
    const p = this.patients.get(patient);
    return p === undefined ? undefined : structuredClone(p);
  }

  // ---- input from the engine ------------------------------------------------------------

  /** Applies engine transitions in order; `readings` (the same request's) add measurement ids to the why; `batch`: lateness and backfill. */
  apply(transitions: readonly AlertTransition[], now: number, readings: readonly EvaluatedReading[] = [], batch: BatchFacts = {}): void {
    this.expireSilences(now);
    if (transitions.length === 0) return;
    const wanted = new Set(transitions.map((t) => t.reading));
    const byIndex = new Map(readings.filter((r) => wanted.has(r.index)).map((r) => [r.index, r]));
    transitions.forEach((t, i) => {
      if (batch.skip?.[i] !== true) this.transition(t, now, byIndex, batch.late?.[i] === true, batch);
    });
  }

  /**
   * Applies an ingest result: its transitions (those describing the past marked late: late.ts),
   * then review events (not_triaged, reference_needed, unit_mismatch of known patients).
   */
  ingest(
    result: Pick<IngestResult, "readings" | "rejected" | "transitions">,
    now: number,
    source: Partial<ReviewSource> & Pick<BatchFacts, "oldestReading"> = {},
  ): void {
    const late = lateFlags(result.transitions, result.readings, now, this.policy.lateAfterMs);
    const skip = supersededMissing(result.transitions, (patient, rule) => this.options.rules(patient, rule)?.kind === "missing");
    this.apply(result.transitions, now, result.readings, { late, skip, oldestReading: source.oldestReading });
    this.presentLate(result.readings, now);
    const knownPatient = source.knownPatient ?? ((p: string) => this.patients.has(p));
    for (const item of reviewItems(result, { ...source, knownPatient })) {
      this.emit({ type: "review", at: now, patient: item.patient, reason: item.reason, metric: item.metric, count: item.count });
    }
  }

  /**
   * A measurement was withdrawn (FHIR `cancelled` / `entered-in-error`, DELETE
   * /v1/measurements/{id}). Each open alert of the patient whose why lists it has that entry
   * marked `withdrawn`. `taken`: per metric, the ids of the readings the engine took out of it
   * now (this one, and withdrawn ones that became the latest again). An alert is resolved
   * (`reading_withdrawn`) when the first reading that raised or moved it (the why's first one not
   * clearing it) was taken out now: the metric is back before the alert, every later reading
   * having been withdrawn and taken out before it; `takeBack` resets its rule (a rule left at
   * its level with no open alert would raise nothing at the next reading past the limit). This
   * re-checks every open alert of the patient, not only those listing this id, so the end state
   * does not depend on the order of withdrawals. A latched alert already cleared whose listed
   * readings (but those that cleared it) are all withdrawn resolves too: its rule is at no alert.
   * Any other alert listing the reading is kept open and announced `updated`, change
   * `reading_withdrawn`, for a clinician to review. A repeated withdrawal changes nothing.
   */
  withdrawReading(
    patient: string,
    measurementId: string,
    now: number,
    taken: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
    takeBack: (rule: string) => boolean = () => false,
  ): { resolved: string[]; marked: string[] } {
    const resolved: string[] = [];
    const marked: string[] = [];
    for (const a of this.openOf(patient)) {
      const hits = a.why.readings.filter((r) => r.measurementId === measurementId && r.withdrawn === undefined);
      this.keep(a);
      for (const r of hits) r.withdrawn = true;
      const first = a.why.readings.find((r) => r.transition !== "resolve");
      const takenOut = first?.measurementId !== undefined && taken.get(a.metric)?.has(first.measurementId) === true;
      if (hits.length === 0 && !takenOut) continue;
      const s = this.decide(a, "retire");
      // The readings that hold it: not those that cleared it. A latched alert already cleared has
      // its rule at no alert: nothing to take back.
      const onlyWithdrawn = a.why.readings.every((r) => r.withdrawn === true || r.transition === "resolve");
      const cleared = a.state === "cleared_awaiting_ack" && onlyWithdrawn;
      if (s.effect === "retire" && (cleared || (takenOut && takeBack(a.rule)))) {
        this.resolve(a, s, now, "reading_withdrawn");
        resolved.push(a.id);
      } else if (hits.length > 0) {
        a.updatedAt = now;
        this.emitAlert("updated", a, now, { change: "reading_withdrawn" });
        marked.push(a.id);
      }
    }
    return { resolved, marked };
  }

  /** Does an open alert of the patient list this measurement among its readings (withdrawn already or not)? */
  listsReading(patient: string, measurementId: string): boolean {
    return this.openOf(patient).some((a) => a.why.readings.some((r) => r.measurementId === measurementId));
  }

  /** Resolves the open alert of a rule that was removed from the patient's thresholds (the engine stops evaluating it). */
  retire(patient: string, rule: string, now: number): Alert | undefined {
    const a = this.openAlert(patient, rule);
    if (a === undefined) return undefined;
    const s = this.decide(a, "retire");
    if (s.effect !== "retire") return undefined;
    this.resolve(a, s, now, "rule_removed");
    return this.view(a);
  }

  /**
   * Advances the clock: expires silences (and their per-priority ends), escalates and re-alerts
   * what is due, forgets what fell out of retention. True when it forgot something: a change
   * without an event, which must be journaled all the same (replay must forget it at the same point).
   */
  tick(now: number): boolean {
    this.expireSilences(now);
    for (const id of [...this.open.values()]) {
      const a = this.alerts.get(id)!;
      if (a.silencedBy.length > 0) this.resilence(a, now);
      if (a.escalation.nextAt !== undefined && a.escalation.nextAt <= now) this.escalate(a, now);
      if (this.reAlertDue(a, now)) this.reAlert(a, now);
    }
    let forgot = false;
    for (const [id, a] of this.alerts) {
      if (a.state !== "resolved" || a.resolvedAt! >= now - this.resolvedMs) continue;
      this.alerts.delete(id);
      this.unmarkResolved(a);
      forgot = true;
    }
    forgot = this.silenceBook.prune(now - this.resolvedMs) || forgot;
    return this.log.prune(now) || forgot;
  }

  // ---- people -------------------------------------------------------------------------

  /** Acknowledges an alert (who, when, optional note): stops escalation, not the condition; a latched cleared alert resolves. */
  ack(id: string, by: string, note: string | undefined, now: number): Alert {
    this.checkAck(id, by, note);
    const a = this.alerts.get(id)!;
    const s = this.decide(a, "ack");
    this.keep(a);
    if (s.effect === "ack") enter(a, s);
    if (s.effect === "ack" || s.effect === "ack_resolve") {
      a.ack = note === undefined || note === "" ? { by, at: now } : { by, at: now, note };
      a.updatedAt = now;
      this.emitAlert("acknowledged", a, now);
      if (s.effect === "ack_resolve") this.resolve(a, s, now, "acknowledged");
    }
    return this.view(a);
  }

  /** Throws what ack would refuse (`invalid_field`, `not_found`, `alert_not_open`); changes nothing. */
  checkAck(id: string, by: string, note: string | undefined): void {
    if (typeof by !== "string" || by.trim() === "") throw new VarselError("invalid_field", "ack: by is required");
    if (note !== undefined && typeof note !== "string") throw new VarselError("invalid_field", "ack: note must be a string");
    const a = this.alerts.get(id);
    if (a === undefined) throw new VarselError("not_found", `alert ${id} not found`);
    if (this.decide(a, "ack").effect === "not_open") throw new VarselError("alert_not_open", `alert ${id} is resolved`, { alert: id });
  }

  /** Throws what addSilence would refuse (`invalid_silence`, `silence_too_long`); changes nothing. */
  checkSilence(input: SilenceInput, now: number): void {
    this.validSilence(input, now);
  }

  /** A new silence from `input` with its per-priority ends (alarm-policy.ts, silence floor). */
  private validSilence(input: SilenceInput, now: number): Omit<Silence, "id"> {
    const valid = SilenceBook.validate(input, now);
    checkSilenceLength(valid.until, now, this.policy.maxSilenceMs);
    return { ...valid, untilByPriority: silenceEnds(now, valid.until, this.policy.maxSilenceMs) };
  }

  /** Throws what removeSilence would refuse (`invalid_field`, `not_found`, `silence_ended`); changes nothing. */
  checkRemoveSilence(id: string, by: string, now: number): void {
    if (typeof by !== "string" || by.trim() === "") throw new VarselError("invalid_field", "removeSilence: by is required");
    this.silenceBook.checkRemovable(id, now);
  }

  /**
   * Creates a silence; matching open alerts it may hide are marked silenced (`silenced`): not an
   * unsilenceable one, nor one whose priority's bound has passed. Throws `invalid_silence`, `silence_too_long`.
   */
  addSilence(input: SilenceInput, now: number): Silence {
    const valid = this.validSilence(input, now);
    this.expireSilences(now);
    const silence = this.silenceBook.add(this.newId("silence"), valid);
    this.emitSilence("created", silence, now);
    for (const a of this.openAlerts()) if (matches(silence, a.patient, a.rule)) this.resilence(a, now);
    return silence;
  }

  /** Deletes an active silence; the alerts it silenced are live again unless another silence matches. Throws `not_found`, `silence_ended`. */
  removeSilence(id: string, by: string, now: number): Silence {
    this.checkRemoveSilence(id, by, now);
    this.expireSilences(now);
    const silence = this.silenceBook.remove(id, by, now);
    this.silenceEnded(silence, "removed", now);
    return silence;
  }

  /** Silences, oldest first: the active ones (of a patient: including rule-wide ones), or every retained one. */
  listSilences(options: { patient?: string; includeEnded?: boolean } = {}): Silence[] {
    return this.silenceBook.list(options);
  }

  // ---- queries --------------------------------------------------------------------------

  /** One alert (open or recently resolved); throws `not_found`. */
  get(id: string): Alert {
    const a = this.alerts.get(id);
    if (a === undefined) throw new VarselError("not_found", `alert ${id} not found`);
    return this.view(a);
  }

  /**
   * Alerts matching the query, oldest first (resolved ones while retained). `asOf`: as they were
   * at that event number (the last durable one), not with what later events, not yet stored, did.
   */
  list(query: AlertQuery = {}, asOf = this.log.lastSeq()): Alert[] {
    const f = scopeFilter(query);
    const states = asSet(query.state), priorities = asSet(query.priority), levels = asSet(query.level);
    const out: Alert[] = [];
    for (const a of this.asOf(asOf)) {
      if (query.patient !== undefined && a.patient !== query.patient) continue;
      if (states !== undefined && !states.has(a.state)) continue;
      if (priorities !== undefined && !priorities.has(a.priority)) continue;
      if (levels !== undefined && !levels.has(a.level)) continue;
      if (query.since !== undefined && a.updatedAt < query.since) continue;
      if (!admits(f, a.patient, this.teamsOfPatient(a.patient))) continue;
      out.push(this.view(a));
    }
    return out;
  }

  /** The open (not resolved) alerts a scope admits, as they were at event `asOf` (default: now). */
  snapshot(scope: Scope = {}, asOf = this.log.lastSeq()): Snapshot {
    const f = scopeFilter(scope);
    const alerts = [...this.asOf(asOf)].filter((a) => a.state !== "resolved" && admits(f, a.patient, this.teamsOfPatient(a.patient))).map((a) => this.view(a));
    return { seq: asOf, alerts };
  }

  /**
   * The alerts as they were at event `seq`: an alert changed by a later event is taken from its
   * newest event up to `seq` (events carry the whole alert), or left out when it did not exist
   * then. Memory runs ahead of the store by the events of one group commit; what a reader is shown
   * with an event number must be what a restart would show.
   */
  private *asOf(seq: number): Iterable<Alert> {
    const later = seq < this.log.lastSeq() ? this.log.since(seq) : undefined;
    const changed = new Set<string>();
    if (later?.status === "ok") for (const e of later.events) if ("alert" in e) changed.add(e.alert.id);
    // Changed since and forgotten already (past its patient's resolvedPerPatient within those
    // events): as it was then, in its place (oldest first). It may have been open then.
    const forgotten: Alert[] = [];
    for (const id of changed) {
      const then = this.alerts.has(id) ? undefined : this.log.alertAt(id, seq);
      if (then !== undefined) forgotten.push(then);
    }
    forgotten.sort((x, y) => x.openedAt - y.openedAt);
    let f = 0;
    for (const a of this.alerts.values()) {
      while (f < forgotten.length && forgotten[f].openedAt <= a.openedAt) yield forgotten[f++];
      if (!changed.has(a.id)) yield a;
      else {
        const then = this.log.alertAt(a.id, seq);
        if (then !== undefined) yield then;
      }
    }
    while (f < forgotten.length) yield forgotten[f++];
  }

  /** Exactly the events after `seq` that the scope admits, or `resync_required` when they are no longer all retained. */
  since(seq: number, scope: Scope = {}): SinceResult {
    return this.log.since(seq, scope);
  }

  /** The last event number issued (0 before any, or the restored `startSeq`). */
  lastSeq(): number {
    return this.log.lastSeq();
  }

  /** The events emitted since the last call, in order (a command's own events: see the file header). */
  takeEvents(): LifecycleEvent[] {
    const events = this.outbox;
    this.outbox = [];
    return events;
  }

  // ---- transitions ------------------------------------------------------------------------

  private transition(t: AlertTransition, now: number, readings: Map<number, EvaluatedReading>, late: boolean, batch: BatchFacts): void {
    const input: AlertInput = t.to === "none" ? "resolve" : t.kind;
    const existing = this.openAlert(t.patient, t.rule);
    if (existing !== undefined) this.keep(existing);
    const s = existing === undefined ? step("none", input, { latching: false, acked: false }) : this.decide(existing, input);
    const trigger = this.trigger(t, readings);
    const mark = late ? { late: true as const } : {};
    switch (s.effect) {
      case "raise":
        this.raise(t, s, trigger, now, late);
        return;
      case "level":
      case "reopen": {
        const a = existing!;
        const from = a.level;
        const level = t.to as AlertLevel;
        const reopened = s.effect === "reopen";
        const change = levelChange(RANK[from], RANK[level]);
        if (change === undefined && !reopened) return; // a repeated raise at the same level changes nothing
        if (late && reopened && a.late !== true) return; // a past episode of a rule whose alert awaits review: that alert covers it
        if (reopened && a.late === true) {
          // A new episode after one in the past (latched, awaiting review): the past one stays
          // the record of its own episode (its condition cleared then); the new one is its own
          // alert from its own start — an alarm now, or another record when it is past too (so
          // that it keeps its start if a later request finds it still holding: presentLate).
          this.resolve(a, this.decide(a, "retire"), now, "condition_cleared", { late: true });
          this.raise(t, step("none", input, { latching: false, acked: false }), trigger, now, late);
          return;
        }
        this.refresh(a, t, trigger, now);
        enter(a, s);
        delete a.clearedAt;
        a.level = level;
        const priority = a.priority;
        if (!late) {
          delete a.late; // the condition holds now: the alert is present
          a.priority = PRIORITY[level];
        } else a.priority = a.late === true ? "low" : lower(PRIORITY[level], a.priority); // the past never raises a priority
        if (RANK[level] > RANK[a.peakLevel]) a.peakLevel = level;
        a.latching = this.latches(a);
        if (change === "upgraded" && !late) delete a.ack; // worse news must be seen
        if (late ? a.priority !== priority : change !== undefined) this.reroute(a, now);
        a.silencedBy = this.silenceRefs(a, now); // the priority's bound and the unsilenceable level follow the level
        this.setInhibition(a);
        this.emitAlert("updated", a, now, { change: reopened ? "reopened" : change!, ...mark });
        this.reinhibit(a.patient, now, a.id);
        return;
      }
      case "clear": {
        const a = existing!;
        this.refresh(a, t, trigger, now);
        a.clearedAt = now;
        a.interpretation = t.interpretation;
        if (this.backfilled(a, batch)) {
          this.resolve(a, step(a.state, "resolve", { latching: false, acked: false }), now, "backfilled");
          return;
        }
        enter(a, s);
        this.emitAlert("updated", a, now, { change: "cleared", ...mark });
        this.reinhibit(a.patient, now);
        return;
      }
      case "resolve": {
        const a = existing!;
        this.refresh(a, t, trigger, now);
        a.clearedAt = now;
        a.interpretation = t.interpretation;
        this.resolve(a, s, now, this.backfilled(a, batch) ? "backfilled" : "condition_cleared", mark);
        return;
      }
      default:
        return;
    }
  }

  /**
   * Late alerts still firing whose metric has a present reading in the request (late.ts): no
   * transition cleared them at that reading, so the condition holds now and the alert becomes
   * present — its level's priority, routed and escalated afresh, an acknowledgement of the record
   * removed (`updated`, change `upgraded`). A gateway that sends its 24 h oldest-first in several
   * requests: the episode began in an early one (a late record) and lasts into the last one.
   */
  private presentLate(readings: readonly EvaluatedReading[], now: number): void {
    const cutoff = now - this.policy.lateAfterMs;
    const seen = new Set<string>();
    for (const r of readings) {
      if (!presentReading(r, cutoff) || seen.has(key(r.patient, r.metric))) continue;
      seen.add(key(r.patient, r.metric));
      for (const a of this.openOf(r.patient)) {
        if (a.late !== true || a.state !== "firing" || a.metric !== r.metric || a.ruleKind === "missing") continue;
        this.keep(a);
        delete a.late;
        delete a.ack;
        a.priority = PRIORITY[a.level];
        a.updatedAt = now;
        this.reroute(a, now);
        a.silencedBy = this.silenceRefs(a, now);
        this.setInhibition(a);
        this.emitAlert("updated", a, now, { change: "upgraded" });
        this.reinhibit(a.patient, now, a.id);
      }
    }
  }

  private raise(t: AlertTransition, s: Step, trigger: TriggerReading, now: number, late: boolean): void {
    const level = t.to as AlertLevel;
    const ctx = this.options.rules(t.patient, t.rule);
    const a: Alert = {
      id: this.newId("alert"),
      patient: t.patient,
      rule: t.rule,
      ruleKind: ctx?.kind ?? "unknown",
      metric: t.metric,
      programmes: ctx?.programmes ?? this.patientProgrammes(t.patient),
      state: s.to as Alert["state"],
      level,
      priority: late ? "low" : PRIORITY[level],
      interpretation: t.interpretation,
      direction: t.direction,
      peakLevel: level,
      latching: false,
      episode: "",
      openedAt: now,
      conditionSince: t.time,
      updatedAt: now,
      silencedBy: [],
      routedTo: null,
      escalation: { step: 0, done: false, notified: [] },
      teams: [],
      why: { thresholdVersion: ctx?.thresholdVersion ?? null, limits: ctx?.limits ?? null, readings: [trigger] },
    };
    if (t.missingParameters !== undefined) a.why.missingParameters = [...t.missingParameters];
    if (ctx?.unsilenceable !== undefined) a.unsilenceable = ctx.unsilenceable;
    if (late) a.late = true;
    a.episode = this.episodeFor(a.patient, now) ?? a.id;
    a.silencedBy = this.silenceRefs(a, now);
    a.latching = this.latches(a);
    this.hold?.born.add(a); // not in a hold's alerts: nothing to keep
    this.alerts.set(a.id, a);
    this.markOpen(key(a.patient, a.rule), a);
    this.reroute(a, now);
    this.setInhibition(a);
    this.emitAlert("raised", a, now, late ? { late: true } : {});
    this.reinhibit(a.patient, now, a.id);
  }

  /** Takes in what a transition says about an open alert (why, direction); not the level. */
  private refresh(a: Alert, t: AlertTransition, trigger: TriggerReading, now: number): void {
    this.keep(a);
    const ctx = this.options.rules(a.patient, a.rule);
    if (ctx !== undefined) {
      a.ruleKind = ctx.kind;
      if (ctx.programmes !== undefined) a.programmes = ctx.programmes;
      a.why.thresholdVersion = ctx.thresholdVersion ?? null;
      a.why.limits = ctx.limits ?? null;
      if (ctx.unsilenceable === undefined) delete a.unsilenceable;
      else a.unsilenceable = ctx.unsilenceable;
    }
    if (t.to !== "none") {
      a.direction = t.direction;
      a.interpretation = t.interpretation;
    }
    if (t.missingParameters !== undefined) a.why.missingParameters = [...t.missingParameters];
    a.why.readings = [...a.why.readings, trigger].slice(-this.keepReadings);
    a.updatedAt = now;
  }

  /** Ends an alert: `s` is the step that decided it (its `to` is the state the alert enters). */
  private resolve(a: Alert, s: Step, now: number, resolution: Alert["resolution"], extra: { late?: true } = {}): void {
    this.keep(a);
    enter(a, s);
    a.resolvedAt = now;
    a.resolution = resolution;
    a.updatedAt = now;
    delete a.inhibitedBy;
    this.open.delete(key(a.patient, a.rule));
    this.openByPatient.get(a.patient)?.delete(a.id);
    this.emitAlert("resolved", a, now, extra);
    this.reinhibit(a.patient, now);
    this.markResolved(a);
  }

  /** A missing-data alert whose gap the request's readings cover: its oldest reading of the metric is no later than the alert's start. */
  private backfilled(a: Alert, batch: BatchFacts): boolean {
    if (a.ruleKind !== "missing" || batch.oldestReading === undefined) return false;
    const oldest = batch.oldestReading(a.patient, a.metric);
    return oldest !== undefined && oldest <= a.conditionSince;
  }

  private trigger(t: AlertTransition, readings: Map<number, EvaluatedReading>): TriggerReading {
    const out: TriggerReading = { time: t.time, value: t.value, transition: t.kind };
    if (t.reading !== undefined) {
      out.index = t.reading;
      const r = readings.get(t.reading);
      if (r !== undefined) {
        out.readingValue = r.value;
        if (r.id !== undefined) out.measurementId = r.id;
      }
    }
    return out;
  }

  private decide(a: Alert, input: AlertInput) {
    return step(a.state, input, { latching: a.latching, acked: a.ack !== undefined });
  }

  private latches(a: Alert): boolean {
    const p = this.policy.latching;
    return (
      this.options.rules(a.patient, a.rule)?.latching === true ||
      (p.rules?.includes(a.rule) ?? false) ||
      (p.levels?.includes(a.peakLevel) ?? false) ||
      (a.ruleKind !== "unknown" && (p.kinds?.includes(a.ruleKind) ?? false))
    );
  }

  // ---- inhibition ---------------------------------------------------------------------------

  /** Recomputes inhibition of the patient's open alerts, announcing each change (except for `skip`, already announced). */
  private reinhibit(patient: string, now: number, skip?: string): void {
    const open = this.openOf(patient) as InhibitionAlert[];
    for (const a of open) {
      if (a.id === skip) continue;
      this.keep(a);
      const before = a.inhibitedBy;
      const next = this.setInhibition(a);
      if (sameInhibition(before, next)) continue;
      a.updatedAt = now;
      this.emitAlert(next === undefined ? "uninhibited" : "inhibited", a, now);
    }
  }

  /** Sets the alert's own inhibitor from the patient's open alerts; returns it. */
  private setInhibition(a: Alert): Alert["inhibitedBy"] {
    this.keep(a);
    // A late alert is a record of the past: it never hides a present one.
    const sources = this.openOf(a.patient).filter((b) => b.late !== true) as InhibitionAlert[];
    const next = a.state === "resolved" ? undefined : inhibitorOf(a as InhibitionAlert, sources);
    if (next === undefined) delete a.inhibitedBy;
    else a.inhibitedBy = next;
    return next;
  }

  // ---- silences -----------------------------------------------------------------------------

  private expireSilences(now: number): void {
    for (const s of this.silenceBook.expire(now)) this.silenceEnded(s, "expired", now);
  }

  private silenceEnded(silence: Silence, action: "removed" | "expired", now: number): void {
    this.emitSilence(action, silence, now);
    for (const a of this.openAlerts()) if (a.silencedBy.some((r) => r.id === silence.id)) this.resilence(a, now);
  }

  /**
   * The silences hiding the alert now: the active matching ones whose end for the alert's
   * priority is still ahead, none from the rule's unsilenceable level up. Each shows that end.
   */
  private silenceRefs(a: Alert, now: number): SilenceRef[] {
    if (a.unsilenceable !== undefined && RANK[a.level] >= RANK[a.unsilenceable]) return [];
    const out: SilenceRef[] = [];
    for (const s of this.silenceBook.matching(a.patient, a.rule)) {
      const until = s.untilByPriority?.[a.priority] ?? s.until;
      if (until > now) out.push({ ...refOf(s), until });
    }
    return out;
  }

  /** Re-judges which silences hide the alert and announces a change: silenced, unsilenced, or updated (silences). */
  private resilence(a: Alert, now: number): void {
    const before = a.silencedBy;
    const next = this.silenceRefs(a, now);
    if (next.length === before.length && next.every((r, i) => r.id === before[i].id && r.until === before[i].until)) return;
    this.keep(a);
    a.silencedBy = next;
    a.updatedAt = now;
    const added = next.find((r) => !before.some((b) => b.id === r.id));
    const ended = before.find((b) => !next.some((r) => r.id === b.id));
    if (added !== undefined) this.emitAlert("silenced", a, now, { silence: added });
    else if (next.length === 0) this.emitAlert("unsilenced", a, now, { silence: ended ?? before[0] });
    else this.emitAlert("updated", a, now, { change: "silences", silence: ended ?? before[0] });
  }

  // ---- re-alert and episodes ------------------------------------------------------------------

  /** An acknowledged alert whose condition still holds at its reAlertAt, and nothing hides it now (a silence defers it). */
  private reAlertDue(a: Alert, now: number): boolean {
    return a.reAlertAt !== undefined && a.reAlertAt <= now && a.state === "firing" && a.ack !== undefined && a.silencedBy.length === 0 && a.inhibitedBy === undefined;
  }

  /** Announces the alert again: the acknowledgement lapses (it must be acknowledged again) and escalation is live again. */
  private reAlert(a: Alert, now: number): void {
    const lapsedAck = a.ack!;
    this.keep(a);
    delete a.ack;
    a.reAlerts = (a.reAlerts ?? 0) + 1;
    a.updatedAt = now;
    this.emitAlert("updated", a, now, { change: "re_alerted", lapsedAck });
  }

  /** The open episode of the patient an alert raised now joins: one opened within the group wait (see alarm-policy.ts). */
  private episodeFor(patient: string, now: number): string | undefined {
    const wait = this.policy.episodeGroupWaitMs;
    if (wait === 0) return undefined;
    for (const b of this.openOf(patient)) if (b.episode === b.id && now - b.openedAt <= wait) return b.id;
    return undefined;
  }

  // ---- routing and escalation ---------------------------------------------------------------

  /** Routes an alert afresh by its current priority and the local time: step 0, timer re-armed. */
  private reroute(a: Alert, now: number): void {
    this.keep(a);
    const routed = route(this.chainOf(a.patient), this.programmesOf(a), a.priority, localTime(now, this.offset(now)));
    a.routedTo = routed;
    a.escalation = { step: 0, loop: 0, done: false, notified: routed === null ? [] : [routed.team] };
  }

  /** The programmes an alert is routed by: its rule's, else (alerts from before) the patient's. */
  private programmesOf(a: Alert): string[] {
    return a.programmes ?? this.patientProgrammes(a.patient);
  }

  private patientProgrammes(patient: string): string[] {
    const r = this.patients.get(patient);
    return r?.programmes ?? (r?.programme === undefined ? [] : [r.programme]);
  }

  private escalate(a: Alert, now: number): void {
    this.keep(a);
    const chain = this.chainOf(a.patient);
    const current = a.routedTo!;
    const next = nextInChain(chain, current.entry, a.escalation.notified, this.programmesOf(a), a.priority, localTime(now, this.offset(now)));
    const loop = a.escalation.loop ?? 0;
    a.escalation.step++;
    a.updatedAt = now;
    // The chain ended: start it again from the top while loops remain (PagerDuty "repeat").
    const restart = next === null && loop < this.policy.escalationLoops ? route(chain, this.programmesOf(a), a.priority, localTime(now, this.offset(now))) : null;
    const to = next ?? restart;
    if (to !== null) {
      if (restart !== null) {
        a.escalation.loop = loop + 1;
        a.escalation.notified = [];
      }
      a.routedTo = to;
      a.escalation.notified.push(to.team);
      a.escalation.nextAt = now + this.stepTimeout(a);
      this.emitAlert("escalated", a, now, { escalation: { step: a.escalation.step, team: to.team, role: to.role, final: false, teams: [to.team], loop: a.escalation.loop ?? 0 } });
    } else {
      a.escalation.done = true;
      delete a.escalation.nextAt;
      this.emitAlert("escalated", a, now, { escalation: { step: a.escalation.step, team: null, final: true, teams: teamsOf(chain), loop } });
    }
  }

  /** Arms or cancels the escalation and re-alert timers from the alert's state (see state-machine.ts, timing rules). */
  private reschedule(a: Alert, now: number): void {
    this.keep(a);
    const reAlertAfter = this.policy.reAlertAfterMs[a.priority];
    if (a.state === "firing" && a.ack !== undefined && reAlertAfter > 0) a.reAlertAt = a.ack.at + reAlertAfter;
    else delete a.reAlertAt;
    const live =
      a.state === "firing" &&
      a.priority === "high" &&
      a.ack === undefined &&
      a.silencedBy.length === 0 &&
      a.inhibitedBy === undefined &&
      !a.escalation.done &&
      a.routedTo !== null;
    if (!live) delete a.escalation.nextAt;
    else if (a.escalation.nextAt === undefined) a.escalation.nextAt = now + this.stepTimeout(a);
  }

  /** How long the team the alert is routed to has to acknowledge: its entry's ackTimeout, else the patient's or organisation's delay. */
  private stepTimeout(a: Alert): number {
    const entry = a.routedTo === null ? undefined : this.chainOf(a.patient)[a.routedTo.entry];
    return ackTimeoutOf(entry) ?? this.delayOf(a.patient);
  }

  private chainOf(patient: string): RoutingEntry[] {
    const own = this.patients.get(patient)?.careTeams ?? [];
    return own.length > 0 ? own : this.defaultChain;
  }

  private teamsOfPatient(patient: string): string[] {
    return teamsOf(this.chainOf(patient));
  }

  private delayOf(patient: string): number {
    return this.patients.get(patient)?.escalationDelayMs ?? this.policy.escalationDelayMs;
  }

  // ---- events: the one way out ------------------------------------------------------------------

  private emitAlert(type: AlertEvent["type"], a: Alert, now: number, extra: Pick<AlertEvent, "change" | "silence" | "escalation" | "lapsedAck" | "late"> = {}): void {
    this.reschedule(a, now);
    const event: Draft<AlertEvent> = { type, at: now, patient: a.patient, alert: this.view(a, true), ...extra };
    this.emit(event);
  }

  private emitSilence(action: "created" | "removed" | "expired", silence: Silence, now: number): void {
    const event: Draft<LifecycleEvent> = { type: "silence", action, at: now, silence: { ...silence } };
    if (silence.patient !== undefined) event.patient = silence.patient;
    this.emit(event);
  }

  private emit(draft: Draft<LifecycleEvent>): void {
    const teams = draft.patient === undefined ? [] : this.teamsOfPatient(draft.patient);
    const event = deepFreeze({ ...draft, seq: this.log.nextSeq(), teams } as LifecycleEvent);
    this.log.append(event);
    this.outbox.push(event);
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** A copy for callers and events (`frozen`: deeply frozen, as events are; emit then skips it). */
  private view(a: Alert, frozen = false): Alert {
    // An alert is plain data: copied by hand, structuredClone cost ~8 µs per event (bench:server).
    const copy = { ...clonePlain(a, frozen), teams: this.teamsOfPatient(a.patient) };
    return frozen ? Object.freeze(copy) : copy;
  }

  private openAlert(patient: string, rule: string): Alert | undefined {
    const id = this.open.get(key(patient, rule));
    return id === undefined ? undefined : this.alerts.get(id);
  }

  private openAlerts(): Alert[] {
    return [...this.open.values()].map((id) => this.alerts.get(id)!);
  }

  /** A patient's open alerts, from the per-patient index (inhibition runs on every transition). */
  private openOf(patient: string): Alert[] {
    return [...(this.openByPatient.get(patient) ?? [])].map((id) => this.alerts.get(id)!);
  }

  /**
   * Holds a resolved alert; past resolvedPerPatient of its patient, forgets the one resolved
   * first (ties by id: the same on replay and after a restore, whatever order they came in).
   */
  private markResolved(a: Alert): void {
    let ids = this.resolvedByPatient.get(a.patient);
    if (ids === undefined) this.resolvedByPatient.set(a.patient, (ids = new Set()));
    ids.add(a.id);
    while (ids.size > this.resolvedPerPatient) {
      let oldest: Alert | undefined;
      for (const id of ids) {
        const b = this.alerts.get(id)!;
        if (oldest === undefined || b.resolvedAt! < oldest.resolvedAt! || (b.resolvedAt === oldest.resolvedAt && b.id < oldest.id)) oldest = b;
      }
      ids.delete(oldest!.id);
      this.alerts.delete(oldest!.id);
    }
  }

  private unmarkResolved(a: Alert): void {
    const ids = this.resolvedByPatient.get(a.patient);
    ids?.delete(a.id);
    if (ids?.size === 0) this.resolvedByPatient.delete(a.patient);
  }

  private markOpen(k: string, a: Alert): void {
    this.open.set(k, a.id);
    let ids = this.openByPatient.get(a.patient);
    if (ids === undefined) this.openByPatient.set(a.patient, (ids = new Set()));
    ids.add(a.id);
  }
}

/** A snapshot's alerts held by reference (see AlertLifecycle.holdAlerts). */
export interface AlertHold {
  /** The alerts at the capture, in the order exportState lists them. */
  readonly alerts: readonly Alert[];
  /** Those changed since, as they were at the capture. */
  readonly before: Map<Alert, Alert>;
  /** Alerts raised since (not in `alerts`). */
  readonly born: WeakSet<Alert>;
}

type InhibitionAlert = Alert & { state: "firing" | "cleared_awaiting_ack" };

/** The alert takes the state its step decided: the table in state-machine.ts is the only truth. */
function enter(a: Alert, s: Step): void {
  if (s.to === "none") throw new Error(`state machine: a step into "none" cannot apply to alert ${a.id}`);
  a.state = s.to;
}

/** The lower of two priorities. */
function lower(a: Priority, b: Priority): Priority {
  return PRIORITY_RANK[a] <= PRIORITY_RANK[b] ? a : b;
}

function key(patient: string, rule: string): string {
  return `${patient}\u0000${rule}`;
}

function asSet<T>(v: T | T[] | undefined): Set<T> | undefined {
  return v === undefined ? undefined : new Set(Array.isArray(v) ? v : [v]);
}

function positive(ms: number, name: string): number {
  if (typeof ms !== "number" || !(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`${name} must be a positive number of ms`);
  return ms;
}

/** A deep copy of plain data (objects, arrays, primitives); nested objects frozen when asked. */
function clonePlain<T>(x: T, freeze: boolean): T {
  if (typeof x !== "object" || x === null) return x;
  let out: unknown;
  if (Array.isArray(x)) out = x.map((v) => clonePlain(v, freeze));
  else {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(x)) o[k] = clonePlain((x as Record<string, unknown>)[k], freeze);
    out = o;
  }
  return (freeze ? Object.freeze(out) : out) as T;
}

function deepFreeze<T>(x: T): T {
  if (typeof x === "object" && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}
