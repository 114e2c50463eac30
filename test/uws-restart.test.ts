// A server on uWebSockets.js killed with -9 while clients are connected can be started again on
// the same port at once (SO_REUSEADDR: see UwsTransport.listen), as the ws transport can. The
// clients keep their sockets open across the kill, so the dead server's side of each connection
// still holds the port (FIN_WAIT2) when the new one binds it.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, killHard, startChildServer } from "./support/child-server.js";
import { TestSocket } from "./support/ws-client.js";

const dir = mkdtempSync(join(tmpdir(), "varsel-uws-restart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A keep-alive HTTP connection that has had one answer and stays open. */
async function keepAlive(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {}); // the server dies under it
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write("GET /healthz HTTP/1.1\r\nhost: varsel\r\n\r\n");
  const answer = await new Promise<string>((resolve) => socket.once("data", (d: Buffer) => resolve(d.toString())));
  expect(answer).toMatch(/^HTTP\/1\.1 200/);
  return socket;
}

describe("uWebSockets.js restart on the same port", () => {
  it("listens again at once after kill -9 with open HTTP and WebSocket connections", async () => {
    const database = `sqlite:${join(dir, "varsel.db")}`;
    const env = { VARSEL_TRANSPORT: "uws" };
    const first = await startChildServer(database, env); // port 0: the case uSockets leaves without SO_REUSEADDR
    const nurse = await new Auth({ secret: CHILD_SECRET }).sign({ sub: "nurse", role: "clinician", teams: ["team-a"] });
    const http = await Promise.all([1, 2, 3].map(() => keepAlive(first.port)));
    const sockets = await Promise.all([1, 2].map(() => TestSocket.connect(`ws://127.0.0.1:${first.port}/v1/ws`, nurse)));
    sockets.forEach((s) => s.ws.on("error", () => {}));
    await killHard(first);
    try {
      const second = await startChildServer(database, env, first.port);
      try {
        expect(second.port).toBe(first.port);
        expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200);
      } finally {
        await killHard(second);
      }
    } finally {
      http.forEach((s) => s.destroy());
      sockets.forEach((s) => s.ws.terminate());
    }
  });
});
