// Starting a worker thread from this package's sources (tsx: tests, `npm run` scripts) and from
// its compiled output alike.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** tsx's ESM loader API, found from this file (not from the working directory). */
function tsxApi(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/index\.cjs$/, "index.mjs")).href;
}

/**
 * A worker running `name` (a file next to `from`, without extension). Under tsx the thread
 * registers the TypeScript loader before loading its entry (a worker's `--import` is not applied
 * to its entry on Node 20); compiled output needs none.
 */
export function startWorker(from: string, name: string): Worker {
  const ts = from.endsWith(".ts");
  const entry = new URL(`./${name}.${ts ? "ts" : "js"}`, from);
  return ts
    ? new Worker(`import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true })
    : new Worker(entry);
}
