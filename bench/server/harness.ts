// What the server benchmark's orchestrator (bench/server.ts) lends the phases kept in their own
// files (backfill.ts, storm.ts): the server child, its stats, tokens, logging, child paths.
import type { ChildProcess } from "node:child_process";
import type { Auth } from "../../server/auth.js";
import type { ServerChildConfig, ServerStats } from "./common.js";

export interface RunningServer {
  child: ChildProcess;
  port: number;
  setupMs: number;
  label: string;
}

export interface Harness {
  auth: Auth;
  /** Every child exits by itself after this. */
  lifetimeMs: number;
  /** The path of a child entry in bench/server/. */
  child(name: string): string;
  log(msg: string): void;
  /** A fresh server child; `extra` overrides the benchmark's defaults (patients, teams, cohort, …). */
  startServer(transport: ServerChildConfig["transport"], label: string, extra?: Partial<ServerChildConfig>): Promise<RunningServer>;
  serverStats(s: RunningServer, reset?: boolean): Promise<ServerStats>;
  /** With --profile: starts / stops (and writes) a CPU profile of the server; otherwise nothing. */
  profile(s: RunningServer, action: "start" | "stop"): Promise<void>;
}

/** Server CPU (cores; its main thread's alone where the platform tells) and event-loop utilisation between two stats. */
export function usage(a: ServerStats, b: ServerStats): { cores: number; elu: number; mainCores: number } {
  const ms = b.at - a.at;
  const active = b.elu.active - a.elu.active;
  const idle = b.elu.idle - a.elu.idle;
  const mainCores = a.mainCpuMicros === undefined || b.mainCpuMicros === undefined ? NaN : (b.mainCpuMicros - a.mainCpuMicros) / 1000 / ms;
  return { cores: (b.cpuMicros - a.cpuMicros) / 1000 / ms, elu: active / (active + idle), mainCores };
}

export const fmtCodes = (r: Record<string, number>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(", ");

/** Sums counts by key. */
export function mergeCounts(xs: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + v;
  return out;
}
