// `varsel simulate --accelerate`: against a server on a virtual clock (`serve --clock virtual`),
// the simulator moves the server's clock instead of waiting. The window starts at the server's
// now; before each upload the clock is advanced to the upload's instant (the server ticks on the
// way: missing data, deadlines, escalation), then everything due by then is sent. So every
// reading reaches the server at its upload time on the server's clock, and a day of a cohort
// takes seconds instead of a day (or a replay of the past at --speed).
import { add, countBuffered, inParallel, peekable, take, type ProgressReport, type SimulationReport, type Totals } from "./driver.js";
import { uploads } from "./cohort.js";
import type { SimPatient, Target, Window } from "./types.js";

export interface AcceleratedOptions {
  durationMs: number;
  signal?: AbortSignal;
  /** Readings per request, at most; default 5000. */
  batchMax?: number;
  onProgress?: (p: ProgressReport) => void;
}

/** The server's virtual clock over HTTP (GET and POST /v1/clock, an admin token). */
export class ServerClock {
  private readonly base: string;

  constructor(url: string, private readonly token: string) {
    this.base = url.replace(/\/+$/, "");
  }

  /** The server's now; fails unless its clock is virtual. */
  async now(): Promise<number> {
    const body = (await this.call("GET")) as { clock: string; now: number };
    if (body.clock !== "virtual") throw new Error(`the server at ${this.base} runs on the system clock: --accelerate needs one started with --clock virtual --allow-virtual-clock`);
    return body.now;
  }

  /** Moves the server's clock to `at` (it ticks on the way); resolves once the server did. */
  async advanceTo(at: number): Promise<void> {
    await this.call("POST", { advanceTo: at });
  }

  private async call(method: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.base}/v1/clock`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = (await res.json().catch(() => undefined)) as { code?: string; message?: string } | undefined;
    if (!res.ok) throw new Error(`${method} /v1/clock: ${res.status} ${answer?.code ?? ""}: ${answer?.message ?? ""}`);
    return answer;
  }
}

/** Simulates `patients` into `target` over `durationMs` of the server's virtual time. */
export async function runAccelerated(patients: SimPatient[], o: AcceleratedOptions, target: Target, clock: ServerClock): Promise<SimulationReport> {
  const totals: Totals = { sent: 0, batches: 0, accepted: 0, duplicates: 0, rejected: {}, retried: {}, transitions: 0 };
  let registered = 0;
  const report = (phase: ProgressReport["phase"], window: Window, doneUntil: number) => o.onProgress?.({ phase, registered, window, doneUntil, totals });
  const from = await clock.now();
  const window: Window = { from, to: from + o.durationMs };
  // Registered at the window's start: the patients' rules count from there.
  await inParallel(patients, 8, async (p) => {
    await target.register(p);
    registered++;
    report("registering", window, from);
  });

  const startedAt = Date.now();
  const streams = patients.map((p) => peekable(uploads(p, window)));
  const ids = patients.map((p) => p.id);
  const max = o.batchMax ?? 5000;
  let reached = from;
  while (!o.signal?.aborted && reached < window.to) {
    let next = Number.POSITIVE_INFINITY;
    for (const s of streams) next = Math.min(next, s.peek()?.uploadAt ?? next);
    const at = Math.min(window.to, Math.max(reached, next));
    if (at > reached) await clock.advanceTo(at);
    reached = at;
    for (let batch = take(streams, ids, at, max); batch.length > 0; batch = take(streams, ids, at, max)) add(totals, await target.ingest(batch), batch.length);
    report("replaying", window, reached);
  }
  return { patients, window, reached, startedAt, endedAt: Date.now(), totals, stillBuffered: countBuffered(streams, reached) };
}
