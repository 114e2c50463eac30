// Reconnect delays: exponential, capped, with jitter so that many clients cut off together
// (a server restart) do not come back in one wave.

export interface BackoffOptions {
  /** The first retry's ceiling (ms); default 500. */
  minDelayMs?: number;
  /** The longest wait (ms); default 30 000. */
  maxDelayMs?: number;
}

/** The wait before retry `attempt` (1, 2, …): half the ceiling plus a random half ("equal jitter"). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { minDelayMs = 500, maxDelayMs = 30_000 } = options;
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
