// The board's model without a browser: colours (never green), the work queue's order, and that
// replayed events neither duplicate nor resurrect an alert.
import { describe, expect, it } from "vitest";
import { setLang } from "../board/i18n.js";
import { BoardModel, colourOf, compareQueue, type QueueItem } from "../board/model.js";
import { alertTitle } from "../board/queue.js";
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
