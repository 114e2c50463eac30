// Review findings on the fair queue's lanes (engine/durable/fair-queue.ts via DurablePipeline):
// every command without a sender shared ONE lane (""), so under a flood of several gateways
// clinicians' acks and silences queued behind each other at one per round (the 24th waited a
// dozen groups of readings), and an admin's ingests (its own lane) overtook its other commands.
// The server now gives every command its token's `sub` as sender (routes, socket ack), as here.
import { afterEach, describe, expect, it } from "vitest";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { recordingPipeline, STORES } from "./support/durable-stores.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const careTeams = [{ team: "t", role: "hospital" as const }];
const [sqliteName, sqlite] = STORES[0];

describe(`fair lanes on ${sqliteName}`, () => {
  afterEach(() => sqlite.cleanup());

  it("clinicians' commands queued beside a flood of several gateways are all in the next group", async () => {
    const { d, groups } = await recordingPipeline(await sqlite.create(), () => T0);
    try {
      await d.execute({ kind: "patient", id: "p", input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      groups.length = 0;
      const gateways = Array.from({ length: 8 }, (_, g) => `gw-${g}`);
      const flood = gateways.flatMap((gw, g) =>
        Array.from({ length: 3 }, (_, k) =>
          d.execute(readingsCommand(Array.from({ length: 1000 }, (_, i) => ({ patient: "p", metric: "pulse", value: 70, time: T0 - 3_600_000 + (g * 3 + k) * 1000 + i, id: `${gw}-${k}-${i}` })), T0), { sender: gw }),
        ),
      );
      // 24 clinicians each silence a rule once (a small command with no ingest sender).
      const silences = Array.from({ length: 24 }, (_, n) =>
        d.execute({ kind: "silence_add", patient: "p", rule: `rule-${n}`, until: T0 + 3_600_000, reason: "checked by phone", author: `nurse-${n}` }, { sender: `nurse-${n}` }),
      );
      await Promise.all([...flood, ...silences]);
      const groupOf = (n: number) => groups.findIndex((g) => g.entries.some((e) => e.command.kind === "silence_add" && e.command.author === `nurse-${n}`));
      const where = Array.from({ length: 24 }, (_, n) => groupOf(n));
      // Every clinician's command in the first group (or at worst the second), not one per round.
      expect(Math.max(...where), `groups of the silences: ${where.join(",")} of ${groups.length}`).toBeLessThanOrEqual(1);
    } finally {
      await d.close();
    }
  });
});

describe(`one principal's commands across lanes on ${sqliteName}`, () => {
  afterEach(() => sqlite.cleanup());

  // Sent ingest, ingest, silence: one sender, one lane, applied in that order.
  it("are applied in the order one admin sent them", async () => {
    const store = await sqlite.create();
    const d = await DurablePipeline.open({ store, now: () => T0, snapshotEveryMs: 1e12 });
    try {
      await d.execute({ kind: "patient", id: "p", input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
      const before = d.position();
      const ingest = (k: number) => d.execute(readingsCommand([{ patient: "p", metric: "pulse", value: 70, time: T0 - 60_000 + k, id: `i${k}` }], T0), { sender: "admin" });
      await Promise.all([ingest(1), ingest(2), d.execute({ kind: "silence_add", patient: "p", rule: "pulse-band", until: T0 + 3_600_000, reason: "r", author: "admin" }, { sender: "admin" })]);
      const kinds = (await store.readJournal(before, 10)).map((e) => (e.command.kind === "ingest" ? e.command.batch.readings[0].id : e.command.kind));
      expect(kinds).toEqual(["i1", "i2", "silence_add"]);
    } finally {
      await d.close();
    }
  });
});
