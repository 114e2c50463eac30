// The docs are part of the contract: every catalogued error code is in docs/http.md (with its
// status), in the AsyncAPI ErrorCode enum, and nothing else is; every route the server registers
// is in docs/http.md's route table, and the table names no route the server lacks. Both ways, as
// fastify's error test does.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ERRORS } from "../engine/errors.js";

const http = readFileSync(new URL("../docs/http.md", import.meta.url), "utf8");
const asyncapi = parse(readFileSync(new URL("../docs/asyncapi.yaml", import.meta.url), "utf8"));
const routesSource = readFileSync(new URL("../server/http/routes.ts", import.meta.url), "utf8");

/** Rows of the table under a heading: the cells of each `| ... |` line after the header. */
function tableUnder(doc: string, heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading ${heading}`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of doc.slice(start + heading.length + 2).split("\n")) {
    if (line.startsWith("|")) {
      inTable = true;
      rows.push(line.split("|").slice(1, -1).map((c) => c.trim()));
    } else if (inTable) break;
  }
  return rows.slice(2); // header and separator
}

describe("docs keep the error catalogue", () => {
  const rows = tableUnder(http, "### Error codes").map(([code, status]) => [code.replace(/`/g, ""), Number(status)] as const);

  it("docs/http.md lists every code with its status, and no other", () => {
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, spec.status])));
    expect(rows.length).toBe(Object.keys(ERRORS).length); // no code twice
  });

  it("the AsyncAPI ErrorCode enum is the catalogue", () => {
    expect([...asyncapi.components.schemas.ErrorCode.enum].sort()).toEqual(Object.keys(ERRORS).sort());
  });
});

describe("docs keep the route table", () => {
  const served = [...routesSource.matchAll(/\.on\("([A-Z]+)", "([^"]+)"/g)].map(([, m, p]) => `${m} ${p}`).sort();
  const documented = tableUnder(http, "## Routes")
    .flatMap(([cell]) => [...cell.matchAll(/`([A-Z]+ [^`]+)`/g)].map(([, r]) => r))
    .filter((r) => r !== "GET /v1/ws (WebSocket upgrade)" && !r.startsWith("GET /v1/ws"))
    .sort();

  it("every route the server registers is documented, and every documented route is served", () => {
    expect(served.length).toBeGreaterThan(10);
    expect(documented).toEqual(served);
  });
});
