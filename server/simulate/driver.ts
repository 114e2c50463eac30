// Runs a simulation against a Target: registers the cohort, then replays the patients' uploads
// on a simulated clock. Readings must never lie in the server's future, so an accelerated run
// simulates a window that ENDS when the run ends: it starts at (start + D/X) − D and the
// simulated clock, X times faster than the real one, reaches the real clock exactly when the
// run is over (speed 1: real time from now on). With `follow`, it then keeps going in real time.
// Patients are split over a few lanes; each lane sends its patients' due uploads in order, one
// batch at a time, so a patient's readings reach the server in upload order.
import { uploads } from "./cohort.js";
import { sleep } from "./http-target.js";
import type { IngestResult, SimPatient, Target, Upload, WireReading, Window } from "./types.js";

export interface SimulationOptions {
  durationMs: number;
  /** Simulated time runs this many times faster than real time (≥ 1). */
  speed: number;
  /** After the window, keep simulating in real time until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Concurrent batches (each lane owns a fixed share of the patients). Default 4. */
  lanes?: number;
  /** Readings per request, at most; default 5000 (the server takes 10 000). */
  batchMax?: number;
  /** The real clock; default Date.now. */
  now?: () => number;
  /** Told after registration and after every batch. */
  onProgress?: (p: ProgressReport) => void;
}

export interface ProgressReport {
  phase: "registering" | "replaying" | "following";
  registered: number;
  window: Window;
  /** Every upload due up to this simulated time has been answered. */
  doneUntil: number;
  totals: Totals;
}

export interface Totals extends IngestResult {
  sent: number;
  batches: number;
}

export interface SimulationReport {
  patients: SimPatient[];
  window: Window;
  /** Every upload due up to this simulated time was sent: the window's end, earlier when stopped, later when following. */
  reached: number;
  startedAt: number;
  endedAt: number;
  totals: Totals;
  /** Measured in the window but still buffered in a gateway when the run ended. */
  stillBuffered: number;
}

/** Simulates `patients` (from `cohort`) into `target`. */
export async function runSimulation(patients: SimPatient[], o: SimulationOptions, target: Target): Promise<SimulationReport> {
  const now = o.now ?? Date.now;
  const totals: Totals = { sent: 0, batches: 0, accepted: 0, duplicates: 0, rejected: {}, retried: {}, transitions: 0 };
  const report = (phase: ProgressReport["phase"], registered: number, window: Window, doneUntil: number) =>
    o.onProgress?.({ phase, registered, window, doneUntil, totals });

  let registered = 0;
  await inParallel(patients, 8, async (p) => {
    await target.register(p);
    registered++;
    report("registering", registered, { from: 0, to: 0 }, 0);
  });

  const startedAt = now();
  const to = startedAt + o.durationMs / o.speed;
  const window: Window = { from: to - o.durationMs, to };
  const simNow = () => Math.min(now(), window.from + (now() - startedAt) * o.speed);
  const end = o.follow ? Number.POSITIVE_INFINITY : window.to;
  const streams = patients.map((p) => peekable(uploads(p, window)));
  const laneCount = Math.max(1, Math.min(o.lanes ?? 4, patients.length));
  const doneUntil = new Array<number>(laneCount).fill(window.from);
  const progress = () => report(o.follow && Math.min(...doneUntil) >= window.to ? "following" : "replaying", registered, window, Math.min(...doneUntil));

  await Promise.all(
    doneUntil.map(async (_, lane) => {
      const mine = streams.filter((_, i) => i % laneCount === lane);
      const ids = patients.filter((_, i) => i % laneCount === lane).map((p) => p.id);
      while (!o.signal?.aborted) {
        const due = Math.min(simNow(), end);
        const batch = take(mine, ids, due, o.batchMax ?? 5000);
        if (batch.length > 0) {
          add(totals, await target.ingest(batch), batch.length);
          if (batch.length === (o.batchMax ?? 5000)) continue; // more are due
        }
        doneUntil[lane] = due;
        progress();
        if (due >= end) return;
        // Sleep until the next upload is due (in real time), within 10 ms … 1 s.
        const next = Math.min(...mine.map((s) => s.peek()?.uploadAt ?? Number.POSITIVE_INFINITY), end);
        await sleep(Math.min(1000, Math.max(10, (next - simNow()) / o.speed)));
      }
    }),
  );

  const reached = Math.min(...doneUntil);
  return { patients, window, reached, startedAt, endedAt: now(), totals, stillBuffered: countBuffered(streams, Math.min(reached, window.to)) };
}

export interface Peekable {
  peek(): Upload | undefined;
  shift(): Upload | undefined;
}

export function peekable(it: Iterator<Upload>): Peekable {
  let head: IteratorResult<Upload> | undefined;
  const peek = () => (head ??= it.next()).done ? undefined : (head as IteratorYieldResult<Upload>).value;
  return {
    peek,
    shift: () => {
      const v = peek();
      head = undefined;
      return v;
    },
  };
}

/** The due uploads of these patients as readings, at most `max`, each patient's in order. */
export function take(streams: Peekable[], ids: string[], due: number, max: number): WireReading[] {
  const out: WireReading[] = [];
  for (let i = 0; i < streams.length && out.length < max; i++) {
    for (let u = streams[i].peek(); u !== undefined && u.uploadAt <= due && out.length < max; u = streams[i].peek()) {
      streams[i].shift();
      out.push({ patient: ids[i], metric: u.metric, value: u.value, time: u.time, id: `${ids[i]}/${u.metric}/${u.time}` });
    }
  }
  return out;
}

/** Uploads measured in the window whose gateway had not sent them by its end. */
export function countBuffered(streams: Peekable[], to: number): number {
  let n = 0;
  for (const s of streams) for (let u = s.shift(); u !== undefined && u.time <= to; u = s.shift()) n++;
  return n;
}

export function add(t: Totals, r: IngestResult, sent: number): void {
  t.sent += sent;
  t.batches++;
  t.accepted += r.accepted;
  t.duplicates += r.duplicates;
  t.transitions += r.transitions;
  for (const [code, n] of Object.entries(r.rejected)) t.rejected[code] = (t.rejected[code] ?? 0) + n;
  for (const [code, n] of Object.entries(r.retried)) t.retried[code] = (t.retried[code] ?? 0) + n;
}

export async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}
