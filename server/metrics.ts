// Prometheus metrics for operations (Grafana). Labels never carry a patient identifier.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** A counter in `registry` (every counter here is registered the same way). */
function counter<L extends string = never>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** prom-client defaults that are gauges with a `_total` suffix (a counter's). */
const UNLINTABLE_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** A gauge in `registry`, set by the code (not collected at scrape time). */
function gauge<L extends string = never>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export class Metrics {
  readonly registry = new Registry();

  readonly readingsIngested = counter(this.registry, "varsel_readings_ingested_total", "Readings accepted for evaluation, by ingest channel", ["channel"] as const);

  readonly readingsRejected = counter(this.registry, "varsel_readings_rejected_total", "Readings rejected, by error code", ["code"] as const);

  readonly requestsRejected = counter(this.registry, "varsel_requests_rejected_total", "Requests or socket messages refused, by error code (forbidden, unauthorized, rate_limited, ...)", ["code"] as const);

  readonly kernelBatchSeconds = new Histogram({
    name: "varsel_kernel_batch_duration_seconds",
    help: "Time the evaluator spends on one batch",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });

  readonly ingestToPushSeconds = new Histogram({
    name: "varsel_ingest_to_push_seconds",
    help: "From a batch's arrival to its alert events being handed to subscribed sockets",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly alertTransitions = counter(this.registry, "varsel_alert_transitions_total", "Alert transitions, by kind (raise, upgrade, downgrade, resolve) and priority", ["kind", "priority"] as const);

  /** Counted at scrape time from the lifecycle (see `countOpenAlertsWith`). */
  private openAlertCounter: (() => Record<string, number>) | undefined;

  readonly openAlerts = new Gauge({
    name: "varsel_open_alerts",
    help: "Open alerts (firing or awaiting acknowledgement), by priority",
    labelNames: ["priority"] as const,
    registers: [this.registry],
    collect: () => {
      const counts = this.openAlertCounter?.() ?? {};
      for (const priority of ["high", "medium", "low"]) this.openAlerts.set({ priority }, counts[priority] ?? 0);
    },
  });

  readonly clients = gauge(this.registry, "varsel_ws_clients", "Connected WebSocket clients, by role (unauthenticated until the first message)", ["role"] as const);

  readonly subscriptions = gauge(this.registry, "varsel_ws_subscriptions", "Active WebSocket subscriptions");

  readonly slowClientsDisconnected = counter(this.registry, "varsel_ws_slow_clients_disconnected_total", "Clients disconnected because their send buffer passed the limit");

  readonly framesDropped = counter(this.registry, "varsel_ws_frames_dropped_total", "Socket frames dropped unread, by reason (rate_limited: over the connection's message budget)", ["reason"] as const);

  readonly floodDisconnects = counter(this.registry, "varsel_ws_flood_disconnects_total", "Sockets closed 4029, by reason (rate_limited: kept sending while muted; waiting_bound: too many frames waiting for answers)", ["reason"] as const);

  readonly eventsPushed = counter(this.registry, "varsel_ws_events_pushed_total", "Alert events sent to subscribed clients");

  readonly commitSeconds = new Histogram({
    name: "varsel_store_commit_duration_seconds",
    help: "Time one group commit takes in the store (one transaction of journal entries, events, readings and audit entries)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
    registers: [this.registry],
  });

  readonly snapshotSeconds = new Histogram({
    name: "varsel_snapshot_duration_seconds",
    help: "Time one snapshot takes, from capture until stored",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly snapshotBytes = gauge(this.registry, "varsel_snapshot_size_bytes", "Size of the last snapshot stored (kernel and state)");

  readonly recoverySeconds = gauge(this.registry, "varsel_recovery_duration_seconds", "Time the last recovery took (snapshot restore and journal replay), by what it followed (start, outage, bug)", ["after"] as const);

  readonly recoveryReplayed = gauge(this.registry, "varsel_recovery_replayed_commands", "Journal entries the last recovery replayed after its snapshot, by what it followed (start, outage, bug)", ["after"] as const);

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // Default process metrics include nodejs_eventloop_lag_seconds (event-loop lag).
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
      // Gauges named like counters, which `promtool check metrics` refuses; their per-type
      // series (nodejs_active_handles{type}, ...) stay, and sum() gives the total.
      for (const name of UNLINTABLE_DEFAULTS) this.registry.removeSingleMetric(name);
    }
    // Known reasons start at 0: a rate over a series that appears only with its first flood is empty.
    this.framesDropped.inc({ reason: "rate_limited" }, 0);
    for (const reason of ["rate_limited", "waiting_bound"]) this.floodDisconnects.inc({ reason }, 0);
  }

  /** Where the open-alert gauge gets its counts at scrape time. */
  countOpenAlertsWith(counter: () => Record<string, number>): void {
    this.openAlertCounter = counter;
  }

  /** The text exposition format for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
