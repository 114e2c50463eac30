// The patient → partition mapping every cluster node computes alike (server/cluster/partitions.ts),
// and how a command is routed onto partitions. No server needed.
import { describe, expect, it } from "vitest";
import { VarselError } from "../engine/errors.js";
import type { Command } from "../engine/durable/commands.js";
import { fnv1a32, parseQualifiedId, partitionOf, qualifyId, route, splitBatch } from "../server/cluster/partitions.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);

describe("patient → partition", () => {
  // FNV-1a 32-bit reference values (the published test vectors for "", "a", "foobar"; UTF-8 for æøå).
  it.each([
    ["", 0x811c9dc5, 5],
    ["a", 0xe40c292c, 12],
    ["foobar", 0xbf9cf968, 8],
    ["p1", 0xa04ed67a, 10],
    ["patient-0001", 0x88939626, 6],
    ["æøå", 0x3cf34353, 3],
  ])("fnv1a32(%j) = %i, partition %i of 16", (text, hash, partition) => {
    expect(fnv1a32(text)).toBe(hash);
    expect(partitionOf(text, 16)).toBe(partition);
  });

  it("spreads many patients over the partitions, each within a quarter of the mean", () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`patient-${i}`, 16)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(250);
  });

  it("one partition holds everyone", () => {
    expect(partitionOf("anyone", 1)).toBe(0);
  });
});

describe("routing commands", () => {
  const n = 16;
  const careTeams = [{ team: "team-a", role: "hospital" as const }];

  it("splits an ingest batch by patient, keeping item indexes, counts and patient-less rejections out", () => {
    const patients = ["p1", "patient-0001", "foobar", "a"];
    const items: unknown[] = patients.map((patient, i) => ({ patient, metric: "pulse", value: 70 + i, time: T0, id: `m${i}` }));
    items.push({ metric: "pulse", value: 70, time: T0 }); // no patient: refused at ingest, published nowhere
    items.push({ patient: "p1", metric: "spo2", value: 95, unit: "mmHg", time: T0 }); // unit_mismatch of p1: goes with p1
    const command = readingsCommand(items, T0);
    const routed = route(command, n);
    expect(routed.map((r) => r.partition)).toEqual([6, 8, 10, 12]);
    for (const r of routed) {
      const c = r.command as Extract<Command, { kind: "ingest" }>;
      expect(c.batch.items).toBe(items.length);
      for (const reading of c.batch.readings) expect(partitionOf(reading.patient, n)).toBe(r.partition);
    }
    const p1 = routed.find((r) => r.partition === 10)!.command as Extract<Command, { kind: "ingest" }>;
    expect(p1.batch.readings.map((r) => r.index)).toEqual([0]);
    expect(p1.batch.rejected.map((r) => [r.index, r.code])).toEqual([[5, "unit_mismatch"]]);
    const all = routed.flatMap((r) => (r.command as Extract<Command, { kind: "ingest" }>).batch.rejected.map((x) => x.index));
    expect(all).not.toContain(4);
  });

  it("an empty split for a batch of nothing", () => {
    expect(splitBatch({ items: 0, readings: [], rejected: [], invalidations: [] }, n)).toEqual([]);
  });

  it.each<[string, Command, number[]]>([
    ["a patient's registration to its partition", { kind: "patient", id: "p1", input: { programmes: ["telekol"], careTeams, paused: false, references: {} } }, [10]],
    ["a patient's thresholds to its partition", { kind: "patient_thresholds", id: "foobar", rules: [], author: "dr", reason: "r" }, [8]],
    ["a patient's silence to its partition", { kind: "silence_add", patient: "a", until: T0 + 1, reason: "r", author: "n" }, [12]],
    ["an organisation-wide silence everywhere", { kind: "silence_add", rule: "spo2-band", until: T0 + 1, reason: "r", author: "n" }, [...Array(n).keys()]],
    ["a programme's thresholds everywhere", { kind: "programme_thresholds", id: "telekol", rules: [], author: "dr", reason: "r" }, [...Array(n).keys()]],
  ])("%s", (_what, command, partitions) => {
    expect(route(command, n).map((r) => r.partition)).toEqual(partitions);
  });

  it("acks and silence removals carry their partition in the id, and lose it on the way in", () => {
    expect(qualifyId("a-3", 7)).toBe("a-3@7");
    expect(route({ kind: "ack", alert: "a-3@7", by: "n" }, n)).toEqual([{ partition: 7, command: { kind: "ack", alert: "a-3", by: "n" } }]);
    expect(route({ kind: "silence_remove", id: "s-1@15", by: "n" }, n)).toEqual([{ partition: 15, command: { kind: "silence_remove", id: "s-1", by: "n" } }]);
  });

  it.each(["a-3", "a-3@16", "a-3@-1", "a-3@07", "a-3@1.5", "a-3@"])("refuses the id %j as not_found", (id) => {
    expect(() => parseQualifiedId(id, n)).toThrow(VarselError);
    expect(() => route({ kind: "ack", alert: id, by: "n" }, n)).toThrow(expect.objectContaining({ code: "not_found" }));
  });

  it("does not route ticks (each engine ticks its own partitions)", () => {
    expect(() => route({ kind: "tick" }, n)).toThrow(/engine/);
  });
});
