// What the engine reports (engine/durable/durable-pipeline.ts DurableReport), as log lines and
// metrics: recoveries, snapshots, store outages in the log; commit latency, snapshot time and
// size and recovery time as metrics. Reports carry positions and counts, never a patient.
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
    }
  };
}
