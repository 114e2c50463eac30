// Commands of a cluster's ingest or gateway node: validated as in the single process, published to
// the commands stream (ingest.ts) and answered once JetStream stored them, not once applied. The
// HTTP and WebSocket code paths of the single process (server/http/measurements.ts,
// server/ws/session.ts) run unchanged on top of it: only the answer differs.
//
// An ingest answer is known only as far as validation goes: refused items are answered as in the
// single process; every stored reading is `accepted` with triage `pending` (it is evaluated later,
// on the engine that owns its patient's partition; the alerts it raises reach subscribers through
// the gateways), `transitions` is 0, and a part JetStream had already stored (a repeat of the same
// measurement ids within its duplicate window) is answered under `duplicates`. Refusals only an
// engine can judge (unknown patient, patient outside the sender's teams, a repeat after the
// window) are not answered: the engine drops those items as the single process would.
import { VarselError } from "../../engine/errors.js";
import type { ResultOf } from "../../engine/durable/apply.js";
import type { Command } from "../../engine/durable/commands.js";
import type { IngestAnswer } from "../../engine/pipeline.js";
import type { CommandSink } from "../context.js";
import type { ClusterAlertView } from "./alert-view.js";
import { ClusterIngest, type PublishedPart } from "./ingest.js";
import { partitionOf } from "./partitions.js";
import type { Cluster } from "./streams.js";

/** Readings published and not yet confirmed by JetStream past which ingest is refused `overloaded`. */
export const MAX_READINGS_IN_FLIGHT = 50_000;
/** What an overloaded sender is told to wait. */
const RETRY_AFTER_MS = 1_000;

export class ClusterCommandSink implements CommandSink {
  private readonly ingest: ClusterIngest;
  private inFlight = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: {
      /** The ingest role: readings are taken (otherwise refused not_found). */
      ingest: boolean;
      /** The gateway's view of the alerts (acks answer the alert as last seen); undefined without the gateway role. */
      view: ClusterAlertView | undefined;
      now: () => number;
    },
  ) {
    this.ingest = new ClusterIngest(cluster, options.now);
  }

  admitIngest(): void {
    if (!this.options.ingest) throw new VarselError("not_found", "readings are taken by ingest nodes (this node runs without --role ingest)");
    if (this.inFlight >= MAX_READINGS_IN_FLIGHT) throw new VarselError("overloaded", "too many readings are waiting for JetStream", { retryAfterMs: RETRY_AFTER_MS });
  }

  async execute<C extends Command>(command: C): Promise<ResultOf<C>> {
    switch (command.kind) {
      case "ingest":
        return (await this.ingestBatch(command)) as ResultOf<C>;
      case "ack": {
        // Checked against the gateway's view first (session.ts requireAck): an alert it never saw is not_found.
        const alert = this.options.view!.lifecycle.get(command.alert);
        if (alert.state === "resolved") throw new VarselError("alert_not_open");
        await this.stored(command);
        return alert as ResultOf<C>;
      }
      default:
        throw new VarselError("not_found", `${command.kind} is not taken by this node (docs/cluster.md)`);
    }
  }

  onEvent(cb: Parameters<CommandSink["onEvent"]>[0], scope?: Parameters<CommandSink["onEvent"]>[1]): () => void {
    return this.options.view?.onEvent(cb, scope) ?? (() => undefined);
  }

  onRecovered(): () => void {
    return () => undefined; // a gateway never rebuilds from a store: it folds the events stream
  }

  private async ingestBatch(command: Extract<Command, { kind: "ingest" }>): Promise<IngestAnswer> {
    this.admitIngest();
    const { batch } = command;
    this.inFlight += batch.readings.length;
    try {
      const parts = await this.stored(command);
      const repeated = new Set(parts.filter((p) => p.duplicate).map((p) => p.partition));
      const answer: IngestAnswer = {
        accepted: 0,
        duplicates: [],
        rejected: batch.rejected.map((r) => ({ index: r.index, code: r.code, message: r.message })),
        invalidated: batch.invalidations.map((i) => ({ index: i.index, id: i.id })),
        readings: [],
        transitions: 0,
      };
      for (const r of batch.readings) {
        if (repeated.has(partitionOf(r.patient, this.cluster.partitions)) && r.id !== undefined) answer.duplicates.push({ index: r.index, id: r.id });
        else {
          answer.accepted++;
          answer.readings.push({ index: r.index, metric: r.metric, triage: "pending" });
        }
      }
      return answer;
    } finally {
      this.inFlight -= batch.readings.length;
    }
  }

  /**
   * An admin change taken over HTTP on an ingest node (write-routes.ts): published to its
   * partitions and answered with them once stored; the engine applies (or refuses) it later.
   */
  async publishChange(command: Exclude<Command, { kind: "ingest" | "tick" }>): Promise<number[]> {
    if (!this.options.ingest) throw new VarselError("not_found", "changes are taken by ingest nodes (this node runs without --role ingest)");
    return (await this.stored(command)).map((p) => p.partition);
  }

  /** Publishes and waits for every PubAck; JetStream's silence is store_unavailable (nothing promised). */
  private async stored(command: Command): Promise<PublishedPart[]> {
    try {
      return await this.ingest.publish(command);
    } catch (err) {
      if (err instanceof VarselError) throw err; // refused by validation: nothing published
      throw new VarselError("store_unavailable", "JetStream did not confirm storing the command; nothing is promised: send it again");
    }
  }

}
