// What the engine reports (engine/durable/durable-pipeline.ts DurableReport), as log lines and
// metrics: recoveries, snapshots, store outages, alarm policy changes in the log; commit latency, snapshot time and
// size and recovery time as metrics. Reports carry positions and counts, never a patient.
// Also refused tokens as log lines, with their reason only.
import type { Logger } from "pino";
import type { DurableReport } from "../engine/durable/durable-pipeline.js";
import type { Metrics } from "./metrics.js";

/** Rounds milliseconds for a log line (microsecond noise is not information). */
const ms = (value: number): number => Math.round(value * 10) / 10;

export function observeDurable(logger: Logger, metrics: Metrics): (report: DurableReport) => void {
  return (r) => {
    switch (r.kind) {
      case "commit":
        metrics.commitSeconds.observe(r.ms / 1000);
        return;
      case "snapshot":
        metrics.snapshotSeconds.observe(r.ms / 1000);
        metrics.snapshotBytes.set(r.bytes);
        logger.info({ pos: r.pos, bytes: r.bytes, ms: ms(r.ms) }, "snapshot stored");
        return;
      case "recovered":
        metrics.recoverySeconds.set({ after: r.after }, r.ms / 1000);
        metrics.recoveryReplayed.set({ after: r.after }, r.replayed);
        logger.info(
          { after: r.after, snapshotPos: r.snapshotPos ?? null, replayed: r.replayed, pos: r.pos, ms: ms(r.ms) },
          r.after === "start" ? "engine recovered from the store" : r.after === "outage" ? "store available again: engine rebuilt from the store" : "engine rebuilt from the store after an internal error",
        );
        return;
      case "store_unavailable":
        logger.warn("store unavailable: refusing work (store_unavailable, /readyz 503) until it answers");
        return;
      case "alarm_policy":
        logger.info({ pos: r.pos, changed: r.changed }, "alarm settings changed since the last run: the new alarm policy is journaled and in force from here on");
        return;
    }
  };
}

/** At most one "token refused" line per reason in this long. */
const REFUSAL_LOG_MS = 1_000;

/**
 * Refused tokens as log lines (the reason, never the token): at most one line per reason a
 * second, with how many more were refused since the last line (`alsoRefused`), so a flood of bad
 * tokens cannot flood the log. Every refusal is counted in varsel_requests_rejected_total.
 */
export function logRefusals(logger: Logger, now: () => number = Date.now): (reason: string) => void {
  const last = new Map<string, { at: number; unlogged: number }>();
  return (reason) => {
    const t = now();
    const seen = last.get(reason);
    if (seen !== undefined && t - seen.at < REFUSAL_LOG_MS) {
      seen.unlogged++;
      return;
    }
    logger.info(seen !== undefined && seen.unlogged > 0 ? { reason, alsoRefused: seen.unlogged } : { reason }, "token refused");
    last.set(reason, { at: t, unlogged: 0 });
  };
}
