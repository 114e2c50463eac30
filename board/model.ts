// What the board shows, as plain data: the open alerts of the subscription (replaced by id from
// each event, so a replayed event never duplicates one), the readings waiting for review, and
// the work queue's order and colours. No DOM here, so it is tested on its own.
import type { Alert, LifecycleEvent, ReviewEvent, Update } from "../client/index.js";

/**
 * Red and yellow by priority, blue for missing data, grey for not triaged, "past" for a late
 * record (an episode already over: never the look of a present alarm). Never green.
 */
export type Colour = "red" | "yellow" | "blue" | "grey" | "past";

/** An acknowledgement (who, when, note). */
export type Ack = NonNullable<Alert["ack"]>;

/** Readings of one patient and metric that need a clinician's eye without being an alert. */
export interface ReviewItem {
  key: string;
  patient: string;
  metric: string;
  reason: ReviewEvent["reason"];
  count: number;
  /** Newest event time. */
  at: number;
  /** Oldest event time: the item's age. */
  since: number;
}

export type QueueItem = { kind: "alert"; alert: Alert } | { kind: "review"; review: ReviewItem };

/** Open alerts of one patient that share an episode (raised together): shown as one group, each keeping its own actions. */
export interface EpisodeGroup {
  kind: "episode";
  key: string;
  patient: string;
  episode: string;
  /** In queue order; at least two. */
  items: { kind: "alert"; alert: Alert }[];
}

/** A line of the work queue: a single item, or an episode's group. */
export type QueueEntry = QueueItem | EpisodeGroup;

const PRIORITY_RANK: Record<Alert["priority"], number> = { high: 0, medium: 1, low: 2 };
/** Grey items come after every alert: they are not alarms. */
const REVIEW_RANK = 3;

export function colourOf(alert: Alert): Colour {
  if (alert.late) return "past"; // before every other colour: a record of the past is never red
  if (alert.ruleKind === "missing") return "blue";
  return alert.priority === "high" ? "red" : "yellow";
}

const LEVEL_RANK: Record<Alert["level"], number> = { yellow: 1, red: 2 };

/** Whether a silence would hide the alert now: not from the rule's `unsilenceable` level up (CGM urgent low). */
export function silenceApplies(alert: Alert): boolean {
  return alert.unsilenceable === undefined || LEVEL_RANK[alert.level] < LEVEL_RANK[alert.unsilenceable];
}

/** Acknowledged once, announced again because the condition still held: it needs an acknowledgement again. */
export function needsAckAgain(alert: Alert): boolean {
  return alert.state !== "resolved" && alert.ack === undefined && (alert.reAlerts ?? 0) > 0;
}

export function queueKey(item: QueueItem): string {
  return item.kind === "alert" ? item.alert.id : `review:${item.review.key}`;
}

/** Priority first (high before medium before low, reviews last), then age (the oldest first). */
export function compareQueue(a: QueueItem, b: QueueItem): number {
  const rank = (i: QueueItem) => (i.kind === "alert" ? PRIORITY_RANK[i.alert.priority] : REVIEW_RANK);
  const since = (i: QueueItem) => (i.kind === "alert" ? i.alert.openedAt : i.review.since);
  return rank(a) - rank(b) || since(a) - since(b) || queueKey(a).localeCompare(queueKey(b));
}

export class BoardModel {
  readonly alerts = new Map<string, Alert>();
  readonly reviews = new Map<string, ReviewItem>();
  /** The acknowledgement a re-alert took away, by alert id (only events carry it), until the alert is acknowledged again or leaves. */
  readonly lapsedAcks = new Map<string, Ack>();
  /** The last event number applied (from the snapshot, then each event). */
  seq = 0;
  /** Bumped on every change, so views re-render only when something changed. */
  version = 0;

  /** Applies what the client delivers (once each, in order). */
  apply(update: Update): void {
    if (update.type === "snapshot") this.applySnapshot(update.alerts, update.seq);
    else if (update.type === "event") this.applyEvent(update.event);
    else this.applySnapshot([], this.seq); // the subscription ended: nothing is current any more
  }

  /** Replaces every open alert (a snapshot, or a resync): alerts it lacks are gone. */
  applySnapshot(alerts: readonly Alert[], seq: number): void {
    this.alerts.clear();
    for (const a of alerts) if (a.state !== "resolved") this.alerts.set(a.id, a);
    for (const id of this.lapsedAcks.keys()) {
      const a = this.alerts.get(id);
      if (a === undefined || !needsAckAgain(a)) this.lapsedAcks.delete(id);
    }
    this.seq = seq;
    this.version++;
  }

  /** Applies one event; an event at or before `seq` (a replay of one already seen) changes nothing. */
  applyEvent(ev: LifecycleEvent): boolean {
    if (ev.seq <= this.seq) return false;
    this.seq = ev.seq;
    if (ev.type === "review") this.addReview(ev);
    else if (ev.type !== "silence") {
      if (ev.alert.state === "resolved") this.alerts.delete(ev.alert.id);
      else this.alerts.set(ev.alert.id, ev.alert);
      if (ev.lapsedAck !== undefined) this.lapsedAcks.set(ev.alert.id, ev.lapsedAck);
      else if (!needsAckAgain(ev.alert)) this.lapsedAcks.delete(ev.alert.id);
    }
    this.version++;
    return true;
  }

  dismissReview(key: string): void {
    if (this.reviews.delete(key)) {
      this.version++;
      this.reviewsVersion++;
    }
  }

  /** Bumped when the review items changed: the board saves them then (they come only from events, never from a snapshot). */
  reviewsVersion = 0;

  /** Review items saved before a reload, merged with any that arrived since (counts added, the older `since` kept). */
  restoreReviews(saved: readonly ReviewItem[]): void {
    for (const r of saved) {
      if (typeof r?.key !== "string" || typeof r.count !== "number") continue; // a damaged save restores nothing of it
      const held = this.reviews.get(r.key);
      this.reviews.set(r.key, held ? { ...held, count: held.count + r.count, since: Math.min(held.since, r.since), at: Math.max(held.at, r.at) } : r);
    }
    this.version++;
    this.reviewsVersion++;
  }

  /** The work queue in order. */
  queue(): QueueItem[] {
    const items: QueueItem[] = [];
    for (const alert of this.alerts.values()) items.push({ kind: "alert", alert });
    for (const review of this.reviews.values()) items.push({ kind: "review", review });
    return items.sort(compareQueue);
  }

  /**
   * The work queue with an episode's alerts together: the group takes the place of its most
   * urgent member; an episode with one open (or shown) alert is a plain row.
   */
  entries(items: readonly QueueItem[] = this.queue()): QueueEntry[] {
    const members = new Map<string, { kind: "alert"; alert: Alert }[]>();
    for (const i of items) {
      if (i.kind !== "alert") continue;
      const key = episodeKey(i.alert);
      members.set(key, [...(members.get(key) ?? []), i]);
    }
    const out: QueueEntry[] = [];
    const placed = new Set<string>();
    for (const i of items) {
      const group = i.kind === "alert" ? members.get(episodeKey(i.alert))! : [];
      if (i.kind !== "alert" || group.length < 2) out.push(i);
      else if (!placed.has(episodeKey(i.alert))) {
        placed.add(episodeKey(i.alert));
        out.push({ kind: "episode", key: `episode:${episodeKey(i.alert)}`, patient: i.alert.patient, episode: i.alert.episode, items: group });
      }
    }
    return out;
  }

  /** Patients with at least one open alert or review item. */
  patientCount(): number {
    const patients = new Set<string>();
    for (const a of this.alerts.values()) patients.add(a.patient);
    for (const r of this.reviews.values()) patients.add(r.patient);
    return patients.size;
  }

  private addReview(ev: ReviewEvent): void {
    const key = `${ev.patient}|${ev.metric}|${ev.reason}`;
    const held = this.reviews.get(key);
    this.reviewsVersion++;
    this.reviews.set(key, {
      key,
      patient: ev.patient,
      metric: ev.metric,
      reason: ev.reason,
      count: (held?.count ?? 0) + ev.count,
      at: ev.at,
      since: held?.since ?? ev.at,
    });
  }
}

/** Episode ids are per patient. */
function episodeKey(a: Alert): string {
  return `${a.patient}|${a.episode ?? a.id}`;
}
