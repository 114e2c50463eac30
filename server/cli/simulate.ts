// `varsel simulate`: simulated patients at home sending readings to a running server, with
// realistic physiology per programme (server/simulate/), a progress bar on stderr and a summary
// of the alerts by programme and priority on stdout. Accelerated runs replay a window that ends
// when the run ends (readings are never in the server's future); see README, "Simulating".
import { Command, InvalidArgumentError, Option } from "commander";
import { simulate } from "../simulate/run.js";
import { formatSummary, sameCounts } from "../simulate/summary.js";
import { parseDuration } from "../simulate/time.js";
import { PROGRAMME_IDS, type ProgrammeId } from "../simulate/types.js";

interface SimulateValues {
  patients: number;
  programmes: ProgrammeId[];
  duration: number;
  speed: number;
  url: string;
  token?: string;
  seed: number;
  prefix?: string;
  follow?: boolean;
  accelerate?: boolean;
  json?: boolean;
}

export function simulateCommand(): Command {
  return new Command("simulate")
    .description("simulate patients at home sending readings to a running server (an admin token; by default one signed with VARSEL_JWT_SECRET or the dev secret)")
    .addOption(new Option("--patients <n>", "how many patients, spread evenly over the programmes").argParser(wholeNumber(1, 100_000)).default(100))
    .addOption(new Option("--programmes <list>", "comma-separated: telekol, telehjerte, cgm, niv").argParser(programmes).default([...PROGRAMME_IDS], PROGRAMME_IDS.join(",")))
    .addOption(new Option("--duration <d>", "simulated time: 30m, 12h, 1d, 7d").argParser(duration).default(86_400_000, "1d"))
    .addOption(new Option("--speed <x>", "simulated time runs x times faster than real time (1: real time)").argParser(speed).default(1))
    .addOption(new Option("--url <url>", "the server").env("VARSEL_URL").default(`http://127.0.0.1:${process.env.PORT || 8080}`))
    .addOption(new Option("--token <jwt>", "an admin token (never printed)").env("VARSEL_TOKEN"))
    .addOption(new Option("--seed <n>", "the same seed gives the same patients and readings").argParser(wholeNumber(0, 2 ** 31 - 1)).default(1))
    .option("--prefix <text>", "patient ids start with it (default: sim<seed>-<a new tag for every run>)")
    .option("--follow", "after the window, keep simulating in real time until Ctrl-C")
    .addOption(new Option("--accelerate", "move the server's virtual clock instead of waiting (a server started with --clock virtual); the window starts at its now").conflicts(["follow", "speed"]))
    .option("--json", "print the summary as one JSON object")
    .action(run);
}

async function run(o: SimulateValues): Promise<void> {
  const stop = new AbortController();
  // Ctrl-C ends the replay and still prints the summary; a second one ends at once.
  const onSignal = () => (stop.signal.aborted ? process.exit(130) : stop.abort());
  process.on("SIGINT", onSignal);
  try {
    const summary = await simulate({ url: o.url, token: o.token, patients: o.patients, programmes: o.programmes, durationMs: o.duration, speed: o.speed, seed: o.seed, prefix: o.prefix, follow: o.follow, accelerate: o.accelerate, signal: stop.signal });
    process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    // An accelerated run longer than a day differs by design: the server forgets resolved alerts 24 h of its time on.
    const comparable = !(o.accelerate && o.duration > 86_400_000);
    if (comparable && summary.serverAlerts !== undefined && !sameCounts(summary.alerts, summary.serverAlerts)) process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSignal);
  }
}

function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return n;
  };
}

function programmes(value: string): ProgrammeId[] {
  const list = value.split(",").map((p) => p.trim()).filter(Boolean);
  const bad = list.filter((p) => !PROGRAMME_IDS.includes(p as ProgrammeId));
  if (list.length === 0 || bad.length > 0) throw new InvalidArgumentError(`one or more of ${PROGRAMME_IDS.join(", ")}, comma-separated`);
  return [...new Set(list)] as ProgrammeId[];
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms > 366 * 86_400_000) throw new InvalidArgumentError("a number with s, m, h or d, e.g. 30m, 12h, 1d (at most 366d)");
  return ms;
}

function speed(value: string): number {
  const x = Number(value);
  if (!Number.isFinite(x) || x < 1 || x > 10_000_000) throw new InvalidArgumentError("a number from 1 (real time) to 10000000");
  return x;
}
