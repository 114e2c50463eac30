// npm run bench:ci — the load test CI runs after the tests: the three benchmarks in --quick mode,
// one after the other, each in its own process. It fails when a benchmark crashes, ends without
// its JSON line, or reports a failed check — results that are wrong under load: a kernel that
// disagrees with the reference, an alert transition that did not reach every subscriber of its
// team, a reading rejected or answered with an error, a recovery that failed. It never fails on
// a figure: speed is what the benchmarks report (machines are noisy); the figures are printed.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderTable } from "./lib/table.js";

type Json = Record<string, unknown>;

interface Bench {
  name: string;
  file: string;
  /** Arguments after --quick. */
  args?: string[];
  /** name → true (holds), false (failed), null (not measured in this mode) */
  checks(j: Json): Record<string, boolean | null>;
  /** Headline figures, printed, never judged. */
  figures: string[];
}

const BENCHES: Bench[] = [
  {
    name: "kernel",
    file: "kernel.ts",
    checks: (j) => ({ "kernel, oracle, floor and json-rules-engine agree on every triage": j.checks_ok === true }),
    figures: ["kernel_rps", "kernel_mixed_rps", "kernel_over_oracle", "kernel_over_floor", "state_bytes_per_slot"],
  },
  {
    name: "server",
    file: "server.ts",
    // backfill and reconnect storm at a smaller scale than --quick's (10 000 patients, 500
    // sockets): their correctness checks, for ≈ 20 s more instead of ≈ 45 s on a loaded machine
    args: ["--bf-patients", "3000", "--storm-sockets", "200"],
    checks: (j) => {
      const c = (j.checks ?? {}) as Record<string, boolean | null>;
      return {
        "every alert transition reached every subscriber of its team": c.deliveries_complete ?? false,
        "no reading rejected": c.no_rejected_readings ?? false,
        "no reading out of order": c.no_out_of_order ?? false,
        "no error frame": c.no_error_frames ?? false,
        "every HTTP request answered 2xx": c.http_all_2xx ?? false,
        "backfill: every reading accepted, none out of order": c.backfill_all_accepted ?? false,
        "backfill: no urgent alarm for an event already past": c.backfill_no_urgent_alarm_for_past ?? false,
        "backfill: every patient low now alarmed urgently": c.backfill_present_lows_alarmed ?? false,
        "backfill: every bystander alert delivered": c.backfill_bystander_deliveries_complete ?? false,
        "storm: no event missed on resume": c.storm_none_missed ?? false,
        "storm: no event duplicated": c.storm_no_duplicates ?? false,
        "storm: events in order": c.storm_in_order ?? false,
        "storm: every socket caught up": c.storm_all_caught_up ?? false,
      };
    },
    figures: ["ws_ingest_rps", "uws_over_ws", "p99_ms_at_50k", "http_readings_per_s", "server_rss_mb", "backfill_rps", "backfill_bystander_p99_ms", "storm_catchup_s"],
  },
  {
    name: "durability",
    file: "durability.ts",
    checks: (j) => ({ "the engine recovers from its store": j.recovery_ok === true }),
    figures: ["durable_over_nondurable", "durable_over_nondurable_pg", "recovery_s_100k", "snapshot_mb"],
  },
  {
    name: "ingest",
    file: "ingest.ts",
    checks: (j) => ({ "canonical validation keeps every item and round-trips the journal": j.checks_ok === true }),
    figures: ["fhir_rejected_10k_ms", "fhir_valid_10k_ms", "readings_canonical_per_s"],
  },
];

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Runs one benchmark in --quick mode, its output passed through; resolves its exit code and last line. */
function run(file: string, args: string[] = []): Promise<{ code: number | null; last: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, file), "--quick", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let tail = "";
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-64 * 1024);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, last: tail.trimEnd().split("\n").at(-1) ?? "" }));
  });
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const bench of BENCHES) {
    process.stdout.write(`\n=== bench:${bench.name} --quick\n`);
    const started = Date.now();
    const { code, last } = await run(bench.file, bench.args);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    let json: Json | undefined;
    try {
      json = JSON.parse(last) as Json;
    } catch {
      json = undefined;
    }
    if (code !== 0 || json === undefined) {
      failures.push(`bench:${bench.name} ${code !== 0 ? `exited with ${code}` : "printed no JSON line"}`);
      rows.push([bench.name, "did not finish", "FAILED", seconds]);
      continue;
    }
    for (const [check, ok] of Object.entries(bench.checks(json))) {
      if (ok === false) failures.push(`bench:${bench.name}: ${check}`);
      rows.push([bench.name, check, ok === null ? "not measured" : ok ? "holds" : "FAILED", seconds]);
    }
    const figures = bench.figures.map((k) => `${k} ${JSON.stringify(json[k] ?? null)}`).join(", ");
    rows.push([bench.name, `figures (not judged): ${figures}`, "", seconds]);
  }
  process.stdout.write(`\n${renderTable(["benchmark", "check", "result", "s"], rows, ["l", "l", "l", "r"])}\n`);
  const summary = { checks_ok: failures.length === 0, failures };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ci failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
