// A cohort's stored readings over a period, in time order, as column chunks for a backtest:
// read from the store (SQLite or PostgreSQL alike, through Store.readings) window by window, every
// patient of the cohort per window, so that memory holds one window and never the history.
// Windows adapt to the cohort's density: about TARGET readings each.
import type { MetricKey } from "../metrics.js";
import { metricByKey } from "../metrics.js";
import type { ReadingQuery, StoredReading } from "../store/store.js";
import { emptyChunk, type ReadingChunk } from "./backtest.js";

const MIN_MS = 60_000;
const DAY_MS = 86_400_000;
/** Readings a window should hold (a chunk of the replay). */
const TARGET = 65_536;
/** One patient's readings per query: a window that fills it is halved and read again. */
const PER_QUERY = 50_000;
/** The event loop gets a turn at least this often (a SQLite read runs on it). */
const SLICE_MS = 10;

export interface StoredSource {
  readings(query: ReadingQuery): Promise<StoredReading[]>;
}

/**
 * Chunks of the readings of `patients` (cohort order: the chunk's patient is the index) with
 * from ≤ time < to. `stopped` is asked between queries (a cancelled job stops reading).
 */
export async function* storedChunks(store: StoredSource, patients: readonly string[], from: number, to: number, stopped: () => boolean = () => false): AsyncGenerator<ReadingChunk> {
  let width = DAY_MS;
  let start = from;
  let sliceStart = performance.now();
  while (start < to && !stopped()) {
    const end = Math.min(to, start + width);
    const window: { p: number; rows: StoredReading[] }[] = [];
    let count = 0;
    let full = false;
    for (let p = 0; p < patients.length && !stopped(); p++) {
      // Inclusive bounds: a reading at `end` belongs to the next window.
      const rows = await store.readings({ patient: patients[p], from: start, to: end, limit: PER_QUERY });
      if (rows.length === PER_QUERY && end - start > MIN_MS) {
        full = true;
        break;
      }
      if (rows.length > 0) {
        window.push({ p, rows });
        count += rows.length;
      }
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    if (stopped()) return;
    if (full) {
      width = Math.max(MIN_MS, Math.floor((end - start) / 2));
      continue;
    }
    const chunk = columns(window, count, end);
    if (chunk.n > 0) yield chunk;
    start = end;
    if (count < TARGET / 4) width = Math.min(31 * DAY_MS, width * 2);
    else if (count > TARGET) width = Math.max(MIN_MS, Math.floor(width / 2));
  }
}

/** The window's readings (each patient's newest first) as columns in time order; ties keep each patient's receipt order. */
function columns(window: { p: number; rows: StoredReading[] }[], count: number, end: number): ReadingChunk {
  const patient = new Uint32Array(count);
  const metric = new Uint8Array(count);
  const time = new Float64Array(count);
  const value = new Float64Array(count);
  let k = 0;
  for (const { p, rows } of window) {
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i];
      if (r.time >= end) continue;
      patient[k] = p;
      metric[k] = indexOf(r.metric);
      time[k] = r.time;
      value[k] = r.value;
      k++;
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => time[a] - time[b] || a - b);
  const chunk = emptyChunk(k);
  for (let i = 0; i < k; i++) {
    const j = order[i];
    chunk.patient[i] = patient[j];
    chunk.metric[i] = metric[j];
    chunk.time[i] = time[j];
    chunk.value[i] = value[j];
  }
  return chunk;
}

function indexOf(key: MetricKey): number {
  return metricByKey(key)!.index;
}
