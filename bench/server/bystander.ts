// Live gateways during the backfill: one device socket per bystander patient (bystanderId,
// telehjerte, team BYSTANDER_TEAM), each with a token of its own (a home gateway is its own
// sender), taking turns: every `tickMs` the next one sends one reading of now, the pulse of each
// patient alternating 110 (yellow: raised) and 75 (resolved), so that every reading is an alert
// transition whose ingest → alert latency a subscriber of that team measures (subscriber.ts).
// IPC config: BystanderConfig. IPC: → {type: "connected"}; ← {type: "go"};
// ← {type: "halt"} → BystanderResult; ← stop.
import { performance } from "node:perf_hooks";
import { unpack } from "msgpackr";
import WebSocket from "ws";
import { bump, bystanderId, failChild, FrameWriter, guardChild, receiveConfig, Histogram, HOST, MSGPACK, WS_PATH, type HistogramData } from "./common.js";

export interface BystanderConfig {
  port: number;
  /** One per bystander patient. */
  tokens: string[];
  tickMs: number;
  maxLifetimeMs: number;
}

export interface BystanderResult {
  type: "result";
  sent: number;
  accepted: number;
  transitions: number;
  /** Frame send → ingest_result (ms). */
  ack: HistogramData;
  errors: Record<string, number>;
  closes: Record<string, number>;
}

guardChild(15 * 60_000);
const cfg = await receiveConfig<BystanderConfig>();
guardChild(cfg.maxLifetimeMs);

async function main(): Promise<void> {
  const r: BystanderResult = { type: "result", sent: 0, accepted: 0, transitions: 0, ack: { offset: 0, counts: [] }, errors: {}, closes: {} };
  const ack = new Histogram();
  const patients = cfg.tokens.length;
  const writer = new FrameWriter(Array.from({ length: patients }, (_, i) => ({ patient: bystanderId(i), metric: "pulse" })), 1);
  const high = new Uint8Array(patients);
  const lastTime = new Float64Array(patients);
  const pending = new Map<string, number>();
  const open = new Uint8Array(patients);
  const sockets = cfg.tokens.map((token, i) => {
    const ws = new WebSocket(`ws://${HOST}:${cfg.port}${WS_PATH}`, [MSGPACK, `bearer.${token}`], { perMessageDeflate: false });
    ws.binaryType = "nodebuffer";
    return new Promise<WebSocket>((resolve, reject) => {
      ws.on("error", (e) => (open[i] ? bump(r.errors, `socket error: ${e.message}`) : reject(e)));
      ws.on("close", (code, reason) => {
        if (open[i]) bump(r.closes, `${code} ${reason.toString()}`);
        open[i] = 0;
      });
      ws.on("message", (data: Buffer) => {
        const m = unpack(data) as { type: string; id?: string; code?: string; accepted?: number; transitions?: number };
        if (!open[i]) {
          if (m.type !== "authenticated") return reject(new Error(`bystander: expected authenticated, got ${m.type}`));
          open[i] = 1;
          return resolve(ws);
        }
        const sentAt = m.id === undefined ? undefined : pending.get(m.id);
        if (sentAt !== undefined) pending.delete(m.id!);
        if (m.type === "ingest_result") {
          r.accepted += m.accepted ?? 0;
          r.transitions += m.transitions ?? 0;
          if (sentAt !== undefined) ack.add(performance.now() - sentAt);
        } else if (m.type === "error") bump(r.errors, m.code ?? "unknown");
      });
    });
  });
  const ws = await Promise.all(sockets);
  process.send?.({ type: "connected" });
  let timer: NodeJS.Timeout | undefined;
  let next = 0;
  let seq = 0;
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "go") {
      timer = setInterval(() => {
        const i = next;
        next = (next + 1) % patients;
        if (!open[i]) return;
        high[i] ^= 1;
        const t = Math.max(Date.now(), lastTime[i] + 1);
        lastTime[i] = t;
        const id = `by-${seq++}`;
        pending.set(id, performance.now());
        ws[i].send(writer.write(id, [i], [high[i] === 1 ? 110 : 75], [t], 1), { binary: true, compress: false });
        r.sent++;
      }, cfg.tickMs);
    } else if (m?.type === "halt") {
      clearInterval(timer);
      const deadline = Date.now() + 5000;
      const wait = (): void => {
        if (pending.size > 0 && Date.now() < deadline) return void setTimeout(wait, 10);
        r.ack = ack.data();
        process.send?.(r);
      };
      wait();
    } else if (m?.type === "stop") {
      for (const w of ws) w.terminate();
      process.exit(0);
    }
  });
}

main().catch(failChild);
