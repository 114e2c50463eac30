// `varsel backtest` as an operator runs it (from source through tsx, no build): a file of
// readings and a proposal in, the summary, the JSON report and the per-patient CSV out; a bad
// proposal ends with one line and exit code 1, a missing cohort with exit code 2.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BacktestReport } from "../engine/backtest/types.js";
import { PROGRAMMES } from "../engine/rules/programmes.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "varsel-backtest-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function varsel(args: string[]) {
  const r = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), join(ROOT, "server/main.ts"), ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

/** Monday 2026-01-05 00:00 Copenhagen. */
const FROM = Date.UTC(2026, 0, 4, 23);
const HOUR = 3_600_000;

describe("varsel backtest", () => {
  // Pulse of one TeleKOL patient: 103 (yellow under 100, nothing under 105), 112 (red under both), 90.
  const readings = [
    { patient: "k", metric: "pulse", value: 103, time: new Date(FROM + 9 * HOUR).toISOString() },
    { patient: "k", metric: "pulse", value: 90, time: new Date(FROM + 10 * HOUR).toISOString() },
    { patient: "k", metric: "pulse", value: 112, time: new Date(FROM + 33 * HOUR).toISOString() },
    { patient: "k", metric: "pulse", value: 90, time: new Date(FROM + 34 * HOUR).toISOString() },
  ];
  writeFileSync(join(dir, "r.ndjson"), readings.map((r) => JSON.stringify(r)).join("\n"));
  const raised = PROGRAMMES.telekol.rules.map((r) => (r.id === "pulse-band" && r.kind === "band" ? { ...r, limits: { ...r.limits, yellowHigh: 105 } } : r));
  writeFileSync(join(dir, "pulse-105.json"), JSON.stringify(raised));
  writeFileSync(join(dir, "markers.json"), JSON.stringify([{ patient: "k", time: new Date(FROM + 36 * HOUR).toISOString(), label: "admission" }]));

  it("writes the report and the per-patient CSV and prints a line per rule set", () => {
    const r = varsel(["backtest", "--file", "r.ndjson", "--programme", "telekol", "--proposed", "pulse-105.json", "--markers", "markers.json", "--json", "report.json", "--csv", "patients.csv"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^current: .*\npulse-105: .*\+0 \/ −1 alerts vs current/m);
    const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as BacktestReport;
    expect(report.period).toEqual({ from: FROM, to: FROM + 2 * 24 * HOUR, days: 2 });
    const [current, proposed] = report.ruleSets;
    const pulse = (s: typeof current) => s.byRule.find((b) => b.rule === "pulse-band")!.alerts;
    expect(pulse(current)).toEqual({ all: 2, high: 1, medium: 1 });
    expect(pulse(proposed)).toEqual({ all: 1, high: 1, medium: 0 });
    expect(proposed.diff).toMatchObject({ appeared: 0, disappeared: 1, items: [{ change: "disappeared", patient: "k", rule: "pulse-band", time: FROM + 9 * HOUR, priority: "medium" }] });
    expect(proposed.markers).toMatchObject({ events: 1, detected: 1, leadHours: { median: 3 } });
    const csv = readFileSync(join(dir, "patients.csv"), "utf8").trim().split("\n");
    expect(csv).toHaveLength(3);
    expect(csv[2]).toMatch(/^k,telekol,pulse-105,4,/);
  });

  it("--threads gives the same report, and refuses a count that is not a whole number from 1 to 64", () => {
    writeFileSync(join(dir, "two.ndjson"), [...readings, ...readings.map((r) => ({ ...r, patient: "j", value: r.value + 5 }))].map((r) => JSON.stringify(r)).join("\n"));
    const one = varsel(["backtest", "--file", "two.ndjson", "--programme", "telekol", "--proposed", "pulse-105.json", "--markers", "markers.json", "--json", "one.json"]);
    const two = varsel(["backtest", "--file", "two.ndjson", "--programme", "telekol", "--proposed", "pulse-105.json", "--markers", "markers.json", "--json", "two.json", "--threads", "2"]);
    expect([one.status, two.status, two.err]).toEqual([0, 0, ""]);
    const a = JSON.parse(readFileSync(join(dir, "one.json"), "utf8")) as BacktestReport;
    expect(a.patients).toBe(2);
    expect(a.ruleSets[0].alerts.all).toBeGreaterThan(2);
    expect(JSON.parse(readFileSync(join(dir, "two.json"), "utf8"))).toEqual(a);
    const bad = varsel(["backtest", "--file", "two.ndjson", "--programme", "telekol", "--threads", "0"]);
    expect(bad.status).not.toBe(0);
    expect(bad.err).toMatch(/--threads.*whole number of threads/);
  });

  it("refuses a proposal that does not compile, and a run without a cohort", () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify([{ id: "x", kind: "band", metric: "pulse", limits: {} }]));
    const bad = varsel(["backtest", "--file", "r.ndjson", "--programme", "telekol", "--proposed", "bad.json"]);
    expect(bad.status).toBe(1);
    expect(bad.err).toBe("varsel: rule x: at least one limit is required\n");
    const none = varsel(["backtest", "--file", "r.ndjson"]);
    expect(none.status).toBe(2);
    expect(none.err).toBe("varsel: backtest needs --programme or --patients\n");
  });
});
