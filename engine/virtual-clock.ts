// A clock that only an admin call moves (`serve --clock virtual`, development only): an
// integrator's test sees stale-data and daily-deadline alerts in seconds instead of hours. An
// advance is a run of ordinary tick commands, each applied and journaled at its own instant of
// virtual time (clock-schedule.ts says which instants), so replaying the journal after a restart
// gives exactly what the advance gave. Everything else the engine does (readings, acks,
// silences) happens at the virtual now too. The clock never goes backwards.
import { DAY_MS } from "../assembly/layout.js";
import { VarselError } from "./errors.js";
import { MAX_DURATION_MS } from "./rules/duration.js";
import type { Store } from "./store/store.js";

/** The longest single advance (a year, as the longest rule duration): bounds the CPU one call takes (a tick per minute). */
export const MAX_ADVANCE_MS = MAX_DURATION_MS;

/** What an advance did. */
export interface Advance {
  /** Where the clock was and where it is now (epoch ms). */
  from: number;
  now: number;
  /** Instants ticked at. */
  ticks: number;
}

export class VirtualClock {
  private at: number;
  /** The advance under way: advances run one after another, never interleaved. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(start: number) {
    this.at = start;
  }

  /** The virtual now (epoch ms): the engine's time source. */
  readonly now = (): number => this.at;

  /**
   * Moves the clock to `target(now)` (now: where the clock stands when this advance's turn
   * comes; advances run one after another), calling `tick` once the clock stands at each instant
   * of `instants(from, to)` in order; resolves when the last tick is done. Refused (nothing
   * moved): a target before now (`clock_backwards`), more than `maxMs` ahead or not a time
   * (`invalid_clock_advance`). A tick that fails stops the advance at its instant (the
   * clock stays there) and rejects with its error.
   */
  advance(target: (now: number) => number, instants: (from: number, to: number) => Iterable<number>, tick: () => Promise<void>, maxMs = MAX_ADVANCE_MS): Promise<Advance> {
    const run = this.running.then(() => this.run(target(this.at), instants, tick, maxMs));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async run(to: number, instants: (from: number, to: number) => Iterable<number>, tick: () => Promise<void>, maxMs: number): Promise<Advance> {
    const from = this.at;
    if (!Number.isSafeInteger(to)) throw new VarselError("invalid_clock_advance", "the target is not a time (epoch ms or ISO 8601)");
    if (to < from) throw new VarselError("clock_backwards", `the virtual clock is at ${new Date(from).toISOString()}: it never goes back`, { now: from, to });
    if (to - from > maxMs) {
      throw new VarselError("invalid_clock_advance", `one call advances the clock at most ${+(maxMs / DAY_MS).toFixed(2)} days at this step`, { now: from, to, maxMs });
    }
    let ticks = 0;
    for (const t of instants(from, to)) {
      this.at = t;
      await tick();
      ticks++;
    }
    this.at = to;
    return { from, now: to, ticks };
  }
}

/**
 * Where a virtual clock starts: at `start` (default the wall clock), but on a store never
 * before its last journal entry or snapshot, so that a restart never moves time back behind
 * what was applied.
 */
export async function resumeInstant(store: Store | undefined, start = Date.now()): Promise<number> {
  if (store === undefined) return start;
  const last = await lastJournalInstant(store);
  const snapshot = (await store.latestSnapshot())?.at;
  return Math.max(start, last ?? start, snapshot ?? start);
}

/** The clock time of the store's last journal entry (epoch ms), or undefined for an empty journal. */
export async function lastJournalInstant(store: Store): Promise<number | undefined> {
  const pos = await store.lastPosition();
  return pos > 0 ? (await store.readJournal(pos - 1, 1))[0]?.at : undefined;
}

/** How far the system clock may be behind the journal at start-up (clock adjustments, a restart on another host). */
export const MAX_JOURNAL_LEAD_MS = 5 * 60_000;

/**
 * Why the system clock `now` cannot run this store, or undefined when it can: the journal's last
 * entry is more than MAX_JOURNAL_LEAD_MS ahead of it (a store written under `--clock virtual` in
 * the future). Started anyway, every real reading would be older than its metric's last one
 * (`out_of_order`) and nothing would tick until the clock caught up.
 */
export async function journalAheadOf(store: Store, now: number): Promise<string | undefined> {
  const last = await lastJournalInstant(store);
  if (last === undefined || last - now <= MAX_JOURNAL_LEAD_MS) return undefined;
  return (
    `the journal's last entry is at ${new Date(last).toISOString()}, ahead of this clock by ${spanText(last - now)}; ` +
    "start with --clock virtual --allow-virtual-clock or use another --database"
  );
}

/** A span as "2d 3h 4m" (minutes rounded down; "0m" under a minute). */
function spanText(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
  return [d > 0 ? `${d}d` : "", h > 0 ? `${h}h` : "", m > 0 || (d === 0 && h === 0) ? `${m}m` : ""].filter(Boolean).join(" ");
}
