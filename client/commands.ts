// Commands that settle on the server's answer: over the socket matched by message id
// (acknowledge), or over HTTP (silences, and acknowledge while the socket is down).
import { CommandError } from "./errors.js";
import type { Alert, ServerMessage, Silence } from "./protocol.js";

/** Socket commands waiting for their answer, by message id. */
export class PendingAnswers {
  private next = 0;
  private readonly pending = new Map<string, { resolve: (message: ServerMessage) => void; reject: (error: CommandError) => void }>();

  /** A fresh message id and the promise of its answer. */
  create(prefix: string): { id: string; answer: Promise<ServerMessage> } {
    const id = `${prefix}-${++this.next}`;
    const answer = new Promise<ServerMessage>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    return { id, answer };
  }

  /** Settles the command this frame answers; false when it answers none. */
  settle(message: ServerMessage): boolean {
    const id = "id" in message ? message.id : undefined;
    const waiting = id === undefined ? undefined : this.pending.get(id);
    if (waiting === undefined) return false;
    this.pending.delete(id!);
    if (message.type === "error") waiting.reject(new CommandError(message.code, message.message, message.details));
    else waiting.resolve(message);
    return true;
  }

  /** No answer will come (the socket is gone): the commands may or may not have been applied. */
  failAll(error: CommandError): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}

/** A time as the server takes it: epoch ms, a Date, or ISO 8601. */
export type TimeInput = number | Date | string;

export interface SilenceRequest {
  /** Without it: the rule for every patient (admins only). */
  patient?: string;
  /** Without it: every rule of the patient. */
  rule?: string;
  until: TimeInput;
  reason: string;
}

/** The HTTP API's JSON requests with the connection's token; errors as CommandError with the catalogued code. */
export class HttpApi {
  constructor(
    private readonly base: string,
    private readonly token: () => Promise<string>,
    private readonly fetchImpl: typeof fetch,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new CommandError("network_error", `${method} ${path}: ${String(error)}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      // Not varsel's answer (a proxy's error page, say).
      throw new CommandError("network_error", `${method} ${path}: ${res.status}, not a JSON answer`, undefined, res.status);
    }
    if (!res.ok) {
      const e = (parsed ?? {}) as { code?: string; message?: string; details?: unknown };
      throw new CommandError((e.code ?? "internal_error") as CommandError["code"], e.message ?? `${method} ${path}: ${res.status}`, e.details, res.status);
    }
    return parsed as T;
  }

  ack(alert: string, note?: string): Promise<Alert> {
    return this.request("POST", `/v1/alerts/${encodeURIComponent(alert)}/ack`, note === undefined ? {} : { note });
  }

  silence(request: SilenceRequest): Promise<Silence> {
    const until = request.until instanceof Date ? request.until.getTime() : request.until;
    return this.request("POST", "/v1/silences", { ...request, until });
  }

  unsilence(id: string): Promise<Silence> {
    return this.request("DELETE", `/v1/silences/${encodeURIComponent(id)}`);
  }
}
