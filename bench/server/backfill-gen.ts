// Backfill gateways in one process: device sockets (varsel.v1.msgpack + bearer.<jwt>), each
// uploading the buffered 24 h of its own CGM patients (backfill-trace.ts) as fast as the server
// answers: frames of `patientsPerFrame` whole days (288 readings each, oldest first — a patient's
// day is never split over two requests, so it is one reorder window and nothing is out_of_order),
// `window` frames in flight per socket. An `overloaded` answer is honoured: the same frame is sent
// again after retryAfterMs (counted). Every ingest_result is decoded fully (rejected, out_of_order).
// IPC config: BackfillGenConfig. IPC: → {type: "connected"}; ← Go; → BackfillGenResult; ← stop.
import { performance } from "node:perf_hooks";
import { unpack } from "msgpackr";
import WebSocket from "ws";
import { BACKFILL_READINGS, CGM_INTERVAL_MS, cgmPatientId, fillTrace } from "./backfill-trace.js";
import { bump, failChild, FrameWriter, guardChild, receiveConfig, Histogram, HOST, MSGPACK, WS_PATH, type HistogramData } from "./common.js";

export interface BackfillGenConfig {
  port: number;
  sockets: { name: string; token: string; patients: number[] }[];
  patientsPerFrame: number;
  /** 1: a patient's day in one frame; n > 1: split into n frames sent one after the other (one chunk per frame) — to show what splitting a day does to the late-data policy. */
  dayChunks: number;
  window: number;
  maxLifetimeMs: number;
}

export interface BackfillGenResult {
  type: "result";
  accepted: number;
  rejected: number;
  rejectedCodes: Record<string, number>;
  outOfOrder: number;
  transitions: number;
  frames: number;
  /** Frames sent again after an `overloaded` answer. */
  resent: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
  /** Epoch ms of the first send and of the last ingest_result. */
  firstSendAt: number;
  lastResultAt: number;
  /** Frame send → its ingest_result (ms). */
  ack: HistogramData;
  cpuMicros: number;
  /** Frames never answered (a socket closed). */
  unanswered: number;
}

guardChild(15 * 60_000);
const cfg = await receiveConfig<BackfillGenConfig>();
guardChild(cfg.maxLifetimeMs);

const zeroMask = (mask: Buffer): void => void mask.fill(0);

interface Frame {
  buf: Buffer;
  sentAt: number;
}

class Gateway {
  readonly ws: WebSocket;
  private readonly writer: FrameWriter;
  /** The next unit: a patient (dayChunks 1) or a patient's chunk. */
  private next = 0;
  private seq = 0;
  private dayEnd = 0;
  private readonly pending = new Map<string, Frame>();
  private readonly slots: Uint32Array;
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private readonly day = new Float64Array(BACKFILL_READINGS);
  open = false;

  constructor(readonly name: string, token: string, private readonly patients: number[], private readonly r: BackfillGenResult, private readonly ack: Histogram, private readonly done: () => void) {
    const n = cfg.patientsPerFrame * BACKFILL_READINGS;
    this.writer = new FrameWriter(patients.map((p) => ({ patient: cgmPatientId(p), metric: "cgm" })), n);
    this.slots = new Uint32Array(n);
    this.values = new Float64Array(n);
    this.times = new Float64Array(n);
    this.ws = new WebSocket(`ws://${HOST}:${cfg.port}${WS_PATH}`, [MSGPACK, `bearer.${token}`], { perMessageDeflate: false, generateMask: zeroMask, maxPayload: 64 * 1024 * 1024 });
    this.ws.binaryType = "nodebuffer";
  }

  private get units(): number {
    return this.patients.length * cfg.dayChunks;
  }

  get finished(): boolean {
    return this.next >= this.units && this.pending.size === 0;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends the next frame of whole days (or the next chunk of a day), if any is left. */
  sendNext(): void {
    if (this.next >= this.units || !this.open) return;
    const chunks = cfg.dayChunks;
    const end = chunks > 1 ? this.next + 1 : Math.min(this.units, this.next + cfg.patientsPerFrame);
    const now = Date.now();
    let n = 0;
    for (let u = this.next; u < end; u++) {
      const s = Math.floor(u / chunks);
      const c = u % chunks;
      const p = this.patients[s];
      fillTrace(p, this.day);
      // the newest reading 0–4 min before the upload (the transmitter's cycle), per patient; one end for all chunks of a day
      if (c === 0) this.dayEnd = now - ((p * 7919) % 240) * 1000;
      const from = Math.floor((c * BACKFILL_READINGS) / chunks);
      const to = Math.floor(((c + 1) * BACKFILL_READINGS) / chunks);
      for (let k = from; k < to; k++) {
        this.slots[n] = s;
        this.values[n] = this.day[k];
        this.times[n] = this.dayEnd - (BACKFILL_READINGS - 1 - k) * CGM_INTERVAL_MS;
        n++;
      }
    }
    this.next = end;
    const id = `${this.name}-${this.seq++}`;
    const buf = Buffer.from(this.writer.write(id, this.slots, this.values, this.times, n)); // kept for a resend
    this.transmit(id, buf);
  }

  private transmit(id: string, buf: Buffer): void {
    const sentAt = performance.now();
    if (this.r.firstSendAt === 0) this.r.firstSendAt = Date.now();
    this.pending.set(id, { buf, sentAt });
    this.ws.send(buf, { binary: true, compress: false });
    this.r.frames++;
  }

  onMessage(data: Buffer): void {
    const m = unpack(data) as {
      type: string;
      id?: string;
      code?: string;
      details?: { retryAfterMs?: number };
      accepted?: number;
      rejected?: { code: string }[];
      transitions?: number;
      readings?: { triage?: string }[];
    };
    const f = m.id === undefined ? undefined : this.pending.get(m.id);
    if (m.type === "error") {
      if (m.code === "overloaded" && f !== undefined) {
        // told to come back later: the same frame, after the wait asked for
        this.r.resent++;
        const id = m.id!;
        setTimeout(() => {
          this.pending.delete(id);
          this.transmit(id, f.buf);
        }, m.details?.retryAfterMs ?? 1000);
        return;
      }
      bump(this.r.errors, m.code ?? "unknown");
      if (f !== undefined) this.pending.delete(m.id!);
    } else if (m.type === "ingest_result" && f !== undefined) {
      this.pending.delete(m.id!);
      this.r.accepted += m.accepted ?? 0;
      this.r.rejected += m.rejected?.length ?? 0;
      for (const x of m.rejected ?? []) bump(this.r.rejectedCodes, x.code);
      this.r.transitions += m.transitions ?? 0;
      for (const x of m.readings ?? []) if (x.triage === "out_of_order") this.r.outOfOrder++;
      this.r.lastResultAt = Date.now();
      this.ack.add(performance.now() - f.sentAt);
    } else {
      bump(this.r.errors, `unexpected ${m.type}`);
      return;
    }
    this.sendNext();
    if (this.finished) this.done();
  }

  close(code: number, reason: string): void {
    bump(this.r.closes, `${code}${reason.length > 0 ? ` ${reason}` : ""} (${this.pending.size} frames unanswered)`);
    this.r.unanswered += this.pending.size;
    this.pending.clear();
    this.next = this.units;
    this.open = false;
    this.done();
  }
}

async function main(): Promise<void> {
  const r: BackfillGenResult = {
    type: "result",
    accepted: 0,
    rejected: 0,
    rejectedCodes: {},
    outOfOrder: 0,
    transitions: 0,
    frames: 0,
    resent: 0,
    errors: {},
    closes: {},
    firstSendAt: 0,
    lastResultAt: 0,
    ack: { offset: 0, counts: [] },
    cpuMicros: 0,
    unanswered: 0,
  };
  const ack = new Histogram();
  let finish: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const gateways: Gateway[] = [];
  const check = (): void => {
    if (gateways.every((g) => g.finished || !g.open)) finish();
  };
  for (const s of cfg.sockets) gateways.push(new Gateway(s.name, s.token, s.patients, r, ack, check));
  await Promise.all(
    gateways.map(
      (g) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${g.name}: not authenticated within 20 s`)), 20_000);
          g.ws.on("error", (e) => {
            clearTimeout(t);
            if (g.open) bump(r.errors, `socket error: ${e.message}`);
            else reject(e);
          });
          g.ws.on("message", (data: Buffer) => {
            if (g.open) return g.onMessage(data);
            const m = unpack(data) as { type: string };
            clearTimeout(t);
            if (m.type !== "authenticated") return reject(new Error(`${g.name}: expected authenticated, got ${JSON.stringify(m).slice(0, 200)}`));
            g.open = true;
            resolve();
          });
          g.ws.on("close", (code, reason) => {
            if (g.open) g.close(code, reason.toString());
          });
        }),
    ),
  );
  process.send?.({ type: "connected" });
  await new Promise<void>((resolve) => {
    process.on("message", (m: { type?: string }) => {
      if (m?.type === "go") resolve();
      else if (m?.type === "stop") {
        for (const g of gateways) g.ws.terminate();
        process.exit(0);
      }
    });
  });
  const cpu0 = process.cpuUsage();
  for (const g of gateways) for (let i = 0; i < cfg.window; i++) g.sendNext();
  check();
  await allDone;
  const d = process.cpuUsage(cpu0);
  r.cpuMicros = d.user + d.system;
  r.ack = ack.data();
  process.send?.(r);
}

main().catch(failChild);
