// The alerts a simulation caused, counted from the admin's alert stream (varsel/client: it
// resumes across reconnects, so no event is missed), by programme and priority: each alert once,
// at its latest priority. At the end the count is checked against GET /v1/alerts.
import WebSocket from "ws";
import { VarselClient } from "../../client/index.js";
import type { Alert } from "../../client/index.js";
import { sleep } from "./http-target.js";
import { PROGRAMME_IDS, type ProgrammeId, type SimPatient } from "./types.js";

/** The client reconnects on its own; a server that never answers ends the run instead. */
const SUBSCRIBE_TIMEOUT_MS = 15_000;

export const PRIORITIES = ["high", "medium", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];
export type AlertCounts = Record<ProgrammeId, Record<Priority, number>>;

export class AlertTally {
  /** Alert id → its programme and latest priority, for this run's patients only. */
  private readonly seen = new Map<string, { programme: ProgrammeId; priority: Priority }>();
  private readonly programmeOf: Map<string, ProgrammeId>;

  private constructor(private readonly client: VarselClient, private readonly url: string, private readonly token: string, patients: readonly SimPatient[]) {
    this.programmeOf = new Map(patients.map((p) => [p.id, p.programme]));
    client.onUpdate((u) => {
      if (u.type === "snapshot") u.alerts.forEach((a) => this.note(a));
      else if (u.type === "event" && "alert" in u.event && u.event.alert !== undefined) this.note(u.event.alert);
    });
  }

  /** Subscribes to every patient's alerts (an admin token); resolves once the first snapshot is in. */
  static async start(url: string, token: string, patients: readonly SimPatient[]): Promise<AlertTally> {
    const client = new VarselClient({ url, token, WebSocket: WebSocket as never, onError: () => undefined });
    const tally = new AlertTally(client, url, token, patients);
    try {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${SUBSCRIBE_TIMEOUT_MS / 1000} s`)), SUBSCRIBE_TIMEOUT_MS)));
      await Promise.race([client.subscribe(), late]).finally(() => clearTimeout(timer));
    } catch (err) {
      client.close();
      throw new Error(`cannot subscribe to alerts (the simulator needs an admin token): ${(err as Error).message}`, { cause: err });
    }
    return tally;
  }

  counts(): AlertCounts {
    return countBy([...this.seen.values()]);
  }

  /**
   * Waits until the stream has delivered every event up to what GET /v1/alerts reflects, and
   * answers that list's counts for this run's patients (they should equal `counts()`).
   */
  async settle(timeoutMs = 30_000): Promise<AlertCounts> {
    const res = await fetch(`${this.url.replace(/\/+$/, "")}/v1/alerts`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new Error(`GET /v1/alerts answered ${res.status}`);
    const { alerts, seq } = (await res.json()) as { alerts: Alert[]; seq: number };
    for (const until = Date.now() + timeoutMs; (this.client.cursor ?? -1) < seq && Date.now() < until; ) await sleep(20);
    const mine = alerts.filter((a) => this.programmeOf.has(a.patient));
    return countBy(mine.map((a) => ({ programme: this.programmeOf.get(a.patient)!, priority: a.priority as Priority })));
  }

  close(): void {
    this.client.close();
  }

  private note(a: Alert): void {
    const programme = this.programmeOf.get(a.patient);
    if (programme !== undefined) this.seen.set(a.id, { programme, priority: a.priority as Priority });
  }
}

function countBy(alerts: { programme: ProgrammeId; priority: Priority }[]): AlertCounts {
  const counts = Object.fromEntries(PROGRAMME_IDS.map((p) => [p, { high: 0, medium: 0, low: 0 }])) as AlertCounts;
  for (const a of alerts) counts[a.programme][a.priority]++;
  return counts;
}
