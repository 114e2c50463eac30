// The `varsel` command as operators run it: the compiled dist/server/main.js as a child process
// (built once before the tests by test/support/build-dist.ts, as `npm run build` does). Bad options end with one line and a
// non-zero exit code; `serve` writes pino JSON only to stdout, never prints a token, logs what
// the store and the engine did, and stops gracefully on SIGTERM, also when `npm start` started it.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TestSocket } from "./support/ws-client.js";
import { listeningPort } from "./support/child-server.js";
import { PG_URL, probePostgres, REQUIRE_SERVICES } from "./support/stores.js";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "dist/server/main.js");
/** Three base64url parts separated by dots: what a JWT looks like in any output. */
const JWT = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
const SECRET = "configured-secret-long-enough-for-hs256-0123456789";
/** Settings of the developer's shell that would change what the command sees. */
const CLEAN = { PORT: "", HOST: "", VARSEL_CLOCK: "", VARSEL_JWKS: "", VARSEL_JWT_SECRET: "", VARSEL_DATABASE_URL: "", VARSEL_TRANSPORT: "", LOG_LEVEL: "", PGUSER: "" };

const dir = mkdtempSync(join(tmpdir(), "varsel-cli-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `varsel …` to completion: stdout, stderr, exit code. */
function varsel(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, env: { ...process.env, ...CLEAN, VARSEL_DEV_SECRET_FILE: join(dir, "dev-secret"), ...env }, encoding: "utf8", timeout: 30_000 });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  return port;
}

/** A command that keeps running (`serve`, `npm start`): resolves once it logged "varsel listening". */
async function start(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...CLEAN, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { out: "", err: "" };
  child.stdout.on("data", (d) => (output.out += d));
  child.stderr.on("data", (d) => (output.err += d));
  const exited = once(child, "exit");
  for (let i = 0; i < 300 && listeningPort(output.out) === undefined && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  const port = listeningPort(output.out);
  if (port === undefined) throw new Error(`did not start:\n${output.out}${output.err}`);
  await new Promise((r) => setTimeout(r, 200)); // whatever start-up logs after the address
  return { child, output, exited, port };
}

/** Every stdout line as JSON (throws on a line that is not). */
function logLines(out: string): { level: number; msg: string; [k: string]: unknown }[] {
  return out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

describe("varsel/client for integrators", () => {
  it("plain node imports the compiled client by its package name, with its type declarations beside it", () => {
    const script = 'import("varsel/client").then((m) => console.log(typeof m.VarselClient))';
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("function");
    expect(existsSync(join(ROOT, "dist/client/index.d.ts"))).toBe(true);
  });
});

describe("varsel --version and --help", () => {
  it("--version prints package.json's version", () => {
    const r = varsel(["--version"]);
    expect(r.status).toBe(0);
    expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  });

  it("--help lists every environment variable the server and the engine read, and the secret's 32-character floor", () => {
    const r = varsel(["--help"]);
    expect(r.status).toBe(0);
    const read = new Set<string>();
    const walk = (d: string) => {
      for (const f of readdirSync(join(ROOT, d), { withFileTypes: true })) {
        if (f.isDirectory()) walk(join(d, f.name));
        else if (f.name.endsWith(".ts")) {
          const text = readFileSync(join(ROOT, d, f.name), "utf8");
          for (const m of text.matchAll(/process\.env\.([A-Z_]+)|process\.env\[\s*"([A-Z_]+)"|\benv\("([A-Z_]+)"/g)) read.add(m[1] ?? m[2] ?? m[3]);
          for (const m of text.matchAll(/_ENV = "([A-Z_]+)"/g)) read.add(m[1]);
        }
      }
    };
    walk("server");
    walk("engine");
    expect(read.size).toBeGreaterThan(8);
    for (const name of read) expect(r.out, name).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    expect(r.out).toMatch(/VARSEL_JWT_SECRET .*at least 32 characters/);
    for (const command of ["serve", "token", "migrate", "check"]) expect(r.out).toMatch(new RegExp(`^  ${command} `, "m"));
  });
});

describe("bad options and settings: one line on stderr, a non-zero exit code, no stack trace", () => {
  const cases: { name: string; args: string[]; env?: Record<string, string>; says: RegExp; status?: number }[] = [
    { name: "--port abc", args: ["serve", "--port", "abc", "--memory"], says: /--port must be a whole number from 0 to 65535, not "abc"/ },
    { name: "PORT=abc (the default command is serve)", args: ["--memory"], env: { PORT: "abc" }, says: /^varsel: PORT must be a whole number/ },
    { name: "--port 70000", args: ["serve", "--port", "70000"], says: /--port must be a whole number from 0 to 65535/ },
    { name: "a short VARSEL_JWT_SECRET", args: ["serve", "--memory"], env: { VARSEL_JWT_SECRET: "short-secret" }, says: /VARSEL_JWT_SECRET must be at least 32 characters \(it has 12\)/ },
    { name: "a PostgreSQL URL without a user", args: ["serve", "--database", "postgres://127.0.0.1:5432/test"], says: /--database names no PostgreSQL user: write postgres:\/\/USER/ },
    { name: "a bad ?schema=", args: ["migrate", "--database", "postgres://u@127.0.0.1:5432/test?schema=1-bad"], says: /\?schema="1-bad" is not a schema name/ },
    { name: "a URL of another database", args: ["migrate"], env: { VARSEL_DATABASE_URL: "mysql://u:pw@host/db" }, says: /VARSEL_DATABASE_URL "mysql:\/\/u:\*\*\*@host\/db" is not a store/ },
    { name: "an unknown option", args: ["serve", "--prot", "1"], says: /unknown option '--prot'/ },
    { name: "an unknown LOG_LEVEL", args: ["serve", "--memory"], env: { LOG_LEVEL: "loud" }, says: /LOG_LEVEL must be one of/ },
    { name: "a VARSEL_EVENT_RETENTION_AGE that is not a duration", args: ["serve", "--memory"], env: { VARSEL_EVENT_RETENTION_AGE: "24" }, says: /VARSEL_EVENT_RETENTION_AGE must be a duration such as 90m, 24h or 30d/ },
    { name: "a VARSEL_EVENT_RETENTION_COUNT under its floor", args: ["serve", "--memory"], env: { VARSEL_EVENT_RETENTION_COUNT: "10" }, says: /VARSEL_EVENT_RETENTION_COUNT must be a whole number from 5000 to 1000000/ },
    { name: "a missing JWKS file", args: ["serve", "--memory", "--jwks", "/nonexistent/jwks.json"], says: /--jwks \/nonexistent\/jwks.json: no such file/ },
    { name: "--clock virtual without --allow-virtual-clock", args: ["serve", "--memory", "--clock", "virtual"], says: /--clock virtual lets an admin call move the engine's clock .*add --allow-virtual-clock to confirm/ },
    { name: "VARSEL_CLOCK=virtual without --allow-virtual-clock", args: ["serve", "--memory"], env: { VARSEL_CLOCK: "virtual" }, says: /VARSEL_CLOCK virtual lets an admin call .*--allow-virtual-clock/ },
    { name: "--clock sundial", args: ["serve", "--memory", "--clock", "sundial"], says: /--clock must be system or virtual, not "sundial"/ },
    { name: "--clock-start without a virtual clock", args: ["serve", "--memory", "--clock-start", "2027-01-01T00:00:00Z"], says: /--clock-start needs --clock virtual/ },
    { name: "--demo on a virtual clock", args: ["serve", "--memory", "--demo", "--clock", "virtual", "--allow-virtual-clock"], says: /--demo runs on the system clock/ },
    { name: "simulate --accelerate --follow", args: ["simulate", "--accelerate", "--follow"], says: /option '--accelerate' cannot be used with option '--follow'/ },
    { name: "token without --role", args: ["token"], says: /required option '--role <role>'/ },
    { name: "token --ttl 5x", args: ["token", "--role", "admin", "--ttl", "5x"], says: /'5x' is invalid/ },
    { name: "token without teams", args: ["token", "--role", "device"], env: { VARSEL_JWT_SECRET: SECRET }, says: /--teams is required/ },
    { name: "token without any secret", args: ["token", "--role", "admin"], says: /no secret: set VARSEL_JWT_SECRET/ },
    { name: "an unreachable store (exit 1)", args: ["serve", "--port", "0", "--database", "postgres://u:hunter2@127.0.0.1:1/none"], status: 1, says: /cannot open the postgres store postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/none: .*ECONNREFUSED/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = varsel(c.args, c.env);
      expect(r.status).toBe(c.status ?? 2);
      expect(r.out).toBe("");
      expect(r.err.split("\n").filter(Boolean)).toHaveLength(1);
      expect(r.err).toMatch(/^varsel: /);
      expect(r.err).toMatch(c.says);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(r.err).not.toContain("short-secret");
      expect(r.err).not.toContain("hunter2");
    });
  }

  it("a port in use: exit 1 with one line, on both transports", async () => {
    const held = createServer().listen(0, "127.0.0.1");
    await once(held, "listening");
    const port = String((held.address() as { port: number }).port);
    try {
      for (const transport of ["uws", "ws"]) {
        const r = varsel(["serve", "--memory", "--port", port, "--transport", transport], { VARSEL_JWT_SECRET: SECRET, LOG_LEVEL: "silent" });
        expect(r.status).toBe(1);
        expect(r.err).toMatch(new RegExp(`^varsel: cannot listen on 127\\.0\\.0\\.1:${port}: .+\\n$`));
      }
    } finally {
      held.close();
    }
  });
});

describe("varsel serve", () => {
  it("dev mode: JSON logs only on stdout, the warning on stderr too, no token printed; logs the store, the recovery and the final snapshot; counts demo readings; stops on SIGTERM", async () => {
    const port = await freePort();
    const env = { VARSEL_DEV_SECRET_FILE: join(dir, "keys", "dev-secret") };
    const { child, output, exited } = await start(process.execPath, [MAIN, "serve", "--demo", "--port", String(port), "--database", `sqlite:${join(dir, "dev.db")}`], env);
    try {
      // stderr is its own pipe: under load its lines may arrive after the address on stdout.
      for (let i = 0; i < 200 && !/varsel token --role/.test(output.err); i++) await new Promise((r) => setTimeout(r, 50));
      expect(output.err).toMatch(/WARNING: DEV MODE, NOT FOR PATIENT DATA.*generated development secret.*Tokens are not printed/);
      expect(output.err).toMatch(/varsel token --role clinician --teams/);
      const secret = readFileSync(env.VARSEL_DEV_SECRET_FILE, "utf8").trim();
      expect(secret.length).toBeGreaterThanOrEqual(32);
      expect(statSync(env.VARSEL_DEV_SECRET_FILE).mode & 0o777).toBe(0o600);

      const minted = varsel(["token", "--role", "clinician", "--teams", "hospital-lung,hospital-heart", "--sub", "dr-test", "--ttl", "10m"], env);
      expect(minted.status).toBe(0);
      const token = minted.out.trim();
      expect(token).toMatch(new RegExp(`^${JWT.source}$`));
      const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
      expect(claims).toMatchObject({ sub: "dr-test", role: "clinician", teams: ["hospital-lung", "hospital-heart"] });
      expect(claims.exp - claims.iat).toBe(600);

      // The simulated demo replays two days in the background: alerts come within seconds.
      const openAlerts = async () => {
        const alerts = await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
        expect(alerts.status).toBe(200);
        return ((await alerts.json()) as { alerts: unknown[] }).alerts.length;
      };
      for (let i = 0; i < 150 && (await openAlerts()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await openAlerts()).toBeGreaterThan(0);
      // The simulated demo replays its history in the background: its readings are counted as they are accepted.
      const demoReadings = async () => Number(/^varsel_readings_ingested_total\{channel="demo"\} (\d+)/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? 0);
      for (let i = 0; i < 100 && (await demoReadings()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await demoReadings()).toBeGreaterThan(0);

      // The board: where it is and how to sign in; development sign-in needs no token.
      expect(output.err).toContain(`the board: http://127.0.0.1:${port}/ (press "Sign in for development": no token needed)`);
      const dev = await fetch(`http://127.0.0.1:${port}/v1/dev/token?role=clinician&teams=hospital-lung`);
      expect(dev.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${((await dev.json()) as { token: string }).token}` } })).status).toBe(200);

      const socket = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, token);
      child.kill("SIGTERM");
      expect(await socket.closed).toEqual({ code: 1001, reason: "shutting_down" });
      const [code] = await exited;
      expect(code).toBe(0);

      const lines = logLines(output.out); // every stdout line is JSON
      const messages = lines.map((l) => l.msg);
      expect(lines.find((l) => l.msg === "store opened and migrated")).toMatchObject({ store: "sqlite", schemaVersion: 4, migrated: ["1 initial", "2 snapshot parts", "3 readings view", "4 audit trail"] });
      expect(lines.find((l) => l.msg === "engine recovered from the store")).toMatchObject({ after: "start", snapshotPos: null, replayed: 0 });
      expect(lines.find((l) => l.msg === "varsel listening")).toMatchObject({ host: "127.0.0.1", port, url: `http://127.0.0.1:${port}` });
      expect(lines.find((l) => l.level === 40 && /DEV MODE/.test(l.msg))).toBeDefined();
      expect(lines.find((l) => /clinician's board/.test(l.msg))).toMatchObject({ board: `http://127.0.0.1:${port}/`, msg: expect.stringContaining("Sign in for development") });
      expect(lines.find((l) => /^demo: simulated patients/.test(l.msg))).toMatchObject({ patients: 16 });
      const snapshot = lines.find((l) => l.msg === "snapshot stored");
      expect(snapshot?.bytes).toBeGreaterThan(0);
      expect(messages.at(-1)).toBe("varsel stopped");
      expect(messages.lastIndexOf("snapshot stored")).toBeGreaterThan(messages.indexOf("shutting down")); // the final snapshot
      // No token, no secret, no patient identifier at info.
      expect(output.out + output.err).not.toMatch(JWT);
      expect(output.out + output.err).not.toContain(secret);
      for (const l of lines.filter((l) => l.level <= 30)) expect(JSON.stringify(l)).not.toMatch(/demo-(kol|hjerte|cgm)/);

      // A restart recovers from the final snapshot and logs it.
      const again = await start(process.execPath, [MAIN, "serve", "--port", "0", "--database", `sqlite:${join(dir, "dev.db")}`], env);
      again.child.kill("SIGTERM");
      await again.exited;
      const recovered = logLines(again.output.out).find((l) => l.msg === "engine recovered from the store");
      expect(recovered).toMatchObject({ after: "start", snapshotPos: snapshot!.pos, replayed: 0 });
      expect(logLines(again.output.out).find((l) => l.msg === "store opened")).toMatchObject({ migrated: [] });
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);

  it("with a configured secret: no dev secret written, `token` signs with it, a refused token is logged with its reason and without the token", async () => {
    const env = { VARSEL_JWT_SECRET: SECRET, VARSEL_DEV_SECRET_FILE: join(dir, "unused-dev-secret") };
    const { child, output, exited, port } = await start(process.execPath, [MAIN, "serve", "--memory", "--port", "0"], env);
    try {
      const minted = varsel(["token", "--role", "admin"], env);
      expect(minted.status).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${minted.out.trim()}` } })).status).toBe(200);
      const forged = minted.out.trim().slice(0, -4) + "AAAA";
      expect((await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
      // No development sign-in with a configured secret: answered as an unknown path.
      expect((await fetch(`http://127.0.0.1:${port}/v1/dev/token?role=clinician&teams=hospital-lung`)).status).toBe(404);
      await new Promise((r) => setTimeout(r, 100));
      child.kill("SIGTERM");
      await exited;
      const refused = logLines(output.out).filter((l) => l.msg === "token refused");
      expect(refused).toHaveLength(1);
      expect(refused[0]!.reason).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
      expect(output.out + output.err).not.toMatch(JWT);
      expect(output.out + output.err).not.toContain(SECRET);
      expect(output.out + output.err).not.toMatch(/DEV MODE/);
      expect(logLines(output.out).find((l) => /clinician's board/.test(l.msg))?.msg).toContain("paste a clinician token");
      expect(existsSync(env.VARSEL_DEV_SECRET_FILE)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  }, 30_000);

  it("`npm start` execs node: SIGTERM to npm stops the server (no orphan)", async () => {
    // --ignore-scripts skips prestart's build (done above); the start script itself runs.
    const npm = await start("npm", ["start", "--ignore-scripts", "--", "--memory", "--port", "0"], { VARSEL_JWT_SECRET: SECRET });
    // npm prints its own banner ("> varsel@0.1.0 start") before the server's JSON lines.
    const server = npm.output.out.split("\n").filter((l) => l.startsWith("{")).join("\n");
    const pid = logLines(server).find((l) => l.msg === "varsel listening")?.pid as number;
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(npm.child.pid); // the server is npm's child, not npm
    npm.child.kill("SIGTERM");
    await npm.exited;
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    expect(npm.output.out).toMatch(/"msg":"varsel stopped"/);
  }, 30_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("varsel migrate and varsel check", () => {
  it("SQLite: check changes nothing; migrate applies every migration once; check then reports the current schema", () => {
    const db = join(dir, "migrate.db");
    const env = { VARSEL_JWT_SECRET: "Zq3v9Lr2mX8pW4tY7uB1nC6kD0hF5gJ2sA9eR3" };
    const before = varsel(["check", "--database", db], env);
    expect(before.status).toBe(0);
    expect(before.out).toMatch(/^ok {3}store: sqlite .* does not exist yet/m);
    expect(existsSync(db)).toBe(false);
    expect(before.out).toMatch(/^ok {3}token keys: VARSEL_JWT_SECRET: 38 characters/m);
    expect(before.out).toMatch(/^ok {3}kernel: /m);

    expect(varsel(["migrate", "--database", db]).out).toMatch(/schema at version 4; applied 1 \(initial\), 2 \(snapshot parts\), 3 \(readings view\), 4 \(audit trail\)/);
    expect(varsel(["migrate"], { VARSEL_DATABASE_URL: db }).out).toMatch(/schema at version 4; nothing to apply/);
    expect(varsel(["check", "--database", db], env).out).toMatch(/^ok {3}store: sqlite .* is reachable, schema at version 4 \(current\)/m);
  });

  it("check: a weak secret warns, a short one and an unreachable store fail with exit code 1", () => {
    const weak = varsel(["check", "--memory"], { VARSEL_JWT_SECRET: "a".repeat(40) });
    expect(weak.status).toBe(0);
    expect(weak.out).toMatch(/^warn token keys: VARSEL_JWT_SECRET looks weak: about 0 bits/m);
    const failing = varsel(["check", "--database", "postgres://u@127.0.0.1:1/none"], { VARSEL_JWT_SECRET: "short" });
    expect(failing.status).toBe(1);
    expect(failing.out).toMatch(/^fail configuration: VARSEL_JWT_SECRET must be at least 32 characters/m);
    expect(failing.out).toMatch(/^fail store: postgres postgres:\/\/u@127\.0\.0\.1:1\/none: .*ECONNREFUSED/m);
    expect(failing.err).toBe("");
  });

  describe("PostgreSQL", async () => {
    const problem = await probePostgres(PG_URL);
    const skip = problem !== undefined && !REQUIRE_SERVICES;
    it.skipIf(skip)("migrate then check on a fresh schema", async () => {
      const schema = `varsel_cli_${process.pid}`;
      const url = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
      try {
        expect(varsel(["check", "--database", url]).out).toMatch(/is reachable, schema at version 0; 4 migration\(s\) to apply/);
        expect(varsel(["migrate", "--database", url]).out).toMatch(/^postgres .*: schema at version 4; applied 1 \(initial\)/);
        expect(varsel(["check", "--database", url]).out).toMatch(/schema at version 4 \(current\)/);
      } finally {
        const pg = (await import("pg")).default;
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    });
  });
});

// A JWKS that cannot be read is a bad setting like any other.
describe("varsel serve --jwks", () => {
  it("a JWKS file that is not JSON: one line, exit 2", () => {
    const file = join(dir, "not-jwks.json");
    writeFileSync(file, "{nope");
    const r = varsel(["serve", "--memory", "--jwks", file]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`varsel: --jwks ${file}: not JSON\n`);
  });
});
