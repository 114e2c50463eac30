// `npm start`'s entry point as a real process: it prints local tokens, serves, feeds the demo,
// and on SIGTERM closes sockets with a reason and exits cleanly.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TestSocket } from "./support/ws-client.js";

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  return port;
}

describe("server/main.ts", () => {
  it("starts on its embedded default, prints tokens, serves the demo, and stops gracefully on SIGTERM", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "varsel-start-"));
    const database = `sqlite:${join(dir, "varsel.db")}`;
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--demo", "--port", String(port), "--database", database], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, LOG_LEVEL: "warn", VARSEL_JWT_SECRET: "", PORT: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const exited = once(child, "exit");
    try {
      for (let i = 0; i < 100 && !/device\s+\S+/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/dev mode: generated VARSEL_JWT_SECRET=/);
      expect(out).toMatch(/store: sqlite/);
      const tokens = Object.fromEntries([...out.matchAll(/^\s+(admin|clinician|device)\s+(\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(Object.keys(tokens).sort()).toEqual(["admin", "clinician", "device"]);

      const alerts = await fetch(`http://127.0.0.1:${port}/v1/alerts`, { headers: { authorization: `Bearer ${tokens.clinician}` } });
      expect(alerts.status).toBe(200);
      expect(((await alerts.json()) as { alerts: unknown[] }).alerts.length).toBeGreaterThan(0);

      const socket = await TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, tokens.clinician);
      child.kill("SIGTERM");
      expect(await socket.closed).toEqual({ code: 1001, reason: "shutting_down" });
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
