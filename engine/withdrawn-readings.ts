// Withdrawn readings the engine could not take out yet (docs/http.md "Withdrawing a reading"): a
// reading withdrawn while a later one of its metric sat on top of it stays in the slot's history.
// When that later reading is withdrawn and taken out, the withdrawn one would be the metric's
// latest value again and be judged; the pipeline takes it out then too (retractLast walks back
// newest first). Kept per (patient, metric), newest last, at most MAX_PER_METRIC (oldest dropped:
// a reading that many withdrawals deep is practically never the latest again).

/** One withdrawn reading still in its slot's history. */
export interface WithdrawnReading {
  time: number;
  id: string;
}

/** At most this many waiting readings per patient and metric. */
export const MAX_PER_METRIC = 16;

export class WithdrawnReadings {
  /** patient → metric → waiting readings, oldest first. */
  private readonly byPatient = new Map<string, Map<string, WithdrawnReading[]>>();

  /** Remembers a withdrawn reading that is not its metric's latest. */
  add(patient: string, metric: string, reading: WithdrawnReading): void {
    let metrics = this.byPatient.get(patient);
    if (metrics === undefined) this.byPatient.set(patient, (metrics = new Map()));
    const list = metrics.get(metric) ?? [];
    if (list.some((r) => r.time === reading.time)) return;
    list.push(reading);
    list.sort((a, b) => a.time - b.time);
    if (list.length > MAX_PER_METRIC) list.shift();
    metrics.set(metric, list);
  }

  /** The newest waiting reading of a metric, or undefined. */
  newest(patient: string, metric: string): WithdrawnReading | undefined {
    return this.byPatient.get(patient)?.get(metric)?.at(-1);
  }

  /** Forgets the newest waiting reading of a metric (it was taken out). */
  dropNewest(patient: string, metric: string): void {
    const metrics = this.byPatient.get(patient);
    const list = metrics?.get(metric);
    if (metrics === undefined || list === undefined) return;
    list.pop();
    if (list.length === 0) metrics.delete(metric);
    if (metrics.size === 0) this.byPatient.delete(patient);
  }

  /** Is a reading of the patient with this id waiting (any metric)? */
  holds(patient: string, id: string): boolean {
    for (const list of this.byPatient.get(patient)?.values() ?? []) if (list.some((r) => r.id === id)) return true;
    return false;
  }

  /** As plain data (snapshots): [patient, [metric, readings][]][]. */
  exportState(): WithdrawnState {
    return [...this.byPatient].map(([patient, metrics]) => [patient, [...metrics].map(([metric, list]) => [metric, list.map((r) => ({ ...r }))])]);
  }

  importState(state: WithdrawnState | undefined): void {
    this.byPatient.clear();
    for (const [patient, metrics] of state ?? []) this.byPatient.set(patient, new Map(metrics));
  }
}

export type WithdrawnState = [patient: string, metrics: [metric: string, readings: WithdrawnReading[]][]][];
