// The simulator as an HTTP client of varsel: patients by PUT /v1/patients/{id}, readings by
// POST /v1/measurements. Honours `503 overloaded` (Retry-After), `429`, other 503s and network
// errors by resending the same batch after a pause (its measurement ids make that safe); never
// throws for a refused reading: refusals are counted by code. Registration failures do throw
// (nothing can be simulated for a patient that is not there).
import type { IngestResult, SimPatient, Target, WireReading } from "./types.js";
import { registration } from "./cohort.js";

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** A batch still refused after this long is counted as refused with the last code. */
const GIVE_UP_MS = 60_000;
const MAX_PAUSE_MS = 5_000;

interface Answer {
  status: number;
  body: unknown;
}

interface IngestAnswer {
  accepted: number;
  duplicates: unknown[];
  rejected: { code: string }[];
  transitions: number;
}

export class HttpTarget implements Target {
  private readonly base: string;

  constructor(url: string, private readonly token: string, private readonly fetchImpl: typeof fetch = globalThis.fetch) {
    this.base = url.replace(/\/+$/, "");
  }

  async register(patient: SimPatient): Promise<void> {
    const retried: Record<string, number> = {};
    const a = await this.send("PUT", `/v1/patients/${encodeURIComponent(patient.id)}`, registration(patient), retried);
    if (a.status !== 200) throw new Error(`cannot register patient ${patient.id}: ${describe(a)}`);
  }

  async ingest(readings: WireReading[]): Promise<IngestResult> {
    const result: IngestResult = { accepted: 0, duplicates: 0, rejected: {}, retried: {}, transitions: 0 };
    const a = await this.send("POST", "/v1/measurements", readings, result.retried);
    if (a.status === 200 || (a.status === 422 && isIngestAnswer(a.body))) {
      const answer = a.body as IngestAnswer;
      result.accepted = answer.accepted;
      result.duplicates = answer.duplicates.length;
      result.transitions = answer.transitions;
      for (const r of answer.rejected) result.rejected[r.code] = (result.rejected[r.code] ?? 0) + 1;
    } else {
      result.rejected[codeOf(a)] = readings.length;
    }
    return result;
  }

  /** One request, resent while the server asks to wait (or cannot be reached) for up to GIVE_UP_MS. */
  private async send(method: string, path: string, body: unknown, retried: Record<string, number>): Promise<Answer> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      let answer: Answer;
      let pauseMs: number | undefined;
      try {
        const res = await this.fetchImpl(`${this.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        answer = { status: res.status, body: await res.json().catch(() => undefined) };
        if (!RETRY_STATUSES.has(res.status)) return answer;
        pauseMs = retryAfterMs(res.headers.get("retry-after"), answer.body);
      } catch (err) {
        answer = { status: 0, body: { code: "network_error", message: (err as Error).message } };
      }
      if (Date.now() - started > GIVE_UP_MS) return answer;
      const code = codeOf(answer);
      retried[code] = (retried[code] ?? 0) + 1;
      // Backoff with jitter when the server named no time (Math.random: pauses need not be reproducible).
      await sleep(pauseMs ?? Math.min(MAX_PAUSE_MS, 250 * 2 ** attempt) * (0.5 + Math.random() / 2));
    }
  }
}

function retryAfterMs(header: string | null, body: unknown): number | undefined {
  const ms = (body as { details?: { retryAfterMs?: unknown } } | undefined)?.details?.retryAfterMs;
  if (typeof ms === "number" && ms >= 0) return Math.min(ms, MAX_PAUSE_MS * 6);
  const s = header === null ? Number.NaN : Number(header);
  return Number.isFinite(s) && s >= 0 ? Math.min(s * 1000, MAX_PAUSE_MS * 6) : undefined;
}

function isIngestAnswer(body: unknown): boolean {
  return typeof body === "object" && body !== null && Array.isArray((body as IngestAnswer).rejected) && typeof (body as IngestAnswer).accepted === "number";
}

function codeOf(a: Answer): string {
  const code = (a.body as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : `http_${a.status}`;
}

function describe(a: Answer): string {
  const b = a.body as { code?: string; message?: string } | undefined;
  return a.status === 0 ? `cannot reach the server (${b?.message})` : `${a.status} ${b?.code ?? ""}: ${b?.message ?? ""}`.trim();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
