// varsel as a real child process on loopback (`server/main.ts serve`), so a test can kill -9 it
// and start it again on the same database. Its address comes from its "varsel listening" log line.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

export const CHILD_SECRET = "crash-test-secret-long-enough-for-hs256-signing";
const ROOT = new URL("../..", import.meta.url).pathname;

export interface ChildServer {
  child: ChildProcess;
  port: number;
  exited: Promise<unknown>;
}

/** The port of a "varsel listening" pino line in `log`, or undefined. */
export function listeningPort(log: string): number | undefined {
  const m = /"port":(\d+),[^\n]*"msg":"varsel listening"/.exec(log);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Starts server/main.ts on `database` and waits for its address; extra environment in `env`.
 * `port` 0 picks a free one; a restart may pass the port of the server it replaces (clients
 * reconnect to the same address), on either transport (test/uws-restart.test.ts).
 * VARSEL_CHILD_NODE_ARGS adds node flags (e.g. `--prof` to profile a benchmark's server);
 * VARSEL_CHILD_ENTRY=dist runs the compiled dist/server/main.js as `npm start` does (benchmarks:
 * the product as deployed, without tsx's loader; build first); `args` adds options to `serve`.
 */
export async function startChildServer(database: string, env: Record<string, string> = {}, port = 0, args: readonly string[] = []): Promise<ChildServer> {
  const nodeArgs = process.env.VARSEL_CHILD_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const entry = process.env.VARSEL_CHILD_ENTRY === "dist" ? ["dist/server/main.js"] : ["--import", "tsx", "server/main.ts"];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, "serve", "--port", String(port), "--database", database, ...args], {
    cwd: ROOT,
    // info: the address is an info line; the rest of stdout is read and dropped.
    env: { ...process.env, VARSEL_JWT_SECRET: CHILD_SECRET, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, port: await listeningAddress(child), exited };
}

/**
 * The port a child (stdout piped, LOG_LEVEL info) logs as "varsel listening"; the rest of its
 * stdout is read and dropped. A child that exits or stays silent past `limitMs` is killed -9.
 */
export async function listeningAddress(child: ChildProcess, limitMs = 10_000): Promise<number> {
  let out = "";
  const collect = (d: Buffer) => (out += d);
  child.stdout!.on("data", collect);
  for (const end = Date.now() + limitMs; Date.now() < end; ) {
    const port = listeningPort(out);
    if (port !== undefined) {
      child.stdout!.off("data", collect).resume();
      return port;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not start: ${out}`);
}

/** A port that was free a moment ago: a server that will be restarted on its port can start there. */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  return port;
}

/** kill -9, and wait until the process is gone. */
export async function killHard(server: ChildServer): Promise<void> {
  server.child.kill("SIGKILL");
  await server.exited;
}
