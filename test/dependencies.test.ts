// The installed tree as package-lock.json pins it: no ws older than 8.17.1 anywhere (CVE-2024-37890:
// a request with many headers crashes a ws server; the uWebSockets.js build asks for 8.13.0, and
// package.json's overrides replaces it).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const lock = JSON.parse(readFileSync(new URL("../package-lock.json", import.meta.url), "utf8")) as { packages: Record<string, { version?: string }> };

/** [major, minor, patch] of a plain x.y.z version. */
function parts(version: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m === null) throw new Error(`not a version: ${version}`);
  return m.slice(1).map(Number);
}

/** a < b for x.y.z versions. */
function older(a: string, b: string): boolean {
  const [x, y] = [parts(a), parts(b)];
  const i = x.findIndex((v, k) => v !== y[k]);
  return i !== -1 && x[i]! < y[i]!;
}

describe("dependencies", () => {
  it("has no ws older than 8.17.1 anywhere in the lock file", () => {
    const ws = Object.entries(lock.packages).filter(([path]) => /(^|\/)node_modules\/ws$/.test(path));
    expect(ws.length).toBeGreaterThan(0);
    for (const [path, entry] of ws) expect(older(entry.version!, "8.17.1"), `${path}@${entry.version}`).toBe(false);
  });

  it("compares versions by number", () => {
    expect(older("8.13.0", "8.17.1")).toBe(true);
    expect(older("8.9.9", "8.17.1")).toBe(true);
    expect(older("8.17.1", "8.17.1")).toBe(false);
    expect(older("8.23.0", "8.17.1")).toBe(false);
  });
});
