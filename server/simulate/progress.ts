// The progress bar on stderr (cli-progress: a maintained bar with ETA, throttled redraws, and
// silence when stderr is not a terminal, so logs and tests stay clean). Registration first, then
// the replay, measured in simulated time.
import cliProgress from "cli-progress";
import type { ProgressReport } from "./driver.js";

export class ProgressBar {
  private bar: cliProgress.SingleBar | undefined;
  private phase: ProgressReport["phase"] | undefined;

  constructor(private readonly patients: number, private readonly alerts: () => number, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(p: ProgressReport): void {
    if (p.phase !== this.phase) this.begin(p);
    if (p.phase === "registering") this.bar?.update(p.registered);
    else {
      const refused = Object.values(p.totals.rejected).reduce((a, b) => a + b, 0);
      const minutes = Math.max(0, Math.round((Math.min(p.doneUntil, p.window.to) - p.window.from) / 60_000));
      this.bar?.update(minutes, { simTime: new Date(p.doneUntil).toISOString().slice(0, 16).replace("T", " "), sent: p.totals.sent, refused, alerts: this.alerts() });
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private begin(p: ProgressReport): void {
    this.stop();
    this.phase = p.phase;
    if (p.phase === "following") {
      if (this.stream.isTTY) this.stream.write("window replayed: following real time (Ctrl-C ends it)\n");
      return;
    }
    const registering = p.phase === "registering";
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: registering
          ? "registering {bar} {value}/{total} patients"
          : "simulating  {bar} {percentage}% | {simTime} UTC | {sent} readings, {refused} refused | {alerts} alerts | ETA {eta_formatted}",
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(registering ? this.patients : Math.round((p.window.to - p.window.from) / 60_000), 0, { simTime: "", sent: 0, refused: 0, alerts: 0 });
  }
}
