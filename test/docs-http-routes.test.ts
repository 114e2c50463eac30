// Keeps docs/http.md's Routes table and the router in step: every route served is documented,
// and every documented route is served (the WebSocket upgrade is the transport's, not the router's).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");

describe("docs/http.md Routes table", () => {
  it("lists exactly the routes server/http/routes.ts serves", () => {
    const served = [...read("server/http/routes.ts").matchAll(/\.on\("([A-Z]+)", "([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
    const docs = read("docs/http.md");
    const table = docs.slice(docs.indexOf("## Routes"), docs.indexOf("\n## ", docs.indexOf("## Routes") + 1));
    const documented = table
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .flatMap((line) => [...line.split("|")[1]!.matchAll(/`([A-Z]+ \/[^`]*)`/g)].map((m) => m[1]!))
      .filter((route) => route !== "GET /v1/ws");
    expect(served.length).toBeGreaterThan(10);
    expect([...documented].sort()).toEqual([...served].sort());
  });
});
