// `varsel simulate` as a function: the cohort, an admin token, the alert subscription, the
// replay with its progress bar, and the summary.
import { runAccelerated, ServerClock } from "./accelerated.js";
import { AlertTally } from "./alerts.js";
import { cohort } from "./cohort.js";
import { runSimulation, type ProgressReport } from "./driver.js";
import { HttpTarget } from "./http-target.js";
import { ProgressBar } from "./progress.js";
import { summarise, type Summary } from "./summary.js";
import { localAdminToken } from "./token.js";
import type { ProgrammeId } from "./types.js";

export interface SimulateOptions {
  url: string;
  /** An admin token; default: one signed with VARSEL_JWT_SECRET or the dev secret. */
  token?: string;
  patients: number;
  programmes: readonly ProgrammeId[];
  durationMs: number;
  speed: number;
  seed: number;
  /** Patient id prefix; default `sim<seed>-<run>`, new for every run (see README). */
  prefix?: string;
  follow?: boolean;
  /** Move the server's virtual clock instead of waiting (a server on `--clock virtual`); `speed` is not used. */
  accelerate?: boolean;
  /** Draw the progress bar on stderr (it stays silent anyway when stderr is not a terminal). */
  progress?: boolean;
  signal?: AbortSignal;
}

export async function simulate(o: SimulateOptions): Promise<Summary> {
  const ttlSeconds = Math.ceil(o.follow ? 30 * 86_400 : o.durationMs / o.speed / 1000 + 3600);
  const token = o.token ?? (await localAdminToken(`${ttlSeconds}s`));
  if (token === undefined) throw new Error("no token: pass --token (or VARSEL_TOKEN) with an admin token, or set VARSEL_JWT_SECRET, or run next to a dev-mode server (.varsel/dev-secret)");
  await reachable(o.url);
  const clock = o.accelerate ? new ServerClock(o.url, token) : undefined;
  await clock?.now(); // fails at once, before registering anyone, on a server of the system clock
  const prefix = o.prefix ?? `sim${o.seed}-${Math.floor(Date.now() / 1000).toString(36)}`;
  const patients = cohort({ patients: o.patients, programmes: o.programmes, seed: o.seed, prefix });
  const tally = await AlertTally.start(o.url, token, patients);
  const bar = o.progress === false ? undefined : new ProgressBar(patients.length, () => total(tally.counts()));
  try {
    const onProgress = (p: ProgressReport) => bar?.update(p);
    const target = new HttpTarget(o.url, token);
    const report =
      clock !== undefined
        ? await runAccelerated(patients, { durationMs: o.durationMs, signal: o.signal, onProgress }, target, clock)
        : await runSimulation(patients, { durationMs: o.durationMs, speed: o.speed, follow: o.follow, signal: o.signal, onProgress }, target);
    bar?.stop();
    const server = await tally.settle().catch(() => undefined);
    return summarise(report, o.seed, o.speed, tally.counts(), server);
  } finally {
    bar?.stop();
    tally.close();
  }
}

function total(counts: Record<string, Record<string, number>>): number {
  return Object.values(counts).reduce((a, row) => a + Object.values(row).reduce((x, y) => x + y, 0), 0);
}

/** Fails at once, with the reason, when nothing answers at `url`. */
async function reachable(url: string): Promise<void> {
  try {
    await fetch(`${url.replace(/\/+$/, "")}/healthz`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the server at ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
}
