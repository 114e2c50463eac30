// The hostile inputs of `npm run fuzz` (fuzz/run.ts): every input is generated from the seed and
// its number alone (a seeded PRNG, plus pools sampled once from fast-check with the seed), so a
// seed gives the same inputs in the same order. Each ingest batch carries at least one valid
// reading with a fresh measurement id for a registered patient (its "neighbours"), which the
// server must accept unless it refuses the whole body for a body-level reason.
import fc from "fast-check";
import { Packr } from "msgpackr";
import { SignJWT } from "jose";

export const SECRET = "fuzz-secret-long-enough-for-hs256-signing!!";
/** Patients the neighbours are sent for (team FUZZ_TEAM); hostile requests never change them. */
export const PATIENTS = ["fz-p0", "fz-p1", "fz-p2", "fz-p3", "fz-p4", "fz-p5", "fz-p6", "fz-p7"];
export const FUZZ_TEAM = "fz-team";
/** A registered patient of another team: a device of FUZZ_TEAM gets `forbidden` for it. */
export const OTHER_PATIENT = "fz-other";
/** Patients that hostile PUTs may create and change (a small pool: they cost kernel slots). */
const SCRATCH_PATIENTS = 40;
export const MAX_BODY = 4 * 1024 * 1024;

// ---- randomness ----

/** xorshift128+ on two 32-bit halves is overkill: sfc32 is small, fast and good enough. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number, stream: number) {
    this.a = seed >>> 0;
    this.b = (stream * 0x9e3779b9) >>> 0;
    this.c = 0xdeadbeef ^ seed;
    this.d = 1;
    for (let i = 0; i < 16; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

// ---- encoders ----

/** What a client sends: plain maps, 64-bit integers as numbers, big ones as the BigInt extension. */
export const wire = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number", encodeUndefinedAsNil: true, useBigIntExtension: true });
/** Reads answers. */
export const reader = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/**
 * A value for the body: a JS value, or `Raw` text/bytes spliced into the document as is (JSON
 * text that JSON.stringify cannot produce, MessagePack bytes msgpackr will not write).
 */
export class Raw {
  constructor(readonly json: Buffer, readonly msgpack: Buffer) {}
}
const raw = (json: string | Buffer, msgpack: Buffer | unknown): Raw =>
  new Raw(typeof json === "string" ? Buffer.from(json) : json, Buffer.isBuffer(msgpack) ? msgpack : packOne(msgpack));

function packOne(v: unknown): Buffer {
  if (v === undefined) return Buffer.from([0xc0]);
  try {
    // A copy: msgpackr answers a view of a buffer it reuses.
    return Buffer.from(wire.pack(v));
  } catch (err) {
    // msgpackr calls a `toJSON` key; another MessagePack library would write the map as it is.
    if (typeof v === "object" && v !== null && !(v instanceof Map)) return msgpackBytes(new Map(Object.entries(v)));
    throw err;
  }
}

function jsonText(v: unknown): Buffer {
  if (v instanceof Raw) return v.json;
  if (Array.isArray(v)) return Buffer.concat([Buffer.from("["), ...Array.from(v).flatMap((x, i) => (i === 0 ? [jsonText(x)] : [Buffer.from(","), jsonText(x)])), Buffer.from("]")]);
  if (v instanceof Map) {
    const parts: Buffer[] = [];
    for (const [k, x] of v) parts.push(Buffer.from(`${parts.length ? "," : ""}${JSON.stringify(keyText(k))}:`), jsonText(x));
    return Buffer.concat([Buffer.from("{"), ...parts, Buffer.from("}")]);
  }
  if (hasRaw(v)) {
    return jsonText(new Map(Object.entries(v as object)));
  }
  return Buffer.from(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? "null");
}

/** True for a plain object holding a Raw or Map somewhere below it (then it is written field by field). */
function hasRaw(v: unknown, depth = 0): boolean {
  if (v instanceof Raw || v instanceof Map) return depth > 0;
  if (depth > 4 || typeof v !== "object" || v === null || v instanceof Date || ArrayBuffer.isView(v) || v instanceof Set) return false;
  return Object.values(v).some((x) => hasRaw(x, depth + 1));
}

/** MessagePack header of an array / map of n entries. */
function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 65536) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}
function mapHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x80 | n]);
  return Buffer.from([0xde, n >> 8, n & 0xff]);
}

function msgpackBytes(v: unknown): Buffer {
  if (v instanceof Raw) return v.msgpack;
  if (Array.isArray(v)) return Buffer.concat([arrayHeader(v.length), ...Array.from(v, (x) => msgpackBytes(x))]);
  if (v instanceof Map) return Buffer.concat([mapHeader(v.size), ...[...v].flatMap(([k, x]) => [packOne(k), msgpackBytes(x)])]);
  if (hasRaw(v)) {
    return msgpackBytes(new Map(Object.entries(v as object)));
  }
  return packOne(v);
}

function keyText(k: unknown): string {
  try {
    return typeof k === "string" ? k : String(k);
  } catch {
    return "[key]";
  }
}

export type Encoding = "json" | "msgpack";
/** The body bytes; a value an encoder cannot take at all (fast-check's oddest) becomes `null`. */
export function encodeBody(v: unknown, enc: Encoding): Buffer {
  try {
    return enc === "json" ? jsonText(v) : msgpackBytes(v);
  } catch {
    return enc === "json" ? Buffer.from("null") : Buffer.from([0xc0]);
  }
}

// ---- inputs ----

export interface HttpInput {
  channel: "http";
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Indices (readings or Bundle entries) that must be in the answer's `readings`. */
  neighbours: number[];
}

export interface WsInput {
  channel: "ws";
  kind: string;
  role: "device" | "clinician";
  format: Encoding;
  /** Sent as a text frame when a string, binary when a Buffer. */
  frame: string | Buffer;
  neighbours: number[];
}

export interface RawInput {
  channel: "raw";
  kind: string;
  bytes: Buffer;
}

export interface UpgradeInput {
  channel: "upgrade";
  kind: string;
  path: string;
  protocols: string[];
  headers: Record<string, string>;
}

export type Input = HttpInput | WsInput | RawInput | UpgradeInput;

export interface Tokens {
  admin: string;
  device: string;
  clinician: string;
  /** Hostile Authorization header values (whole header; undefined = no header). */
  bad: (string | undefined)[];
  /** Hostile token strings for socket `auth` messages and `bearer.` subprotocols. */
  badRaw: string[];
}

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Signs the valid tokens and builds the hostile ones. */
export async function makeTokens(): Promise<Tokens> {
  const key = new TextEncoder().encode(SECRET);
  const sign = (claims: Record<string, unknown>, exp: string | number | undefined = "24h", sub: string | undefined = "fuzz", alg = "HS256", k = key) => {
    let jwt = new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt();
    if (sub !== undefined) jwt = jwt.setSubject(sub);
    if (exp !== undefined) jwt = jwt.setExpirationTime(exp);
    return jwt.sign(k);
  };
  const admin = await sign({ role: "admin", teams: [] }, "24h", "fz-admin");
  const device = await sign({ role: "device", teams: [FUZZ_TEAM] }, "24h", "fz-gw");
  const clinician = await sign({ role: "clinician", teams: [FUZZ_TEAM] }, "24h", "fz-nurse");
  const [, payload] = device.split(".");
  const badRaw = [
    "",
    "garbage",
    "a.b.c",
    `${b64({ alg: "none", typ: "JWT" })}.${payload}.`,
    `${b64({ alg: "HS256" })}.${payload}.${"A".repeat(43)}`,
    await sign({ role: "device", teams: [FUZZ_TEAM] }, "24h", "fz-gw", "HS256", new TextEncoder().encode("another-secret-that-is-long-enough-for-hs256")),
    await sign({ role: "device", teams: [FUZZ_TEAM] }, Math.floor(Date.now() / 1000) - 60),
    await sign({ role: "device", teams: [FUZZ_TEAM] }, "24h", "fz-gw", "HS512"),
    await sign({ teams: [FUZZ_TEAM] }),
    await sign({ role: "root", teams: [FUZZ_TEAM] }),
    await sign({ role: "device", teams: FUZZ_TEAM }),
    await sign({ role: "device", teams: [1, null] }),
    await sign({ role: "device", teams: ["\ud800"] }),
    await sign({ role: "device", teams: [""] }),
    await sign({ role: "device", teams: ["fz\u0000team"] }),
    await sign({ role: "device", teams: [FUZZ_TEAM] }, "24h", "\udc00"),
    await sign({ role: "device", teams: [FUZZ_TEAM] }, "24h", undefined),
    await sign({ role: "device", teams: [FUZZ_TEAM], nbf: Math.floor(Date.now() / 1000) + 3600 }),
    await sign(JSON.parse(`{"role":"device","teams":["${FUZZ_TEAM}"],"constructor":1,"__proto__":{"role":"admin"}}`)),
    await sign({ role: "__proto__", teams: ["toString"] }),
    `${b64({ alg: "HS256" })}.${b64("not json")}.${"A".repeat(43)}`,
    `${b64({ alg: "HS256", crit: ["b64"], b64: false })}.${payload}.${"A".repeat(43)}`,
    "x".repeat(9000),
    `${device}x`,
    device.split(".").slice(0, 2).join("."),
  ];
  const bad: (string | undefined)[] = [
    undefined,
    "Bearer",
    "Bearer ",
    "Basic Zm9vOmJhcg==",
    `bearer  ${device} extra`,
    `Bearer ${clinician}`, // a role that may not ingest: 403
    ...badRaw.filter((t) => t !== "" && !/[^\x21-\x7e]/.test(t)).map((t) => `Bearer ${t}`),
    `Bearer ${"y".repeat(20000)}`,
  ];
  return { admin, device, clinician, bad, badRaw };
}

/** Samples drawn once per seed from fast-check. */
export interface Pools {
  json: unknown[];
  anything: unknown[];
  strings: string[];
}

export function makePools(seed: number): Pools {
  const json = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed, numRuns: 3000 });
  const anything = fc.sample(
    fc.anything({ maxDepth: 3, withBigInt: true, withNullPrototype: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withUnicodeString: true }),
    { seed: seed + 1, numRuns: 3000 },
  );
  const strings = fc.sample(fc.string({ unit: fc.constantFrom("binary", "grapheme", "binary-ascii") as never, maxLength: 12 }), { seed: seed + 2, numRuns: 3000 }) as string[];
  return { json, anything, strings };
}

/** One generator per kind; `gen(i)` is the i-th input of a run. */
export class Generator {
  private readonly bigBody: Buffer;
  private neighbourCount = 0;
  /** Ids the hostile duplicate items sent (never a neighbour's: see dupId). */
  private readonly dupIds: string[] = [];

  constructor(readonly seed: number, readonly tokens: Tokens, readonly pools: Pools) {
    // One oversized buffer, cut to lengths just over the limit.
    const head = Buffer.from(`[{"patient":"${PATIENTS[0]}","metric":"pulse","value":70,"time":1795424459000,"pad":"`);
    this.bigBody = Buffer.concat([head, Buffer.alloc(MAX_BODY + 4096 - head.length, 0x61)]);
  }

  /** Kinds and their weights (per 1000 inputs). */
  static readonly KINDS: [string, number][] = [
    ["http_readings_json", 110],
    ["http_readings_msgpack", 90],
    ["http_deep_body", 20],
    ["http_content_type", 25],
    ["http_truncated", 25],
    ["http_invalid_utf8", 25],
    ["http_random_bytes", 20],
    ["http_random_json", 35],
    ["http_fhir", 45],
    ["http_bad_token", 30],
    ["http_routes", 55],
    ["http_oversized", 1],
    ["http_raw", 8],
    ["ws_ingest_json", 105],
    ["ws_ingest_msgpack", 90],
    ["ws_fhir", 40],
    ["ws_random_frame", 145],
    ["ws_deep", 20],
    ["ws_bad_auth", 25],
    ["ws_subscribe_ack", 50],
    ["ws_oversized", 1],
    ["ws_upgrade", 15],
  ];
  private static readonly TOTAL = Generator.KINDS.reduce((s, [, w]) => s + w, 0);

  gen(i: number, now: number): Input {
    const r = new Rng(this.seed, i + 1);
    let x = r.next() * Generator.TOTAL;
    let kind = Generator.KINDS[0][0];
    for (const [k, w] of Generator.KINDS) {
      if ((x -= w) < 0) {
        kind = k;
        break;
      }
    }
    const g = new Gen(this, r, i, now);
    return g.make(kind);
  }

  /** A fresh measurement id (never sent before in this run). */
  freshId(i: number): string {
    return `nb-${this.seed}-${i}-${this.neighbourCount++}`;
  }
  /**
   * An id for a hostile duplicate: half the time one an earlier duplicate item sent, else a new
   * one. Never a neighbour's id: with inputs in flight together, a resend could overtake the first
   * send and make the neighbour look like a duplicate, a loss the server did not cause.
   */
  dupId(r: Rng, i: number): string {
    if (this.dupIds.length > 0 && r.chance(0.5)) return r.pick(this.dupIds);
    const id = `dup-${i}`;
    this.dupIds.push(id);
    if (this.dupIds.length > 200) this.dupIds.shift();
    return id;
  }
  oversized(r: Rng): Buffer {
    return this.bigBody.subarray(0, MAX_BODY + r.int(1, 4000));
  }
}

const METRICS = ["pulse", "spo2", "weight", "bp_sys", "temp", "glucose", "cgm", "resp_rate", "cat_score", "http://loinc.org|8867-4", "8867-4", "NPU03011"];
const LONE = ["\ud800", "\udc00", "\udfff", "a\ud83d", "\ude00b", "\ud800\ud800"];
const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toJSON", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "then"];

class Gen {
  constructor(readonly G: Generator, readonly r: Rng, readonly i: number, readonly now: number) {}

  // -- items --

  valid(): Record<string, unknown> {
    const r = this.r;
    return { patient: r.pick(PATIENTS), metric: "pulse", value: r.int(55, 95), time: this.now - r.int(1_000, 3_600_000), id: this.G.freshId(this.i) };
  }

  /** A reading-like item built to be refused, or at least to test a corner. */
  hostileItem(enc: Encoding): unknown {
    const r = this.r;
    const base = (): Record<string, unknown> => ({ patient: r.pick(PATIENTS), metric: r.pick(METRICS), value: r.int(40, 120), time: this.now - r.int(1_000, 600_000) });
    switch (r.int(0, 21)) {
      case 0: {
        const item = base();
        item[r.pick(["patient", "metric", "id", "unit", "device"])] = `x${r.pick(LONE)}`;
        return item;
      }
      case 1:
        return r.pick<unknown>([
          { constructor: 1, toJSON: 1 },
          raw(`{"__proto__":{"patient":"${PATIENTS[0]}","metric":"pulse","value":70,"time":${this.now}}}`, new Map<string, unknown>([["__proto__", { patient: PATIENTS[0], metric: "pulse", value: 70, time: this.now }]])),
          raw(`{"patient":"${PATIENTS[1]}","metric":"pulse","value":71,"time":${this.now - 5000},"__proto__":{"value":999},"constructor":{"prototype":{"x":1}}}`, new Map<string, unknown>([["patient", PATIENTS[1]], ["metric", "pulse"], ["value", 71], ["time", this.now - 5000], ["__proto__", { value: 999 }], ["constructor", { prototype: { x: 1 } }]])),
          Object.fromEntries([...PROTO_KEYS.filter((k) => k !== "__proto__").map((k) => [k, r.int(0, 3)]), ["patient", r.pick(PATIENTS)]]),
          { ...base(), [r.pick(PROTO_KEYS.slice(1))]: { valueOf: 1 } },
          { patient: "__proto__", metric: "constructor", value: 70, time: this.now },
          { patient: r.pick(PATIENTS), metric: r.pick(["__proto__", "toString", "hasOwnProperty", "constructor"]), value: 70, time: this.now },
          { patient: r.pick(PATIENTS), metric: "glucose", value: 7, unit: r.pick(["__proto__", "constructor", "toString"]), time: this.now },
        ]);
      case 2: {
        let v: unknown = 1;
        const depth = r.pick([28, 30, 31, 32, 33, 34, 40, 100, 500]);
        for (let k = 0; k < depth; k++) v = r.chance(0.5) ? [v] : { d: v };
        return { ...base(), junk: v };
      }
      case 3:
        return { ...base(), time: r.pick<unknown>([8_640_000_000_000_001, 8.64e15, -8.64e15, 1e20, -1e20, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 53 + 1, -0, 0, 1e308, Math.floor(this.now / 1000), this.now + 10 * 60_000, "2026-13-45T25:61:00Z", "2026-11-23T09:00:00", "", "  ", "1795424459000", "+275760-09-13T00:00:00.001Z", "2026-11-23T09:00:00.000+99:99"]) };
      case 4:
        return { ...base(), metric: "pulse", value: r.pick<unknown>([1e308, -1e308, -0, 5e-324, 2 ** 53 + 1, "72,5", "0x48", " 72 ", "1e2", "NaN", "Infinity", "-", "", true, null, [], {}, [72], "७२"]) };
      case 5:
        if (enc === "msgpack") return { ...base(), metric: "pulse", value: r.pick([NaN, Infinity, -Infinity, -0]) };
        return raw(`{"patient":"${PATIENTS[2]}","metric":"pulse","value":${r.pick(["1e400", "-1e400", "123456789012345678901234567890123456789", "0.0000000000000000000000000000001e-400", "-0.0"])},"time":${this.now}}`, { patient: PATIENTS[2], metric: "pulse", value: 1, time: this.now });
      case 6: {
        // A 16-byte BigInt as the value (msgpack ext 0x42), or a 40-digit number in JSON.
        const head = packOne(new Map<string, unknown>([["patient", r.pick(PATIENTS)], ["metric", "pulse"], ["time", this.now - 2000], ["value", 0]]));
        const mp = Buffer.concat([head.subarray(0, head.length - 1), Buffer.from([0xc7, 16, 0x42]), r.bytes(16)]);
        return raw(`{"patient":"${PATIENTS[3]}","metric":"pulse","time":${this.now - 2000},"value":${"9".repeat(40)}}`, mp);
      }
      case 7: {
        // Invalid UTF-8 inside a string (JSON: raw bytes; MessagePack: a str with bad bytes).
        const bad = r.pick([[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80]]);
        const s = Buffer.concat([Buffer.from("p"), Buffer.from(bad)]);
        const json = Buffer.concat([Buffer.from(`{"patient":"`), s, Buffer.from(`","metric":"pulse","value":70,"time":${this.now},"id":"u`), Buffer.from(bad), Buffer.from(`"}`)]);
        const mp = Buffer.concat([Buffer.from([0x84]), packOne("patient"), Buffer.from([0xa0 | s.length]), s, packOne("metric"), packOne("pulse"), packOne("value"), packOne(70), packOne("time"), packOne(this.now)]);
        return raw(json, mp);
      }
      case 8: // a duplicate of an earlier neighbour, or an id twice in this batch
        return { ...base(), metric: "pulse", value: 70, id: this.G.dupId(r, this.i) };
      case 9:
        return { ...base(), [r.pick(["extra", "Patient", "value ", "", "\u0000", "x".repeat(300), "__proto__x"])]: r.pick(this.G.pools.json) };
      case 10:
        return { ...base(), [r.pick(["patient", "metric", "value", "time", "id", "unit", "device"])]: r.pick<unknown>([123, [], {}, true, null, -0, "", [r.pick(PATIENTS)], { toString: "x" }]) };
      case 11:
        return { ...base(), [r.pick(["patient", "id", "device", "unit", "metric"])]: r.pick(["x".repeat(257), "y".repeat(r.int(1000, 50_000)), "a\u0000b", "\u007f", "\u001b[31m", "\ufeff", "\u2028"]) };
      case 12:
        return r.chance(0.5) ? r.pick(this.G.pools.anything) : r.pick(this.G.pools.json);
      case 13:
        return { ...base(), metric: r.pick(["spo2", "glucose", "temp", "weight"]), unit: r.pick(["mg/dL", "kg", "%", "[degF]", "mmol/l", "{beats}/min", "1", "Cel ", "g/dL", "m[Hg]", "{", "}"]) };
      case 14:
        return { ...base(), metric: r.pick(["nope", "", "http://loinc.org|", "|8867-4", "urn:oid:1.2.208.176.2.1|NPU03804", "85354-9", "spo2|spo2", "a|b|c"]) };
      case 15:
        return { ...base(), patient: r.pick(["nobody", OTHER_PATIENT, "FZ-P0", " fz-p0", "fz-p0 ", "fz-p\u0030"]) };
      case 16:
        return r.pick<unknown>([null, 1, "reading", [], [base()], true, -0, {}]);
      case 17: {
        const item = base();
        delete item[r.pick(["patient", "metric", "value", "time"])];
        return item;
      }
      case 18:
        if (enc === "msgpack") return { ...base(), time: r.pick([new Date(this.now - 1000), new Date(8.64e15), new Date(-1), new Date(0), new Date(this.now + 3_600_000)]) };
        return { ...base(), time: new Date(this.now - r.int(0, 100_000)).toISOString().replace("Z", r.pick(["Z", "+00:00", "+14:00", "-12:00", ""])) };
      case 19:
        return { ...base(), patient: r.pick(PATIENTS), metric: "pulse", value: r.int(40, 120), id: r.pick(this.G.pools.strings) || "e" };
      case 20:
        return { ...base(), device: r.pick(this.G.pools.strings), id: `h-${this.i}-${r.int(0, 1e6)}` };
      default:
        return { ...base(), metric: "cat_score", value: r.pick([3.5, 41, -1, 40, 0]) };
    }
  }

  /** Items with at least one valid neighbour at random places; returns the neighbour indices. */
  batch(enc: Encoding, maxHostile = 6): { items: unknown[]; neighbours: number[] } {
    const r = this.r;
    const items: unknown[] = [];
    const n = r.int(1, maxHostile);
    for (let k = 0; k < n; k++) items.push(this.hostileItem(enc));
    const neighbours: number[] = [];
    const valid = r.int(1, 2);
    for (let k = 0; k < valid; k++) {
      const at = r.int(0, items.length);
      items.splice(at, 0, this.valid());
      for (let j = 0; j < neighbours.length; j++) if (neighbours[j] >= at) neighbours[j]++;
      neighbours.push(at);
    }
    return { items, neighbours: neighbours.sort((a, b) => a - b) };
  }

  // -- FHIR --

  observation(patient: string, value: number, id?: string): Record<string, unknown> {
    const o: Record<string, unknown> = {
      resourceType: "Observation",
      status: "final",
      code: { coding: [{ system: "http://loinc.org", code: "8867-4" }] },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: new Date(this.now - this.r.int(1_000, 3_600_000)).toISOString(),
      valueQuantity: { value, unit: "/min", system: "http://unitsofmeasure.org", code: "/min" },
    };
    if (id !== undefined) o.identifier = [{ value: id }];
    return o;
  }

  badEntry(): unknown {
    const r = this.r;
    const o = this.observation(r.pick(PATIENTS), r.int(40, 120), r.chance(0.5) ? `fh-${this.i}-${r.int(0, 1e6)}` : undefined);
    switch (r.int(0, 19)) {
      case 0: return {};
      case 1: return { resource: null };
      case 2: return { resource: { resourceType: "Patient", id: "x" } };
      case 3: return { resource: { ...o, status: r.pick(["bogus", "", null, 1, "FINAL", "cancelled", "entered-in-error", "registered"]) } };
      case 4: return { resource: { ...o, subject: r.pick<unknown>([{ reference: "Group/x" }, { reference: "" }, {}, null, "Patient/fz-p0", { reference: `Patient/${r.pick(LONE)}` }, { identifier: { value: r.pick(PATIENTS) } }, { reference: "urn:uuid:1" }, { reference: `Patient/${PATIENTS[0]}/_history/2` }]) } };
      case 5: return { resource: { ...o, code: r.pick<unknown>([{}, { coding: [] }, { coding: "x" }, { coding: [{ system: "http://loinc.org", code: "85354-9" }] }, { coding: [{ system: "x", code: "8867-4" }] }, { coding: [{ system: "http://loinc.org", code: "8867-4" }, { system: "http://loinc.org", code: "59408-5" }] }]) } };
      case 6: return { resource: { ...o, valueQuantity: { value: 80, comparator: "<", code: "/min", system: "http://unitsofmeasure.org" } } };
      case 7: return { resource: { ...o, valueQuantity: undefined, [r.pick(["valueString", "valueBoolean", "valueCodeableConcept", "valueInteger", "valueRange"])]: r.pick<unknown>(["80", true, {}, 80, 1e308, -0]) } };
      case 8: return { resource: { ...o, component: Array.from({ length: r.pick([2, 16, 17, 100]) }, () => ({ code: { coding: [{ system: "http://loinc.org", code: r.pick(["8480-6", "8462-4", "8867-4"]) }] }, valueQuantity: { value: r.int(50, 150), code: "mm[Hg]", system: "http://unitsofmeasure.org" } })) } };
      case 9: return { resource: { ...o, status: "cancelled", identifier: undefined, id: undefined } };
      case 10: return { resource: { ...o, effectiveDateTime: r.pick<unknown>(["2026-11-23T09:00:00", "", 1795424459000, "+275760-09-13T00:00:00.001Z", null, "1970-01-01T00:00:00Z"]) } };
      case 11: return { resource: { ...o, resourceType: r.pick(["__proto__", "constructor", "observation", "", null]) } };
      case 12: return raw(`{"resource":{"__proto__":{"resourceType":"Observation"},"constructor":1,"toJSON":1}}`, new Map<string, unknown>([["resource", new Map<string, unknown>([["__proto__", { resourceType: "Observation" }], ["constructor", 1], ["toJSON", 1]])]]));
      case 13: {
        let v: unknown = 1;
        for (let k = 0; k < r.pick([30, 31, 32, 33, 50]); k++) v = [v];
        return { resource: { ...o, extension: v } };
      }
      case 14: return { resource: { ...o, identifier: [{ value: r.pick(["x".repeat(300), `i${r.pick(LONE)}`, "", 5, this.G.dupId(r, this.i)]) }] } };
      case 15: return { resource: { ...o, valueQuantity: { value: r.pick<unknown>(["80", null, 1e308, -1, 1e20]), code: r.pick(["/min", "kg", "{beats}/min", "", "__proto__"]), system: r.pick(["http://unitsofmeasure.org", "http://example.org", undefined]) } } };
      case 16: return { resource: { ...o, dataAbsentReason: { text: "device error" }, valueQuantity: undefined } };
      case 17: return r.pick(this.G.pools.json);
      case 18: return { resource: { ...o, effectivePeriod: { start: r.pick<unknown>(["2026-11-23T09:00:00Z", null, 5]), end: "x" }, effectiveDateTime: undefined } };
      default: return { fullUrl: "urn:uuid:x", resource: { ...o, subject: { reference: `Patient/${OTHER_PATIENT}` } } };
    }
  }

  bundle(): { doc: unknown; neighbours: number[]; whole: boolean } {
    const r = this.r;
    if (r.chance(0.08)) {
      // The document as a whole is refused.
      return { doc: r.pick<unknown>([[], "x", null, 1, {}, { resourceType: "Bundle", entry: "x" }, { resourceType: "Bundle", entry: {} }, { resourceType: "Patient" }, { resourceType: "__proto__" }, { resourceType: "Bundle", entry: null }, r.pick(this.G.pools.json)]), neighbours: [], whole: true };
    }
    const entries: unknown[] = [];
    const n = r.int(1, 6);
    for (let k = 0; k < n; k++) entries.push(this.badEntry());
    const at = r.int(0, entries.length);
    entries.splice(at, 0, { resource: this.observation(r.pick(PATIENTS), r.int(55, 95), this.G.freshId(this.i)) });
    const doc: Record<string, unknown> = { resourceType: "Bundle", type: r.pick(["collection", "transaction", "batch", "bogus"]), entry: entries };
    if (r.chance(0.1)) doc[r.pick(PROTO_KEYS.slice(1))] = 1;
    return { doc, neighbours: [at], whole: false };
  }

  // -- HTTP --

  http(kind: string, method: string, path: string, body: Buffer | undefined, type: string | undefined, neighbours: number[] = [], token: string | undefined = this.G.tokens.device): HttpInput {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (type !== undefined) headers["content-type"] = type;
    if (this.r.chance(0.1)) headers.accept = "application/msgpack";
    return { channel: "http", kind, method, path, headers, body, neighbours };
  }

  readingsBody(enc: Encoding): { body: Buffer; neighbours: number[] } {
    const { items, neighbours } = this.batch(enc);
    const wrapped: unknown = this.r.chance(0.3) ? (this.r.chance(0.8) ? { readings: items } : { readings: items, junk: this.r.pick(this.G.pools.json), constructor: 1 }) : items;
    return { body: encodeBody(wrapped, enc), neighbours };
  }

  make(kind: string): Input {
    const r = this.r;
    const M = "/v1/measurements";
    switch (kind) {
      case "http_readings_json": {
        const { body, neighbours } = this.readingsBody("json");
        return this.http(kind, "POST", M, body, r.pick(["application/json", "application/json; charset=utf-8", "Application/JSON"]), neighbours, r.chance(0.1) ? this.G.tokens.admin : this.G.tokens.device);
      }
      case "http_readings_msgpack": {
        const { body, neighbours } = this.readingsBody("msgpack");
        return this.http(kind, "POST", M, body, r.pick(["application/msgpack", "application/x-msgpack"]), neighbours);
      }
      case "http_deep_body": {
        const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
        const total = enc === "json" ? r.pick([9_999, 10_000, 10_001, 10_002, r.int(5_000, 30_000)]) : r.pick([999, 1_000, 1_001, 1_002, r.int(500, 5_000), 10_000]);
        const valid = this.valid();
        if (enc === "json") {
          // [valid, [[[...1...]]]]: the top-level array is level 1.
          const k = total - 1;
          const body = Buffer.concat([Buffer.from("["), jsonText(valid), Buffer.from(","), Buffer.from("[".repeat(k) + "1" + "]".repeat(k)), Buffer.from("]")]);
          if (r.chance(0.2)) {
            // Brackets inside strings must not count.
            const s = `{"patient":"${"[".repeat(total)}","metric":"pulse","value":70,"time":${this.now}}`;
            return this.http(kind, "POST", M, Buffer.from(`[${jsonText(valid)},${s}]`), "application/json", [0]);
          }
          return this.http(kind, "POST", M, body, "application/json", total <= 10_000 ? [0] : []);
        }
        const k = total - 1;
        const body = Buffer.concat([Buffer.from([0x92]), packOne(valid), Buffer.alloc(k, 0x91), Buffer.from([0x01])]);
        return this.http(kind, "POST", M, body, "application/msgpack", total <= 1_000 ? [0] : []);
      }
      case "http_content_type": {
        const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
        const { body, neighbours } = this.readingsBody(enc);
        const type = r.pick<string | undefined>([undefined, "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json;", ";application/json", "application/jsonx", "application/json, application/msgpack", "application/x-www-form-urlencoded", "*/*", "", "application/fhir+json", "application/msgpack", "application/json", "application/json; charset=latin1", "APPLICATION/X-MSGPACK", "application/vnd.api+json", "\tapplication/json"]);
        // A body of the other encoding under a real type is refused as malformed: no neighbour then.
        const matches = type !== undefined && ((enc === "json" && /^\s*application\/json\s*(;.*)?$/i.test(type)) || (enc === "msgpack" && /^\s*application\/(x-)?msgpack\s*(;.*)?$/i.test(type)));
        return this.http(kind, "POST", M, body, type, matches ? neighbours : []);
      }
      case "http_truncated": {
        const enc: Encoding = r.chance(0.6) ? "json" : "msgpack";
        const { body } = this.readingsBody(enc);
        return this.http(kind, "POST", M, body.subarray(0, r.int(0, Math.max(0, body.length - 1))), enc === "json" ? "application/json" : "application/msgpack");
      }
      case "http_invalid_utf8": {
        const { items, neighbours } = this.batch("json", 3);
        const bad = r.pick([[0xff], [0xfe, 0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80, 0x80]]);
        const inner = Buffer.concat([Buffer.from(`{"patient":"${PATIENTS[0]}","metric":"pul`), Buffer.from(bad), Buffer.from(`se","value":70,"time":${this.now},"device":"d`), Buffer.from(bad), Buffer.from(`"}`)]);
        items.push(raw(inner, {}));
        if (r.chance(0.2)) return this.http(kind, "POST", M, Buffer.concat([Buffer.from(bad), jsonText(items)]), "application/json");
        const type = r.pick(["application/json", "application/json; charset=utf-8", "application/fhir+json"]);
        return this.http(kind, "POST", M, jsonText(items), type, type.includes("fhir") ? [] : neighbours);
      }
      case "http_random_bytes":
        return this.http(kind, r.pick(["POST", "POST", "PUT"]), r.pick([M, M, "/v1/patients/fzx-1", "/v1/silences", "/v1/alerts/a-1/ack"]), r.bytes(r.int(0, 2048)), r.pick(["application/json", "application/msgpack", "application/fhir+json"]), [], r.pick([this.G.tokens.device, this.G.tokens.admin]));
      case "http_random_json": {
        const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
        const v = r.chance(0.5) ? r.pick(this.G.pools.json) : r.pick(this.G.pools.anything);
        if (r.chance(0.5)) {
          // Random items with valid neighbours.
          const items = [r.pick(this.G.pools.json), r.pick(this.G.pools.anything), this.valid()];
          return this.http(kind, "POST", M, safeEncode([...items], enc), enc === "json" ? "application/json" : "application/msgpack", [2]);
        }
        return this.http(kind, "POST", r.pick([M, M, M, "/v1/silences", "/v1/patients/fzx-2", "/v1/patients/fzx-3/thresholds", "/v1/alerts/a-1/ack"]), safeEncode(v, enc), enc === "json" ? "application/json" : "application/msgpack", [], r.chance(0.5) ? this.G.tokens.device : this.G.tokens.admin);
      }
      case "http_fhir": {
        const { doc, neighbours } = this.bundle();
        return this.http(kind, "POST", M, encodeBody(doc, "json"), r.pick(["application/fhir+json", "application/json+fhir", "application/fhir+json; fhirVersion=4.0"]), neighbours);
      }
      case "http_bad_token": {
        const { body } = this.readingsBody("json");
        const header = r.pick(this.G.tokens.bad);
        const input = this.http(kind, r.chance(0.8) ? "POST" : "GET", r.chance(0.8) ? M : r.pick(["/v1/alerts", "/v1/silences", "/v1/patients/fz-p0"]), body, "application/json", [], undefined);
        if (header !== undefined) input.headers.authorization = header;
        return input;
      }
      case "http_routes":
        return this.route();
      case "http_oversized": {
        const body = this.G.oversized(r);
        return this.http(kind, "POST", r.pick([M, "/v1/silences"]), body, "application/json");
      }
      case "http_raw":
        return { channel: "raw", kind, bytes: this.rawHttp() };
      case "ws_ingest_json":
      case "ws_ingest_msgpack": {
        const enc: Encoding = kind === "ws_ingest_json" ? "json" : "msgpack";
        const { items, neighbours } = this.batch(enc);
        const msg = new Map<string, unknown>([["type", "ingest"], ["id", `w-${this.i}`], ["answer", "full"], ["readings", items]]);
        if (r.chance(0.1)) msg.set(r.pick(["__proto__", "constructor", "extra", "toJSON"]), r.pick(this.G.pools.json));
        return this.ws(kind, "device", enc, encodeBody(msg, enc), neighbours);
      }
      case "ws_fhir": {
        const enc: Encoding = r.chance(0.6) ? "json" : "msgpack";
        const { doc, neighbours } = this.bundle();
        const msg = new Map<string, unknown>([["type", "ingest"], ["id", `f-${this.i}`], ["answer", "full"], ["fhir", doc]]);
        return this.ws(kind, "device", enc, encodeBody(msg, enc), neighbours);
      }
      case "ws_random_frame":
        return this.randomFrame();
      case "ws_deep": {
        const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
        const total = enc === "json" ? r.pick([9_999, 10_000, 10_001, r.int(5_000, 30_000)]) : r.pick([999, 1_000, 1_001, r.int(500, 5_000), 10_000]);
        // {"type":"ingest","id":..,"answer":"full","readings":[valid, [[[...]]]]}: readings is level 2.
        const valid = this.valid();
        const k = total - 2;
        if (enc === "json") {
          const frame = Buffer.concat([Buffer.from(`{"type":"ingest","id":"d-${this.i}","answer":"full","readings":[`), jsonText(valid), Buffer.from(","), Buffer.from("[".repeat(k) + "1" + "]".repeat(k)), Buffer.from("]}")]);
          return this.ws(kind, "device", enc, frame, total <= 10_000 ? [0] : []);
        }
        const frame = Buffer.concat([Buffer.from([0x84]), packOne("type"), packOne("ingest"), packOne("id"), packOne(`d-${this.i}`), packOne("answer"), packOne("full"), packOne("readings"), Buffer.from([0x92]), packOne(valid), Buffer.alloc(k, 0x91), Buffer.from([0x01])]);
        return this.ws(kind, "device", enc, frame, total <= 1_000 ? [0] : []);
      }
      case "ws_bad_auth": {
        const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
        const token = r.chance(0.9) ? r.pick(this.G.tokens.badRaw) : r.pick<unknown>([1, null, ["x"], { a: 1 }, "x".repeat(8193)]);
        return this.ws(kind, r.chance(0.5) ? "device" : "clinician", enc, encodeBody({ type: "auth", token, id: r.chance(0.5) ? `a-${this.i}` : undefined }, enc), []);
      }
      case "ws_subscribe_ack":
        return this.subscribeOrAck();
      case "ws_oversized":
        return this.ws(kind, "device", "json", this.G.oversized(r).toString("latin1"), []);
      case "ws_upgrade":
        return this.upgrade();
      default:
        throw new Error(`unknown kind ${kind}`);
    }
  }

  ws(kind: string, role: "device" | "clinician", format: Encoding, frame: Buffer | string, neighbours: number[]): WsInput {
    // JSON connections get text frames (binary when the bytes are not UTF-8, or now and then),
    // MessagePack ones binary frames (now and then a text frame, whose bytes then differ).
    let f: Buffer | string = frame;
    if (typeof frame !== "string" && format === "json" && !this.r.chance(0.05)) {
      const text = frame.toString("utf8");
      if (Buffer.from(text).equals(frame)) f = text;
    }
    if (typeof frame !== "string" && format === "msgpack" && this.r.chance(0.03)) {
      f = frame.toString("latin1");
      neighbours = [];
    }
    return { channel: "ws", kind, role, format, frame: f, neighbours };
  }

  randomFrame(): WsInput {
    const r = this.r;
    const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
    const role = r.chance(0.7) ? "device" : "clinician";
    const id = r.pick<unknown>([undefined, `r-${this.i}`, "", "x".repeat(129), "z".repeat(r.int(1_000, 200_000)), 5, null, ["a"], { a: 1 }, `i${r.pick(LONE)}`, "__proto__"]);
    const frames: unknown[] = [
      { type: r.pick(["subscribe2", "__proto__", "constructor", "toString", "", "INGEST", "Ping", "event", "error", "snapshot"]), id },
      { type: "ingest", readings: [this.valid()] },
      { type: "ingest", id, readings: r.pick<unknown>([null, {}, "x", 1, [], [[]]]) },
      { type: "ingest", id: `r-${this.i}`, readings: [], fhir: {} },
      { type: "ingest", id: `r-${this.i}`, answer: r.pick(["compact", "full", "FULL", "", 1, null, "__proto__"]), readings: [this.hostileItem(enc)] },
      { type: "ping", id },
      { type: "unsubscribe", id },
      { id, type: "ping", extra: r.pick(this.G.pools.json) },
      { type: null },
      { type: 1 },
      {},
      [],
      null,
      "ping",
      1,
      r.pick(this.G.pools.json),
      r.pick(this.G.pools.anything),
      raw(`{"type":"ping","__proto__":{"type":"ingest"},"id":"p-${this.i}"}`, new Map<string, unknown>([["type", "ping"], ["__proto__", { type: "ingest" }], ["id", `p-${this.i}`]])),
      raw(`{"type":"ping","type":"ingest","id":"dk-${this.i}"}`, new Map<string, unknown>([["type", "ping"], ["id", `dk-${this.i}`]])),
    ];
    const choice = r.int(0, frames.length + 3);
    if (choice === frames.length) return this.ws("ws_random_frame", role, enc, r.bytes(r.int(0, 512)), []);
    if (choice === frames.length + 1) return this.ws("ws_random_frame", role, enc, r.bytes(r.int(0, 64)).toString("latin1"), []);
    if (choice === frames.length + 2) {
      const body = safeEncode(r.pick(frames), enc);
      return this.ws("ws_random_frame", role, enc, body.subarray(0, r.int(0, body.length)), []);
    }
    const v = frames[Math.min(choice, frames.length - 1)];
    return this.ws("ws_random_frame", role, enc, safeEncode(v, enc), []);
  }

  subscribeOrAck(): WsInput {
    const r = this.r;
    const enc: Encoding = r.chance(0.5) ? "json" : "msgpack";
    const ids = (n: number) => Array.from({ length: n }, () => r.pick([...PATIENTS, OTHER_PATIENT, "nobody", "__proto__", `p${r.pick(LONE)}`, ""]));
    const msgs: unknown[] = [
      { type: "subscribe", id: `s-${this.i}`, patients: ids(r.int(0, 4)) },
      { type: "subscribe", id: `s-${this.i}`, teams: r.pick([[FUZZ_TEAM], ["other"], ["__proto__"], [`t${r.pick(LONE)}`], Array.from({ length: 1001 }, (_, k) => `t${k}`), []]) },
      { type: "subscribe", id: `s-${this.i}`, resumeFrom: r.pick<unknown>([-1, 0, 1, 1e20, 2 ** 53, 2 ** 53 + 2, 1.5, -0, "5", null, 999_999_999]) },
      { type: "subscribe", id: `s-${this.i}`, patients: Array.from({ length: 1001 }, () => PATIENTS[0]) },
      { type: "unsubscribe", id: `u-${this.i}` },
      { type: "ack", id: `k-${this.i}`, alert: r.pick(["a-1", "a-2", "a-3", "a-999", "__proto__", "constructor", "", "x".repeat(129), `a${r.pick(LONE)}`]), note: r.pick<unknown>([undefined, "seen", "n".repeat(2001), `n${r.pick(LONE)}`, "a\u0000b", 5, null]) },
      { type: "ack", id: `k-${this.i}` },
    ];
    return this.ws("ws_subscribe_ack", "clinician", enc, safeEncode(r.pick(msgs), enc), []);
  }

  upgrade(): UpgradeInput {
    const r = this.r;
    const t = this.G.tokens;
    const protocols = r.pick<string[]>([
      [],
      [`bearer.${t.device}`],
      ["varsel.v1.json", `bearer.${r.pick(t.badRaw.filter((x) => /^[\x21-\x7e]+$/.test(x) && !/[()<>@,;:\\"/[\]?={}]/.test(x)))}`],
      ["varsel.v1.msgpack", `bearer.${r.pick(t.badRaw.filter((x) => /^[A-Za-z0-9._-]+$/.test(x)))}`],
      ["varsel.v2.json"],
      ["varsel.v1.json", "varsel.v1.msgpack", `bearer.${t.device}`],
      ["varsel.v1.json", "bearer."],
      ["varsel.v1.json", `bearer.${t.device}`, `bearer.${t.clinician}`],
    ]);
    const headers: Record<string, string> = {};
    if (r.chance(0.3)) headers.authorization = r.pick([`Bearer ${t.device}`, "Bearer garbage", "Basic x"]);
    const path = r.pick(["/v1/ws", "/v1/ws", "/v1/ws", "/v1/ws/", "/v1/wss", "/v1/ws?x=1", "/v1/measurements", "/"]);
    return { channel: "upgrade", kind: "ws_upgrade", path, protocols, headers };
  }

  route(): HttpInput {
    const r = this.r;
    const t = this.G.tokens;
    const scratch = () => `fzx-${r.int(0, SCRATCH_PATIENTS - 1)}`;
    const hostileId = () => r.pick([scratch(), scratch(), "%ED%A0%80", "%ZZ", "%", "x".repeat(300), "..%2F..%2Fetc", "%00", "__proto__", "constructor", "a%2Fb", "%F0%9F%98%80"]);
    const json = (v: unknown) => encodeBody(v, r.chance(0.8) ? "json" : "json");
    const team = () => r.pick(["t-a", "t-b", FUZZ_TEAM + "-x", `t${r.pick(LONE)}`, "t\u0000", "", "__proto__"]);
    const careTeams = () => r.pick<unknown>([[{ team: team(), role: r.pick(["hospital", "gp", "municipality", "boss"]) }], [], "x", [{ team: "t-a", role: "hospital", hours: { from: r.pick(["08:00", "25:00", "8", ""]), to: "16:00", days: r.pick([["mon"], ["xyz"], "mon"]) } }], [{ team: "t-a", role: "hospital", priorities: ["high", "urgent"] }], Array.from({ length: 21 }, () => ({ team: "t-a", role: "hospital" }))]);
    const programme = () => r.pick<unknown>([undefined, "telekol", "telehjerte", "cgm", "niv", "constructor", "__proto__", "x", 5]);
    const ruleDefs = () =>
      r.pick<unknown>([
        [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { yellowHigh: r.pick([100, 110]), redHigh: r.pick([120, 130]) } }],
        [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { redHigh: 100, yellowHigh: 120 } }],
        [{ id: "x", kind: r.pick(["band", "baseline", "delta", "rate", "missing", "score", "__proto__", "nope"]), metric: r.pick(["pulse", "nope", "__proto__"]) }],
        [{ id: `r${r.pick(LONE)}`, kind: "band", metric: "pulse", limits: { redHigh: 130 } }],
        [{ id: "m\u0000", kind: "band", metric: "pulse", limits: { redHigh: 130 } }],
        [{ id: "pulse-band", remove: true }],
        [{ id: "w", kind: "delta", metric: "weight", window: r.pick(["72h", "0s", "-1h", "1e9d", "x", ""]), limits: { redHigh: 2 } }],
        [{ id: "rr", kind: "rate", metric: "spo2", window: "1h", basis: "forecast", limits: { redLow: 85 } }],
        [{ id: "pulse-band", kind: "band", metric: "pulse", limits: { redHigh: -0 }, modifiers: { for: r.pick(["5m", "x", 5, -1]), nOfM: r.pick([[2, 3], [3, 2], "x", [0, 0]]) } }],
        [null],
        "x",
        r.pick(this.G.pools.json),
        [{ id: "a", kind: "band", metric: "pulse", limits: { redHigh: 130 } }, { id: "a", kind: "band", metric: "pulse", limits: { redHigh: 140 } }],
      ]);
    switch (r.int(0, 15)) {
      case 0: {
        const body = r.pick<unknown>([
          { programme: programme(), careTeams: careTeams() },
          { programme: "telehjerte", careTeams: [{ team: "t-a", role: "hospital" }], references: r.pick<unknown>([{ weight: 80 }, { weight: -0 }, { constructor: 5 }, { nope: 1 }, { weight: "80" }, { weight: 1e308 }]) },
          raw(`{"programme":"telekol","careTeams":[{"team":"t-a","role":"hospital"}],"references":{"__proto__":{"weight":1}}}`, {}),
          raw(`{"programme":"telekol","careTeams":[{"team":"t-a","role":"hospital","__proto__":{"role":"gp"}}]}`, {}),
          { programme: "telekol", careTeams: [{ team: "t-a", role: "hospital" }], paused: r.pick<unknown>([true, false, "yes", 1, null]), extra: 1 },
          r.pick(this.G.pools.json),
        ]);
        return this.http("http_routes", "PUT", `/v1/patients/${hostileId()}`, json(body), r.pick(["application/json", "application/msgpack", "text/plain"]), [], t.admin);
      }
      case 1:
        return this.http("http_routes", "PUT", `/v1/patients/${scratch()}/thresholds`, json({ reason: r.pick<unknown>(["fuzz", "", `r${r.pick(LONE)}`, 5, undefined]), rules: ruleDefs() }), "application/json", [], t.admin);
      case 2:
        return this.http("http_routes", "PUT", `/v1/programmes/${r.pick(["niv", "nope", "__proto__", "constructor", "toString", "%ED%A0%80"])}/thresholds`, json({ reason: r.pick<unknown>(["fuzz", ""]), rules: ruleDefs() }), "application/json", [], t.admin);
      case 3:
        return this.http("http_routes", "GET", `/v1/patients/${r.pick([...PATIENTS, hostileId()])}/readings?${r.pick(["", "metric=__proto__", "metric=pulse&from=1e20", "limit=-1", "limit=1e9", "limit=abc", "from=x&to=y", "metric=%ED%A0%80", "to=-0", "limit=0", "limit=1&limit=2"])}`, undefined, undefined, [], r.pick([t.admin, t.clinician, t.device]));
      case 4:
        return this.http("http_routes", "GET", `/v1/alerts?${r.pick(["", "state=firing", "state=__proto__", "priority=constructor", "patient=%ED%A0%80", "patient=nobody", "since=1e20", "since=-1", "since=2026-13-01", "since=__proto__", "patient=fz-p0&patient=fz-p1", "x=%"])}`, undefined, undefined, [], r.pick([t.admin, t.clinician, t.device]));
      case 5:
        return this.http("http_routes", "POST", `/v1/alerts/${r.pick(["a-1", "a-2", "a-3", "a-50", "__proto__", "constructor", "%ED%A0%80", "%"])}/ack`, r.chance(0.3) ? undefined : json({ note: r.pick<unknown>(["seen", "n".repeat(2001), `n${r.pick(LONE)}`, "a\u0000b", 5, null]) }), r.pick([undefined, "application/json", "text/plain"]), [], r.pick([t.admin, t.clinician]));
      case 6: {
        // Silences: a valid one ends at least two hours ahead (so none ends while the restart is checked).
        const until = r.pick<unknown>([this.now + r.int(2, 48) * 3_600_000, this.now - 60_000, 1e20, -0, "x", new Date(this.now + 5 * 3_600_000).toISOString(), "2026-11-23T09:00:00", 8_640_000_000_000_001]);
        const body = r.pick<unknown>([
          { patient: r.pick([...PATIENTS, "nobody", OTHER_PATIENT, `p${r.pick(LONE)}`]), rule: r.pick([undefined, "pulse-band", "spo2-band", "__proto__"]), until, reason: r.pick(["fuzz", "", `r${r.pick(LONE)}`, "x".repeat(1001)]) },
          { rule: "pulse-band", until, reason: "fuzz" },
          { until, reason: "fuzz" },
          raw(`{"patient":"${PATIENTS[0]}","until":${this.now + 3 * 3_600_000},"reason":"fuzz","__proto__":{"rule":"x"}}`, {}),
          r.pick(this.G.pools.json),
        ]);
        return this.http("http_routes", "POST", "/v1/silences", json(body), "application/json", [], r.pick([t.admin, t.clinician, t.clinician]));
      }
      case 7:
        return this.http("http_routes", "DELETE", `/v1/silences/${r.pick(["s-1", "s-2", "s-3", `s-${r.int(1, 200)}`, "__proto__", "%ED%A0%80", "x".repeat(300)])}`, undefined, undefined, [], r.pick([t.admin, t.clinician]));
      case 8:
        return this.http("http_routes", "GET", r.pick(["/v1/silences", "/v1/silences?ended=true", "/v1/silences?ended=__proto__"]), undefined, undefined, [], r.pick([t.admin, t.clinician, t.device]));
      case 9:
        return this.http("http_routes", "GET", `/v1/alerts/${r.pick(["a-1", "a-7", "nope", "__proto__", "%ED%A0%80"])}/history`, undefined, undefined, [], r.pick([t.admin, t.clinician]));
      case 10:
        return this.http("http_routes", r.pick(["PATCH", "HEAD", "OPTIONS", "TRACE", "DELETE", "PUT", "GET", "POST"]), r.pick(["/v1/measurements", "/v1/alerts", "/healthz", "/metrics", "/v1/patients/fz-p0"]), undefined, undefined, [], r.pick([t.admin, t.device]));
      case 11:
        return this.http("http_routes", r.pick(["GET", "POST"]), r.pick(["/v1/nope", "/v2/measurements", "//v1//measurements", "/v1/measurements/", "/v1/patients/", "/v1/patients//thresholds", "/%", "/v1/%ZZ", "/v1/patients/a/b/c", "/v1/alerts/a-1/ack/x", `/v1/${"x".repeat(5000)}`, "/v1/measurements?x=%ED%A0%80", "/v1/measurements#frag"]), undefined, undefined, [], t.admin);
      case 12:
        return this.http("http_routes", "GET", `/v1/patients/${r.pick([...PATIENTS, hostileId()])}${r.pick(["", "/thresholds"])}`, undefined, undefined, [], r.pick([t.admin, t.clinician, t.device]));
      case 13:
        return this.http("http_routes", "GET", `/v1/programmes/${r.pick(["telekol", "cgm", "__proto__", "constructor", "hasOwnProperty", "nope"])}/thresholds`, undefined, undefined, [], t.clinician);
      case 14:
        return this.http("http_routes", "PUT", `/v1/patients/${scratch()}`, encodeBody(r.pick(this.G.pools.anything), "msgpack"), "application/msgpack", [], t.admin);
      default:
        return this.http("http_routes", "GET", r.pick(["/healthz", "/readyz", "/metrics"]), undefined, undefined, [], undefined);
    }
  }

  /** Requests the HTTP client libraries will not send: bad framing, truncated bodies, odd headers. */
  rawHttp(): Buffer {
    const r = this.r;
    const body = jsonText([this.valid()]);
    const auth = `Authorization: Bearer ${this.G.tokens.device}\r\n`;
    const head = (extra: string) => `POST /v1/measurements HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nConnection: close\r\n${extra}`;
    return r.pick<Buffer>([
      Buffer.concat([Buffer.from(head(`Content-Length: ${body.length + r.int(1, 100)}\r\n\r\n`)), body]), // body shorter than declared
      Buffer.concat([Buffer.from(head(`Content-Length: ${Math.max(0, body.length - r.int(1, 20))}\r\n\r\n`)), body]), // longer than declared
      Buffer.from(head(`Content-Length: 99999999999\r\n\r\n`)),
      Buffer.from(head(`Content-Length: -1\r\n\r\n`)),
      Buffer.from(head(`Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`)),
      Buffer.concat([Buffer.from(head(`Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`)), body, Buffer.from("\r\n0\r\n\r\n")]),
      Buffer.concat([Buffer.from(head(`Transfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n${body.length.toString(16)}\r\n`)), body, Buffer.from("\r\n0\r\n\r\n")]),
      Buffer.from(head(`Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`)),
      Buffer.from(head(`Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc`)),
      Buffer.concat([Buffer.from(head(`Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n`)), body]),
      Buffer.from(`GET /v1/alerts HTTP/1.1\r\nHost: x\r\n${auth}X-Bad: a\x01b\r\nConnection: close\r\n\r\n`),
      Buffer.from(`GET /v1/alerts HTTP/1.0\r\n${auth}\r\n`),
      Buffer.from(`GET ${"/v1/" + "a".repeat(r.int(8_000, 70_000))} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      Buffer.from(`GET /v1/alerts HTTP/1.1\r\nHost: x\r\n${"X-A: b\r\n".repeat(r.int(100, 3000))}Connection: close\r\n\r\n`),
      Buffer.from(`BREW /v1/alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      Buffer.from(`GET /v1/alerts HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n`),
      Buffer.concat([r.bytes(r.int(1, 300)), Buffer.from("\r\n\r\n")]),
      Buffer.from(`POST /v1/measurements HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`).subarray(0, r.int(10, 60)),
    ]);
  }
}

/** Encodes anything fast-check produced; what an encoder cannot take becomes its JSON text or null. */
export function safeEncode(v: unknown, enc: Encoding): Buffer {
  try {
    return encodeBody(v, enc);
  } catch {
    try {
      return enc === "json" ? Buffer.from(String(v)) : wire.pack(null);
    } catch {
      return Buffer.from("null");
    }
  }
}
