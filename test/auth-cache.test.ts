// Review probes of the verified-token cache (server/auth.ts).
// Holds: a token that expires while cached is refused (HTTP token_expired; its socket is closed).
// Finding (low): verification accepts other spellings of one token (whitespace anywhere in the
// signature, up to the auth message's 8 192 characters; a trailing "="; other last characters),
// and each spelling is its own cache entry: one valid token yields endless distinct "valid
// tokens", so a client can keep the cache clearing itself (and its entries are up to 8 kB each).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, startChildServer } from "./support/child-server.js";
import { TestSocket } from "./support/ws-client.js";

const tmp = mkdtempSync(join(tmpdir(), "varsel-review-auth-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("verified-token cache", () => {
  it("refuses a token that expired while it was cached, on HTTP and on its socket", async () => {
    const server = await startChildServer(`sqlite:${join(tmp, "a.db")}`);
    try {
      const auth = new Auth({ secret: CHILD_SECRET });
      const exp = Math.floor(Date.now() / 1000) + 3;
      const token = await auth.sign({ sub: "nurse", role: "clinician", teams: ["t"] }, exp);
      const get = () => fetch(`http://127.0.0.1:${server.port}/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
      expect((await get()).status).toBe(200);
      const socket = await TestSocket.connect(`ws://127.0.0.1:${server.port}/v1/ws`, token);
      expect((await get()).status).toBe(200); // from the cache
      await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
      const res = await get();
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe("token_expired");
      expect((await socket.closed).reason).toContain("token_expired");
      await expect(TestSocket.connect(`ws://127.0.0.1:${server.port}/v1/ws`, token)).rejects.toThrow();
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 30_000);

  it("accepts a token only in its one spelling (no whitespace inside, no padding)", async () => {
    const auth = new Auth({ secret: CHILD_SECRET });
    const token = await auth.sign({ sub: "gw", role: "device", teams: ["t"] });
    const [h, p, s] = token.split(".");
    const spellings = [`${h}.${p}.${s.slice(0, 9)} ${s.slice(9)}`, `${h}.${p}.${s.slice(0, 9)}${" ".repeat(8000)}${s.slice(9)}`, `${h}.${p}.${s.slice(0, 9)}\n${s.slice(9)}`, `${token}=`];
    const accepted = [];
    for (const t of spellings) if (await auth.verify(t).then(() => true, () => false)) accepted.push(JSON.stringify(t.slice(0, 60)));
    expect(accepted).toEqual([]);
  });
});
