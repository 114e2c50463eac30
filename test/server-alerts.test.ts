// The vertical slice over real sockets on both transports: a device reading reaches the right
// clinicians (and only them), resume is exact, acks and silences reach everyone in scope,
// escalation follows the clock, expired tokens and slow clients are disconnected with a reason.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { registerPatient, startServer, TRANSPORTS, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const MIN = 60_000;

describe.each(TRANSPORTS)("alert server on %s", (transport) => {
  let h: Harness;
  let device: string;
  const sockets: TestSocket[] = [];
  const connect = async (teams: string[], format: "json" | "msgpack" = "json", sub = "clinician-1") => {
    const s = await TestSocket.connect(h.wsUrl, await h.token("clinician", teams, "1h", sub), format);
    sockets.push(s);
    return s;
  };
  const post = (readings: object[]) => h.http("POST", "/v1/measurements", { token: device, body: readings });
  const at = () => new Date(h.clock.now()).toISOString();

  beforeEach(async () => {
    h = await startServer(transport);
    expect(h.server.transportKind).toBe(transport);
    await registerPatient(h, "pa", "team-a");
    await registerPatient(h, "pb", "team-b");
    device = await h.token("device", ["team-a", "team-b"]);
  });
  afterEach(async () => {
    sockets.splice(0).forEach((s) => s.close());
    await h.close();
  });

  it("a device reading reaches a subscribed clinician of the patient's team, and not another team's", async () => {
    const a = await connect(["team-a"]);
    const b = await connect(["team-b"]);
    a.send({ type: "subscribe", id: "s1" });
    b.send({ type: "subscribe", id: "s1" });
    expect((await a.next((f) => f.type === "snapshot")).alerts).toEqual([]);
    await b.next((f) => f.type === "snapshot");

    const res = await post([{ patient: "pa", metric: "bp_sys", value: 190, time: at(), id: "m-1" }]);
    expect(res.status).toBe(200);
    const frame = await a.next((f) => f.type === "event");
    expect(frame.event).toMatchObject({ type: "raised", patient: "pa", alert: { rule: "bp-sys-band", level: "red", priority: "high", interpretation: "HH" } });
    expect(frame.event.alert.why.readings[0]).toMatchObject({ value: 190, measurementId: "m-1" });
    await b.sync();
    expect(b.events()).toEqual([]);
  });

  it("resume after a disconnect delivers exactly the missed events", async () => {
    const a = await connect(["team-a"]);
    a.send({ type: "subscribe" });
    await a.next((f) => f.type === "snapshot");
    await post([{ patient: "pa", metric: "pulse", value: 105, time: at() }]);
    const first = await a.next((f) => f.type === "event");
    a.close();
    await a.closed;

    h.clock.advance(MIN);
    await post([{ patient: "pa", metric: "pulse", value: 130, time: at() }]);
    h.clock.advance(MIN);
    await post([{ patient: "pa", metric: "bp_dia", value: 120, time: at() }]);
    await post([{ patient: "pb", metric: "pulse", value: 130, time: at() }]);

    const again = await connect(["team-a"]);
    again.send({ type: "subscribe", resumeFrom: first.event.seq });
    const subscribed = await again.next((f) => f.type === "subscribed");
    expect(subscribed.replayed).toBe(2);
    const replay = [await again.next((f) => f.type === "event"), await again.next((f) => f.type === "event")].map((f) => f.event);
    expect(replay.map((e) => [e.type, e.alert.rule, e.alert.level])).toEqual([
      ["updated", "pulse-band", "red"],
      ["raised", "bp-dia-band", "red"],
    ]);
    expect(replay.map((e) => e.seq)).toEqual([first.event.seq + 1, first.event.seq + 2]);
    await again.sync();
    expect(again.events()).toHaveLength(2);
  });

  it("resume from a number no longer retained answers resync_required and sends a fresh snapshot", async () => {
    await post([{ patient: "pa", metric: "pulse", value: 105, time: at() }]);
    const a = await connect(["team-a"]);
    a.send({ type: "subscribe", resumeFrom: 999 });
    expect((await a.next((f) => f.type === "error")).code).toBe("resync_required");
    const snapshot = await a.next((f) => f.type === "snapshot");
    expect(snapshot.alerts.map((x: any) => x.rule)).toEqual(["pulse-band"]);
  });

  it("an ack from one clinician reaches the others, over the socket and over HTTP", async () => {
    const one = await connect(["team-a"], "json", "nurse-1");
    const two = await connect(["team-a"], "msgpack", "nurse-2");
    one.send({ type: "subscribe" });
    two.send({ type: "subscribe" });
    await one.next((f) => f.type === "snapshot");
    await two.next((f) => f.type === "snapshot");
    await post([{ patient: "pa", metric: "pulse", value: 125, time: at() }]);
    const raised = await two.next((f) => f.type === "event");

    one.send({ type: "ack", id: "k1", alert: raised.event.alert.id, note: "called the patient" });
    expect((await one.next((f) => f.type === "ack_result")).alert.ack).toMatchObject({ by: "nurse-1", note: "called the patient" });
    const acked = await two.next((f) => f.type === "event" && f.event.type === "acknowledged");
    expect(acked.event.alert.ack).toMatchObject({ by: "nurse-1" });

    const list = await h.http("GET", "/v1/alerts?patient=pa", { token: await h.token("clinician", ["team-a"]) });
    expect(list.body.alerts[0].ack.by).toBe("nurse-1");
  });

  it("an ack answered over HTTP carries the patient's teams, and unknown alert filters are refused", async () => {
    await post([{ patient: "pa", metric: "pulse", value: 125, time: at() }]);
    const clinician = await h.token("clinician", ["team-a"]);
    const [alert] = (await h.http("GET", "/v1/alerts?patient=pa", { token: clinician })).body.alerts;
    expect(alert.teams).toContain("team-a");
    const acked = await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: clinician, body: { note: "seen" } });
    expect(acked.status).toBe(200);
    expect(acked.body.teams).toEqual(alert.teams);
    for (const filter of ["state=open", "priority=urgent", "level=orange"]) {
      const res = await h.http("GET", `/v1/alerts?${filter}`, { token: clinician });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("invalid_field");
    }
  });

  it("a clinician cannot subscribe to, read or ack another team's patient", async () => {
    const b = await connect(["team-b"]);
    b.send({ type: "subscribe", id: "x", patients: ["pa"] });
    expect(await b.next((f) => f.type === "error")).toMatchObject({ code: "forbidden", id: "x" });
    const tokenB = await h.token("clinician", ["team-b"]);
    expect((await h.http("GET", "/v1/patients/pa", { token: tokenB })).status).toBe(403);
    await post([{ patient: "pa", metric: "pulse", value: 125, time: at() }]);
    const alert = (await h.http("GET", "/v1/alerts", { token: await h.token("admin", []) })).body.alerts[0];
    expect((await h.http("POST", `/v1/alerts/${alert.id}/ack`, { token: tokenB, body: {} })).status).toBe(404); // as an unknown alert: ids cannot be probed
    const metrics = await h.http("GET", "/metrics");
    expect(metrics.body).toMatch(/varsel_requests_rejected_total\{code="forbidden"\} [2-9]/);
  });

  it("silences are scoped, shown to everyone in scope, and end when deleted", async () => {
    const a = await connect(["team-a"]);
    a.send({ type: "subscribe" });
    await a.next((f) => f.type === "snapshot");
    await post([{ patient: "pa", metric: "pulse", value: 125, time: at() }]);
    await a.next((f) => f.type === "event" && f.event.type === "raised");
    const token = await h.token("clinician", ["team-a"]);
    const created = await h.http("POST", "/v1/silences", {
      token,
      body: { patient: "pa", rule: "pulse-band", until: h.clock.now() + 60 * MIN, reason: "known arrhythmia, GP informed" },
    });
    expect(created.status).toBe(201);
    expect((await a.next((f) => f.type === "event" && f.event.type === "silenced")).event.alert.silencedBy).toHaveLength(1);
    // A clinician may not silence a rule for every patient.
    expect((await h.http("POST", "/v1/silences", { token, body: { rule: "pulse-band", until: h.clock.now() + MIN, reason: "x" } })).status).toBe(403);
    expect((await h.http("DELETE", `/v1/silences/${created.body.id}`, { token })).status).toBe(200);
    await a.next((f) => f.type === "event" && f.event.type === "unsilenced");
  });

  it("an unacknowledged high alert escalates along the care chain as the clock passes the delay", async () => {
    const a = await connect(["team-a", "team-a-gp"]);
    a.send({ type: "subscribe" });
    await a.next((f) => f.type === "snapshot");
    await post([{ patient: "pa", metric: "bp_sys", value: 190, time: at() }]);
    const raised = await a.next((f) => f.type === "event");
    expect(raised.event.alert.routedTo.team).toBe("team-a");
    h.clock.advance(14 * MIN);
    await h.server.tick();
    await a.sync();
    expect(a.events().filter((e) => e.type === "escalated")).toEqual([]);
    h.clock.advance(MIN);
    await h.server.tick();
    const escalated = await a.next((f) => f.type === "event" && f.event.type === "escalated");
    expect(escalated.event.escalation).toMatchObject({ step: 1, team: "team-a-gp" });
  });

  it("an expired token closes the socket with a reason", async () => {
    const short = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-a"], "2s"));
    sockets.push(short);
    const closed = await short.closed;
    expect(closed).toEqual({ code: 4002, reason: "token_expired" });
  });

  it("a first-message token works for clients that cannot use subprotocol tokens, and bad tokens are refused", async () => {
    const s = await TestSocket.open(h.wsUrl, ["varsel.v1.json"]);
    sockets.push(s);
    s.send({ type: "subscribe" });
    expect((await s.next((f) => f.type === "error")).code).toBe("unauthorized");
    s.send({ type: "auth", token: await h.token("clinician", ["team-a"]) });
    await s.next((f) => f.type === "authenticated");
  });

  it("a client that can set headers may authenticate with Authorization: Bearer on the upgrade", async () => {
    const token = await h.token("clinician", ["team-a"], "1h", "nurse-header");
    const ws = new WebSocket(h.wsUrl, ["varsel.v1.json"], { headers: { authorization: `Bearer ${token}` } });
    try {
      const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once("message", (data: Buffer) => resolve(JSON.parse(data.toString("utf8"))));
        ws.once("error", reject);
      });
      expect(first).toMatchObject({ type: "authenticated", sub: "nurse-header", role: "clinician" });
    } finally {
      ws.terminate();
    }
  });

  it("a subprotocol token that does not verify opens the socket, answers why and closes with a readable code; nothing sent meanwhile is served", async () => {
    const bad = await TestSocket.open(h.wsUrl, ["varsel.v1.json", "bearer.not-a-token"]);
    sockets.push(bad);
    bad.send({ type: "subscribe", id: "before-verification" });
    expect(await bad.next((f) => f.type === "error")).toMatchObject({ code: "unauthorized", message: "invalid token" });
    expect(await bad.closed).toEqual({ code: 4001, reason: "unauthorized: invalid token" });
    expect(bad.frames.map((f) => f.type)).toEqual(["error"]);

    const expired = await TestSocket.open(h.wsUrl, ["varsel.v1.json", `bearer.${await h.token("clinician", ["team-a"], Math.floor(Date.now() / 1000) - 60)}`]);
    sockets.push(expired);
    expect(await expired.next((f) => f.type === "error")).toMatchObject({ code: "token_expired" });
    expect(await expired.closed).toEqual({ code: 4002, reason: "token_expired" });
  });

  it("a new token on a live socket may refresh the same user but not swap identity, and messages keep their order", async () => {
    const s = await TestSocket.open(h.wsUrl, ["varsel.v1.json"]);
    sockets.push(s);
    s.send({ type: "auth", token: await h.token("clinician", ["team-a"], "1h", "nurse-1") });
    s.send({ type: "subscribe", id: "right-after-auth" });
    expect((await s.next((f) => f.type === "snapshot")).id).toBe("right-after-auth");
    s.send({ type: "auth", token: await h.token("clinician", ["team-b"], "1h", "someone-else") });
    expect(await s.next((f) => f.type === "error")).toMatchObject({ code: "forbidden" });
    s.send({ type: "auth", token: await h.token("clinician", ["team-b"], "1h", "nurse-1") });
    expect((await s.next((f) => f.type === "unsubscribed")).reason).toMatch(/no longer covers/);
    await post([{ patient: "pa", metric: "pulse", value: 125, time: at() }]);
    await s.sync();
    expect(s.events()).toEqual([]);
  });

  it("a browser offering only its token subprotocol is answered with it and speaks JSON", async () => {
    const token = await h.token("clinician", ["team-a"]);
    const s = await TestSocket.open(h.wsUrl, [`bearer.${token}`]);
    sockets.push(s);
    expect(s.ws.protocol).toBe(`bearer.${token}`);
    await s.next((f) => f.type === "authenticated");
  });

  it("a device ingests over the socket and gets an ack per batch with per-item errors", async () => {
    const s = await TestSocket.connect(h.wsUrl, device, "msgpack");
    sockets.push(s);
    s.send({
      type: "ingest",
      id: "batch-1",
      readings: [
        { patient: "pa", metric: "pulse", value: 72, time: h.clock.now() },
        { patient: "pa", metric: "pulse", value: Number.NaN, time: h.clock.now() },
      ],
    });
    const answer = await s.next((f) => f.type === "ingest_result");
    expect(answer).toMatchObject({ id: "batch-1", accepted: 1, rejected: [{ index: 1, code: "not_a_number" }] });
  });

  it("a connection sending faster than its message rate gets one rate_limited notice, and keeps working once it pauses", async () => {
    await h.close();
    h = await startServer(transport, { messagesPerSecond: 20 }); // burst 40
    const s = await connect(["team-a"]);
    for (let i = 0; i < 45; i++) s.send({ type: "ping", id: `p${i}` });
    const notice = await s.next((f) => f.type === "error" && f.code === "rate_limited");
    expect(s.frames.filter((f) => f.type === "pong").map((f) => f.id)).toEqual(Array.from({ length: 40 }, (_, i) => `p${i}`));
    // Paused for the time it was told (the frames sent while muted postpone it a little): answered again.
    await new Promise((r) => setTimeout(r, notice.details.retryAfterMs));
    let answered = false;
    for (let k = 0; k < 20 && !answered; k++) {
      s.send({ type: "ping", id: `later-${k}` });
      answered = await s.next((f) => f.type === "pong" && f.id === `later-${k}`, 300).then(() => true, () => false);
    }
    expect(answered).toBe(true);
    expect(s.frames.filter((f) => f.type === "error")).toHaveLength(1);
  });

  it("a slow client is disconnected with a reason and can resume without a gap", async () => {
    await h.close();
    h = await startServer(transport, { maxSocketBufferBytes: 64 * 1024 });
    const patients = Array.from({ length: 40 }, (_, i) => `p${i}`);
    for (const p of patients) await registerPatient(h, p, "team-a");
    device = await h.token("device", ["team-a"]);
    const slow = await connect(["team-a"]);
    const fast = await connect(["team-a"], "json", "fast");
    slow.send({ type: "subscribe" });
    fast.send({ type: "subscribe" });
    const seq0 = (await slow.next((f) => f.type === "snapshot")).seq;
    await fast.next((f) => f.type === "snapshot");
    // The slow client stops reading; the server keeps sending until its buffer passes the limit.
    (slow.ws as any)._socket.pause();
    let closedBy: { code: number; reason: string } | undefined;
    void slow.closed.then((c) => (closedBy = c));
    const disconnects = () => h.http("GET", "/metrics").then((m) => /varsel_ws_slow_clients_disconnected_total 1/.test(m.body));
    for (let i = 0; i < 300 && !(await disconnects()); i++) {
      h.clock.advance(1000);
      await post(patients.map((patient) => ({ patient, metric: "pulse", value: i % 2 === 0 ? 135 : 70, time: at() })));
    }
    (slow.ws as any)._socket.resume();
    expect(await slow.closed).toEqual({ code: 4008, reason: "slow_consumer" });
    expect(closedBy?.code).toBe(4008);
    // The fast client kept getting everything.
    await fast.sync();
    const all = fast.events();
    expect(all.length).toBeGreaterThan(100);
    // Resuming after the slow client's last event loses nothing.
    const seen = slow.events().map((e) => e.seq);
    const from = seen.length > 0 ? Math.max(...seen) : seq0;
    const back = await connect(["team-a"]);
    back.send({ type: "subscribe", resumeFrom: from });
    await back.next((f) => f.type === "subscribed");
    await back.sync();
    expect([...seen, ...back.events().map((e) => e.seq)]).toEqual(all.map((e) => e.seq));
  }, 60_000);
});
