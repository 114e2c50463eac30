// Subscribed clinician sockets in one process: each authenticates with a token for one team
// (subprotocol bearer.<jwt>), subscribes to that team and waits for its snapshot.
// IPC config: SubscriberConfig as JSON. IPC: → {type: "subscribed"}; ← Go; → SubscriberResult; ← stop.
//
// Latency of an alert event = Date.now() when its frame reaches the socket's message handler
// (before decoding) − the time of the reading that triggered it (the last of why.readings, when
// it came from a reading). The generators stamp readings with their send time, so this is
// ingest → alert delivered on one machine clock, in whole ms. Events whose reading time lies in
// the window [t0, t1) are counted.
import { pack, unpack } from "msgpackr";
import WebSocket from "ws";
import { bump, failChild, guardChild, receiveConfig, Histogram, HOST, MSGPACK, WS_PATH, type Go, type SubscriberConfig, type SubscriberResult } from "./common.js";

guardChild(15 * 60_000); // until the configuration arrives (then its own limit)
const cfg = await receiveConfig<SubscriberConfig>();
guardChild(cfg.maxLifetimeMs);

interface EventFrame {
  type: string;
  code?: string;
  event?: {
    type: string;
    alert?: { why?: { readings?: { time: number; readingValue?: number }[] } };
  };
}

async function main(): Promise<void> {
  const hist = new Histogram();
  const result: SubscriberResult = {
    type: "result",
    latency: { offset: 0, counts: [] },
    events: 0,
    eventsInWindow: 0,
    byType: {},
    heartbeats: 0,
    errors: {},
    closes: {},
    cpuMicros: 0,
    connectRetries: [],
  };
  let window: Go = { type: "go", t0: Infinity, t1: -Infinity };
  const sockets: WebSocket[] = [];

  const onFrame = (data: Buffer): void => {
    const at = Date.now();
    const m = unpack(data) as EventFrame;
    if (m.type === "event") {
      result.events++;
      const e = m.event!;
      const rs = e.alert?.why?.readings;
      const trigger = rs === undefined || rs.length === 0 ? undefined : rs[rs.length - 1];
      if (trigger === undefined || trigger.readingValue === undefined) return; // clock transition
      if (trigger.time < window.t0 || trigger.time >= window.t1) return;
      result.eventsInWindow++;
      bump(result.byType, e.type);
      hist.add(at - trigger.time);
    } else if (m.type === "heartbeat") result.heartbeats++;
    else if (m.type === "error") bump(result.errors, m.code ?? "unknown");
  };

  /** Opens one subscriber; resolves when its snapshot arrived. A timeout rejects with the stage it was stuck in. */
  const open = (sub: { team: string; token: string }, i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${HOST}:${cfg.port}${WS_PATH}`, [MSGPACK, `bearer.${sub.token}`], { perMessageDeflate: false });
      ws.binaryType = "nodebuffer";
      let ready = false;
      let stage = "connecting";
      ws.once("open", () => (stage = "open, waiting for authenticated"));
      const timer = setTimeout(() => {
        ws.removeAllListeners("close");
        ws.terminate();
        reject(new Error(`subscriber ${i} (team ${sub.team}): not subscribed within ${cfg.connectTimeoutMs} ms (stage: ${stage})`));
      }, cfg.connectTimeoutMs);
      ws.on("error", (e) => {
        clearTimeout(timer);
        if (!ready) reject(e);
        else bump(result.errors, `socket error: ${e.message}`);
      });
      ws.on("close", (code, reason) => {
        bump(result.closes, String(code));
        if (ready) return;
        clearTimeout(timer);
        reject(new Error(`subscriber ${i} (team ${sub.team}): closed ${code} ${reason.toString()} before subscribing (stage: ${stage})`));
      });
      ws.on("message", (data: Buffer) => {
        if (ready) return onFrame(data);
        const m = unpack(data) as { type: string; code?: string; message?: string };
        if (m.type === "authenticated") {
          stage = "subscribe sent, waiting for snapshot";
          ws.send(pack({ type: "subscribe", id: "sub", teams: [sub.team] }));
        } else if (m.type === "snapshot") {
          ready = true;
          clearTimeout(timer);
          sockets.push(ws);
          resolve();
        } else {
          clearTimeout(timer);
          reject(new Error(`subscriber ${i}: unexpected ${JSON.stringify(m).slice(0, 200)}`));
        }
      });
    });

  /** One retry after a timeout or an early close (reported as a problem), so that one lost connection does not end a long run; a second failure does. */
  const openWithRetry = async (sub: { team: string; token: string }, i: number): Promise<void> => {
    try {
      await open(sub, i);
    } catch (err) {
      if (!(err instanceof Error) || !/not subscribed within|before subscribing/.test(err.message)) throw err;
      result.connectRetries.push(err.message);
      process.stderr.write(`[bench subscribers ${process.pid}] ${err.message}; retrying once\n`);
      await open(sub, i);
    }
  };

  // Open with bounded concurrency.
  let next = 0;
  const lanes = Array.from({ length: Math.min(cfg.concurrency, cfg.subs.length) }, async () => {
    while (next < cfg.subs.length) {
      const i = next++;
      await openWithRetry(cfg.subs[i], i);
    }
  });
  await Promise.all(lanes);
  process.send?.({ type: "subscribed", sockets: sockets.length });

  let cpuAtT0 = process.cpuUsage();
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "go") {
      window = m as Go;
      setTimeout(() => (cpuAtT0 = process.cpuUsage()), Math.max(0, window.t0 - Date.now()));
      setTimeout(() => {
        const d = process.cpuUsage(cpuAtT0);
        result.cpuMicros = d.user + d.system;
      }, Math.max(0, window.t1 - Date.now()));
    } else if (m?.type === "collect") {
      result.latency = hist.data();
      process.send?.(result);
    } else if (m?.type === "stop") {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });
}

main().catch(failChild);
