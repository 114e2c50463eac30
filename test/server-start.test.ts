// `npm start`'s entry point as a real process: it serves, feeds the demo, never prints a token
// (dev mode says so loudly; `varsel token` mints one on demand), and on SIGTERM closes sockets
// with a reason and exits cleanly.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/child-server.js";
import { TestSocket } from "./support/ws-client.js";

const ROOT = new URL("..", import.meta.url).pathname;
/** Three base64url parts separated by dots: what a JWT looks like in any output. */
const JWT = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/** Starts server/main.ts; resolves once it printed its address (stdout and stderr collected). */
async function start(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info", PORT: "", VARSEL_JWKS: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { out: "" };
  child.stdout.on("data", (d) => (output.out += d));
  child.stderr.on("data", (d) => (output.out += d));
  const exited = once(child, "exit");
  for (let i = 0; i < 200 && !/varsel on http/.test(output.out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200)); // whatever start-up prints after the address
  return { child, output, exited };
}

/** `varsel token …` as an operator runs it: its stdout, stderr and exit code. */
function mint(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "server/main.ts", "token", ...args], {
    cwd: ROOT,
    env: { ...process.env, VARSEL_JWKS: "", ...env },
    encoding: "utf8",
  });
  return { out: r.stdout.trim(), err: r.stderr, status: r.status };
}

describe("server/main.ts", () => {
  it("dev mode: warns, prints no token, mints one on demand, serves the demo, and stops gracefully on SIGTERM", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "varsel-start-"));
    const env = { VARSEL_JWT_SECRET: "", VARSEL_DEV_SECRET_FILE: join(dir, "keys", "dev-secret") };
    const { child, output, exited } = await start(["--demo", "--port", String(port), "--database", `sqlite:${join(dir, "varsel.db")}`], env);
    try {
      expect(output.out).toMatch(/store: sqlite/);
      expect(output.out).toMatch(/WARNING: DEV MODE.*generated development secret.*Tokens are not printed/);
      expect(output.out).toMatch(/npm run token -- --role clinician --teams/);
      // Where the board is and how to sign in; the demo's patients.
      expect(output.out).toContain(`board: http://127.0.0.1:${port}/ (development sign-in`);
      expect(output.out).toMatch(/demo: 16 simulated patients/);
      const dev = await fetch(`http://127.0.0.1:${port}/v1/dev/token?role=clinician&teams=hospital-lung`);
      expect(dev.status).toBe(200);
      const board = await fetch(`http://127.0.0.1:${port}/`);
      expect(board.status).toBe(200);
      expect(board.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(output.out).not.toMatch(JWT);
      const secret = readFileSync(env.VARSEL_DEV_SECRET_FILE, "utf8").trim();
      expect(secret.length).toBeGreaterThanOrEqual(32);
      expect(output.out).not.toContain(secret);
      expect(statSync(env.VARSEL_DEV_SECRET_FILE).mode & 0o777).toBe(0o600);

      const minted = mint(["--role", "clinician", "--teams", "hospital-lung,hospital-heart", "--sub", "dr-test", "--expires", "10m"], env);
      expect(minted.status).toBe(0);
      expect(minted.out).toMatch(new RegExp(`^${JWT.source}$`));
      const claims = JSON.parse(Buffer.from(minted.out.split(".")[1]!, "base64url").toString());
      expect(claims).toMatchObject({ sub: "dr-test", role: "clinician", teams: ["hospital-lung", "hospital-heart"] });
      expect(claims.exp - claims.iat).toBe(600);

      const alerts = await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${minted.out}` } });
      expect(alerts.status).toBe(200);
      expect(((await alerts.json()) as { alerts: unknown[] }).alerts.length).toBeGreaterThan(0);

      const socket = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, minted.out);
      child.kill("SIGTERM");
      expect(await socket.closed).toEqual({ code: 1001, reason: "shutting_down" });
      const [code] = await exited;
      expect(code).toBe(0);
      expect(output.out).not.toMatch(JWT);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("with a configured secret: prints and logs no token and no secret, writes no dev secret; `token` signs with that secret", async () => {
    const dir = mkdtempSync(join(tmpdir(), "varsel-start-"));
    const secret = "configured-secret-long-enough-for-hs256-0123456789";
    const env = { VARSEL_JWT_SECRET: secret, VARSEL_DEV_SECRET_FILE: join(dir, "dev-secret") };
    const { child, output, exited } = await start(["--memory", "--port", "0"], env);
    try {
      const port = Number(/varsel on http:\/\/127\.0\.0\.1:(\d+)/.exec(output.out)?.[1]);
      expect(port).toBeGreaterThan(0);
      const minted = mint(["--role", "admin"], env);
      expect(minted.status).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${minted.out}` } })).status).toBe(200);
      // No development sign-in with a configured secret; the board says to paste a token.
      expect((await fetch(`http://127.0.0.1:${port}/v1/dev/token?role=clinician&teams=hospital-lung`)).status).toBe(404);
      expect(output.out).toContain("(sign in by pasting a clinician token: npm run token -- --role clinician --teams <teams>)");
      child.kill("SIGTERM");
      await exited;
      expect(output.out).not.toMatch(JWT);
      expect(output.out).not.toContain(secret);
      expect(output.out).not.toMatch(/DEV MODE/);
      expect(existsSync(env.VARSEL_DEV_SECRET_FILE)).toBe(false);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("`token` refuses without a secret, and a device or clinician token without teams", () => {
    const dir = mkdtempSync(join(tmpdir(), "varsel-token-"));
    try {
      const none = mint(["--role", "admin"], { VARSEL_JWT_SECRET: "", VARSEL_DEV_SECRET_FILE: join(dir, "absent") });
      expect(none.status).not.toBe(0);
      expect(none.out).toBe("");
      expect(none.err).toMatch(/no secret/);
      const noTeams = mint(["--role", "device"], { VARSEL_JWT_SECRET: "x".repeat(40) });
      expect(noTeams.status).not.toBe(0);
      expect(noTeams.err).toMatch(/--teams is required/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
