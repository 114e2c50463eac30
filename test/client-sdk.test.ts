// varsel/client against a real server process on a real SQLite file, in both wire formats:
// killed and restarted mid-stream the client still delivers every event once, in order; a
// cursor the server cannot serve is resynchronised from the snapshot; commands settle on the
// server's answers with catalogued codes; a stopped server (SIGSTOP) is noticed by heartbeat
// supervision and the stream resumes after SIGCONT; tokens are refreshed on the open socket.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandError, VarselClient, type ClientOptions, type Format, type LifecycleEvent, type Status, type Update } from "varsel/client";
import { openStore } from "../engine/store/open-store.js";
import { Auth } from "../server/auth.js";
import { CHILD_SECRET, startChildServer, type ChildServer } from "./support/child-server.js";
import { sleep, until } from "./support/transports.js";

const tmp = mkdtempSync(join(tmpdir(), "varsel-sdk-"));
const auth = new Auth({ secret: CHILD_SECRET });
const TEAM = "team-a";
/** In the nurse's team, and one patient outside it (its events must never reach her). */
const PATIENTS = ["p0", "p1", "p2"];
const OUTSIDER = "q0";
const PULSE = [{ id: "pulse", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 120 } }];

let admin: string, nurse: string;
beforeAll(async () => {
  admin = await auth.sign({ sub: "admin", role: "admin", teams: [] });
  nurse = await auth.sign({ sub: "nurse", role: "clinician", teams: [TEAM] });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let databases = 0;
const newDatabase = () => `sqlite:${join(tmp, `sdk-${++databases}.db`)}`;

async function call(port: number, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Registers the patients with a pulse band. */
async function prepare(port: number): Promise<void> {
  for (const p of [...PATIENTS, OUTSIDER]) {
    expect((await call(port, "PUT", `/v1/patients/${p}`, admin, { careTeams: [{ team: p === OUTSIDER ? "team-b" : TEAM, role: "hospital" }] })).status).toBe(200);
    expect((await call(port, "PUT", `/v1/patients/${p}/thresholds`, admin, { reason: "test", rules: PULSE })).status).toBe(200);
  }
}

let batches = 0;
/** One reading per patient; the values cycle so that every batch moves alerts (raise, upgrade, clear …). */
function ingest(port: number): Promise<{ status: number; body: any }> {
  const b = ++batches;
  const time = Date.now();
  const readings = [...PATIENTS, OUTSIDER].map((patient, i) => ({ patient, metric: "pulse", value: [70, 110, 130, 95][(b + i) % 4], time, id: `m-${b}-${patient}` }));
  return call(port, "POST", "/v1/measurements", admin, readings);
}

/** Every event the server stored that the nurse's subscription admits, in order. */
async function storedEvents(database: string): Promise<LifecycleEvent[]> {
  const store = await openStore(database);
  try {
    return (await store.eventsAfter(0, 1_000_000)).filter((e) => e.teams.includes(TEAM));
  } finally {
    await store.close();
  }
}

/** The open alerts as the server lists them to the nurse, by id. */
async function openAlertIds(port: number): Promise<string[]> {
  const { body } = await call(port, "GET", "/v1/alerts?state=firing&state=cleared_awaiting_ack", nurse);
  return body.alerts.map((a: { id: string }) => a.id).sort();
}

/** A client and everything it delivered. */
function follow(port: number, format: Format, options: Partial<ClientOptions> = {}) {
  const client = new VarselClient({
    url: `http://127.0.0.1:${port}`,
    token: nurse,
    format,
    WebSocket,
    reconnect: { minDelayMs: 100, maxDelayMs: 400 },
    ...options,
  });
  const updates: Update[] = [];
  const statuses: Status[] = [];
  client.onUpdate((u) => updates.push(u));
  client.onStatus((s) => statuses.push(s));
  // The same through the async iterators, which end when the client closes.
  const iterated = { updates: [] as Update[], statuses: [] as Status[] };
  const iterating = Promise.all([
    (async () => {
      for await (const u of client.updates()) iterated.updates.push(u);
    })(),
    (async () => {
      for await (const s of client.statuses()) iterated.statuses.push(s);
    })(),
  ]);
  const events = () => updates.flatMap((u) => (u.type === "event" ? [u.event] : []));
  const seqs = () => events().map((e) => e.seq);
  return { client, updates, statuses, events, seqs, iterated, iterating };
}

/** A replaceable server with the patients, and a subscribed client that has seen `batches` batches. */
async function streaming(database: string, format: Format, batches: number) {
  const server = await startChildServer(database);
  const f = follow(server.port, format);
  try {
    await prepare(server.port);
    await f.client.subscribe();
    for (let i = 0; i < batches; i++) expect((await ingest(server.port)).status).toBe(200);
    await until(() => f.seqs().length >= batches, 5000, "the first events");
    return { server, port: server.port, f };
  } catch (error) {
    f.client.close();
    server.child.kill("SIGKILL");
    throw error;
  }
}

const summary = (e: LifecycleEvent) => [e.seq, e.type, "alert" in e ? e.alert.id : e.patient];
const isOpen = (s: Status) => s.state === "open";

describe.each<Format>(["json", "msgpack"])("varsel/client over %s", (format) => {
  it("a server killed and restarted mid-stream: every event once, in order", async () => {
    const database = newDatabase();
    const { port, f, ...first } = await streaming(database, format, 12);
    let server = first.server;
    try {
      // kill -9 with a batch in flight, while its events are being pushed
      const inFlight = ingest(port).catch(() => undefined);
      server.child.kill("SIGKILL");
      await server.exited;
      await inFlight;
      await until(() => f.client.status.state === "reconnecting", 5000, "reconnecting");
      server = await startChildServer(database, {}, port);
      for (let i = 0; i < 12; i++) expect((await ingest(port)).status).toBe(200);

      const expected = await storedEvents(database);
      await until(() => f.seqs().at(-1) === expected.at(-1)!.seq, 10_000, "the last stored event");
      expect(f.events().map(summary)).toEqual(expected.map(summary));
      expect(f.events().every((e) => e.patient !== OUTSIDER)).toBe(true);
      expect(f.updates.filter((u) => u.type === "snapshot")).toHaveLength(1); // resumed, never resynchronised
      expect(f.statuses.some((s) => s.state === "reconnecting")).toBe(true);
      expect([...f.client.alerts.keys()].sort()).toEqual(await openAlertIds(port));

      f.client.close();
      await f.iterating;
      expect(f.iterated.updates).toEqual(f.updates);
      expect(f.iterated.statuses).toEqual(f.statuses.slice(1)); // onStatus also gave the status it started with
    } finally {
      f.client.close();
      server.child.kill("SIGKILL");
      await server.exited;
    }
  });

  it("resync_required: a cursor the server cannot serve is replaced by its snapshot, then the stream continues", async () => {
    const { port, f, ...first } = await streaming(newDatabase(), format, 8);
    let server = first.server;
    try {
      const cursor = f.client.cursor!;

      // Another server on the same address whose numbering is behind the client's cursor.
      server.child.kill("SIGKILL");
      await server.exited;
      const fresh = newDatabase();
      server = await startChildServer(fresh, {}, port);
      await prepare(port);
      expect((await ingest(port)).status).toBe(200);
      await until(() => f.updates.some((u) => u.type === "snapshot" && u.resync), 10_000, "the resync snapshot");
      for (let i = 0; i < 3; i++) expect((await ingest(port)).status).toBe(200);

      const expected = await storedEvents(fresh);
      expect(expected.at(-1)!.seq).toBeLessThan(cursor); // numbering behind the old cursor: only a resync brings these
      await until(() => f.seqs().at(-1) === expected.at(-1)!.seq, 10_000, "the last event of the new server");
      const at = f.updates.findIndex((u) => u.type === "snapshot" && u.resync);
      const snapshot = f.updates[at] as Extract<Update, { type: "snapshot" }>;
      const after = f.updates.slice(at + 1).flatMap((u) => (u.type === "event" ? [u.event] : []));
      expect(after.map(summary)).toEqual(expected.filter((e) => e.seq > snapshot.seq).map(summary));
      expect([...f.client.alerts.keys()].sort()).toEqual(await openAlertIds(port));
    } finally {
      f.client.close();
      server.child.kill("SIGKILL");
      await server.exited;
    }
  });

  describe("on one server", () => {
    const database = newDatabase();
    let server: ChildServer;
    let port: number;
    beforeAll(async () => {
      server = await startChildServer(database);
      port = server.port;
      await prepare(port);
      for (let i = 0; i < 2; i++) expect((await ingest(port)).status).toBe(200);
    });
    afterAll(async () => {
      server.child.kill("SIGCONT");
      server.child.kill("SIGKILL");
      await server.exited;
    });

    const alertOf = async (patient: string) => (await call(port, "GET", `/v1/alerts?patient=${patient}&state=firing&state=cleared_awaiting_ack`, admin)).body.alerts[0];
    const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as CommandError);
    const raise = async (patient: string) => {
      const res = await call(port, "POST", "/v1/measurements", admin, [{ patient, metric: "pulse", value: 135, time: Date.now(), id: `raise-${Math.random()}` }]);
      expect(res.status).toBe(200);
      return alertOf(patient);
    };

    it("ack, snooze and silence settle on the server's answer; refusals carry the catalogued code", async () => {
      const f = follow(port, format);
      try {
        await f.client.subscribe();
        const mine = await raise("p0");
        const theirs = await raise(OUTSIDER);
        await until(() => f.client.alerts.has(mine.id), 5000, "p0's alert on the client");

        const acked = await f.client.ack(mine.id, "called the patient");
        expect(acked.ack).toMatchObject({ by: "nurse", note: "called the patient" });
        // The acknowledged event was delivered before the answer.
        expect(f.client.alerts.get(mine.id)?.ack?.by).toBe("nurse");
        expect((await f.client.ack(mine.id, "again")).ack?.note).toBe("called the patient"); // the first stands

        const outOfScope = await rejection(f.client.ack(theirs.id));
        expect(outOfScope).toBeInstanceOf(CommandError);
        expect(outOfScope?.code).toBe("not_found"); // the same answer as an unknown alert
        expect((await rejection(f.client.ack("a-none")))?.code).toBe("not_found");

        const snoozed = await f.client.snooze(mine, Date.now() + 3_600_000, "stable, review tomorrow");
        expect(snoozed).toMatchObject({ patient: "p0", rule: "pulse", author: "nurse", state: "active" });
        await until(() => f.client.alerts.get(mine.id)!.silencedBy.some((s) => s.id === snoozed.id), 5000, "the silenced event");
        const refused = await rejection(f.client.snooze(theirs, Date.now() + 3_600_000, "not mine"));
        expect([refused?.code, refused?.status]).toEqual(["forbidden", 403]);
        expect((await rejection(f.client.snooze(mine, Date.now() - 1000, "past")))?.code).toBe("invalid_silence");

        const silence = await f.client.silence({ patient: "p1", until: new Date(Date.now() + 60_000), reason: "admitted to hospital" });
        expect(silence.state).toBe("active");
        expect((await f.client.unsilence(silence.id)).state).toBe("removed");
        expect((await rejection(f.client.unsilence(silence.id)))?.code).toBe("silence_ended");
        expect((await rejection(f.client.silence({ rule: "pulse", until: Date.now() + 60_000, reason: "all" })))?.code).toBe("forbidden");

        // A scope outside the token is refused; the earlier subscription goes on.
        expect((await rejection(f.client.subscribe({ teams: ["team-b"] })))?.code).toBe("forbidden");
        const next = await raise("p2");
        await until(() => f.client.alerts.has(next.id), 5000, "an event after the refused subscribe");
        expect(f.seqs()).toEqual([...new Set(f.seqs())].sort((a, b) => a - b));
      } finally {
        f.client.close();
      }
    });

    it("ack before the socket is open goes over HTTP with the same answer; commands after close reject with closed", async () => {
      const target = await raise("p1");
      const f = follow(port, format);
      expect(f.client.status.state).toBe("connecting");
      expect((await f.client.ack(target.id, "by HTTP")).ack?.note).toBe("by HTTP");
      await until(() => isOpen(f.client.status), 5000, "open");
      f.client.close();
      expect(f.client.status).toMatchObject({ state: "closed" });
      for (const after of [f.client.refreshToken(), f.client.ack(target.id), f.client.snooze(target, Date.now() + 60_000, "late"), f.client.subscribe()]) {
        expect((await rejection(after))?.code).toBe("closed");
      }
    });

    it("tokens: refreshed on the open socket, a token function renews before expiry, a refused fixed token closes", async () => {
      const f = follow(port, format);
      try {
        await f.client.subscribe();
        const fresher = await auth.sign({ sub: "nurse", role: "clinician", teams: [TEAM] }, "2h");
        const user = await f.client.refreshToken(fresher);
        expect(user.sub).toBe("nurse");
        const other = await auth.sign({ sub: "someone-else", role: "clinician", teams: [TEAM] });
        expect((await rejection(f.client.refreshToken(other)))?.code).toBe("forbidden");
        expect(f.statuses.filter((s) => s.state === "reconnecting")).toEqual([]);

        // A refreshed token that no longer covers the subscription ends it (and it is not renewed).
        expect(f.client.alerts.size).toBeGreaterThan(0);
        await f.client.refreshToken(await auth.sign({ sub: "nurse", role: "clinician", teams: ["team-b"] }));
        expect(f.updates.at(-1)).toEqual({ type: "unsubscribed", reason: "the new token no longer covers the subscription" });
        expect(f.client.alerts.size).toBe(0);
      } finally {
        f.client.close();
      }

      // Tokens that live 3 s: the client fetches new ones in time, the server never closes it (4002).
      let calls = 0;
      const renewing = follow(port, format, { token: () => (calls++, auth.sign({ sub: "nurse", role: "clinician", teams: [TEAM] }, "3s")) });
      try {
        await renewing.client.subscribe();
        await sleep(4500);
        expect(calls).toBeGreaterThanOrEqual(3);
        expect(renewing.statuses.filter((s) => s.state === "reconnecting")).toEqual([]);
        const alert = await raise("p2");
        expect((await renewing.client.ack(alert.id)).id).toBe(alert.id);
      } finally {
        renewing.client.close();
      }

      const expired = follow(port, format, { token: await auth.sign({ sub: "nurse", role: "clinician", teams: [TEAM] }, Math.floor(Date.now() / 1000) - 10) });
      await until(() => expired.client.status.state === "closed", 5000, "closed");
      expect(expired.client.status).toMatchObject({ state: "closed", code: "token_expired" });
      expired.client.close();
    });

    it("heartbeat supervision: a stopped server (SIGSTOP) is noticed, and after SIGCONT the stream resumes without loss or repeat", async () => {
      const f = follow(port, format, { heartbeatTimeoutMs: 1000, connectTimeoutMs: 1000 });
      try {
        await f.client.subscribe();
        const target = await raise("p0");
        await sleep(1500); // quiet: pings keep the connection, nothing reconnects
        expect(f.statuses.filter((s) => s.state === "reconnecting")).toEqual([]);

        server.child.kill("SIGSTOP");
        try {
          // Sent on the socket that has just gone dead: no answer will come, the promise still settles.
          const lost = await rejection(f.client.ack(target.id));
          expect(lost?.code).toBe("connection_lost");
          expect(f.client.status.state).toBe("reconnecting");
          expect(f.client.status).toMatchObject({ reason: expect.stringMatching(/^nothing received for \d+ ms$/) });
          await sleep(1500); // attempts against the stopped server time out
        } finally {
          server.child.kill("SIGCONT");
        }
        await until(() => isOpen(f.client.status), 10_000, "open again");
        for (let i = 0; i < 3; i++) expect((await ingest(port)).status).toBe(200);

        // Everything in scope after the one snapshot, once and in order.
        const [snapshot, ...rest] = f.updates;
        expect(snapshot.type).toBe("snapshot");
        expect(rest.every((u) => u.type === "event")).toBe(true);
        const expected = (await storedEvents(database)).filter((e) => e.seq > (snapshot as { seq: number }).seq);
        await until(() => f.seqs().at(-1) === expected.at(-1)!.seq, 5000, "the last stored event");
        expect(f.events().map(summary)).toEqual(expected.map(summary));
      } finally {
        f.client.close();
      }
    });
  });
});
