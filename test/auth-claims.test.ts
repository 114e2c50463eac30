// `iss` / `aud`: checked when VARSEL_JWT_ISSUER / VARSEL_JWT_AUDIENCE are set (docs/http.md,
// Conventions), not checked when they are not; `npm run token` mints tokens that pass.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VarselError } from "../engine/errors.js";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, killHard, startChildServer, type ChildServer } from "./support/child-server.js";

const SECRET = "claims-test-secret-long-enough-for-hs256";
const CLAIMS = { iss: "https://idp.region.example", aud: "varsel" };

/** A clinician token with the given `iss` / `aud` (absent when undefined). */
function token(secret: string, claims: { iss?: string; aud?: string | string[] }): Promise<string> {
  const jwt = new SignJWT({ role: "clinician", teams: ["lung"] }).setProtectedHeader({ alg: "HS256" }).setSubject("dr-jensen").setExpirationTime("5m");
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The code a token with these claims is refused with, or undefined when it verifies. */
async function refusal(auth: Auth, claims: { iss?: string; aud?: string | string[] }): Promise<string | undefined> {
  try {
    await auth.verify(await token(SECRET, claims));
    return undefined;
  } catch (err) {
    return err instanceof VarselError ? err.code : String(err);
  }
}

describe("iss and aud", () => {
  it("are checked when configured: iss equal, aud equal or among several", async () => {
    const auth = new Auth({ secret: SECRET, issuer: CLAIMS.iss, audience: CLAIMS.aud });
    expect(await refusal(auth, CLAIMS)).toBeUndefined();
    expect(await refusal(auth, { iss: CLAIMS.iss, aud: ["portal", "varsel"] })).toBeUndefined();
    expect(await refusal(auth, { aud: CLAIMS.aud })).toBe("unauthorized");
    expect(await refusal(auth, { iss: "https://other.example", aud: CLAIMS.aud })).toBe("unauthorized");
    expect(await refusal(auth, { iss: CLAIMS.iss })).toBe("unauthorized");
    expect(await refusal(auth, { iss: CLAIMS.iss, aud: "other" })).toBe("unauthorized");
  });

  it("are not checked when not configured", async () => {
    const auth = new Auth({ secret: SECRET });
    expect(await refusal(auth, {})).toBeUndefined();
    expect(await refusal(auth, { iss: "anyone", aud: "anything" })).toBeUndefined();
  });

  it("tokens the server signs carry the configured ones", async () => {
    const auth = new Auth({ secret: SECRET, issuer: CLAIMS.iss, audience: CLAIMS.aud });
    expect((await auth.verify(await auth.sign({ sub: "nurse", role: "clinician", teams: ["lung"] }))).sub).toBe("nurse");
  });
});

describe("VARSEL_JWT_ISSUER and VARSEL_JWT_AUDIENCE on a server process", () => {
  const env = { VARSEL_JWT_ISSUER: CLAIMS.iss, VARSEL_JWT_AUDIENCE: CLAIMS.aud };
  let dir: string;
  let server: ChildServer;
  const get = async (bearer: string) => (await fetch(`http://127.0.0.1:${server.port}/v1/programmes/telekol/thresholds`, { headers: { authorization: `Bearer ${bearer}` } })).status;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "varsel-claims-"));
    server = await startChildServer(join(dir, "varsel.db"), env);
  });
  afterAll(async () => {
    if (server !== undefined) await killHard(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuse a token without them, accept one with them, and `npm run token` mints one that passes", async () => {
    expect(await get(await token(CHILD_SECRET, {}))).toBe(401);
    expect(await get(await token(CHILD_SECRET, { iss: CLAIMS.iss, aud: "other" }))).toBe(401);
    expect(await get(await token(CHILD_SECRET, CLAIMS))).toBe(200);
    const minted = await promisify(execFile)(process.execPath, ["--import", "tsx", "server/main.ts", "token", "--role", "clinician", "--teams", "lung"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, VARSEL_JWT_SECRET: CHILD_SECRET, ...env },
    });
    expect(await get(minted.stdout.trim())).toBe(200);
  });
});
