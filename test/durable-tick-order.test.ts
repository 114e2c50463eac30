// Review finding: the clock's tick is in the shared "" lane, a busy gateway's readings in its own
// deep lane: a tick executed AFTER a reading was received is applied BEFORE it, so a patient
// whose reading arrived in time gets a missing-data alert (blue/yellow, clinicians notified)
// that the reading clears a moment later. Before the fair queue a reading was applied on arrival.
import { afterEach, describe, expect, it } from "vitest";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";
import { STORES } from "./support/durable-stores.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const careTeams = [{ team: "t", role: "hospital" as const }];
const [name, sqlite] = STORES[0];

describe(`a tick and a busy gateway on ${name}`, () => {
  afterEach(() => sqlite.cleanup());

  it("a reading received before the tick is applied before it (no missing-data alert for a patient whose reading came in time)", async () => {
    const store = await sqlite.create();
    let now = T0 - 20 * 60_000;
    const d = await DurablePipeline.open({ store, now: () => now, snapshotEveryMs: 1e12 });
    try {
      for (const id of ["x", "y"]) await d.execute({ kind: "patient", id, input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      await d.execute({ kind: "patient_thresholds", id: "x", rules: [{ id: "stale", kind: "missing", metric: "pulse", stale: { yellow: "15m" } }] as never, author: "admin", reason: "test" });
      now = T0 - 14 * 60_000;
      await d.execute(readingsCommand([{ patient: "x", metric: "pulse", value: 70, time: now - 1000, id: "x-0" }], now), { sender: "gw" });
      const events: LifecycleEvent[] = [];
      d.onEvent((e) => events.push(e));

      // At T0 the gateway sends three large batches for y, then x's next reading (in time: x is stale only at T0 + 1 min).
      now = T0;
      // (3 000 each: the three and x's reading stay within one sender's share of the backlog, 10 000.)
      const sent = [0, 1, 2].map((k) =>
        d.execute(readingsCommand(Array.from({ length: 3000 }, (_, i) => ({ patient: "y", metric: "pulse", value: 70, time: T0 - 3_600_000 + k * 3000 + i, id: `y-${k}-${i}` })), now), { sender: "gw" }),
      );
      sent.push(d.execute(readingsCommand([{ patient: "x", metric: "pulse", value: 70, time: T0 - 1000, id: "x-1" }], now), { sender: "gw" }));
      // Two minutes later by the clock (x would be stale now without the reading it sent), the tick.
      now = T0 + 2 * 60_000;
      sent.push(d.execute({ kind: "tick" }));
      await Promise.all(sent);
      const raisedForX = events.filter((e) => e.type === "raised" && e.patient === "x");
      expect(raisedForX.map((e) => e.type)).toEqual([]);
    } finally {
      await d.close();
    }
  });
});
