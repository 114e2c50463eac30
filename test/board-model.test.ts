// The board's model without a browser: colours (never green), the work queue's order, and that
// replayed events neither duplicate nor resurrect an alert.
import { describe, expect, it } from "vitest";
import { setLang } from "../board/i18n.js";
import { describeEvent, describeHistoryEvent } from "../board/detail.js";
import { BoardModel, colourOf, compareQueue, needsAckAgain, silenceApplies, type QueueEntry, type QueueItem } from "../board/model.js";
import { alertTitle, programmeNames, reAlertedText } from "../board/queue.js";
import { axisLabels, sparkScale } from "../board/sparkline.js";
import type { Alert, LifecycleEvent } from "../client/index.js";
import { alert as storedAlert } from "./support/stores.js";

let ids = 0;
/** A red high-priority SpO2 alert (test/support/stores.ts) with a fresh id, opened at 1 000. */
const alert = (over: Partial<Alert> = {}): Alert => storedAlert(`a-${++ids}`, "firing", 1_000, { openedAt: 1_000, ...over });

function raised(seq: number, a: Alert, type: "raised" | "acknowledged" | "resolved" = "raised"): LifecycleEvent {
  return { type, seq, at: seq, patient: a.patient, teams: a.teams, alert: a };
}

describe("board colours", () => {
  it("red and yellow by priority, blue for missing data whatever its priority", () => {
    expect(colourOf(alert({ priority: "high" }))).toBe("red");
    expect(colourOf(alert({ priority: "medium", level: "yellow" }))).toBe("yellow");
    expect(colourOf(alert({ priority: "low", level: "yellow" }))).toBe("yellow");
    expect(colourOf(alert({ ruleKind: "missing", priority: "high" }))).toBe("blue");
    expect(colourOf(alert({ ruleKind: "missing", priority: "medium" }))).toBe("blue");
  });

  it("readings awaiting review are grey and come after every alert", () => {
    const m = new BoardModel();
    m.applySnapshot([alert({ priority: "low", level: "yellow", openedAt: 9_000 })], 1);
    m.applyEvent({ type: "review", seq: 2, at: 500, patient: "p-2", teams: ["t"], reason: "not_triaged", metric: "crp", count: 2 });
    const queue = m.queue();
    expect(queue.map((i) => i.kind)).toEqual(["alert", "review"]);
    expect(queue[1]).toMatchObject({ review: { patient: "p-2", reason: "not_triaged", count: 2 } });
  });
});

describe("work queue order", () => {
  it("priority first, then the oldest first", () => {
    const items: QueueItem[] = [
      alert({ id: "medium-old", priority: "medium", openedAt: 1 }),
      alert({ id: "high-new", priority: "high", openedAt: 50 }),
      alert({ id: "high-old", priority: "high", openedAt: 10 }),
      alert({ id: "missing-high", ruleKind: "missing", priority: "high", openedAt: 20 }),
      alert({ id: "low", priority: "low", openedAt: 0 }),
    ].map((a) => ({ kind: "alert", alert: a }));
    expect(items.sort(compareQueue).map((i) => (i.kind === "alert" ? i.alert.id : ""))).toEqual(["high-old", "missing-high", "high-new", "medium-old", "low"]);
  });
});

describe("board model", () => {
  it("a snapshot replaces everything; events replace by id; resolved leaves the list", () => {
    const m = new BoardModel();
    const a = alert({ id: "a" });
    const b = alert({ id: "b" });
    m.applySnapshot([a, b], 5);
    expect([...m.alerts.keys()]).toEqual(["a", "b"]);
    m.applyEvent(raised(6, { ...a, ack: { by: "dr", at: 6 } }, "acknowledged"));
    expect(m.alerts.get("a")?.ack?.by).toBe("dr");
    m.applyEvent(raised(7, { ...b, state: "resolved" }, "resolved"));
    expect([...m.alerts.keys()]).toEqual(["a"]);
    m.applySnapshot([b], 9);
    expect([...m.alerts.keys()]).toEqual(["b"]);
  });

  it("an event at or before the last one applied (a replay) changes nothing: no duplicate, no resurrection", () => {
    const m = new BoardModel();
    const a = alert({ id: "a" });
    m.applySnapshot([], 0);
    expect(m.applyEvent(raised(1, a))).toBe(true);
    expect(m.applyEvent(raised(2, { ...a, state: "resolved" }, "resolved"))).toBe(true);
    const version = m.version;
    expect(m.applyEvent(raised(1, a))).toBe(false); // replayed after a reconnect
    expect(m.alerts.size).toBe(0);
    expect(m.version).toBe(version);
    expect(m.queue()).toEqual([]);
  });

  it("the client's updates: an ended subscription clears the board", () => {
    const m = new BoardModel();
    m.apply({ type: "snapshot", seq: 3, alerts: [alert()], resync: false });
    expect(m.alerts.size).toBe(1);
    m.apply({ type: "unsubscribed", reason: "the new token no longer covers the subscription" });
    expect(m.alerts.size).toBe(0);
  });
});

describe("an alert's title in the queue", () => {
  it("names a trend alert's slope or forecast beside the reading: a red LL next to a normal glucose says what was low", () => {
    setLang("en");
    const trend = alert({ ruleKind: "rate", metric: "cgm", interpretation: "LL", why: { thresholdVersion: null, limits: null, readings: [{ time: 0, value: 2.99, readingValue: 6.1, transition: "raise" }] } });
    expect(alertTitle(trend, true)).toMatch(/6\.1 · trend 2\.99 \(LL\)$/);
    const band = alert({ ruleKind: "band", interpretation: "LL", why: { thresholdVersion: null, limits: null, readings: [{ time: 0, value: 86, readingValue: 86, transition: "raise" }] } });
    expect(alertTitle(band, true)).not.toContain("trend");
  });
});

/** An entry as a line: an alert's id, or an episode's ids in brackets. */
const shape = (e: QueueEntry) => (e.kind === "episode" ? `[${e.items.map((i) => i.alert.id).join(" ")}]` : e.kind === "alert" ? e.alert.id : `review:${e.review.patient}`);

describe("late alerts: a record of the past, never a present alarm", () => {
  it.each([
    ["a red high band alert", { priority: "high", level: "red" }],
    ["a red alert whose priority is low", { priority: "low", level: "red" }],
    ["a missing-data alert", { ruleKind: "missing", priority: "low" }],
    ["a yellow alert", { priority: "low", level: "yellow" }],
  ] as [string, Partial<Alert>][])("%s with late: true is 'past', not red, yellow or blue", (_, over) => {
    expect(colourOf(alert({ ...over, late: true }))).toBe("past");
    expect(colourOf(alert(over))).not.toBe("past");
  });

  it("comes after every present alert in the queue (priority low), before readings awaiting review", () => {
    const m = new BoardModel();
    m.applySnapshot([alert({ id: "late", late: true, priority: "low", openedAt: 1 }), alert({ id: "yellow", priority: "medium", level: "yellow", openedAt: 50 }), alert({ id: "red", openedAt: 60 })], 1);
    m.applyEvent({ type: "review", seq: 2, at: 0, patient: "p-9", teams: ["t"], reason: "not_triaged", metric: "crp", count: 1 });
    expect(m.entries().map(shape)).toEqual(["red", "yellow", "late", "review:p-9"]);
  });

  it("is named as the past in both languages, and its events in the history say so", () => {
    const a = alert({ late: true, priority: "low" });
    const ev: LifecycleEvent = { type: "raised", seq: 1, at: 1, patient: a.patient, teams: a.teams, alert: a, late: true };
    setLang("en");
    expect(describeHistoryEvent(ev)).toBe("Raised · Late · past");
    setLang("da");
    expect(describeHistoryEvent(ev)).toBe("Rejst · Forsinket · fortid");
    expect(describeHistoryEvent({ ...ev, late: undefined })).toBe("Rejst");
  });
});

describe("programmes of an alert", () => {
  it("named in the chosen language; an unknown id as it is", () => {
    setLang("en");
    expect(programmeNames(["telekol", "niv", "research-x"])).toBe("TeleKOL, Home ventilation, research-x");
    setLang("da");
    expect(programmeNames(["niv"])).toBe("Hjemmerespirator");
  });
});

describe("episodes: alerts of one patient raised together are one group", () => {
  it("groups by patient and episode, at the place of the group's most urgent alert; lone alerts stay rows", () => {
    const m = new BoardModel();
    m.applySnapshot(
      [
        alert({ id: "x-yellow", patient: "p-x", episode: "x-red", priority: "medium", level: "yellow", openedAt: 5 }),
        alert({ id: "lone", patient: "p-y", episode: "lone", openedAt: 2 }),
        alert({ id: "x-red", patient: "p-x", episode: "x-red", openedAt: 4 }),
        alert({ id: "other-patient", patient: "p-z", episode: "x-red", openedAt: 1 }), // same id, another patient: not the episode
        alert({ id: "mid", patient: "p-w", episode: "mid", priority: "medium", level: "yellow", openedAt: 3 }),
      ],
      1,
    );
    expect(m.entries().map(shape)).toEqual(["other-patient", "lone", "[x-red x-yellow]", "mid"]);
    const group = m.entries()[2];
    expect(group).toMatchObject({ kind: "episode", patient: "p-x", episode: "x-red" });
  });

  it("an episode whose other alert resolved (or is filtered out) is a plain row again", () => {
    const m = new BoardModel();
    const a = alert({ id: "a", episode: "a" });
    const b = alert({ id: "b", episode: "a", openedAt: 2_000 });
    m.applySnapshot([a, b], 1);
    expect(m.entries().map(shape)).toEqual(["[a b]"]);
    expect(m.entries(m.queue().filter((i) => i.kind === "alert" && i.alert.id === "b")).map(shape)).toEqual(["b"]);
    m.applyEvent(raised(2, { ...a, state: "resolved" }, "resolved"));
    expect(m.entries().map(shape)).toEqual(["b"]);
  });
});

describe("re-alerted: acknowledged, announced again", () => {
  const lapsed = { by: "dr-jensen", at: Date.UTC(2026, 11, 5, 13, 3) };

  it("needs an acknowledgement again while it has re-alerts and no acknowledgement", () => {
    expect(needsAckAgain(alert({ reAlerts: 1 }))).toBe(true);
    expect(needsAckAgain(alert({ reAlerts: 1, ack: { by: "dr", at: 1 } }))).toBe(false);
    expect(needsAckAgain(alert({}))).toBe(false);
    expect(needsAckAgain(alert({ reAlerts: 2, state: "resolved" }))).toBe(false);
  });

  it("keeps the lapsed acknowledgement from the event until the alert is acknowledged again", () => {
    const m = new BoardModel();
    const a = alert({ id: "r" });
    m.applySnapshot([{ ...a, ack: lapsed }], 1);
    m.applyEvent({ type: "updated", change: "re_alerted", seq: 2, at: 2, patient: a.patient, teams: a.teams, alert: { ...a, reAlerts: 1 }, lapsedAck: lapsed });
    expect(m.lapsedAcks.get("r")).toEqual(lapsed);
    m.applyEvent(raised(3, { ...a, reAlerts: 1 })); // another change while still unacknowledged
    expect(m.lapsedAcks.get("r")).toEqual(lapsed);
    m.applyEvent(raised(4, { ...a, reAlerts: 1, ack: { by: "dr-b", at: 4 } }, "acknowledged"));
    expect(m.lapsedAcks.has("r")).toBe(false);
  });

  it("says so with the lapsed acknowledgement, in both languages", () => {
    setLang("en");
    expect(reAlertedText(lapsed)).toBe("Acknowledge again: still in condition after the acknowledgement (lapsed acknowledgement by dr-jensen, 5 Dec, 14:03)");
    expect(reAlertedText(undefined)).toBe("Acknowledge again: still in condition after the acknowledgement");
    setLang("da");
    expect(reAlertedText(lapsed)).toMatch(/^Kvittér igen: .*\(bortfaldet kvittering af dr-jensen, 5\. dec\.,? 14[.:]03\)$/);
    const a = alert({ reAlerts: 1 });
    setLang("en");
    expect(describeEvent({ type: "updated", change: "re_alerted", seq: 1, at: 1, patient: a.patient, teams: a.teams, alert: a, lapsedAck: lapsed })).toContain("acknowledge again (lapsed acknowledgement by dr-jensen");
  });
});

describe("unsilenceable: a snooze that would not hide the alert is not offered", () => {
  it.each([
    [undefined, "red", true],
    ["red", "red", false],
    ["red", "yellow", true],
    ["yellow", "yellow", false],
    ["yellow", "red", false],
  ] as const)("unsilenceable %s at level %s: a silence applies = %s", (unsilenceable, level, applies) => {
    expect(silenceApplies(alert({ unsilenceable, level }))).toBe(applies);
  });
});

describe("sparkline axes", () => {
  const HOUR = 3_600_000;
  const points = [
    { time: 10 * HOUR, value: 91, triage: "L" },
    { time: 20 * HOUR, value: 95, triage: "N" },
  ];

  it("the value axis spans readings and limits; the time axis starts at the first reading when the history is shorter", () => {
    expect(sparkScale(points, { redLow: 88, yellowLow: 92 }, 0, 72 * HOUR)).toEqual({ lo: 88, hi: 95, from: 10 * HOUR, to: 72 * HOUR });
    expect(sparkScale(points, null, 15 * HOUR, 72 * HOUR)).toMatchObject({ lo: 91, hi: 95, from: 15 * HOUR });
    expect(sparkScale([points[0]], null, 0, HOUR)).toMatchObject({ lo: 90, hi: 92 }); // one value: a range around it
  });

  it("labels the axes in the chosen language", () => {
    const scale = { lo: 88.5, hi: 95, from: Date.UTC(2026, 11, 2, 13, 0), to: Date.UTC(2026, 11, 5, 13, 0) };
    setLang("en");
    expect(axisLabels(scale, "%")).toEqual({ top: "95 %", bottom: "88.5 %", from: "2 Dec, 14:00", to: "5 Dec, 14:00" });
    setLang("da");
    expect(axisLabels(scale, "")).toMatchObject({ top: "95", bottom: "88,5" });
  });
});

describe("review items across a reload", () => {
  it("restored items merge with those that arrived since: counts added, the older start kept; a damaged entry is skipped", () => {
    const m = new BoardModel();
    m.applyEvent({ type: "review", seq: 1, at: 5_000, patient: "p-2", teams: ["t"], reason: "not_triaged", metric: "crp", count: 1 });
    const before = m.reviewsVersion;
    m.restoreReviews([
      { key: "p-2|crp|not_triaged", patient: "p-2", metric: "crp", reason: "not_triaged", count: 2, at: 3_000, since: 1_000 },
      { key: "p-3|weight|not_triaged", patient: "p-3", metric: "weight", reason: "not_triaged", count: 1, at: 2_000, since: 2_000 },
      null as never,
    ]);
    expect(m.reviewsVersion).toBeGreaterThan(before);
    expect(m.reviews.get("p-2|crp|not_triaged")).toMatchObject({ count: 3, since: 1_000, at: 5_000 });
    expect(m.queue().map((i) => (i.kind === "review" ? i.review.patient : ""))).toEqual(["p-2", "p-3"]);
    const v = m.reviewsVersion;
    m.dismissReview("p-3|weight|not_triaged");
    expect(m.reviewsVersion).toBe(v + 1);
  });
});
