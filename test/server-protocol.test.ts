// Issue 11's protocol mismatches, over real sockets on both transports: another team's alerts
// and silences answer exactly as unknown ones (no existence oracle), invalid UTF-8 is
// malformed_json, methods the API has no route for are 405, application/x-msgpack is MessagePack.
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { msgpack, registerPatient, startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const MIN = 60_000;
/** `{"type":"ping","id":"` + byte 0xff + `"}`: JSON whose only flaw is a byte that is not UTF-8. */
const BAD_UTF8_PING = Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from([0xff]), Buffer.from('"}')]);

/** One raw HTTP/1.1 request; the answer as text ("" when the server closed without one). */
async function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => socket.destroy(), 1000);
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(request);
  });
}

describe.each(TRANSPORTS)("protocol on %s", (transport) => {
  let h: Harness;
  const sockets: TestSocket[] = [];
  const at = () => new Date(h.clock.now()).toISOString();

  beforeEach(async () => {
    h = await startServer(transport);
    await registerPatient(h, "pa", "team-a");
  });
  afterEach(async () => {
    sockets.splice(0).forEach((s) => s.close());
    await h.close();
  });

  it("another team's alert answers ack, history and socket ack exactly as an unknown alert", async () => {
    const device = await h.token("device", ["team-a"]);
    await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "pa", metric: "pulse", value: 125, time: at() }] });
    const admin = await h.token("admin", []);
    const [alert] = (await h.http("GET", "/v1/alerts", { token: admin })).body.alerts;
    expect(alert.patient).toBe("pa");
    const outsider = await h.token("clinician", ["team-b"]);

    for (const [method, path] of [["POST", "/ack"], ["GET", "/history"]] as const) {
      const unknown = await h.http(method, `/v1/alerts/a-unknown${path}`, { token: outsider, body: method === "POST" ? {} : undefined });
      const foreign = await h.http(method, `/v1/alerts/${alert.id}${path}`, { token: outsider, body: method === "POST" ? {} : undefined });
      expect(unknown.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect(foreign.body).toEqual(unknown.body);
      expect(foreign.body).toEqual({ code: "not_found", message: "alert not found" });
    }

    const s = await TestSocket.connect(h.wsUrl, outsider);
    sockets.push(s);
    s.send({ type: "ack", id: "u", alert: "a-unknown" });
    const unknown = await s.next((f) => f.type === "error");
    s.send({ type: "ack", id: "u", alert: alert.id });
    const foreign = await s.next((f) => f.type === "error");
    expect(unknown).toMatchObject({ code: "not_found", id: "u" });
    expect(foreign).toEqual(unknown);

    // The care team and admins still acknowledge and read it.
    const mine = await h.token("clinician", ["team-a"]);
    expect((await h.http("GET", `/v1/alerts/${alert.id}/history`, { token: mine })).status).toBe(200);
    expect((await h.http("GET", `/v1/alerts/${alert.id}/history`, { token: admin })).status).toBe(200);
    expect((await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: mine, body: {} })).status).toBe(200);
    // A device learns nothing either way: it may not acknowledge at all.
    expect((await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: device, body: {} })).status).toBe(403);
  });

  it("another team's silence answers DELETE exactly as an unknown silence", async () => {
    const mine = await h.token("clinician", ["team-a"]);
    const created = await h.http("POST", "/v1/silences", { token: mine, body: { patient: "pa", until: h.clock.now() + 60 * MIN, reason: "known arrhythmia" } });
    expect(created.status).toBe(201);
    const outsider = await h.token("clinician", ["team-b"]);
    const unknown = await h.http("DELETE", "/v1/silences/s-unknown", { token: outsider });
    const foreign = await h.http("DELETE", `/v1/silences/${created.body.id}`, { token: outsider });
    expect(unknown.status).toBe(404);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(unknown.body);
    expect((await h.http("DELETE", `/v1/silences/${created.body.id}`, { token: mine })).status).toBe(200);
  });

  it("invalid UTF-8 in a JSON body or a JSON frame is malformed_json, never U+FFFD", async () => {
    const admin = await h.token("admin", []);
    const body = Buffer.concat([Buffer.from('{"programme":"telekol","careTeams":[{"team":"team-'), Buffer.from([0xc3, 0x28]), Buffer.from('","role":"hospital"}]}')]);
    const res = await h.http("PUT", "/v1/patients/p-utf8", { token: admin, raw: body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("malformed_json");
    expect((await h.http("GET", "/v1/patients/p-utf8", { token: admin })).status).toBe(404);

    const s = await TestSocket.connect(h.wsUrl, admin);
    sockets.push(s);
    s.ws.send(BAD_UTF8_PING, { binary: true }); // a text frame of bad UTF-8 never reaches us: both libraries refuse it
    expect(await s.next((f) => f.type === "error" || f.type === "pong")).toMatchObject({ type: "error", code: "malformed_json" });
    s.ws.send(Buffer.from('{"type":"ping","id":"ok"}'), { binary: true });
    expect(await s.next((f) => f.type === "pong")).toMatchObject({ id: "ok" });
  });

  it("application/x-msgpack ingest bodies are read as MessagePack, as documented", async () => {
    const device = await h.token("device", ["team-a"]);
    const res = await h.http("POST", "/v1/measurements", { token: device, raw: msgpack([{ patient: "pa", metric: "pulse", value: 70, time: at() }]), type: "application/x-msgpack" });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
  });

  it("methods without a route are 405 method_not_allowed on any path (uWS: see docs for unknown method names)", async () => {
    const port = Number(new URL(h.base).port);
    for (const [method, path] of [["TRACE", "/v1/alerts"], ["PATCH", "/nope"], ["HEAD", "/healthz"], ["CONNECT", "/v1/alerts"]]) {
      const answer = await raw(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(answer, `${method} ${path}`).toMatch(/^HTTP\/1\.1 405 /);
      if (method !== "HEAD") expect(answer).toContain('{"code":"method_not_allowed","message":"method is not supported"}');
    }
    for (const method of ["PROPFIND", "BREW"]) {
      const answer = await raw(port, `${method} /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      // uWebSockets.js 20.30 routes only GET, POST, HEAD, PUT, DELETE, CONNECT, OPTIONS, TRACE and
      // PATCH and closes the connection on any other method, before our code runs (docs/http.md).
      if (transport === "uws") expect(answer, method).toBe("");
      else expect(answer, method).toMatch(/^HTTP\/1\.1 405 [^]*"code":"method_not_allowed"/);
    }
  });
});
