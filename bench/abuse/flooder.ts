// One flooder process of `npm run bench:abuse` (bench/abuse.ts): a kind of abuse against the
// server on loopback until told to stop. Kinds:
//   ping       WebSocket sockets (ws library for the handshake) writing pre-built masked ping
//              frames as fast as the socket drains, with or without a `bearer.<jwt>` token;
//              reconnect at once when the server closes them.
//   ingest     device sockets (varsel.v1.msgpack, one device token) writing MessagePack ingest
//              frames as fast as the socket drains, never waiting for answers; reconnect on close.
//   http       autocannon, keep-alive connections, POST /v1/measurements (JSON batches).
//   idle       raw TCP connections that complete the WebSocket handshake with a token and then
//              say nothing (no ws library: 3 000 of them cost little here); reconnect on close.
//   slowloris  raw TCP connections sending an HTTP request head one byte at a time, one byte per
//              `byteIntervalMs`; reconnect when cut, noting what the server answered and when.
// IPC: → hello; ← config; → ready; ← go; (idle / slowloris: → established {open}); ← stop;
// → result; exit. Loopback only; a hard lifetime in any case.
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import net from "node:net";
import WebSocket from "ws";
import { bump, failChild, FrameWriter, guardChild, HOST, readResultHead, receiveConfig, WS_PATH } from "../server/common.js";

export interface FloodConfig {
  kind: "ping" | "ingest" | "http" | "idle" | "slowloris";
  port: number;
  /** ping (absent: no token), ingest, http, idle. */
  token?: string;
  /** Sockets / connections of this process. */
  connections: number;
  /** Source address on loopback (127.0.0.x), so thousands of connections do not share one port range. */
  localAddress: string;
  /** ingest / http: patients this process sends for (metric pulse, bp_sys, bp_dia). */
  patients: string[];
  /** ingest: readings per frame; http: readings per request. */
  frame: number;
  /** ingest: bytes a socket may have unsent before the flooder waits for it to drain. */
  highWater: number;
  /** slowloris: each connection sends one byte per this many ms. */
  byteIntervalMs: number;
  /** idle / slowloris: connection attempts in flight at once while ramping up. */
  rampConcurrency: number;
  maxLifetimeMs: number;
}

export interface FloodResult {
  type: "result";
  kind: FloodConfig["kind"];
  /** Connection attempts, and those that opened (101 for WebSockets, TCP connect for slowloris). */
  connects: number;
  opened: number;
  /** Most connections open at once, and open when told to stop. */
  peakOpen: number;
  openAtStop: number;
  /** Frames (ping / ingest), requests (http) or bytes (slowloris) sent. */
  sent: number;
  /** Frames received (ping / ingest / idle), 2xx answers (http). */
  received: number;
  /** ingest: readings accepted according to ingest_result. */
  accepted: number;
  /** Close codes seen (WebSocket close code; "1006" = cut without a close frame), or for raw TCP what ended it. */
  closes: Record<string, number>;
  /** error frames by code, socket errors by code, HTTP status codes (http). */
  errors: Record<string, number>;
  /** slowloris: how long the server kept a connection it cut (ms), sorted samples (at most 2 000). */
  heldMs: number[];
  cpuMicros: number;
}

guardChild(10 * 60_000);
const cfg = await receiveConfig<FloodConfig>();
guardChild(cfg.maxLifetimeMs);

const r: FloodResult = {
  type: "result", kind: cfg.kind, connects: 0, opened: 0, peakOpen: 0, openAtStop: 0, sent: 0, received: 0, accepted: 0,
  closes: {}, errors: {}, heldMs: [], cpuMicros: 0,
};
let open = 0;
let stopping = false;
const opened = (): void => {
  r.opened++;
  open++;
  if (open > r.peakOpen) r.peakOpen = open;
};
const url = `ws://${HOST}:${cfg.port}${WS_PATH}`;

/** A masked client frame (all-zero mask key: the payload goes as is). */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  if (len > 0xffff) throw new Error("frame too large for this writer");
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** Reads the close code out of a server close frame at the start of `b`, if one is there. */
function closeCodeIn(b: Buffer): number | undefined {
  for (let i = 0; i + 3 < b.length; ) {
    const op = b[i] & 0x0f;
    let len = b[i + 1] & 0x7f;
    let o = i + 2;
    if (len === 126) {
      len = b.readUInt16BE(o);
      o += 2;
    } else if (len === 127) return undefined;
    if (op === 0x8) return len >= 2 ? b.readUInt16BE(o) : 1005;
    i = o + len;
  }
  return undefined;
}

// ---------------------------------------------------------------- ping and ingest floods (ws library)

function wsFlood(): void {
  const pings = Buffer.concat(Array.from({ length: 200 }, (_, i) => maskedFrame(0x1, Buffer.from(JSON.stringify({ type: "ping", id: `p${i}` })))));
  const protocols = cfg.kind === "ingest" ? ["varsel.v1.msgpack", `bearer.${cfg.token}`] : cfg.token ? ["varsel.v1.json", `bearer.${cfg.token}`] : ["varsel.v1.json"];

  // ingest: socket k owns the slots k, k + K, …, so a frame never holds a slot twice and each
  // slot's time increases (max(now, last + 1) per socket); values in band, 1 % past yellow.
  const metrics = ["pulse", "bp_sys", "bp_dia"];
  const inBand = [75, 130, 78], yellow = [108, 168, 100];
  const allSlots = cfg.patients.flatMap((patient) => metrics.map((metric, m) => ({ patient, metric, m })));
  const writer = cfg.kind === "ingest" ? new FrameWriter(allSlots, cfg.frame) : undefined;

  const socket = (k: number): void => {
    if (stopping) return;
    const mine = allSlots.map((_, i) => i).filter((i) => i % cfg.connections === k);
    if (cfg.kind === "ingest" && mine.length < cfg.frame) throw new Error(`socket ${k}: ${mine.length} slots < frame ${cfg.frame}`);
    const slots = new Uint32Array(cfg.frame), values = new Float64Array(cfg.frame), times = new Float64Array(cfg.frame);
    let cursor = 0, last = 0, n = 0;
    const nextFrame = (): Buffer => {
      const now = Date.now();
      const t = now > last ? now : last + 1;
      last = t;
      for (let i = 0; i < cfg.frame; i++) {
        const s = mine[cursor];
        cursor = cursor + 1 === mine.length ? 0 : cursor + 1;
        slots[i] = s;
        values[i] = (n + i) % 100 === 0 ? yellow[allSlots[s].m] : inBand[allSlots[s].m] + ((n + i) % 7);
        times[i] = t;
      }
      const payload = writer!.write(`f${process.pid}-${k}-${n++}`, slots, values, times, cfg.frame);
      return maskedFrame(0x2, payload);
    };

    r.connects++;
    const ws = new WebSocket(url, protocols, { localAddress: cfg.localAddress, perMessageDeflate: false, handshakeTimeout: 10_000 });
    let raw: net.Socket | undefined;
    const pump = (): void => {
      if (stopping || ws.readyState !== WebSocket.OPEN || raw === undefined) return;
      // Write straight to the TCP socket (the frames are pre-masked): the flooder's own cost stays small.
      let rounds = 0;
      while (raw.writableLength < cfg.highWater && rounds++ < 64) {
        if (cfg.kind === "ingest") {
          raw.write(nextFrame());
          r.sent++;
        } else {
          raw.write(pings);
          r.sent += 200;
        }
      }
      if (raw.writableLength >= cfg.highWater) raw.once("drain", pump);
      else setImmediate(pump);
    };
    ws.on("open", () => {
      opened();
      raw = (ws as unknown as { _socket: net.Socket })._socket;
      pump();
    });
    ws.on("message", (data: Buffer, isBinary) => {
      r.received++;
      if (cfg.kind === "ingest" && isBinary) {
        const head = readResultHead(data);
        if (head.type === "ingest_result") r.accepted += head.accepted;
        else if (head.type === "error") bump(r.errors, head.code ?? "error");
      } else if (data.length > 0 && data[0] === 0x7b && !data.subarray(0, 16).toString().includes('"pong"')) {
        try {
          const f = JSON.parse(String(data)) as { type: string; code?: string };
          if (f.type === "error") bump(r.errors, f.code ?? "error");
        } catch {
          bump(r.errors, "undecodable");
        }
      }
    });
    ws.on("error", (err: NodeJS.ErrnoException) => bump(r.errors, err.code ?? err.message.slice(0, 40)));
    ws.on("close", (code) => {
      if (raw !== undefined) open--;
      if (!stopping) {
        bump(r.closes, String(code));
        setTimeout(() => socket(k), 5); // reconnect (a flooder does)
      }
    });
    sockets.push(ws);
  };
  const sockets: WebSocket[] = [];
  for (let k = 0; k < cfg.connections; k++) socket(k);
  stoppers.push(() => {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
  });
}

// ---------------------------------------------------------------- HTTP flood (autocannon)

interface AcResult {
  "2xx": number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  requests: { sent: number };
  statusCodeStats: Record<string, { count: number }>;
}
function httpFlood(): Promise<void> {
  const autocannon = createRequire(import.meta.url)("autocannon") as (o: object, cb: (err: Error | null, res: AcResult) => void) => { stop(): void };
  const metrics = ["pulse", "bp_sys", "bp_dia"];
  const inBand = [75, 130, 78];
  let k = 0, last = 0, n = 0;
  const body = (): string => {
    const now = Date.now();
    const t = now > last ? now : last + 1;
    last = t;
    const readings = [];
    for (let i = 0; i < cfg.frame; i++) {
      const s = (k + i) % (cfg.patients.length * 3);
      readings.push({ patient: cfg.patients[Math.floor(s / 3)], metric: metrics[s % 3], value: inBand[s % 3] + (n % 5), time: t });
    }
    k = (k + cfg.frame) % (cfg.patients.length * 3);
    n++;
    return JSON.stringify({ readings });
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://${HOST}:${cfg.port}`,
        connections: cfg.connections,
        pipelining: 1,
        duration: Math.ceil(cfg.maxLifetimeMs / 1000),
        timeout: 10,
        requests: [
          {
            method: "POST",
            path: "/v1/measurements",
            headers: { "content-type": "application/json", authorization: `Bearer ${cfg.token}` },
            setupRequest: (req: { body?: string }) => ((req.body = body()), req),
          },
        ],
      },
      (err, res) => {
        if (err) return reject(err);
        r.sent = res.requests.sent;
        r.received = res["2xx"];
        r.connects = r.opened = r.peakOpen = cfg.connections;
        for (const [code, s] of Object.entries(res.statusCodeStats ?? {})) bump(r.errors, `http ${code}`, s.count);
        if (res.errors) bump(r.closes, "errors", res.errors);
        if (res.timeouts) bump(r.closes, "timeouts", res.timeouts);
        if (res.resets) bump(r.closes, "resets", res.resets);
        resolve();
      },
    );
    stoppers.push(() => instance.stop());
  });
}

// ---------------------------------------------------------------- idle and slowloris (raw TCP)

function rawFlood(): void {
  const conns = new Set<net.Socket>();
  let pending = 0;
  let reported = false;
  const head = Buffer.from(
    "POST /v1/measurements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + Array.from({ length: 200 }, (_, i) => `X-Slow-${i}: ${"z".repeat(8)}\r\n`).join(""),
  );
  /** slowloris: the connections in sending order, each with its next byte. */
  const slow: { s: net.Socket; at: number }[] = [];

  const connect = (): void => {
    if (stopping) return;
    pending++;
    r.connects++;
    const s = net.connect({ host: HOST, port: cfg.port, localAddress: cfg.localAddress });
    const born = Date.now();
    let upgraded = false, answered = "", connected = false, sawClose = false;
    s.setNoDelay(true);
    s.on("connect", () => {
      connected = true;
      if (cfg.kind === "slowloris") {
        pending--;
        opened();
        slow.push({ s, at: 0 });
        ramp();
      } else {
        s.write(
          `GET ${WS_PATH} HTTP/1.1\r\nHost: ${HOST}:${cfg.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n` +
            `Sec-WebSocket-Protocol: varsel.v1.msgpack, bearer.${cfg.token}\r\n\r\n`,
        );
      }
    });
    s.on("data", (d: Buffer) => {
      if (cfg.kind === "idle") {
        if (!upgraded) {
          answered += d.toString("latin1");
          const end = answered.indexOf("\r\n\r\n");
          if (end < 0) return;
          if (!answered.startsWith("HTTP/1.1 101")) {
            bump(r.errors, `upgrade ${answered.slice(9, 12)}`);
            s.destroy();
            return;
          }
          upgraded = true;
          pending--;
          opened();
          ramp();
          d = Buffer.from(answered.slice(end + 4), "latin1");
          if (d.length === 0) return;
        }
        r.received++;
        const code = closeCodeIn(d);
        if (code !== undefined) {
          sawClose = true;
          bump(r.closes, String(code));
        }
      } else if (answered.length < 64) answered += d.toString("latin1");
    });
    s.on("error", (err: NodeJS.ErrnoException) => bump(r.errors, err.code ?? "error"));
    s.on("close", () => {
      conns.delete(s);
      const wasOpen = cfg.kind === "slowloris" ? connected : upgraded;
      if (wasOpen) open--;
      else pending--;
      if (stopping) return;
      if (cfg.kind === "slowloris") {
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answered)?.[1];
        bump(r.closes, connected ? (status !== undefined ? `answered ${status}` : "cut, no answer") : "connect failed");
        if (connected && r.heldMs.length < 2000) r.heldMs.push(Date.now() - born);
      } else if (!upgraded) bump(r.closes, "before upgrade");
      else if (!sawClose) bump(r.closes, "1006");
      setTimeout(ramp, 10);
    });
    conns.add(s);
  };
  const ramp = (): void => {
    while (!stopping && open + pending < cfg.connections && pending < cfg.rampConcurrency) connect();
    if (!reported && open >= cfg.connections) {
      reported = true;
      process.send?.({ type: "established", open });
    }
  };
  ramp();
  // slowloris: one byte per connection per byteIntervalMs, spread over the interval in 20 ms ticks.
  let tick = 0;
  const ticks = Math.max(1, Math.round(cfg.byteIntervalMs / 20));
  const timer =
    cfg.kind === "slowloris"
      ? setInterval(() => {
          const phase = tick++ % ticks;
          for (let i = phase; i < slow.length; i += ticks) {
            const c = slow[i];
            if (c.s.destroyed) continue;
            c.s.write(head.subarray(c.at % head.length, (c.at % head.length) + 1));
            c.at++;
            r.sent++;
          }
          if (phase === 0) for (let i = slow.length - 1; i >= 0; i--) if (slow[i].s.destroyed) slow.splice(i, 1);
        }, 20)
      : undefined;
  const progress = setInterval(() => process.send?.({ type: "progress", open }), 500);
  stoppers.push(() => {
    clearInterval(timer);
    clearInterval(progress);
    for (const s of conns) s.destroy();
  });
}

// ---------------------------------------------------------------- main

const stoppers: (() => void)[] = [];
async function main(): Promise<void> {
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    const onGo = (m: { type?: string }): void => {
      if (m?.type !== "go") return;
      process.off("message", onGo);
      resolve();
    };
    process.on("message", onGo);
    process.send?.({ type: "ready" });
  });
  let httpDone: Promise<void> | undefined;
  if (cfg.kind === "http") httpDone = httpFlood();
  else if (cfg.kind === "ping" || cfg.kind === "ingest") wsFlood();
  else rawFlood();
  await new Promise<void>((resolve) => process.on("message", (m: { type?: string }) => m?.type === "stop" && resolve()));
  r.openAtStop = open;
  stopping = true;
  for (const stop of stoppers) stop();
  if (httpDone) await httpDone;
  const cpu = process.cpuUsage(cpu0);
  r.cpuMicros = cpu.user + cpu.system;
  r.heldMs.sort((a, b) => a - b);
  process.send?.(r, () => setTimeout(() => process.exit(0), 50));
}

main().catch(failChild);
