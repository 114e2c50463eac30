// A snapshot is captured at the end of its group, but its long immutable lists (patient records,
// retained events) are packed afterwards in slices of the event loop while later groups are
// applied (engine/durable/snapshot-packer.ts). What it stores must still be exactly the state at
// its position, and restoring it plus the journal after it must give the live state.
import { afterEach, describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { DurablePipeline, SNAPSHOT_FORMAT } from "../engine/durable/durable-pipeline.js";
import type { Command } from "../engine/durable/commands.js";
import { unpackSnapshotState } from "../engine/durable/snapshot-packer.js";
import type { Store, StoredSnapshot } from "../engine/store/store.js";
import { STORES } from "./support/durable-stores.js";
import { readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const MIN = 60_000;
const PATIENTS = 12;
const reader = () => new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false });
const packr = reader();
const [, factory] = STORES[0]; // sqlite: the default store

/** Patients, then rounds of readings (some out of band: alerts open and clear) and ticks. */
function script(): Command[] {
  const careTeams = [{ team: "team-a", role: "hospital" as const }];
  const out: Command[] = [];
  for (let p = 0; p < PATIENTS; p++) out.push({ kind: "patient", id: `p${p}`, input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
  for (let i = 0; i < 30; i++) {
    const items = Array.from({ length: PATIENTS }, (_, p) => ({ patient: `p${p}`, metric: "pulse", value: [70, 130, 90, 45][(i + p) % 4], time: T0 + i * MIN, id: `p${p}-${i}` }));
    out.push(readingsCommand(items, T0 + i * MIN));
    if (i % 5 === 4) out.push({ kind: "tick" });
    // a patient changed now and then: its record is replaced after a capture, not edited
    if (i % 6 === 3) out.push({ kind: "patient", id: `p${i % PATIENTS}`, input: { programme: "telehjerte", careTeams, paused: i % 12 === 3, references: {} } });
  }
  return out;
}

/** A deep, independent copy of the state (decoded from its bytes). */
function copyOf(value: unknown): unknown {
  return packr.unpack(packr.pack(value));
}

describe("snapshots packed in slices", () => {
  const opened: DurablePipeline[] = [];
  afterEach(async () => {
    for (const d of opened.splice(0)) await d.close().catch(() => undefined);
    await factory.cleanup();
  });

  it("store exactly the state at their position while later groups are applied, and restore to the live state", async () => {
    const store: Store = await factory.create();
    const atCapture = new Map<number, unknown>();
    const saved: (StoredSnapshot & { laterApplied: boolean })[] = [];
    let d: DurablePipeline | undefined;
    const save = store.saveSnapshot.bind(store);
    store.saveSnapshot = async (snap) => {
      // copies: the next snapshot reuses the memory (Buffer's slice() would be a view)
      saved.push({ pos: snap.pos, seq: snap.seq, at: snap.at, kernel: new Uint8Array(snap.kernel), state: new Uint8Array(snap.state), laterApplied: d!.position() > snap.pos });
      await save(snap);
    };
    const clock = { t: T0, now: () => clock.t };
    // Packing yields after every record: later groups are applied between its slices.
    d = await DurablePipeline.open({ store, now: clock.now, snapshotEveryCommands: 4, snapshotEveryMs: 1e12, snapshotMaxShare: 1e9, snapshotSliceMs: 0, snapshotChunkRecords: 1 });
    opened.push(d);
    const p = d.pipeline;
    const exportState = p.exportState.bind(p);
    p.exportState = (options) => {
      const x = exportState(options);
      atCapture.set(d!.position(), copyOf(x.state)); // the state at the end of the capture's group
      return x;
    };
    // Commands keep arriving: a few per event-loop turn, none awaited before the next is sent.
    const answers: Promise<unknown>[] = [];
    for (const [i, command] of script().entries()) {
      clock.t += MIN;
      answers.push(d.execute(command).catch(() => undefined));
      if (i % 2 === 1) await new Promise((r) => setImmediate(r));
      // now and then a pause, for a save to finish and the next snapshot to be due
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 40));
    }
    // Readings alone at the end, with pauses: a capture put off while the registry kept changing
    // (its columns are built in slices before it, see DurablePipeline.prepareCapture) is taken.
    for (let i = 0; i < 4; i++) {
      clock.t += MIN;
      const items = Array.from({ length: PATIENTS }, (_, p) => ({ patient: `p${p}`, metric: "pulse", value: 80, time: clock.t, id: `tail-${p}-${i}` }));
      answers.push(d.execute(readingsCommand(items, clock.t)).catch(() => undefined));
      await new Promise((r) => setTimeout(r, 40));
    }
    // Until some snapshot was packed while a later group was applied (on a loaded machine the
    // pauses above may let every save finish first): readings every turn, a snapshot due every 4.
    for (let i = 0; i < 200 && !saved.some((s) => s.laterApplied); i++) {
      clock.t += MIN;
      const items = Array.from({ length: PATIENTS }, (_, p) => ({ patient: `p${p}`, metric: "pulse", value: 80, time: clock.t, id: `more-${p}-${i}` }));
      answers.push(d.execute(readingsCommand(items, clock.t)).catch(() => undefined));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(answers);
    const live = { position: d.position(), state: copyOf(exportState().state), kernel: Buffer.from(exportState().kernel) };

    expect(saved.length).toBeGreaterThan(1);
    expect(saved.some((s) => s.laterApplied)).toBe(true);
    for (const s of saved) {
      const stored = unpackSnapshotState(reader(), Buffer.from(s.state));
      expect(stored.format).toBe(SNAPSHOT_FORMAT);
      expect(stored.state).toEqual(atCapture.get(s.pos));
    }

    // As after kill -9: the newest snapshot plus the journal after it is the live state.
    opened.splice(0);
    const second = await DurablePipeline.open({ store: await factory.reopen(), now: clock.now, snapshotEveryMs: 1e12 });
    opened.push(second);
    expect(second.position()).toBe(live.position);
    const restored = second.pipeline.exportState();
    expect(Buffer.from(restored.kernel).equals(live.kernel)).toBe(true);
    expect(copyOf(restored.state)).toEqual(live.state);
  });
});
