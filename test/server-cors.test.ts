// CORS over real HTTP on both transports: a browser frontend on an allowed origin gets its
// preflight answered and can read answers (errors included); other origins, and a server with
// no origins configured, get no CORS headers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, TRANSPORTS, type Harness } from "./support/server.js";

const APP = "https://app.example.dk";

describe.each(TRANSPORTS)("CORS on %s", (transport) => {
  let h: Harness;
  let plain: Harness;
  let clinician: string;

  beforeAll(async () => {
    h = await startServer(transport, {}, { corsOrigins: [APP] });
    plain = await startServer(transport);
    clinician = await h.token("clinician", ["team-a"]);
  });
  afterAll(async () => {
    await h.close();
    await plain.close();
  });

  it("answers a preflight from an allowed origin with the methods and headers a frontend needs", async () => {
    const res = await h.http("OPTIONS", "/v1/alerts", { headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("vary")).toBe("Origin");
  });

  it("adds the origin to answers and to errors, so the browser can read their codes", async () => {
    const ok = await h.http("GET", "/v1/alerts", { token: clinician, headers: { origin: APP } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(APP);
    const denied = await h.http("GET", "/v1/alerts", { headers: { origin: APP } });
    expect(denied.status).toBe(401);
    expect(denied.body.code).toBeTypeOf("string");
    expect(denied.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("gives other origins, and a server without configured origins, no CORS headers", async () => {
    const other = await h.http("GET", "/v1/alerts", { token: clinician, headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await h.http("OPTIONS", "/v1/alerts", { headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expect(preflight.status).toBe(405);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const none = await plain.http("OPTIONS", "/v1/alerts", { headers: { origin: APP, "access-control-request-method": "GET" } });
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });
});
