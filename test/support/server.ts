// A real varsel server on 127.0.0.1 with a controllable clock, and helpers to speak to it over
// HTTP and WebSocket as an admin, clinician or device would.
import { pino } from "pino";
import { encode, type Format } from "../../server/codec.js";
import { VarselServer, type ServerOptions, type SnapshotCadence } from "../../server/app.js";
import type { Store } from "../../engine/store/store.js";
import type { Limits } from "../../server/context.js";
import type { Role } from "../../server/auth.js";
import type { TransportKind } from "../../server/transport/types.js";

export const TRANSPORTS: TransportKind[] = ["uws", "ws"];
const SECRET = "test-secret-that-is-long-enough-for-hs256!";

export class TestClock {
  constructor(public t = Date.UTC(2026, 10, 23, 9, 0, 0)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Harness {
  server: VarselServer;
  clock: TestClock;
  base: string;
  wsUrl: string;
  token(role: Role, teams: string[], expiresIn?: string | number, sub?: string): Promise<string>;
  http(method: string, path: string, options?: { token?: string; body?: unknown; raw?: Buffer | string; type?: string; accept?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** `store`: the server recovers from it and writes to it (closed with the server); default in memory. */
export async function startServer(
  transport: TransportKind,
  limits: Partial<Limits> = {},
  options: Pick<ServerOptions, "corsOrigins" | "devSignIn" | "eventWindow" | "clock" | "backtests" | "ingestThreads"> & Pick<SnapshotCadence, "eventRetentionMs"> & { store?: Store } = {},
): Promise<Harness> {
  const clock = new TestClock();
  const serverOptions = { auth: { secret: SECRET }, transport, now: clock.now, tickMs: 0, limits, logger: pino({ level: "silent" }), ...options };
  const server = options.store === undefined ? new VarselServer(serverOptions) : await VarselServer.open(serverOptions);
  const port = await server.listen(0, "127.0.0.1");
  const base = `http://127.0.0.1:${port}`;
  return {
    server,
    clock,
    base,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    token: (role, teams, expiresIn = "1h", sub = `${role}-1`) => server.auth.sign({ sub, role, teams }, expiresIn),
    async http(method, path, options = {}) {
      const headers: Record<string, string> = {};
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.accept) headers.accept = options.accept;
      Object.assign(headers, options.headers);
      let body: string | Blob | undefined;
      if (options.raw !== undefined) body = typeof options.raw === "string" ? options.raw : new Blob([new Uint8Array(options.raw)]);
      else if (options.body !== undefined) body = JSON.stringify(options.body);
      if (body !== undefined) headers["content-type"] = options.type ?? "application/json";
      const res = await fetch(base + path, { method, headers, body });
      const buf = Buffer.from(await res.arrayBuffer());
      const type = res.headers.get("content-type") ?? "";
      const parsed = type.includes("json") ? JSON.parse(buf.toString("utf8")) : type.includes("msgpack") ? buf : buf.toString("utf8");
      return { status: res.status, body: parsed, headers: res.headers };
    },
    close: () => server.close(),
  };
}

/** A MessagePack body, for the msgpack content type. */
export function msgpack(value: unknown): Buffer {
  return encode(value, "msgpack" as Format) as Buffer;
}

/** Registers a patient with one care team as the admin. */
export async function registerPatient(h: Harness, id: string, team: string, programme = "telehjerte"): Promise<void> {
  const admin = await h.token("admin", []);
  const res = await h.http("PUT", `/v1/patients/${id}`, { token: admin, body: { programme, careTeams: [{ team, role: "hospital" }, { team: `${team}-gp`, role: "gp" }] } });
  if (res.status !== 200) throw new Error(`register ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}
