// Child process of `npm run bench:durability`: recovers the engine from a store, as a restart
// after a crash does, and prints one JSON line with the times.
//
//   --mode open    DurablePipeline.open({store}) as the server calls it (the headline figure)
//   --mode split   the same steps as DurablePipeline.recover (engine/durable/durable-pipeline.ts),
//                  one by one through the same public functions, each timed: read the snapshot
//                  row, unpack the state, restore the kernel, import each part of the state,
//                  read + decode the journal tail, replay it
//
// The store is closed without DurablePipeline.close() (which would write a final snapshot),
// so the store is left exactly as it was and every run sees the same snapshot and tail.
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";
import { DurablePipeline, SNAPSHOT_FORMAT } from "../../engine/durable/durable-pipeline.js";
import { applyCommand, checkCommand } from "../../engine/durable/apply.js";
import { VarselError } from "../../engine/errors.js";
import { WasmKernel } from "../../engine/kernel/wasm-kernel.js";
import { IdempotencyWindow } from "../../engine/idempotency.js";
import { Pipeline, type PipelineState } from "../../engine/pipeline.js";
import { asBuffer } from "../../engine/store/codec.js";
import { openStore } from "../../engine/store/open-store.js";

const { values: opt } = parseArgs({
  options: {
    store: { type: "string" },
    mode: { type: "string", default: "open" },
  },
  strict: true,
});

const out: Record<string, unknown> = { mode: opt.mode };
const s = (t0: number): number => (performance.now() - t0) / 1000;

async function main(): Promise<void> {
  const url = opt.store;
  if (url === undefined) throw new Error("--store is required");
  let t = performance.now();
  const store = await openStore(url);
  out.open_store_s = s(t);
  try {
    if (opt.mode === "open") {
      t = performance.now();
      const d = await DurablePipeline.open({ store });
      out.recover_s = s(t);
      out.pos = d.position();
      out.patients = (d.pipeline as unknown as { patients: Map<string, unknown> }).patients.size;
    } else {
      await split(store);
    }
  } catch (err) {
    out.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    out.error_at = err instanceof Error ? (err.stack ?? "").split("\n").slice(1, 3).map((l) => l.trim()).join(" < ") : undefined;
  } finally {
    await store.close();
  }
  const m = process.memoryUsage();
  out.rss_mb = Math.round(m.rss / 1e6);
  out.heap_mb = Math.round(m.heapUsed / 1e6);
  process.stdout.write(JSON.stringify(out) + "\n");
}

/** DurablePipeline.recover, step by step (same calls, same order). */
async function split(store: Awaited<ReturnType<typeof openStore>>): Promise<void> {
  const packr = new Packr({ useRecords: true, mapsAsObjects: true, encodeUndefinedAsNil: false }); // as durable-pipeline.ts
  let t = performance.now();
  const snap = await store.latestSnapshot();
  out.load_snapshot_s = s(t);
  if (snap === undefined) throw new Error("no snapshot in the store");
  out.snapshot_pos = snap.pos;
  out.kernel_bytes = snap.kernel.byteLength;
  out.state_bytes = snap.state.byteLength;

  t = performance.now();
  const stored = packr.unpack(asBuffer(snap.state)) as { format: number; state: PipelineState };
  out.unpack_state_s = s(t);
  if (stored.format !== SNAPSHOT_FORMAT) throw new Error(`snapshot layout ${stored.format}, not ${SNAPSHOT_FORMAT}`);
  const state = stored.state;

  t = performance.now();
  WasmKernel.load(); // compiles the module (cached per path), so the next line times the restore alone
  out.wasm_compile_s = s(t);
  t = performance.now();
  const kernel = WasmKernel.restore(snap.kernel);
  out.kernel_restore_s = s(t);

  // Pipeline.fromState (engine/pipeline.ts), one part at a time
  const p = new Pipeline({ evaluator: kernel });
  const priv = p as unknown as { patients: Map<string, unknown>; seen: IdempotencyWindow };
  t = performance.now();
  for (const record of state.patients) priv.patients.set(record.id, record);
  out.import_patients_s = s(t);
  t = performance.now();
  priv.seen.importState(state.seen);
  out.import_seen_s = s(t);
  out.seen_keys = priv.seen.size;
  t = performance.now();
  p.thresholds.importState(state.thresholds);
  out.import_thresholds_s = s(t);
  t = performance.now();
  p.engine.patients.importState(
    state.registry,
    state.registry.patients.map((id) => {
      const r = p.patient(id)!;
      return { programme: r.programme, rules: p.thresholds.patientOverrides(id), references: r.references, paused: r.paused };
    }),
  );
  out.import_registry_s = s(t);
  out.slots = state.registry.slotPatient.byteLength / 4;
  out.rules = state.registry.rulePatient.byteLength / 4;
  t = performance.now();
  p.lifecycle.importState(
    state.lifecycle,
    state.patients.map((r) => [r.id, { programme: r.programme, careTeams: r.careTeams }]),
  );
  out.import_lifecycle_s = s(t);
  out.alerts = state.lifecycle.alerts.length;
  out.open_alerts = state.lifecycle.open.length;
  out.retained_events = state.lifecycle.log.events.length;

  // the journal tail, in pages of 5 000 as durable-pipeline.ts reads it
  let pos = snap.pos;
  let read = 0, replay = 0, entries = 0, readings = 0, refused = 0;
  for (;;) {
    t = performance.now();
    const page = await store.readJournal(pos, 5_000);
    read += s(t);
    t = performance.now();
    for (const entry of page) {
      try {
        checkCommand(p, entry);
        applyCommand(p, entry);
        p.lifecycle.takeEvents();
      } catch (err) {
        if (!(err instanceof VarselError)) throw err;
        refused++;
      }
      if (entry.command.kind === "ingest") readings += entry.command.batch.items;
      pos = entry.pos;
    }
    replay += s(t);
    entries += page.length;
    if (page.length < 5_000) break;
  }
  out.read_journal_s = read;
  out.replay_s = replay;
  out.replayed_commands = entries;
  out.replayed_readings = readings;
  out.replay_refused = refused;
  out.pos = pos;

  // after the timings: how the state's bytes divide (each part packed on its own; long arrays
  // estimated from their first 20 000 elements, so this stays cheap)
  const approx = (v: unknown): number => {
    if (Array.isArray(v) && v.length > 20_000) return Math.round((packr.pack(v.slice(0, 20_000)).byteLength * v.length) / 20_000);
    if (v instanceof Uint8Array) return v.byteLength;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      return Object.values(v).reduce((a: number, x) => a + approx(x), 0) + 16;
    }
    return packr.pack(v).byteLength;
  };
  const parts: Record<string, number> = {};
  for (const [k, v] of Object.entries(state)) parts[k] = approx(v);
  const reg = state.registry;
  parts["registry.patients"] = approx(reg.patients);
  parts["registry.definitions"] = approx(reg.definitions);
  parts["registry.slots"] = reg.slotPatient.byteLength + reg.slotMetric.byteLength;
  parts["registry.rules"] = reg.rulePatient.byteLength * 4 + reg.ruleAnchor.byteLength + reg.ruleFlags.byteLength;
  out.state_parts = parts;
}

main().catch((err: unknown) => {
  process.stderr.write(`recover failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
