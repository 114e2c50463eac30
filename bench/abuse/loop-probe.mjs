// A preload for bench:abuse's server (`--probe DIR`): writes DIR/probe-<pid>.log with the
// event-loop stalls (a 10 ms timer late by more than 40 ms: "stall <wall ms at its start> <ms late> cpu
// <ms>", the last the process's CPU time meanwhile: on a busy shared machine a stall much longer
// than its CPU was mostly waiting for a core),
// GC pauses over 5 ms ("gc <wall ms> <ms> kind <n>") and, each second, the loop delay p99 and max
// and process.memoryUsage() in MB ("hist <wall ms> p99 <ms> max <ms> rss <MB> heapTotal <MB> ..."). Wall-clock times, to set beside the bystander's POSTs
// (ABUSE_DEBUG_POSTS=1 logs each with its send time). A stall seen in every process at once is the
// machine (other work on the 2 cores), not the server. Plain .mjs: it loads before tsx.
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";

const file = join(process.env.ABUSE_PROBE_DIR ?? ".", `probe-${process.pid}.log`);
const lines = [];
const flush = () => {
  if (lines.length > 0) appendFileSync(file, lines.splice(0).join("\n") + "\n");
};
const origin = Date.now() - performance.now();
let last = performance.now();
let lastCpu = process.cpuUsage();
setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage();
  const late = now - last - 10;
  if (late > 40) lines.push(`stall ${Math.round(origin + last)} ${late.toFixed(1)} cpu ${((cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000).toFixed(1)}`);
  last = now;
  lastCpu = cpu;
}, 10).unref();
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
setInterval(() => {
  const m = process.memoryUsage();
  const mb = (x) => (x / 2 ** 20).toFixed(0);
  lines.push(`hist ${Date.now()} p99 ${(delay.percentile(99) / 1e6).toFixed(1)} max ${(delay.max / 1e6).toFixed(1)} rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}`);
  delay.reset();
  flush();
}, 1000).unref();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.duration > 5) lines.push(`gc ${Math.round(origin + e.startTime)} ${e.duration.toFixed(1)} kind ${e.detail?.kind}`);
}).observe({ entryTypes: ["gc"] });
process.on("exit", flush);
