// A WebSocket device load generator process: a few device sockets (subprotocols
// varsel.v1.msgpack + bearer.<jwt>), each sending MessagePack ingest frames for its own patients.
// IPC config: LoadgenConfig as JSON. IPC: → {type: "connected"}; ← Go; → LoadgenResult; ← stop.
//
// Readings: each socket cycles through its slots (patient × metric) in a shuffled order, so a
// frame never holds one slot twice; a slot's time is max(Date.now(), its last time + 1) at
// send, so times increase per slot and lie at most a few ms ahead of the clock. Values are in
// band except a share `oob` past a yellow (3/4) or red (1/4) limit.
//
// max mode: `window` frames in flight per socket (a new frame for each ingest_result).
// rate mode: open loop; every tickMs each socket sends the readings due at its share of `rate`
// (at most `frame` per frame), the sockets taking turns spread over the tick (or all at once
// with `aligned`); a socket with maxInFlight unacknowledged frames skips (counted).
import { performance } from "node:perf_hooks";
import { unpack } from "msgpackr";
import WebSocket from "ws";
import {
  bump,
  failChild,
  FrameWriter,
  guardChild,
  receiveConfig,
  Histogram,
  HOST,
  METRICS,
  MSGPACK,
  patientId,
  readResultHead,
  rng,
  shuffle,
  VALUES,
  WS_PATH,
  type Go,
  type LoadgenConfig,
  type LoadgenResult,
} from "./common.js";

guardChild(15 * 60_000); // until the configuration arrives (then its own limit)
const cfg = await receiveConfig<LoadgenConfig>();
guardChild(cfg.maxLifetimeMs);

const zeroMask = (mask: Buffer): void => void mask.fill(0); // ws skips masking for an all-zero key

interface Pending {
  sentAt: number;
  n: number;
  inWindow: boolean;
}

class DeviceSocket {
  readonly ws: WebSocket;
  private readonly writer: FrameWriter;
  private readonly slotCount: number;
  private readonly order: Uint32Array;
  private readonly lastTime: Float64Array;
  private cursor = 0;
  private seq = 0;
  private readonly slots: Uint32Array;
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private readonly rand: () => number;
  private readonly pending = new Map<string, Pending>();
  private readonly metricOf: number[] = [];
  open = false;
  dueCarry = 0;
  sentInRate = 0;

  constructor(readonly name: string, token: string, patients: number[], seed: number, private readonly r: LoadgenResult, private readonly ack: Histogram) {
    const slotList: { patient: string; metric: string }[] = [];
    for (const p of patients) {
      for (let m = 0; m < METRICS.length; m++) {
        slotList.push({ patient: patientId(p), metric: METRICS[m] });
        this.metricOf.push(m);
      }
    }
    this.slotCount = slotList.length;
    if (this.slotCount < cfg.frame) throw new Error(`socket ${name}: ${this.slotCount} slots < frame ${cfg.frame}`);
    this.rand = rng(seed);
    this.order = Uint32Array.from(shuffle([...slotList.keys()], this.rand));
    this.lastTime = new Float64Array(this.slotCount);
    this.writer = new FrameWriter(slotList, cfg.frame);
    this.slots = new Uint32Array(cfg.frame);
    this.values = new Float64Array(cfg.frame);
    this.times = new Float64Array(cfg.frame);
    this.ws = new WebSocket(`ws://${HOST}:${cfg.port}${WS_PATH}`, [MSGPACK, `bearer.${token}`], {
      perMessageDeflate: false,
      generateMask: zeroMask,
      maxPayload: 64 * 1024 * 1024,
    });
    this.ws.binaryType = "nodebuffer";
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Builds and sends one frame of n readings. */
  send(n: number, window: Go): void {
    const now = Date.now();
    const oob = cfg.oob;
    for (let i = 0; i < n; i++) {
      const s = this.order[this.cursor];
      this.cursor = this.cursor + 1 === this.slotCount ? 0 : this.cursor + 1;
      const v = VALUES[METRICS[this.metricOf[s]]];
      const u = this.rand();
      let range = v.inBand;
      if (u < oob) range = u < oob * 0.75 ? v.yellow : v.red;
      this.slots[i] = s;
      this.values[i] = range[0] + Math.floor(this.rand() * (range[1] - range[0] + 1));
      const last = this.lastTime[s];
      const t = now > last ? now : last + 1;
      this.lastTime[s] = t;
      this.times[i] = t;
    }
    const id = `${this.name}-${this.seq++}`;
    const frame = this.writer.write(id, this.slots, this.values, this.times, n);
    const sentAt = performance.now();
    this.pending.set(id, { sentAt, n, inWindow: now >= window.t0 && now < window.t1 });
    this.ws.send(frame, { binary: true, compress: false });
    this.r.sentFrames++;
    this.r.sentReadings += n;
  }

  /** Handles a server frame; returns true for an ingest_result of ours. */
  onMessage(data: Buffer, window: Go): boolean {
    const full = cfg.mode === "rate" || this.r.ackedFrames % 50 === 0;
    const head = readResultHead(data, full);
    if (full && head.outOfOrder !== undefined) {
      this.r.checkedResults++;
      this.r.outOfOrder += head.outOfOrder;
    }
    if (head.type !== "ingest_result") {
      if (head.type !== "error") return false;
      bump(this.r.errors, head.code ?? "unknown");
      // an error answering one of our frames frees its place in the window
      return head.id !== undefined && this.pending.delete(head.id);
    }
    const p = head.id === undefined ? undefined : this.pending.get(head.id);
    if (p === undefined) {
      bump(this.r.errors, "unknown_result_id");
      return false;
    }
    this.pending.delete(head.id!);
    this.r.ackedFrames++;
    const now = Date.now();
    const counts = cfg.mode === "max" ? now >= window.t0 && now < window.t1 : p.inWindow;
    if (counts) {
      this.r.accepted += head.accepted;
      this.r.rejected += head.rejected;
      this.r.transitions += head.transitions ?? 0;
      for (const c of head.rejectedCodes ?? []) bump(this.r.rejectedCodes, c);
      if (cfg.mode === "rate") this.ack.add(performance.now() - p.sentAt);
    }
    return true;
  }
}

async function main(): Promise<void> {
  const result: LoadgenResult = {
    type: "result",
    accepted: 0,
    rejected: 0,
    rejectedCodes: {},
    sentReadings: 0,
    sentFrames: 0,
    ackedFrames: 0,
    transitions: 0,
    outOfOrder: 0,
    checkedResults: 0,
    errors: {},
    closes: {},
    skipped: 0,
    ack: { offset: 0, counts: [] },
    cpuMicros: 0,
    outstanding: 0,
  };
  const ack = new Histogram();
  let window: Go = { type: "go", t0: Infinity, t1: Infinity };
  let sending = false;

  // Sanity check of the hand-written frames against msgpackr.
  {
    const w = new FrameWriter([{ patient: "p00001", metric: "pulse" }], 1);
    const decoded = unpack(w.write("x-1", [0], [72], [1_700_000_000_123], 1)) as { type: string; id: string; readings: { patient: string; metric: string; value: number; time: number }[] };
    const r = decoded.readings?.[0];
    if (decoded.type !== "ingest" || decoded.id !== "x-1" || r?.patient !== "p00001" || r.metric !== "pulse" || r.value !== 72 || r.time !== 1_700_000_000_123) {
      throw new Error(`frame writer self-check failed: ${JSON.stringify(decoded)}`);
    }
  }

  const sockets = cfg.sockets.map((s, i) => new DeviceSocket(s.name, s.token, s.patients, cfg.seed * 1000 + i, result, ack));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${s.name}: not authenticated within 10 s`)), 10_000);
          s.ws.on("error", (e) => {
            clearTimeout(t);
            if (s.open) bump(result.errors, `socket error: ${e.message}`);
            else reject(e);
          });
          s.ws.on("message", (data: Buffer) => {
            if (!s.open) {
              const m = unpack(data) as { type: string; code?: string; message?: string };
              if (m.type === "authenticated") {
                s.open = true;
                clearTimeout(t);
                resolve();
              } else {
                clearTimeout(t);
                reject(new Error(`${s.name}: expected authenticated, got ${JSON.stringify(m)}`));
              }
              return;
            }
            const ours = s.onMessage(data, window);
            if (ours && sending && cfg.mode === "max" && s.inFlight < cfg.window) s.send(cfg.frame, window);
          });
          s.ws.on("close", (code, reason) => {
            const now = Date.now();
            const phase = now < window.t0 ? "before the window" : now < window.t1 ? "in the window" : "after the window";
            bump(result.closes, `${code}${reason.length > 0 ? ` ${reason.toString()}` : ""} (${phase}, ${s.inFlight} frames unacknowledged)`);
            s.open = false;
          });
        }),
    ),
  );
  process.send?.({ type: "connected" });

  const go = await new Promise<Go>((resolve) => {
    process.on("message", (m: { type?: string }) => {
      if (m?.type === "go") resolve(m as Go);
      else if (m?.type === "stop") {
        for (const s of sockets) s.ws.terminate();
        process.exit(0);
      }
    });
  });
  window = go;
  sending = true;
  let cpuAtT0 = process.cpuUsage();
  const t0Timer = setTimeout(() => (cpuAtT0 = process.cpuUsage()), Math.max(0, go.t0 - Date.now()));
  let cpuMicros = 0;
  const stopSending = new Promise<void>((resolve) =>
    setTimeout(() => {
      const d = process.cpuUsage(cpuAtT0);
      cpuMicros = d.user + d.system;
      sending = false;
      resolve();
    }, Math.max(0, go.t1 - Date.now())),
  );

  let rateTimer: NodeJS.Timeout | undefined;
  if (cfg.mode === "max") {
    for (const s of sockets) for (let i = 0; i < cfg.window; i++) s.send(cfg.frame, window);
  } else {
    const perSocket = cfg.rate / sockets.length; // readings per second
    const start = performance.now();
    // Gateways are not phase-aligned: the sockets take turns, evenly spread over the tick, so
    // each sends a frame every tickMs without all of them landing on the server at one instant
    // (`aligned` keeps the burst: every socket at each tick).
    let turn = 0;
    const sendDue = (s: DeviceSocket, elapsed: number): void => {
      if (!s.open) return;
      let due = Math.floor(perSocket * elapsed) - s.sentInRate;
      if (due <= 0) return;
      if (s.inFlight >= cfg.maxInFlight) {
        result.skipped += due;
        s.sentInRate += due; // open loop: readings not sent now are not sent later
        return;
      }
      while (due > 0) {
        const n = Math.min(due, cfg.frame);
        s.send(n, window);
        s.sentInRate += n;
        due -= n;
      }
    };
    const tick = (): void => {
      if (!sending) return;
      const elapsed = (performance.now() - start) / 1000;
      if (cfg.aligned) for (const s of sockets) sendDue(s, elapsed);
      else {
        sendDue(sockets[turn], elapsed);
        turn = (turn + 1) % sockets.length;
      }
    };
    rateTimer = setInterval(tick, cfg.aligned ? cfg.tickMs : cfg.tickMs / sockets.length);
    tick();
  }

  await stopSending;
  clearInterval(rateTimer);
  clearTimeout(t0Timer);
  // Let the frames in flight come back (bounded), so rate mode counts every frame of the window.
  const deadline = Date.now() + 5000;
  while (sockets.some((s) => s.open && s.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  result.outstanding = sockets.reduce((a, s) => a + s.inFlight, 0);
  result.ack = ack.data();
  result.cpuMicros = cpuMicros;
  process.send?.(result); // the parent answers with stop (handled above)
}

main().catch(failChild);
