// npx tsx bench/snapshot-stall.ts [N=100000 R=1000000 REPEATS=6] — how long a snapshot holds the
// event loop at N patients (issue 16, "No stall"). Builds N patients and R readings in memory,
// then captures snapshots one after the other (the first of the process included), every other
// one after marking the registry changed (its columns are rebuilt then, see
// PatientRegistry.exportState). Prints, per snapshot: the capture's synchronous part, the longest
// block (a slice preparing the registry's columns, the capture, or one packing slice), the work in
// all, and the longest gap a 1 ms timer saw from the preparation to the last slice. Wall-clock figures on a shared machine: run it several times.
import { performance } from "node:perf_hooks";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import { drive } from "./durability/drive.js";
import { DAY_START, gatewayBatches, generateDay, patientCommands, sessionAfterReadings } from "./durability/workload.js";
import { Rng } from "./lib/workload.js";

const N = Number(process.env.N ?? 100_000);
const R = Number(process.env.R ?? 1_000_000);
const REPEATS = Number(process.env.REPEATS ?? 6);
const day = generateDay({ patients: N, seed: 20250115, cgmShare: 0.01, hfShare: 0.55, outOfBand: 0.02 });
const clock = { now: DAY_START - 3_600_000 };
const d = DurablePipeline.inMemory({ now: () => clock.now });
await drive(d, clock, patientCommands(day).map((command) => ({ now: DAY_START - 3_600_000, command, readings: 0 })), 128);
await drive(d, clock, gatewayBatches(day, 0, sessionAfterReadings(day, 0, R), new Rng(1), { tick: DAY_START }), 32);
// Private parts, on purpose: capture() without a store, and the registry's change counter.
const engine = d as unknown as { prepareCapture(): Promise<boolean>; capture(): { state: Promise<Uint8Array>; cost: { maxBlockMs: number; totalMs: number } } };
const registry = (d.pipeline.engine.patients as unknown as { version: number });
const rows: Record<string, number>[] = [];
for (let i = 0; i < REPEATS; i++) {
  const changed = i % 2 === 1;
  if (changed) registry.version++;
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t = performance.now();
  // As DurablePipeline.flush does: what the capture would build at length is built in slices first.
  if (!(await engine.prepareCapture())) throw new Error("the registry changed while its columns were prepared");
  const prepare_ms = performance.now() - t;
  const t1 = performance.now();
  const c = engine.capture();
  const sync = performance.now() - t1;
  const bytes = await c.state;
  clearInterval(timer);
  const row = { snapshot: i, registry_changed: Number(changed), prepare_ms, sync_ms: sync, max_block_ms: c.cost.maxBlockMs, work_ms: c.cost.totalMs, wall_ms: performance.now() - t, packing_timer_gap_ms: gap, mb: bytes.length / 1e6 };
  rows.push(row);
  console.error(Object.entries(row).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`).join(", "));
}
console.log(JSON.stringify({ patients: N, readings: R, snapshots: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 10) / 10]))) }));
