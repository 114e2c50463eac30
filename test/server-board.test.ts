// The board's files and the development sign-in over real HTTP on both transports: the page and
// its hashed assets with their types, caching and Content-Security-Policy; nothing outside the
// build; and GET /v1/dev/token only on a server that signs with a generated development secret.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBoard } from "../board/build.js";
import { startServer, TRANSPORTS, type Harness } from "./support/server.js";

beforeAll(async () => {
  await buildBoard();
});

describe.each(TRANSPORTS)("the board on %s", (transport) => {
  let h: Harness;
  let dev: Harness;

  beforeAll(async () => {
    h = await startServer(transport);
    dev = await startServer(transport, {}, { devSignIn: true });
  });
  afterAll(async () => {
    await h.close();
    await dev.close();
  });

  it("serves the page at / with a strict CSP, revalidated on every load", async () => {
    const res = await h.http("GET", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.body).toMatch(/<script type="module" src="\/board\/app-[A-Z0-9]+\.js"><\/script>/);
  });

  it("serves the assets the page names with their types, cached for good", async () => {
    const page = (await h.http("GET", "/")).body as string;
    const assets = [...page.matchAll(/(?:src|href)="(\/board\/[^"]+)"/g)].map(([, path]) => path);
    expect(assets).toHaveLength(3);
    const types: Record<string, string> = { js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8", svg: "image/svg+xml" };
    for (const path of assets) {
      const res = await h.http("GET", path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe(types[path.split(".").pop()!]);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    }
  });

  it("serves nothing outside the build: unknown names, dot files, other types and escapes are 404", async () => {
    for (const path of ["/board/nope.js", "/board/index.html", "/board/.hidden.js", "/board/..%2F..%2Fpackage.json", "/board/%2e%2e%2Fvarsel.wasm", "/board/app.map", "/index.html", `/board/${"a".repeat(300)}.js`]) {
      const res = await h.http("GET", path);
      expect(res.status, path).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
  });

  it("has no development sign-in unless the server signs with a generated development secret", async () => {
    const res = await h.http("GET", "/v1/dev/token?role=clinician&teams=team-a");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ code: "not_found", message: "no such path" });
  });

  it("development sign-in: a short-lived clinician token of the asked teams that the API accepts", async () => {
    const res = await dev.http("GET", "/v1/dev/token?role=clinician&teams=team-a,team-b&sub=dr-dev");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body).toMatchObject({ sub: "dr-dev", role: "clinician", teams: ["team-a", "team-b"] });
    const claims = JSON.parse(Buffer.from(res.body.token.split(".")[1], "base64url").toString());
    expect(claims.exp - claims.iat).toBe(15 * 60);
    expect((await dev.http("GET", "/v1/alerts", { token: res.body.token })).status).toBe(200);
  });

  it("development sign-in answers only the board's own loopback origin: not a rebound host name, not another site", async () => {
    // node:http, not fetch: fetch will not send a Host of our choosing.
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = request(`${dev.base}/v1/dev/token?teams=team-a`, { headers }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d)).on("end", () => resolve({ status: res.statusCode!, body }));
        });
        r.on("error", reject).end();
      });
    const port = new URL(dev.base).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) expect((await get({ host })).status, host).toBe(200);
    const refused: Record<string, string>[] = [{ host: `evil.example:${port}` }, { host: `127.0.0.1:${port}`, origin: "https://evil.example" }];
    for (const headers of refused) {
      const res = await get(headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.body).not.toContain("token\"");
    }
    expect((await get({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it("development sign-in refuses other roles, no teams, and text that is not plain", async () => {
    const asked = async (query: string) => (await dev.http("GET", `/v1/dev/token${query}`)).body;
    expect(await asked("")).toEqual({ code: "invalid_field", message: "teams is required: a comma-separated list of care teams" });
    expect(await asked("?role=admin&teams=a")).toMatchObject({ code: "invalid_field", message: "role must be clinician" });
    expect(await asked("?teams=a,b%00c")).toMatchObject({ code: "invalid_field" });
    expect(await asked(`?teams=a&sub=${"x".repeat(300)}`)).toMatchObject({ code: "invalid_field" });
  });
});
