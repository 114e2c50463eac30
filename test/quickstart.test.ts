// The README's quick start works as written: its commands (between the quickstart markers) run
// against a server started with its own first command, and the subscription prints the alert.
// Differences from a person at a terminal, and why:
// - `npm install` is not run (the dependencies are installed: the test runs inside the clone);
// - the server listens on a free port, not 8080 (tests run in parallel), and the commands'
//   `127.0.0.1:8080` is replaced with it;
// - its dev secret and database live in a temporary folder (VARSEL_DEV_SECRET_FILE,
//   VARSEL_DATABASE_URL), not in the clone's .varsel/;
// - npm's pre-scripts are skipped for `npm start` (prestart rebuilds the wasm kernel, which the
//   test files running beside this one are loading; `npm test` built it already).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const DOCUMENTED = "127.0.0.1:8080";

/** The sh blocks between `<!-- quickstart:start -->` and `<!-- quickstart:end -->`, in order. */
function quickstartBlocks(): string[] {
  const section = /<!-- quickstart:start -->([\s\S]*?)<!-- quickstart:end -->/.exec(README);
  if (section === null) throw new Error("README.md has no quickstart markers");
  return [...section[1].matchAll(/```sh\n([\s\S]*?)```/g)].map(([, code]) => code.trim());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on("error", reject);
  });
}

/** Runs a shell script in its own process group (so it and what it leaves running can be ended together), collecting its output. */
function run(script: string, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn("bash", ["-e", "-c", script], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out };
}

/** Ends a process group started by `run`: SIGTERM, and SIGKILL if it is still there after 5 s. */
async function end(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined) return;
  const group = -child.pid;
  try {
    process.kill(group, "SIGTERM");
  } catch {
    return; // already gone
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(group, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(group, "SIGKILL");
  } catch {
    // gone meanwhile
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${timeoutMs} ms; output:\n${output()}`);
}

describe("README quick start", () => {
  const dir = mkdtempSync(join(tmpdir(), "varsel-quickstart-"));
  const started: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of started) await end(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it("has a start command and four steps: tokens, a patient, a subscription, a reading", () => {
    const [start, ...steps] = quickstartBlocks();
    expect(start).toBe("npm install && npm start");
    expect(steps).toHaveLength(4);
    expect(steps.join("\n")).toContain(DOCUMENTED);
  });

  it("ends with the subscription printing the alert the reading raised", { timeout: 180_000 }, async () => {
    const [start, ...steps] = quickstartBlocks();
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), VARSEL_DEV_SECRET_FILE: join(dir, "dev-secret"), VARSEL_DATABASE_URL: join(dir, "varsel.db"), LOG_LEVEL: "warn" };
    delete env.VARSEL_JWT_SECRET;
    delete env.VARSEL_JWKS;

    const server = run(start.replace(/^npm install && /, ""), { ...env, npm_config_ignore_scripts: "true" });
    started.push(server.child);
    await until(
      "the server did not become ready",
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      90_000,
      server.output,
    );

    const user = run(steps.join("\n").replaceAll(DOCUMENTED, `127.0.0.1:${port}`), env);
    started.push(user.child);
    await until("the subscription printed no alert", () => /ALERT p-1 spo2-band red high firing/.test(user.output()), 60_000, user.output);
    // The reading's answer, printed by step 4's curl: evaluated red-low, one transition.
    await until("no ingest answer", () => user.output().includes('"transitions"'), 10_000, user.output);
    expect(user.output()).toMatch(/"triage":"LL"/);
    expect(user.output()).toMatch(/"transitions":1/);
  });
});
