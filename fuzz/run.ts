// npm run fuzz — hostile inputs against a real varsel child process (server/main.ts on a fresh
// SQLite file), over HTTP and WebSocket, on both transports (uws, ws) and both encodings (JSON,
// MessagePack). The inputs are in fuzz/inputs.ts; this file sends them, several in flight, and
// checks while it runs:
//   1. the process lives (it still answers /healthz at the end);
//   2. no 5xx except `503 overloaded` (HTTP status, a socket `error` whose code is a 5xx, or a
//      socket closed with 1011); the input that caused one is saved to a file;
//   3. every error answer (HTTP JSON body, socket `error` frame) and every item rejection
//      (`rejected[].code`) carries a code from engine/errors.ts;
//   4. the valid readings mixed into each batch are accepted, unless the whole body is refused
//      for a body-level reason (malformed, too deep, too large, unsupported type, rate limit);
//   5. RSS after idling is within 20 % of RSS after a warm-up (the child's RssAnon: see rssMb);
//   6. kill -9 and a restart on the same database give the same GET /v1/alerts (admin) and
//      GET /v1/silences?ended=true.
// Options: --inputs N (default 100 000), --seed S, --transport uws|ws|both (both: half each),
// --concurrency C (default 16), --out DIR (saved inputs), --server-root DIR (run server/main.ts
// from another checkout). Prints a table per kind × outcome and the invariants; the last line is
// one JSON object; exit code 1 when an invariant fails.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { renderTable } from "../bench/lib/table.js";
import { ERRORS } from "../engine/errors.js";
import { FUZZ_TEAM, Generator, makePools, makeTokens, OTHER_PATIENT, PATIENTS, reader, SECRET, type HttpInput, type Input, type RawInput, type Tokens, type UpgradeInput, type WsInput } from "./inputs.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ---- options ----

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}
const INPUTS = Number(option("inputs") ?? 100_000);
const SEED = Number(option("seed") ?? Math.floor(Math.random() * 2 ** 31));
const TRANSPORT = option("transport") ?? "both";
const CONCURRENCY = Number(option("concurrency") ?? 16);
const SERVER_ROOT = path.resolve(option("server-root") ?? ROOT);
const OUT = path.resolve(option("out") ?? path.join(tmpdir(), `varsel-fuzz-${SEED}-${Date.now()}`));
// Long enough to reach every code path, buffer and cache the mix uses: the start figure is a served server.
const WARMUP = 3_000;
const IDLE_MS = 5_000;
const RSS_TOLERANCE = 0.2;
if (!Number.isSafeInteger(INPUTS) || INPUTS <= 0 || !Number.isSafeInteger(SEED) || !["uws", "ws", "both"].includes(TRANSPORT) || !(CONCURRENCY >= 1)) {
  console.error("usage: tsx fuzz/run.ts [--inputs N] [--seed S] [--transport uws|ws|both] [--concurrency C] [--out DIR] [--server-root DIR]");
  process.exit(2);
}

/** Codes an answer may carry: the catalogue, plus `overloaded` (503), which is being added. */
const EXTRA_CODES = new Set(["overloaded"]);
const catalogued = (code: unknown): boolean => typeof code === "string" && (Object.hasOwn(ERRORS, code) || EXTRA_CODES.has(code));
const statusOfCode = (code: string): number => (Object.hasOwn(ERRORS, code) ? ERRORS[code as keyof typeof ERRORS].status : 503);
/** Whole-body refusals that excuse a batch's valid neighbours. */
const BODY_LEVEL = new Set(["malformed_json", "malformed_msgpack", "nesting_too_deep", "payload_too_large", "batch_too_large", "unsupported_media_type", "rate_limited", "overloaded"]);

// ---- the child server ----

interface Child {
  proc: ChildProcess;
  port: number;
  exited: Promise<unknown>;
  errorLogs: number;
  tail: string;
}

async function startChild(database: string, transport: string): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "serve", "--port", "0", "--database", database, "--transport", transport], {
    cwd: SERVER_ROOT,
    // info: the address is an info line ("varsel listening").
    env: { ...process.env, VARSEL_JWT_SECRET: SECRET, VARSEL_TRANSPORT: transport, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child: Child = { proc, port: 0, exited: new Promise((resolve) => proc.once("exit", resolve)), errorLogs: 0, tail: "" };
  const onData = (d: Buffer) => {
    const text = d.toString("utf8");
    child.tail = (child.tail + text).slice(-20_000);
    child.errorLogs += (text.match(/"level":(50|60)/g) ?? []).length;
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  for (let i = 0; i < 400; i++) {
    const m = /"port":(\d+),"transport":"(\w+)"[^\n]*"msg":"varsel listening"/.exec(child.tail);
    if (m) {
      if (m[2] !== transport) throw new Error(`asked for transport ${transport}, server runs ${m[2]}`);
      child.port = Number(m[1]);
      return child;
    }
    if (proc.exitCode !== null) break;
    await sleep(50);
  }
  proc.kill("SIGKILL");
  throw new Error(`server did not start:\n${child.tail}`);
}

async function killHard(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
  await child.exited;
}

/**
 * The child's anonymous resident memory (RssAnon: heap, buffers, native allocations). VmRSS also
 * counts the SQLite file's pages the store maps (RssFile): page cache, given back under pressure,
 * which grows with the database and would blur whether the server holds on to memory.
 */
function rssMb(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- HTTP ----

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

interface HttpAnswer {
  status: number;
  type: string;
  body: Buffer;
}

/** Requests retried on a fresh connection after the server closed a kept-alive one under them. */
let retriedOnFreshConnection = 0;

async function request(port: number, method: string, p: string, headers: Record<string, string>, body?: Buffer, timeoutMs = 30_000): Promise<HttpAnswer> {
  try {
    return await requestOnce(port, method, p, headers, body, timeoutMs, agent);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ECONNRESET" && (err as Error).message !== "socket hang up") throw err;
    retriedOnFreshConnection++;
    return requestOnce(port, method, p, headers, body, timeoutMs, false);
  }
}

function requestOnce(port: number, method: string, p: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number, via: http.Agent | false): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h["content-length"] = String(body.length);
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers: h, agent: via }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

async function adminJson(port: number, token: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await request(port, method, p, { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return { status: res.status, body: parseAnswer(res.body, res.type) };
}

function parseAnswer(body: Buffer, type: string): any {
  try {
    if (type.includes("msgpack")) return reader.unpack(body);
    if (type.includes("json")) return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  return undefined;
}

// ---- tallies ----

type Category = "five_xx" | "uncatalogued" | "neighbours_lost" | "unanswered" | "parser_level";

interface KindStats {
  inputs: number;
  ok: number;
  refused: number;
  closed: number;
  overloaded: number;
  fiveXx: number;
  noAnswer: number;
  uncatalogued: number;
  neighboursLost: number;
  wholeRefused: number;
  labels: Map<string, number>;
}

class Tally {
  kinds = new Map<string, KindStats>();
  counts: Record<Category, number> = { five_xx: 0, uncatalogued: 0, neighbours_lost: 0, unanswered: 0, parser_level: 0 };
  saved: Record<string, number> = {};
  constructor(readonly transport: string) {}

  stats(kind: string): KindStats {
    let s = this.kinds.get(kind);
    if (!s) this.kinds.set(kind, (s = { inputs: 0, ok: 0, refused: 0, closed: 0, overloaded: 0, fiveXx: 0, noAnswer: 0, uncatalogued: 0, neighboursLost: 0, wholeRefused: 0, labels: new Map() }));
    return s;
  }

  label(kind: string, label: string): void {
    const s = this.stats(kind);
    s.labels.set(label, (s.labels.get(label) ?? 0) + 1);
  }

  /** Counts a finding and saves the input that caused it (the first 50 of each category). */
  finding(category: Category, index: number, input: Input, answer: unknown): void {
    this.counts[category]++;
    const s = this.stats(input.kind);
    if (category === "five_xx") s.fiveXx++;
    if (category === "uncatalogued") s.uncatalogued++;
    if (category === "neighbours_lost") s.neighboursLost++;
    const key = `${category}`;
    this.saved[key] = (this.saved[key] ?? 0) + 1;
    if (this.saved[key] > 50) return;
    mkdirSync(OUT, { recursive: true });
    const name = `${category}-${this.transport}-${input.kind}-${index}`;
    const bytes = input.channel === "http" ? input.body : input.channel === "ws" ? (typeof input.frame === "string" ? Buffer.from(input.frame) : input.frame) : input.channel === "raw" ? input.bytes : undefined;
    const describe: Record<string, unknown> = { category, transport: this.transport, seed: SEED, index, kind: input.kind, channel: input.channel };
    if (input.channel === "http") Object.assign(describe, { method: input.method, path: input.path, headers: input.headers, neighbours: input.neighbours });
    if (input.channel === "ws") Object.assign(describe, { role: input.role, format: input.format, frame: typeof input.frame === "string" ? "text" : "binary", neighbours: input.neighbours });
    if (input.channel === "upgrade") Object.assign(describe, { path: input.path, protocols: input.protocols, headers: input.headers });
    if (bytes !== undefined) Object.assign(describe, { body_file: `${name}.bin`, body_bytes: bytes.length, body_preview: bytes.subarray(0, 2000).toString("utf8") });
    describe.answer = answer;
    writeFileSync(path.join(OUT, `${name}.json`), JSON.stringify(describe, null, 2));
    if (bytes !== undefined) writeFileSync(path.join(OUT, `${name}.bin`), bytes);
  }
}

// ---- checking answers ----

/** Checks `rejected[].code` of an ingest answer; true when every code is catalogued. */
function rejectedCatalogued(answer: any): boolean {
  return !Array.isArray(answer?.rejected) || answer.rejected.every((r: any) => catalogued(r?.code));
}

/** True when every neighbour index has a reading in the answer. */
function neighboursKept(answer: any, neighbours: number[]): boolean {
  if (!Array.isArray(answer?.readings)) return false;
  const got = new Set(answer.readings.map((r: any) => r?.index));
  return neighbours.every((n) => got.has(n));
}

/** A well-formed body refused as malformed in the other encoding than its content type names. */
function misdecoded(input: HttpInput, code: string): boolean {
  const type = (input.headers["content-type"] ?? "").toLowerCase();
  return (code === "malformed_json" && type.includes("msgpack")) || (code === "malformed_msgpack" && type.includes("json"));
}

async function runHttp(t: Tally, port: number, index: number, input: HttpInput): Promise<void> {
  const s = t.stats(input.kind);
  let res: HttpAnswer;
  try {
    res = await request(port, input.method, input.path, input.headers, input.body);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (typeof code === "string" && code.startsWith("ERR_")) {
      // Node's client would not send it (e.g. an invalid header character): not an input.
      t.label(input.kind, `client refused ${code}`);
      s.noAnswer++;
      return;
    }
    s.noAnswer++;
    t.label(input.kind, `no answer ${code}`);
    // An oversized body may be cut off by the server before it is all sent.
    if (input.kind !== "http_oversized") t.finding("unanswered", index, input, { error: String(err) });
    return;
  }
  const body = parseAnswer(res.body, res.type);
  const code: unknown = body?.code;
  const isIngest = Array.isArray(body?.rejected) && typeof body?.accepted === "number";
  t.label(input.kind, `${res.status}${typeof code === "string" ? ` ${code}` : ""}`);
  if (res.status >= 500) {
    if (res.status === 503 && code === "overloaded") s.overloaded++;
    else t.finding("five_xx", index, input, { status: res.status, body: res.body.toString("utf8").slice(0, 4000) });
  } else if (res.status >= 400) s.refused++;
  else s.ok++;
  // 3: every error answer and item rejection carries a catalogued code.
  if (res.status >= 400 && input.method !== "HEAD" && !isIngest && !catalogued(code)) t.finding("uncatalogued", index, input, { status: res.status, body: res.body.toString("utf8").slice(0, 4000) });
  if (isIngest && !rejectedCatalogued(body)) t.finding("uncatalogued", index, input, { status: res.status, body });
  // 4: the valid neighbours are accepted unless the whole body was refused.
  if (input.neighbours.length > 0) {
    if (isIngest) {
      if (!neighboursKept(body, input.neighbours)) t.finding("neighbours_lost", index, input, { status: res.status, body });
    } else if (typeof code === "string" && BODY_LEVEL.has(code) && !misdecoded(input, code)) s.wholeRefused++;
    else t.finding("neighbours_lost", index, input, { status: res.status, body: res.body.toString("utf8").slice(0, 4000) });
  }
}

/** One raw request over TCP: the first answer's status line and body, or none within 2 s. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, "127.0.0.1");
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, 2_000);
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = /content-length:\s*(\d+)/i.exec(all.subarray(0, end).toString("latin1"));
      if (len && all.length >= end + 4 + Number(len[1])) done();
    });
    sock.on("error", done);
    sock.on("close", done);
    sock.write(bytes);
  });
}

async function runRaw(t: Tally, port: number, index: number, input: RawInput): Promise<void> {
  const s = t.stats(input.kind);
  const answer = await rawExchange(port, input.bytes);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer.subarray(0, 20).toString("latin1"));
  if (!m) {
    s.noAnswer++;
    t.label(input.kind, answer.length ? "no status line" : "no answer");
    return;
  }
  const status = Number(m[1]);
  const end = answer.indexOf("\r\n\r\n");
  const head = answer.subarray(0, end < 0 ? answer.length : end).toString("latin1");
  const bodyBytes = end < 0 ? Buffer.alloc(0) : answer.subarray(end + 4);
  const body = parseAnswer(bodyBytes, /content-type:\s*([^\r\n]*)/i.exec(head)?.[1] ?? "");
  t.label(input.kind, `${status}${typeof body?.code === "string" ? ` ${body.code}` : ""}`);
  if (status >= 500) {
    if (status === 503 && body?.code === "overloaded") s.overloaded++;
    else t.finding("five_xx", index, input, { status, answer: answer.subarray(0, 4000).toString("utf8") });
  } else if (status >= 400) s.refused++;
  else s.ok++;
  if (status >= 400 && !catalogued(body?.code) && !(Array.isArray(body?.rejected))) {
    // The HTTP parser's own answer to bytes that are not a request (no body, no code).
    if (bodyBytes.length === 0) t.counts.parser_level++, t.label(input.kind, "parser-level, no body");
    else t.finding("uncatalogued", index, input, { status, answer: answer.subarray(0, 4000).toString("utf8") });
  }
}

// ---- WebSocket ----

class Conn {
  frames: any[] = [];
  waiter: (() => void) | undefined;
  closedWith: number | undefined;
  private lastSend = 0;
  private constructor(readonly ws: WebSocket, readonly format: "json" | "msgpack") {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      let f: any;
      try {
        f = format === "json" && !isBinary ? JSON.parse(data.toString("utf8")) : format === "json" ? JSON.parse(data.toString("utf8")) : reader.unpack(data);
      } catch {
        f = { type: "__undecodable__", bytes: data.length };
      }
      this.frames.push(f);
      this.waiter?.();
    });
    ws.on("close", (code) => {
      this.closedWith = code;
      this.waiter?.();
    });
    ws.on("error", () => {});
  }

  static open(port: number, format: "json" | "msgpack", token: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, [`varsel.v1.${format}`, `bearer.${token}`], { maxPayload: 64 * 1024 * 1024 });
      const c = new Conn(ws, format);
      const timer = setTimeout(() => reject(new Error("no authenticated frame")), 10_000);
      c.waiter = () => {
        if (c.frames.some((f) => f?.type === "authenticated")) {
          clearTimeout(timer);
          c.frames = [];
          c.waiter = undefined;
          resolve(c);
        } else if (c.closedWith !== undefined) {
          clearTimeout(timer);
          reject(new Error(`closed ${c.closedWith} before authenticated`));
        }
      };
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    });
  }

  /** Keeps under the server's 500 messages/s per connection. */
  async paced(): Promise<void> {
    const wait = this.lastSend + 2.5 - performance.now();
    if (wait > 0) await sleep(wait);
    this.lastSend = performance.now();
  }

  /** Sends a frame, then a ping; resolves every frame up to the pong (or the close). */
  async exchange(frame: string | Buffer, syncId: string, timeoutMs = 15_000): Promise<{ frames: any[]; closed?: number; timedOut?: boolean }> {
    this.frames = [];
    await this.paced();
    this.ws.send(frame, { binary: typeof frame !== "string" });
    await this.paced();
    const ping = this.format === "json" ? JSON.stringify({ type: "ping", id: syncId }) : reader.pack({ type: "ping", id: syncId });
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(ping, { binary: this.format === "msgpack" });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ frames: this.frames, timedOut: true });
      }, timeoutMs);
      const check = () => {
        const at = this.frames.findIndex((f) => f?.type === "pong" && f?.id === syncId);
        if (at >= 0 || this.closedWith !== undefined) {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve({ frames: at >= 0 ? this.frames.slice(0, at) : this.frames, closed: at >= 0 ? undefined : this.closedWith });
        }
      };
      this.waiter = check;
      check();
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A worker's sockets, one per role and format, reopened after the server closes one. */
class ConnPool {
  private conns = new Map<string, Conn>();
  constructor(readonly port: () => number, readonly tokens: Tokens) {}
  async get(role: "device" | "clinician", format: "json" | "msgpack"): Promise<Conn> {
    const key = `${role}-${format}`;
    const c = this.conns.get(key);
    if (c && c.closedWith === undefined && c.ws.readyState === WebSocket.OPEN) return c;
    const fresh = await Conn.open(this.port(), format, role === "device" ? this.tokens.device : this.tokens.clinician);
    this.conns.set(key, fresh);
    return fresh;
  }
  drop(role: string, format: string): void {
    this.conns.get(`${role}-${format}`)?.close();
    this.conns.delete(`${role}-${format}`);
  }
  closeAll(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}

const IGNORED_FRAMES = new Set(["event", "heartbeat", "authenticated", "pong"]);

async function runWs(t: Tally, pool: ConnPool, index: number, input: WsInput): Promise<void> {
  const s = t.stats(input.kind);
  let conn: Conn;
  try {
    conn = await pool.get(input.role, input.format);
  } catch (err) {
    s.noAnswer++;
    t.label(input.kind, "could not connect");
    t.finding("unanswered", index, input, { error: `connect: ${String(err)}` });
    return;
  }
  const { frames, closed, timedOut } = await conn.exchange(input.frame, `sync-${index}`);
  const answers = frames.filter((f) => !IGNORED_FRAMES.has(f?.type));
  if (closed !== undefined) {
    pool.drop(input.role, input.format);
    s.closed++;
    t.label(input.kind, `closed ${closed}`);
    if (closed === 1011) t.finding("five_xx", index, input, { closed, frames: answers });
  }
  if (timedOut) {
    pool.drop(input.role, input.format);
    s.noAnswer++;
    t.label(input.kind, "no pong");
    t.finding("unanswered", index, input, { frames: answers });
  }
  let wholeRefused = false;
  let result: any;
  for (const f of answers) {
    if (f?.type === "error") {
      t.label(input.kind, `error ${f.code}`);
      if (!catalogued(f.code)) t.finding("uncatalogued", index, input, { frame: f });
      else if (statusOfCode(f.code) >= 500) {
        if (f.code === "overloaded") s.overloaded++;
        else t.finding("five_xx", index, input, { frame: f });
      }
      if (BODY_LEVEL.has(f.code)) wholeRefused = true;
    } else {
      t.label(input.kind, String(f?.type));
      if (f?.type === "ingest_result") {
        result = f;
        if (!rejectedCatalogued(f)) t.finding("uncatalogued", index, input, { frame: f });
      }
    }
  }
  if (closed === undefined && !timedOut) {
    if (answers.some((f) => f?.type === "error")) s.refused++;
    else s.ok++;
  }
  if (input.neighbours.length > 0 && closed === undefined && !timedOut) {
    if (result !== undefined) {
      if (!neighboursKept(result, input.neighbours)) t.finding("neighbours_lost", index, input, { frames: answers });
    } else if (wholeRefused) s.wholeRefused++;
    else t.finding("neighbours_lost", index, input, { frames: answers.slice(0, 5) });
  }
}

async function runUpgrade(t: Tally, port: number, index: number, input: UpgradeInput): Promise<void> {
  const s = t.stats(input.kind);
  const outcome = await new Promise<{ status?: number; body?: string; frames: any[]; closed?: number; error?: string }>((resolve) => {
    let ws: WebSocket;
    const frames: any[] = [];
    try {
      ws = new WebSocket(`ws://127.0.0.1:${port}${input.path}`, input.protocols, { headers: input.headers, handshakeTimeout: 5_000 });
    } catch (err) {
      resolve({ frames, error: `client refused: ${(err as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ frames, closed: -1 });
    }, 3_000);
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, body, frames });
      });
    });
    ws.on("message", (d: Buffer) => {
      try {
        frames.push(JSON.parse(d.toString("utf8")));
      } catch {
        try {
          frames.push(reader.unpack(d));
        } catch {
          frames.push({ type: "__undecodable__" });
        }
      }
      if (frames.some((f) => f?.type === "authenticated")) ws.close(1000);
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve({ frames, closed: code });
    });
    ws.on("error", (err) => {
      if (ws.readyState === WebSocket.CLOSED) return;
      clearTimeout(timer);
      resolve({ frames, error: String(err) });
    });
  });
  if (outcome.status !== undefined) {
    let body: any;
    try {
      body = JSON.parse(outcome.body ?? "");
    } catch {
      body = undefined;
    }
    t.label(input.kind, `${outcome.status}${typeof body?.code === "string" ? ` ${body.code}` : ""}`);
    if (outcome.status >= 500 && !(outcome.status === 503 && body?.code === "overloaded")) t.finding("five_xx", index, input, outcome);
    else if (outcome.status >= 400) s.refused++;
    if (outcome.status >= 400 && !catalogued(body?.code)) t.finding("uncatalogued", index, input, outcome);
    return;
  }
  if (outcome.error !== undefined) {
    s.noAnswer++;
    t.label(input.kind, outcome.error.startsWith("client refused") ? "client refused" : "error");
    return;
  }
  const authenticated = outcome.frames.some((f) => f?.type === "authenticated");
  for (const f of outcome.frames) {
    if (f?.type === "error") {
      t.label(input.kind, `error ${f.code}`);
      if (!catalogued(f.code)) t.finding("uncatalogued", index, input, outcome);
      else if (statusOfCode(f.code) >= 500 && f.code !== "overloaded") t.finding("five_xx", index, input, outcome);
    }
  }
  t.label(input.kind, authenticated ? "authenticated" : `closed ${outcome.closed}`);
  if (outcome.closed === 1011) t.finding("five_xx", index, input, outcome);
  if (authenticated) s.ok++;
  else s.closed++;
}

// ---- one phase: one transport, one server, one database ----

interface PhaseResult {
  transport: string;
  inputs: number;
  seconds: number;
  tally: Tally;
  rssStart: number;
  rssEnd: number;
  rssPeak: number;
  rssRatio: number;
  alive: boolean;
  restartSame: boolean;
  restartDetail: string;
  serverErrorLogs: number;
}

async function phase(transport: string, from: number, to: number, gen: Generator, tokens: Tokens): Promise<PhaseResult> {
  const dir = mkdtempSync(path.join(tmpdir(), `varsel-fuzz-db-${transport}-`));
  const database = `sqlite:${path.join(dir, "fuzz.db")}`;
  const tally = new Tally(transport);
  let child = await startChild(database, transport);
  const port = () => child.port;
  try {
    for (const p of PATIENTS) {
      const res = await adminJson(child.port, tokens.admin, "PUT", `/v1/patients/${p}`, { programme: "telehjerte", careTeams: [{ team: FUZZ_TEAM, role: "hospital" }, { team: `${FUZZ_TEAM}-gp`, role: "gp" }] });
      if (res.status !== 200) throw new Error(`register ${p}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await adminJson(child.port, tokens.admin, "PUT", `/v1/patients/${OTHER_PATIENT}`, { programme: "telekol", careTeams: [{ team: "other-team", role: "hospital" }] });

    // Sends inputs [a, b) with CONCURRENCY workers, each with its own sockets.
    let rssPeak = 0;
    const run = async (a: number, b: number, t: Tally) => {
      let next = a;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(child.proc.pid!))), 1_000);
      let done = 0;
      const started = Date.now();
      const progress = setInterval(() => process.stderr.write(`  ${transport}: ${done}/${b - a} inputs, ${Math.round(done / ((Date.now() - started) / 1000))}/s\n`), 15_000);
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          const pool = new ConnPool(port, tokens);
          try {
            while (next < b) {
              const i = next++;
              const input = gen.gen(i, Date.now());
              t.stats(input.kind).inputs++;
              if (input.channel === "http") await runHttp(t, child.port, i, input);
              else if (input.channel === "ws") await runWs(t, pool, i, input);
              else if (input.channel === "raw") await runRaw(t, child.port, i, input);
              else await runUpgrade(t, child.port, i, input);
              done++;
            }
          } finally {
            pool.closeAll();
          }
        }),
      );
      clearInterval(sampler);
      clearInterval(progress);
    };

    // Warm-up (its own inputs, checked the same way but not counted), then idle: the start figure.
    const warm = new Tally(transport);
    await run(1_000_000_000 + from, 1_000_000_000 + from + WARMUP, warm);
    for (const [k, v] of Object.entries(warm.counts)) tally.counts[k as Category] += v;
    await sleep(IDLE_MS);
    const rssStart = rssMb(child.proc.pid!);
    rssPeak = rssStart;

    const started = Date.now();
    await run(from, to, tally);
    const seconds = (Date.now() - started) / 1000;
    await sleep(IDLE_MS);
    const rssEnd = rssMb(child.proc.pid!);

    // 1: alive.
    let alive = false;
    try {
      const h = await request(child.port, "GET", "/healthz", {}, undefined, 5_000);
      alive = h.status === 200 && child.proc.exitCode === null;
    } catch {
      alive = false;
    }

    // 6: the same state after kill -9 and a restart.
    let restartSame = false;
    let restartDetail = "";
    if (alive) {
      const state = async () => {
        const alerts = await adminJson(child.port, tokens.admin, "GET", "/v1/alerts");
        const silences = await adminJson(child.port, tokens.admin, "GET", "/v1/silences?ended=true");
        return { alerts: alerts.body, silences: silences.body, status: [alerts.status, silences.status] };
      };
      const before = await state();
      const errorLogs = child.errorLogs;
      await killHard(child);
      child = await startChild(database, transport);
      child.errorLogs += errorLogs;
      const after = await state();
      const a = JSON.stringify(before);
      const b = JSON.stringify(after);
      restartSame = a === b && before.status.every((s) => s === 200);
      restartDetail = `${before.alerts?.alerts?.length ?? "?"} alerts, seq ${before.alerts?.seq ?? "?"}, ${before.silences?.silences?.length ?? "?"} silences`;
      if (!restartSame) {
        mkdirSync(OUT, { recursive: true });
        writeFileSync(path.join(OUT, `restart-${transport}-before.json`), JSON.stringify(before, null, 2));
        writeFileSync(path.join(OUT, `restart-${transport}-after.json`), JSON.stringify(after, null, 2));
        restartDetail += ` → after restart: ${after.alerts?.alerts?.length ?? "?"} alerts, seq ${after.alerts?.seq ?? "?"}, ${after.silences?.silences?.length ?? "?"} silences (saved in ${OUT})`;
      }
      try {
        alive = alive && (await request(child.port, "GET", "/healthz", {}, undefined, 5_000)).status === 200;
      } catch {
        alive = false;
      }
    } else {
      restartDetail = `server not alive; its last output:\n${child.tail.slice(-3000)}`;
    }
    return { transport, inputs: to - from, seconds, tally, rssStart, rssEnd, rssPeak, rssRatio: rssEnd / rssStart, alive, restartSame, restartDetail, serverErrorLogs: child.errorLogs };
  } finally {
    await killHard(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ----

async function main(): Promise<void> {
  const transports = TRANSPORT === "both" ? ["uws", "ws"] : [TRANSPORT];
  console.log(`varsel fuzz: ${INPUTS} inputs, seed ${SEED}, transport ${TRANSPORT}, concurrency ${CONCURRENCY}, server ${SERVER_ROOT}`);
  console.log(`saved inputs (findings only): ${OUT}`);
  const tokens = await makeTokens();
  const gen = new Generator(SEED, tokens, makePools(SEED));
  const results: PhaseResult[] = [];
  const per = Math.ceil(INPUTS / transports.length);
  for (let k = 0; k < transports.length; k++) {
    const from = k * per;
    const to = Math.min(INPUTS, from + per);
    process.stderr.write(`phase ${transports[k]}: inputs ${from}..${to - 1} (+${WARMUP} warm-up)\n`);
    results.push(await phase(transports[k], from, to, gen, tokens));
  }
  agent.destroy();

  // The table: kinds × outcomes, all transports together.
  const kinds = new Map<string, KindStats>();
  for (const r of results) {
    for (const [kind, s] of r.tally.kinds) {
      const into = kinds.get(kind) ?? { inputs: 0, ok: 0, refused: 0, closed: 0, overloaded: 0, fiveXx: 0, noAnswer: 0, uncatalogued: 0, neighboursLost: 0, wholeRefused: 0, labels: new Map() };
      for (const f of ["inputs", "ok", "refused", "closed", "overloaded", "fiveXx", "noAnswer", "uncatalogued", "neighboursLost", "wholeRefused"] as const) into[f] += s[f];
      for (const [l, n] of s.labels) into.labels.set(l, (into.labels.get(l) ?? 0) + n);
      kinds.set(kind, into);
    }
  }
  const sorted = [...kinds.entries()].sort(([a], [b]) => a.localeCompare(b));
  const rows = sorted.map(([kind, s]) => [
    kind,
    String(s.inputs),
    String(s.ok),
    String(s.refused),
    String(s.closed),
    String(s.noAnswer),
    String(s.overloaded),
    String(s.fiveXx),
    String(s.uncatalogued),
    String(s.neighboursLost),
    String(s.wholeRefused),
    [...s.labels.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([l, n]) => `${l} ×${n}`).join(", "),
  ]);
  console.log("");
  console.log(renderTable(["kind", "inputs", "2xx/answer", "4xx/error", "closed", "no answer", "503 overl.", "5xx", "uncatalogued", "neighb. lost", "whole refused", "most frequent outcomes"], rows, ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"]));

  const sum = (c: Category) => results.reduce((a, r) => a + r.tally.counts[c], 0);
  const fiveXx = sum("five_xx");
  const uncatalogued = sum("uncatalogued");
  const neighboursLost = sum("neighbours_lost");
  const worst = results.reduce((w, r) => (r.rssRatio > w.rssRatio ? r : w), results[0]);
  const rssOk = results.every((r) => r.rssRatio <= 1 + RSS_TOLERANCE);
  const alive = results.every((r) => r.alive);
  const restartSame = results.every((r) => r.restartSame);
  const invariants: [string, boolean, string][] = [
    ["1. the process lives (/healthz at the end)", alive, results.map((r) => `${r.transport}: ${r.alive ? "alive" : "DEAD"}`).join("; ")],
    ["2. no 5xx except 503 overloaded", fiveXx === 0, `${fiveXx}`],
    ["3. every error and rejection carries a catalogued code", uncatalogued === 0, `${uncatalogued} uncatalogued; ${sum("parser_level")} parser-level answers without a body (not counted)`],
    ["4. valid neighbours accepted", neighboursLost === 0, `${neighboursLost} lost`],
    ["5. RSS within 20 % of its start after idling", rssOk, results.map((r) => `${r.transport}: ${r.rssStart.toFixed(1)} → ${r.rssEnd.toFixed(1)} MB (×${r.rssRatio.toFixed(2)}, peak ${r.rssPeak.toFixed(1)})`).join("; ")],
    ["6. restart from the store gives the same state", restartSame, results.map((r) => `${r.transport}: ${r.restartSame ? "same" : "DIFFERENT"} (${r.restartDetail})`).join("; ")],
  ];
  console.log("");
  console.log(renderTable(["invariant", "", "detail"], invariants.map(([n, ok, d]) => [n, ok ? "ok" : "FAILED", d])));
  console.log("");
  for (const r of results) {
    console.log(`${r.transport}: ${r.inputs} inputs in ${r.seconds.toFixed(1)} s (${Math.round(r.inputs / r.seconds)}/s, ${CONCURRENCY} in flight), ${r.tally.counts.unanswered} unanswered, ${r.serverErrorLogs} server error log lines`);
  }
  console.log(`HTTP requests retried on a fresh connection after the server closed a kept-alive one: ${retriedOnFreshConnection}`);
  {
  }
  const ok = alive && fiveXx === 0 && uncatalogued === 0 && neighboursLost === 0 && rssOk && restartSame;
  if (!ok || sum("unanswered") > 0) console.log(`inputs that broke an invariant (or went unanswered) are saved in ${OUT}`);
  const perKind = Object.fromEntries(sorted.map(([k, s]) => [k, s.inputs]));
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      inputs: results.reduce((a, r) => a + r.inputs, 0),
      seed: SEED,
      transports,
      seconds: round(results.reduce((a, r) => a + r.seconds, 0)),
      per_kind: perKind,
      five_xx: fiveXx,
      uncatalogued,
      neighbours_lost: neighboursLost,
      unanswered: sum("unanswered"),
      rss_start_mb: round(worst.rssStart),
      rss_end_mb: round(worst.rssEnd),
      rss_ratio: Math.round(worst.rssRatio * 100) / 100,
      per_transport: Object.fromEntries(results.map((r) => [r.transport, { inputs: r.inputs, seconds: round(r.seconds), rss_start_mb: round(r.rssStart), rss_end_mb: round(r.rssEnd), rss_peak_mb: round(r.rssPeak), rss_ratio: Math.round(r.rssRatio * 100) / 100, alive: r.alive, restart_same: r.restartSame, five_xx: r.tally.counts.five_xx, uncatalogued: r.tally.counts.uncatalogued, neighbours_lost: r.tally.counts.neighbours_lost }])),
      restart_same: restartSame,
      ok,
    }),
  );
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
