// The client's cursor rules (client/ordering.ts, docs/websocket.md "Staying in sync"), frame by
// frame: the sequences a server can send around resumes, superseded subscribes and resyncs
// that the end-to-end tests cannot time on purpose.
import { describe, expect, it } from "vitest";
import { EventOrder, type Update } from "../client/ordering.js";
import type { LifecycleEvent, ServerMessage } from "../client/protocol.js";

const event = (seq: number): ServerMessage => ({ type: "event", event: { type: "review", seq, at: 0, patient: "p1", teams: ["t"], reason: "not_triaged", metric: "pulse", count: 1 } as LifecycleEvent });
const delivered = (order: EventOrder, frames: ServerMessage[]): (number | string)[] =>
  frames.flatMap((f) => {
    const u: Update | undefined = order.accept(f);
    return u === undefined ? [] : [u.type === "event" ? u.event.seq : u.type === "snapshot" ? `snapshot ${u.seq}${u.resync ? " resync" : ""}` : u.type];
  });

describe("EventOrder", () => {
  it("a resume: the replayed events once; heartbeats advance the cursor only once the replay is done", () => {
    const order = new EventOrder();
    order.subscribe("s1", {});
    expect(delivered(order, [{ type: "snapshot", id: "s1", seq: 4, alerts: [] }, event(5)])).toEqual(["snapshot 4", 5]);

    order.lost();
    expect(order.subscribe("s2", {})).toMatchObject({ resumeFrom: 5 });
    expect(delivered(order, [{ type: "subscribed", id: "s2", seq: 10, resumedFrom: 5, replayed: 2 }, { type: "heartbeat", seq: 12, at: 0 }])).toEqual([]);
    expect(order.cursor).toBe(5); // nothing replayed yet: 12 would skip 6 and 8
    expect(delivered(order, [event(6), event(6), event(8)])).toEqual([6, 8]);
    expect(order.cursor).toBe(10); // the replay is complete up to the answer's seq
    expect(delivered(order, [{ type: "pong", id: "p", seq: 12 }, event(11), event(13)])).toEqual([13]);
  });

  it("a superseded subscribe: its answer and the events before the new answer are the old scope's", () => {
    const order = new EventOrder();
    order.subscribe("s1", { teams: ["a"] });
    order.reset();
    order.subscribe("s2", { teams: ["b"] });
    expect(delivered(order, [{ type: "snapshot", id: "s1", seq: 3, alerts: [] }, event(4), { type: "snapshot", id: "s2", seq: 4, alerts: [] }, event(4), event(5)])).toEqual([
      "snapshot 4",
      5,
    ]);
  });

  it("resync_required answered to a resume: the snapshot with the same id replaces everything", () => {
    const order = new EventOrder();
    order.subscribe("s1", {});
    delivered(order, [{ type: "snapshot", id: "s1", seq: 50, alerts: [] }]);
    order.lost();
    order.subscribe("s2", {});
    const frames: ServerMessage[] = [
      { type: "error", id: "s2", code: "resync_required", message: "gone" },
      { type: "snapshot", id: "s2", seq: 7, alerts: [] },
      event(8),
    ];
    expect(delivered(order, frames)).toEqual(["snapshot 7 resync", 8]); // 8 < the old cursor 50, and still new
  });

  it("resync_required sent by the server on its own: live events until the snapshot are dropped", () => {
    const order = new EventOrder();
    order.subscribe("s1", {});
    const frames: ServerMessage[] = [
      { type: "snapshot", id: "s1", seq: 20, alerts: [] },
      event(21),
      { type: "error", code: "resync_required", message: "rebuilt" },
      event(22),
      { type: "snapshot", seq: 19, alerts: [] },
      event(20),
    ];
    expect(delivered(order, frames)).toEqual(["snapshot 20", 21, "snapshot 19 resync", 20]);
  });

  it("without a subscription nothing is delivered and pongs move no cursor", () => {
    const order = new EventOrder();
    expect(delivered(order, [{ type: "pong", id: "p", seq: 9 }, event(10), { type: "error", code: "resync_required", message: "x" }])).toEqual([]);
    expect(order.cursor).toBe(null);
    order.subscribe("s1", {});
    expect(delivered(order, [{ type: "unsubscribed", reason: "the new token no longer covers the subscription" }, event(1)])).toEqual(["unsubscribed"]);
  });
});
