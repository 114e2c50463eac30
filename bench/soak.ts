// npm run soak [-- --minutes 10 | --quick] — mixed load on a real server process for a long
// while (not in CI): device sockets ingesting, a gateway posting over HTTP, clinicians
// subscribed and acknowledging every alert, silences coming and going. Every 10 s it samples the
// server's RSS and the HTTP ingest latency of the window; at the end it reports memory growth per
// hour (least squares over the samples after the first minute) and latency drift (p99 of the last
// window ÷ the first after warm-up). Loopback only; it stops by itself.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, killHard, startChildServer } from "../test/support/child-server.js";
import { renderTable } from "./lib/table.js";

const { values: opt } = parseArgs({ options: { minutes: { type: "string" }, quick: { type: "boolean", default: false } } });
const minutes = opt.quick ? 1.5 : Number(opt.minutes ?? 10);
const PATIENTS = 200, TEAMS = 10, DEVICE_SOCKETS = 4, SAMPLE_MS = 10_000, WARMUP_MS = 60_000;
const team = (p: number) => `team-${p % TEAMS}`;

const dir = mkdtempSync(join(tmpdir(), "varsel-soak-"));
const server = await startChildServer(`sqlite:${join(dir, "soak.db")}`);
const base = `http://127.0.0.1:${server.port}`;
const auth = new Auth({ secret: CHILD_SECRET });
const teams = Array.from({ length: TEAMS }, (_, t) => `team-${t}`);
const admin = await auth.sign({ sub: "admin", role: "admin", teams: [] });
const device = await auth.sign({ sub: "gateway", role: "device", teams });
const clinician = await auth.sign({ sub: "nurse", role: "clinician", teams });
const post = (path: string, token: string, body: unknown, method = "POST") =>
  fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });

for (let p = 0; p < PATIENTS; p++) await post(`/v1/patients/s${p}`, admin, { programme: "telehjerte", careTeams: [{ team: team(p), role: "hospital" }] }, "PUT");

let seq = 0, acks = 0, readingsSent = 0;
/** Errors by code; an ack that arrives after its alert resolved (alert_not_open) is expected. */
const errors: Record<string, number> = {};
const count = (code: string) => (errors[code] = (errors[code] ?? 0) + 1);
const reading = (p: number) => ({ patient: `s${p}`, metric: "pulse", value: 60 + ((seq * 37 + p * 11) % 80), time: Date.now() - 1000, id: `m-${seq++}` });
const stopAt = Date.now() + minutes * 60_000;
const running = () => Date.now() < stopAt;

/** A socket with the token in its subprotocol; resolves once authenticated. */
function socket(token: string, onFrame: (ws: WebSocket, frame: Record<string, any>) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, ["varsel.v1.json", `bearer.${token}`]);
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === "authenticated") resolve(ws);
      if (frame.type === "error") count(frame.code);
      onFrame(ws, frame);
    });
    ws.once("error", reject);
  });
}

// Clinicians: subscribed, acknowledging every raised alert.
const watcher = await socket(clinician, (ws, f) => {
  if (f.type === "event" && f.event.type === "raised") ws.send(JSON.stringify({ type: "ack", id: `ack-${acks++}`, alert: f.event.alert.id, note: "seen" }));
});
watcher.send(JSON.stringify({ type: "subscribe" }));

// Device sockets: a frame of 20 readings every 50 ms each, one frame in flight.
const devices = await Promise.all(Array.from({ length: DEVICE_SOCKETS }, () => socket(device, () => undefined)));
const deviceLoops = devices.map(async (ws, k) => {
  let n = 0;
  while (running()) {
    ws.send(JSON.stringify({ type: "ingest", id: `d${k}-${n++}`, readings: Array.from({ length: 20 }, (_, i) => reading((k * 50 + i + n) % PATIENTS)) }));
    readingsSent += 20;
    await new Promise((r) => setTimeout(r, 50));
  }
});

// A gateway over HTTP (the latency measured), and silences every few seconds.
let window: number[] = [];
const httpLoop = (async () => {
  while (running()) {
    const started = performance.now();
    const res = await post("/v1/measurements", device, Array.from({ length: 10 }, (_, i) => reading((seq + i) % PATIENTS)));
    await res.arrayBuffer();
    if (res.status >= 400) count(`http ${res.status}`);
    window.push(performance.now() - started);
    readingsSent += 10;
    await new Promise((r) => setTimeout(r, 20));
  }
})();
const silenceLoop = (async () => {
  while (running()) {
    const res = await post("/v1/silences", clinician, { patient: `s${seq % PATIENTS}`, until: Date.now() + 3_000, reason: "soak" });
    if (res.status !== 201) count(`silence ${res.status}`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
})();

/**
 * The server's resident memory, MB: anonymous (heap, buffers, native allocations: what the server
 * holds) and file-backed (the SQLite file's pages the store maps: page cache that grows with the
 * database and is given back under pressure). Growth per hour is judged on the anonymous part.
 */
const rssMb = () => {
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { anon: kb("RssAnon") / 1024, file: kb("RssFile") / 1024 };
};
const p = (xs: number[], q: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]);
const samples: { t: number; rss: number; file: number; p50: number; p99: number; posts: number }[] = [];
const t0 = Date.now();
while (running()) {
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  const { anon, file } = rssMb();
  samples.push({ t: Date.now() - t0, rss: anon, file, p50: p(window, 0.5), p99: p(window, 0.99), posts: window.length });
  window = [];
}
await Promise.all([...deviceLoops, httpLoop, silenceLoop]);
for (const ws of [watcher, ...devices]) ws.close();
await killHard(server);
rmSync(dir, { recursive: true, force: true });

// Least squares over the samples after the warm-up (all of them when the run is shorter).
const steady = samples.filter((s) => s.t > WARMUP_MS).length >= 2 ? samples.filter((s) => s.t > WARMUP_MS) : samples;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const mt = mean(steady.map((s) => s.t)), mr = mean(steady.map((s) => s.rss));
const slope = steady.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0) / Math.max(1e-9, steady.reduce((a, s) => a + (s.t - mt) ** 2, 0));
const growthPerHour = slope * 3_600_000;
const drift = steady.at(-1)!.p99 / steady[0].p99;
const unexpected = Object.entries(errors).filter(([code]) => code !== "alert_not_open").reduce((a, [, n]) => a + n, 0);

process.stdout.write(
  renderTable(["t (s)", "RSS anon MB", "RSS file MB", "POST p50 ms", "POST p99 ms", "posts"], samples.map((s) => [(s.t / 1000).toFixed(0), s.rss.toFixed(0), s.file.toFixed(0), s.p50.toFixed(1), s.p99.toFixed(1), String(s.posts)]), ["r", "r", "r", "r", "r", "r"]) +
    `\n\n${minutes} min: ${readingsSent} readings sent, ${acks} acks, errors ${JSON.stringify(errors)}. anonymous RSS ${steady[0].rss.toFixed(0)} → ${steady.at(-1)!.rss.toFixed(0)} MB after warm-up: ${growthPerHour.toFixed(1)} MB/h; POST p99 ${steady[0].p99.toFixed(1)} → ${steady.at(-1)!.p99.toFixed(1)} ms (drift ${drift.toFixed(2)}×, last window ÷ first after warm-up)\n\n`,
);
process.stdout.write(
  `${JSON.stringify({ minutes, readings_sent: readingsSent, acks, errors, unexpected_errors: unexpected, rss_start_mb: Math.round(steady[0].rss), rss_end_mb: Math.round(steady.at(-1)!.rss), rss_file_end_mb: Math.round(steady.at(-1)!.file), rss_growth_mb_per_h: Math.round(growthPerHour), p99_first_ms: steady[0].p99, p99_last_ms: steady.at(-1)!.p99, p99_drift: Number(drift.toFixed(3)) })}\n`,
);
process.exit(unexpected === 0 ? 0 : 1);
