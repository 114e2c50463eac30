// A server on a real SQLite store whose faults a test controls: `down` fails commits and pings
// (a full disk, a lost connection) until it is cleared; commits wait for `hold` while it is set
// (a slow disk). `send` calls the HTTP API as an admin.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { openStore } from "../../engine/store/open-store.js";
import { VarselServer, type ServerOptions } from "../../server/app.js";
import type { TransportKind } from "../../server/transport/types.js";

export const FLAKY_SECRET = "server-store-secret-long-enough-for-hs256";

const dirs: string[] = [];

/** Removes the stores' files (call from afterAll). */
export function removeFlakyStores(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** `options`: limits and backlog bounds for the server, and a logger (default silent). */
export async function serverOnFlakyStore(name: string, transport?: TransportKind, options: Pick<ServerOptions, "limits" | "backlog" | "logger"> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "varsel-flaky-store-"));
  dirs.push(dir);
  const store = await openStore(`sqlite:${join(dir, name)}`);
  const flaky: { down: boolean; hold?: Promise<void> } = { down: false };
  const { commit, ping } = { commit: store.commit.bind(store), ping: store.ping.bind(store) };
  store.commit = async (b) => {
    await flaky.hold;
    if (flaky.down) throw new Error("disk full");
    return commit(b);
  };
  store.ping = () => (flaky.down ? Promise.reject(new Error("unreachable")) : ping());
  const server = await VarselServer.open({ auth: { secret: FLAKY_SECRET }, store, transport, tickMs: 0, logger: pino({ level: "silent" }), ...options });
  const port = await server.listen(0);
  const base = `http://127.0.0.1:${port}`;
  const admin = await server.auth.sign({ sub: "admin", role: "admin", teams: [] });
  const send = (path: string, body: unknown, method = "POST") =>
    fetch(base + path, { method, headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  /** One line of /metrics, e.g. `varsel_ws_subscriptions`: its value, or undefined. */
  const metric = async (series: string): Promise<number | undefined> => {
    const line = (await (await fetch(`${base}/metrics`)).text()).split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  return { server, port, base, wsUrl: `ws://127.0.0.1:${port}/v1/ws`, send, flaky, metric };
}
