// Clinician sockets for the reconnect storm (storm.ts), in one process. Each subscribes to its
// team and keeps a cursor as docs/websocket.md says (snapshot seq, event seq, heartbeat seq
// outside a replay). On `drop` every socket is cut at the given instant (terminate: no close
// frame, as a network loss); on `reconnect` all of them reconnect at that instant, at once, and
// subscribe with `resumeFrom: cursor`; a socket has caught up when the `replayed` events after
// its `subscribed` have arrived. On `collect` each socket's events (all of them, before and after
// the drop) are checked against the reference's: a socket that never dropped (role "reference",
// an admin seeing every event), recording each event's seq by team.
// IPC config: StormClientsConfig. IPC: → subscribed; ← drop; ← reconnect; → caught;
// ← collect → StormClientsResult (or, reference: StormReference); ← stop.
import { pack, unpack } from "msgpackr";
import WebSocket from "ws";
import { bump, failChild, guardChild, Histogram, HOST, MSGPACK, receiveConfig, WS_PATH, type HistogramData } from "./common.js";

export interface StormClientsConfig {
  port: number;
  role: "clients" | "reference";
  /** clients: one socket each; reference: one admin token (subscribes to everything). */
  subs: { team: string; token: string }[];
  /** Sockets opening at once at the start (the storm itself opens all at once). */
  concurrency: number;
  connectTimeoutMs: number;
  maxLifetimeMs: number;
}

export interface StormReference {
  type: "reference";
  /** team → event seqs in arrival order. */
  byTeam: Record<string, number[]>;
  last: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
}

export interface StormClientsResult {
  type: "result";
  sockets: number;
  /** Reconnect → caught up (ms) per socket. */
  catchup: HistogramData;
  /** Reconnect → `subscribed` (ms). */
  subscribed: HistogramData;
  /** Events replayed on resume, over all sockets. */
  replayed: number;
  /** Checked against the reference up to its last seq: expected events not received, received twice, received after a later one. */
  missed: number;
  duplicated: number;
  outOfOrder: number;
  /** Received events the reference does not list for the socket's team. */
  unexpected: number;
  /** Events expected, over all sockets. */
  expected: number;
  notCaughtUp: number;
  resyncs: number;
  /** Connection attempts that failed during the storm and were retried. */
  retries: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
  examples: string[];
}

guardChild(15 * 60_000);
const cfg = await receiveConfig<StormClientsConfig>();
guardChild(cfg.maxLifetimeMs);

interface Frame {
  type: string;
  seq?: number;
  replayed?: number;
  code?: string;
  event?: { seq: number; teams: string[] };
}

class Client {
  ws: WebSocket | undefined;
  cursor = -1;
  /** Every event seq received, in arrival order, since the first snapshot. */
  readonly seqs: number[] = [];
  firstSnapshot = -1;
  replayLeft = 0;
  replayTarget = 0;
  reconnectAt = 0;
  subscribedAt = 0;
  caughtAt = 0;
  dropped = false;
  /** Events the server replayed on resume. */
  replayed = 0;

  constructor(readonly team: string, readonly token: string) {}
}

async function main(): Promise<void> {
  const errors: Record<string, number> = {};
  const closes: Record<string, number> = {};
  const byTeam: Record<string, number[]> = {};
  let last = 0;
  let retries = 0;
  let resyncs = 0;
  let waitingCaught = 0;
  let onAllCaught: () => void = () => undefined;
  const clients = cfg.subs.map((s) => new Client(s.team, s.token));
  const reference = cfg.role === "reference";

  const onFrame = (c: Client, m: Frame): void => {
    switch (m.type) {
      case "snapshot":
        c.cursor = m.seq!;
        if (c.firstSnapshot < 0) c.firstSnapshot = m.seq!;
        if (c.dropped) caught(c); // a resync: it has the state, not the events (counted as missed)
        break;
      case "subscribed":
        c.subscribedAt = Date.now();
        c.replayLeft = m.replayed!;
        c.replayed += m.replayed!;
        c.replayTarget = m.seq!;
        if (c.replayLeft === 0) {
          c.cursor = Math.max(c.cursor, c.replayTarget);
          caught(c);
        }
        break;
      case "event": {
        const seq = m.event!.seq;
        if (reference) {
          for (const t of m.event!.teams) (byTeam[t] ??= []).push(seq);
          last = seq;
          return;
        }
        c.seqs.push(seq);
        c.cursor = seq;
        if (c.replayLeft > 0 && --c.replayLeft === 0) {
          c.cursor = Math.max(c.cursor, c.replayTarget);
          caught(c);
        }
        break;
      }
      case "heartbeat":
        if (c.replayLeft === 0 && c.cursor >= 0) c.cursor = Math.max(c.cursor, m.seq!);
        break;
      case "error":
        if (m.code === "resync_required") resyncs++;
        else bump(errors, m.code ?? "unknown");
        break;
    }
  };

  const caught = (c: Client): void => {
    if (c.caughtAt !== 0 || c.reconnectAt === 0) return;
    c.caughtAt = Date.now();
    if (--waitingCaught === 0) onAllCaught();
  };

  /** Opens, authenticates (subprotocol token) and subscribes; resolves at the answer (snapshot or subscribed). */
  const open = (c: Client): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${HOST}:${cfg.port}${WS_PATH}`, [MSGPACK, `bearer.${c.token}`], { perMessageDeflate: false });
      ws.binaryType = "nodebuffer";
      c.ws = ws;
      let ready = false;
      const timer = setTimeout(() => {
        ws.removeAllListeners();
        ws.on("error", () => undefined);
        ws.terminate();
        reject(new Error("not subscribed in time"));
      }, cfg.connectTimeoutMs);
      ws.on("error", (e) => {
        if (ready) bump(errors, `socket error: ${e.message}`);
        else {
          clearTimeout(timer);
          reject(e);
        }
      });
      ws.on("close", (code) => {
        if (c.ws !== ws) return; // an old socket of this client
        if (ready) bump(closes, String(code));
        else {
          clearTimeout(timer);
          reject(new Error(`closed ${code} before subscribing`));
        }
      });
      ws.on("message", (data: Buffer) => {
        const m = unpack(data) as Frame;
        if (m.type === "authenticated") {
          const sub: Record<string, unknown> = { type: "subscribe", id: "s" };
          if (!reference) sub.teams = [c.team];
          if (c.cursor >= 0) sub.resumeFrom = c.cursor;
          ws.send(pack(sub));
          return;
        }
        onFrame(c, m);
        if (!ready && (m.type === "snapshot" || m.type === "subscribed")) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      });
    });

  /** During the storm: retries a failed connection (a refused or reset connect under load) after a short backoff, as clients do. */
  const reopen = async (c: Client): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await open(c);
      } catch (err) {
        retries++;
        if (attempt >= 20) {
          bump(errors, `reconnect failed: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * Math.min(10, attempt + 1)));
      }
    }
  };

  // first connections, bounded concurrency
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(cfg.concurrency, clients.length) }, async () => {
      while (next < clients.length) await reopen(clients[next++]);
    }),
  );
  process.send?.({ type: "subscribed", sockets: clients.length });

  process.on("message", (m: { type?: string; at?: number; reference?: StormReference }) => {
    if (m?.type === "drop") {
      setTimeout(() => {
        for (const c of clients) {
          c.dropped = true;
          c.replayLeft = 0;
          const ws = c.ws;
          c.ws = undefined; // its close is ours, not the server's
          ws?.terminate();
        }
      }, Math.max(0, m.at! - Date.now()));
    } else if (m?.type === "reconnect") {
      waitingCaught = clients.length;
      const all = new Promise<void>((r) => (onAllCaught = r));
      setTimeout(() => {
        for (const c of clients) {
          c.reconnectAt = m.at!;
          void reopen(c);
        }
      }, Math.max(0, m.at! - Date.now()));
      void all.then(() => process.send?.({ type: "caught" }));
    } else if (m?.type === "collect") {
      if (reference) process.send?.({ type: "reference", byTeam, last, errors, closes } satisfies StormReference);
      else process.send?.(verify(m.reference!));
    } else if (m?.type === "stop") {
      for (const c of clients) c.ws?.terminate();
      process.exit(0);
    }
  });

  function verify(ref: StormReference): StormClientsResult {
    const catchup = new Histogram();
    const subscribed = new Histogram();
    const r: StormClientsResult = {
      type: "result",
      sockets: clients.length,
      catchup: { offset: 0, counts: [] },
      subscribed: { offset: 0, counts: [] },
      replayed: 0,
      missed: 0,
      duplicated: 0,
      outOfOrder: 0,
      unexpected: 0,
      expected: 0,
      notCaughtUp: 0,
      resyncs,
      retries,
      errors,
      closes,
      examples: [],
    };
    for (const c of clients) {
      if (c.caughtAt === 0) r.notCaughtUp++;
      else catchup.add(c.caughtAt - c.reconnectAt);
      if (c.subscribedAt !== 0) subscribed.add(c.subscribedAt - c.reconnectAt);
      const got = new Set<number>();
      for (let i = 0; i < c.seqs.length; i++) {
        const s = c.seqs[i];
        if (got.has(s)) r.duplicated++;
        else if (i > 0 && s < c.seqs[i - 1]) r.outOfOrder++;
        got.add(s);
      }
      const want = (ref.byTeam[c.team] ?? []).filter((s) => s > c.firstSnapshot && s <= ref.last);
      const wanted = new Set(want);
      r.expected += want.length;
      let missed = 0;
      for (const s of want) if (!got.has(s)) missed++;
      for (const s of got) if (s <= ref.last && !wanted.has(s)) r.unexpected++;
      r.missed += missed;
      if (missed > 0 && r.examples.length < 5) r.examples.push(`team ${c.team}: ${missed} of ${want.length} events missed (first snapshot ${c.firstSnapshot}, cursor ${c.cursor})`);
    }
    r.replayed = clients.reduce((a, c) => a + c.replayed, 0);
    r.catchup = catchup.data();
    r.subscribed = subscribed.data();
    return r;
  }
}

main().catch(failChild);
