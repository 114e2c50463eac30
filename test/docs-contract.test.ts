// The docs are part of the contract: every catalogued error code is in docs/http.md (with its
// status), in the AsyncAPI ErrorCode enum and in docs/openapi.json's, and nothing else is; every
// code the prose and examples of http.md, websocket.md and asyncapi.yaml name exists, with the
// status they give it; every route the server registers is in docs/http.md's route table, and
// the table names no route the server lacks. Both ways, as fastify's error test does.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ERRORS } from "../engine/errors.js";

const http = readFileSync(new URL("../docs/http.md", import.meta.url), "utf8");
const websocket = readFileSync(new URL("../docs/websocket.md", import.meta.url), "utf8");
const asyncapiText = readFileSync(new URL("../docs/asyncapi.yaml", import.meta.url), "utf8");
const asyncapi = parse(asyncapiText);
const openapi = JSON.parse(readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8"));
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

  it("the OpenAPI ErrorCode is the catalogue, and the Error schema answers with it", () => {
    const codes = openapi.components.schemas.ErrorCode.anyOf.map((c: { const: string }) => c.const);
    expect([...codes].sort()).toEqual(Object.keys(ERRORS).sort());
    expect(openapi.components.schemas.Error.properties.code).toEqual({ $ref: "#/components/schemas/ErrorCode" });
  });

  it("websocket.md's table of socket errors names catalogued codes only", () => {
    const named = tableUnder(websocket, "## Errors").flatMap(([cell]) => [...cell.matchAll(/`([a-z_]+)`/g)].map(([, c]) => c));
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((c) => !Object.hasOwn(ERRORS, c))).toEqual([]);
  });

  describe.each([
    ["docs/http.md", http],
    ["docs/websocket.md", websocket],
    ["docs/asyncapi.yaml", asyncapiText],
  ])("every code %s names exists, with the status it gives it", (_, text) => {
    it("in examples and prose", () => {
      const named = [
        ...[...text.matchAll(/"code"\s*:\s*"([a-z_]+)"\s*,\s*"message"/g)].map(([, c]) => c), // JSON error bodies and rejections
        ...[...text.matchAll(/^\s*-?\s*code:\s*([a-z_]+)\s*$/gm)].map(([, c]) => c), // YAML examples
        ...[...text.matchAll(/`error` `([a-z_]+)`/g)].map(([, c]) => c), // "answered `error` `overloaded`"
      ];
      // "`422 invalid_body`", "HTTP `503` `shutting_down`", "409 alert_not_open": the status must be the code's.
      const withStatus = [...text.matchAll(/`?\b([1-5]\d\d)`?\s+`?([a-z]+_[a-z_]+)`?/g)].map(([, status, c]) => [c, Number(status)] as const);
      expect(named.length + withStatus.length).toBeGreaterThan(0);
      expect(named.filter((c) => !Object.hasOwn(ERRORS, c))).toEqual([]);
      expect(withStatus.filter(([c, status]) => !Object.hasOwn(ERRORS, c) || ERRORS[c as keyof typeof ERRORS].status !== status)).toEqual([]);
    });
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
