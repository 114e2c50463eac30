// Issue 11: the security matrix as one table. Every HTTP route (docs/http.md, Routes) and every
// socket message (docs/websocket.md, Messages) × role (admin, clinician, device, none) × scope
// (the patient / alert / silence is the token's team's, another team's, or unknown; resolved
// alerts and ended silences too) × token kind
// (valid, missing, expired, wrong key, `alg: none`, tampered claims, a role in the wrong case,
// and on a JWKS server the HS256/RS256 confusion) → the status and code the docs promise.
//
// The expected answers are written out below (HTTP and SOCKET); the cross product with the bad
// token kinds is generated: a bad token is 401 on every /v1 route before any role or scope check
// (and the socket answers it with one error frame, closing 4001/4002 when the token came with the
// upgrade). Out-of-scope answers must be the unknown id's answer with the id swapped, and no
// answer to a non-admin may carry the other team's patient, team, alert or silence ids.
//
// Runs on both transports, with an HS256 secret and with a JWKS file. The `it`s of one
// configuration share one server and run in order: the bad-token sweeps first, then a check that
// they changed nothing, then bad tokens as refreshes of valid sockets, then the role × scope cells.
// Mismatches are collected per `it` and listed together (cell, expected, what came back).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { buildBoard } from "../board/build.js";
import { VarselServer } from "../server/app.js";
import type { Role } from "../server/auth.js";
import { ROUTE_DOCS } from "../server/http/openapi.js";
import type { TransportKind } from "../server/transport/types.js";
import { startServer, TestClock } from "./support/server.js";

// ---------------------------------------------------------------------------------------------
// The world: two care teams; each has a patient with an open alert and an active silence, and a
// patient with a resolved alert and an ended silence; plus one silence for every patient.

const PATIENT = { in: "anna-team-a", out: "bo-team-b", unknown: "nobody-0" } as const;
/** Patients whose alert is resolved (and whose silence has ended): "closed" scopes. */
const CLOSED_PATIENT = { in: "carl-team-a", out: "dora-team-b" } as const;
const TEAM = { in: "team-a", out: "team-b", unknown: "team-nope" } as const;
const UNKNOWN_ALERT = "a-nope";
const UNKNOWN_SILENCE = "s-nope";
const PROGRAMME = { known: "cgm", unknown: "nope" } as const;
const MIN = 60_000;

type Who = "admin" | "clinician" | "device";
type RoleCol = Who | "none";
const WHO: Who[] = ["admin", "clinician", "device"];
const TEAMS_OF: Record<Who, string[]> = { admin: [], clinician: [TEAM.in], device: [TEAM.in] };

// ---------------------------------------------------------------------------------------------
// Token kinds.

type AuthMode = "hs256" | "jwks";
type BadKind = "expired" | "wrong-key" | "alg-none" | "tampered" | "role-case" | "rs256-on-hs256" | "hs256-with-public-pem" | "hs256-with-jwks-file";
const BAD_KINDS: Record<AuthMode, BadKind[]> = {
  hs256: ["expired", "wrong-key", "alg-none", "tampered", "role-case", "rs256-on-hs256"],
  // HS/RS confusion: HS256 tokens whose secret is the server's public key (PEM, or the JWKS file's bytes).
  jwks: ["expired", "wrong-key", "alg-none", "tampered", "role-case", "hs256-with-public-pem", "hs256-with-jwks-file"],
};
/** What each bad kind is answered (HTTP body, socket error frame). */
function refusal(kind: BadKind): { code: string; message: string } {
  if (kind === "expired") return { code: "token_expired", message: "token has expired" };
  if (kind === "role-case") return { code: "unauthorized", message: "token lacks sub, role or teams" };
  return { code: "unauthorized", message: "invalid token" };
}
const NO_TOKEN = { code: "unauthorized", message: "send Authorization: Bearer <token>" };

// ---------------------------------------------------------------------------------------------
// HTTP: the expected table. Columns: admin, clinician, device; `none` (no token) is 401 on /v1.

interface E {
  status: number;
  code?: string;
  message?: string;
  /** POST /v1/measurements: "accepted" (one reading in), or the code every item was rejected with. */
  item?: string;
}
const OK: E = { status: 200 };
const CREATED: E = { status: 201 };
const INGESTED: E = { status: 200, item: "accepted" };
const rejected = (code: string): E => ({ status: 422, item: code });
const needs = (roles: string): E => ({ status: 403, code: "forbidden", message: `needs role ${roles}` });
const ADMIN_ONLY = needs("admin");
const CLIN = needs("clinician or admin");
const DEV = needs("device or admin");
const NOT_MINE: E = { status: 403, code: "forbidden", message: "patient is not in your care teams" };
const NO_PATIENT: E = { status: 404, code: "not_found" }; // admins, unknown patient
const NO_ALERT: E = { status: 404, code: "not_found", message: "alert not found" };
const NO_SILENCE: E = { status: 404, code: "not_found", message: "unknown silence" };
const NO_MEASUREMENT: E = { status: 404, code: "not_found", message: "unknown measurement" };
const NO_PROGRAMME: E = { status: 404, code: "not_found", message: `unknown programme ${PROGRAMME.unknown}` };
const ALL_PATIENTS_ADMIN: E = { status: 403, code: "forbidden", message: "only an admin may silence a rule for every patient" };
const ALL_PATIENTS_END: E = { status: 403, code: "forbidden" };
const NOT_OPEN: E = { status: 409, code: "alert_not_open" };
const ENDED: E = { status: 409, code: "silence_ended" };
const NO_FILE: E = { status: 404, code: "not_found", message: "no such file" };
const NO_PATH: E = { status: 404, code: "not_found", message: "no such path" };
const NOT_VIRTUAL: E = { status: 409, code: "clock_not_virtual" }; // the matrix's servers run on the system clock
const ACCEPTED: E = { status: 202 };
const NO_COHORT_PATIENT: E = { status: 404, code: "not_found", message: "unknown patient" };
const NO_BACKTEST: E = { status: 404, code: "not_found", message: "unknown backtest" };
const UNKNOWN_BACKTEST = "bt-nope";
/** Backtest jobs of the matrix run side by side (the bound itself: test/server-backtests.test.ts). */
const BACKTESTS = { maxRunning: 1000 };

/**
 * in / out / unknown: the target is the token's team's, another team's, or does not exist;
 * in-closed / out-closed: a resolved alert or an ended silence of the token's team / another team;
 * new: an unused patient id; all: no target (a list, or an all-patient silence); ended: ?ended=true.
 */
type Scope = "in" | "out" | "unknown" | "in-closed" | "out-closed" | "new" | "all" | "ended" | "-";
const isOut = (scope: Scope) => scope === "out" || scope === "out-closed";
type Row = [route: string, expected: Partial<Record<Scope, [admin: E, clinician: E, device: E]>>];

// prettier-ignore
const HTTP: Row[] = [
  ["POST /v1/measurements",            { in: [INGESTED, DEV, INGESTED], out: [INGESTED, DEV, rejected("forbidden")], unknown: [rejected("unknown_patient"), DEV, rejected("forbidden")] }],
  ["DELETE /v1/measurements/:id",      { in: [OK, OK, OK], out: [OK, NO_MEASUREMENT, NO_MEASUREMENT], unknown: [NO_MEASUREMENT, NO_MEASUREMENT, NO_MEASUREMENT] }],
  ["PUT /v1/patients/:id",             { in: [OK, ADMIN_ONLY, ADMIN_ONLY], out: [OK, ADMIN_ONLY, ADMIN_ONLY], new: [OK, ADMIN_ONLY, ADMIN_ONLY] }],
  ["GET /v1/patients/:id",             { in: [OK, OK, OK], out: [OK, NOT_MINE, NOT_MINE], unknown: [NO_PATIENT, NOT_MINE, NOT_MINE] }],
  ["PUT /v1/patients/:id/thresholds",  { in: [OK, ADMIN_ONLY, ADMIN_ONLY], out: [OK, ADMIN_ONLY, ADMIN_ONLY], unknown: [NO_PATIENT, ADMIN_ONLY, ADMIN_ONLY] }],
  ["GET /v1/patients/:id/thresholds",  { in: [OK, OK, OK], out: [OK, NOT_MINE, NOT_MINE], unknown: [NO_PATIENT, NOT_MINE, NOT_MINE] }],
  ["PUT /v1/programmes/:id/thresholds",{ in: [OK, ADMIN_ONLY, ADMIN_ONLY], unknown: [NO_PROGRAMME, ADMIN_ONLY, ADMIN_ONLY] }],
  ["GET /v1/programmes/:id/thresholds",{ in: [OK, OK, OK], unknown: [NO_PROGRAMME, NO_PROGRAMME, NO_PROGRAMME] }],
  ["GET /v1/patients/:id/readings",    { in: [OK, OK, CLIN], out: [OK, NOT_MINE, CLIN], unknown: [NO_PATIENT, NOT_MINE, CLIN] }],
  ["GET /v1/alerts",                   { all: [OK, OK, CLIN], in: [OK, OK, CLIN], out: [OK, NOT_MINE, CLIN], unknown: [NO_PATIENT, NOT_MINE, CLIN] }],
  ["POST /v1/alerts/:id/ack",          { in: [OK, OK, CLIN], out: [OK, NO_ALERT, CLIN], unknown: [NO_ALERT, NO_ALERT, CLIN], "in-closed": [NOT_OPEN, NOT_OPEN, CLIN], "out-closed": [NOT_OPEN, NO_ALERT, CLIN] }],
  ["GET /v1/alerts/:id/history",       { in: [OK, OK, CLIN], out: [OK, NO_ALERT, CLIN], unknown: [NO_ALERT, NO_ALERT, CLIN], "in-closed": [OK, OK, CLIN], "out-closed": [OK, NO_ALERT, CLIN] }],
  ["GET /v1/silences",                 { all: [OK, OK, CLIN], ended: [OK, OK, CLIN] }],
  ["POST /v1/silences",                { in: [CREATED, CREATED, CLIN], out: [CREATED, NOT_MINE, CLIN], unknown: [NO_PATIENT, NOT_MINE, CLIN], all: [CREATED, ALL_PATIENTS_ADMIN, CLIN] }],
  ["DELETE /v1/silences/:id",          { in: [OK, OK, CLIN], out: [OK, NO_SILENCE, CLIN], unknown: [NO_SILENCE, NO_SILENCE, CLIN], all: [OK, ALL_PATIENTS_END, CLIN], "in-closed": [ENDED, ENDED, CLIN], "out-closed": [ENDED, NO_SILENCE, CLIN] }],
  ["POST /v1/backtests",               { in: [ACCEPTED, ACCEPTED, CLIN], out: [ACCEPTED, NO_COHORT_PATIENT, CLIN], unknown: [NO_COHORT_PATIENT, NO_COHORT_PATIENT, CLIN], all: [ACCEPTED, ACCEPTED, CLIN] }],
  ["GET /v1/backtests/:id",            { in: [OK, OK, CLIN], out: [OK, NO_BACKTEST, CLIN], unknown: [NO_BACKTEST, NO_BACKTEST, CLIN] }],
  ["DELETE /v1/backtests/:id",         { in: [OK, OK, CLIN], out: [OK, NO_BACKTEST, CLIN], unknown: [NO_BACKTEST, NO_BACKTEST, CLIN] }],
  ["GET /v1/backtests/:id/patients.csv", { in: [OK, OK, CLIN], out: [OK, NO_BACKTEST, CLIN], unknown: [NO_BACKTEST, NO_BACKTEST, CLIN] }],
  ["GET /v1/audit",                    { all: [OK, ADMIN_ONLY, ADMIN_ONLY] }],
  ["GET /v1/clock",                    { all: [OK, ADMIN_ONLY, ADMIN_ONLY] }],
  ["POST /v1/clock",                   { all: [NOT_VIRTUAL, ADMIN_ONLY, ADMIN_ONLY] }],
  ["GET /healthz",                     { "-": [OK, OK, OK] }],
  ["GET /readyz",                      { "-": [OK, OK, OK] }],
  ["GET /metrics",                     { "-": [OK, OK, OK] }],
  ["GET /openapi.json",                { "-": [OK, OK, OK] }],
  ["GET /",                            { "-": [OK, OK, OK] }],
  ["GET /board/:file",                 { in: [OK, OK, OK], unknown: [NO_FILE, NO_FILE, NO_FILE] }],
  ["GET /v1/dev/token",                { "-": [NO_PATH, NO_PATH, NO_PATH] }], // a server with a configured key: as an unknown path
];
/** Routes without authentication: whatever the token (none, bad, forged), the same answer as with a valid one. */
const OPEN_ROUTES = new Set(["GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /", "GET /board/:file", "GET /v1/dev/token"]);

interface HttpCell {
  route: string;
  scope: Scope;
  role: RoleCol;
  kind: "valid" | "missing" | BadKind;
  expect: E;
}

function httpCells(mode: AuthMode, which: "bad" | "valid"): HttpCell[] {
  const cells: HttpCell[] = [];
  for (const [route, scopes] of HTTP) {
    for (const [scope, byRole] of Object.entries(scopes) as [Scope, [E, E, E]][]) {
      const open = OPEN_ROUTES.has(route);
      if (which === "valid") {
        WHO.forEach((role, i) => cells.push({ route, scope, role, kind: "valid", expect: byRole[i] }));
        cells.push({ route, scope, role: "none", kind: "missing", expect: open ? byRole[0] : { status: 401, ...NO_TOKEN } });
      } else {
        for (const kind of BAD_KINDS[mode]) for (const role of WHO) cells.push({ route, scope, role, kind, expect: open ? byRole[0] : { status: 401, ...refusal(kind) } });
      }
    }
  }
  return cells;
}

// ---------------------------------------------------------------------------------------------
// Socket: the expected table. Columns: admin, clinician, device, none (a socket without a token).

interface SE {
  type: string;
  code?: string;
  message?: string;
  item?: string;
}
const PONG: SE = { type: "pong" };
const AUTHED: SE = { type: "authenticated" };
const SNAPSHOT: SE = { type: "snapshot" };
const ACKED: SE = { type: "ack_result" };
const UNSUBSCRIBED: SE = { type: "unsubscribed" };
const WS_INGESTED: SE = { type: "ingest_result", item: "accepted" };
const wsRejected = (code: string): SE => ({ type: "ingest_result", item: code });
const err = (code: string, message?: string): SE => ({ type: "error", code, message });
const FIRST = err("unauthorized", "send {type: 'auth', token} first");
const NO_DEVICES = err("forbidden", "devices cannot subscribe to alerts");
const TEAM_NOT_MINE = err("forbidden", "a requested team is not in your token");
const PATIENT_NOT_MINE = err("forbidden", "a requested patient is not in your care teams");
const WS_CLIN = err("forbidden", "needs role clinician or admin");
const WS_DEV = err("forbidden", "needs role device or admin");
const WS_NO_ALERT = err("not_found", "alert not found");
const WS_NOT_OPEN = err("alert_not_open");
const KEEPS_IDENTITY = err("forbidden", "a connection keeps its identity: open a new socket for another user");

type Msg = "ping" | "auth" | "subscribe" | "subscribe{teams}" | "subscribe{patients}" | "unsubscribe" | "ack" | "ingest" | "auth{same sub, other role}";
type SocketRow = [msg: Msg, expected: Partial<Record<Scope, [admin: SE, clinician: SE, device: SE, none: SE]>>];

// prettier-ignore
const SOCKET: SocketRow[] = [
  ["ping",                { "-": [PONG, PONG, PONG, PONG] }],
  ["auth",                { "-": [AUTHED, AUTHED, AUTHED, err("unauthorized", "invalid token")] }], // none: an empty token
  ["subscribe",           { all: [SNAPSHOT, SNAPSHOT, NO_DEVICES, FIRST] }],
  ["subscribe{teams}",    { in: [SNAPSHOT, SNAPSHOT, NO_DEVICES, FIRST], out: [SNAPSHOT, TEAM_NOT_MINE, NO_DEVICES, FIRST], unknown: [SNAPSHOT, TEAM_NOT_MINE, NO_DEVICES, FIRST] }],
  ["subscribe{patients}", { in: [SNAPSHOT, SNAPSHOT, NO_DEVICES, FIRST], out: [SNAPSHOT, PATIENT_NOT_MINE, NO_DEVICES, FIRST], unknown: [PATIENT_NOT_MINE, PATIENT_NOT_MINE, NO_DEVICES, FIRST] }],
  // The docs' "who" column says clinician, admin; a device's unsubscribe is answered as a no-op (no error is documented for it).
  ["unsubscribe",         { "-": [UNSUBSCRIBED, UNSUBSCRIBED, UNSUBSCRIBED, FIRST] }],
  ["ack",                 { in: [ACKED, ACKED, WS_CLIN, FIRST], out: [ACKED, WS_NO_ALERT, WS_CLIN, FIRST], unknown: [WS_NO_ALERT, WS_NO_ALERT, WS_CLIN, FIRST], "in-closed": [WS_NOT_OPEN, WS_NOT_OPEN, WS_CLIN, FIRST], "out-closed": [WS_NOT_OPEN, WS_NO_ALERT, WS_CLIN, FIRST] }],
  ["ingest",              { in: [WS_INGESTED, WS_DEV, WS_INGESTED, FIRST], out: [WS_INGESTED, WS_DEV, wsRejected("forbidden"), FIRST], unknown: [wsRejected("unknown_patient"), WS_DEV, wsRejected("forbidden"), FIRST] }],
  // A valid token of the same sub with another role (admin; a clinician's for the admin) is no refresh; last, as it authenticates the tokenless socket.
  ["auth{same sub, other role}", { "-": [KEEPS_IDENTITY, KEEPS_IDENTITY, KEEPS_IDENTITY, AUTHED] }],
];
const ROLE_COLS: RoleCol[] = ["admin", "clinician", "device", "none"];
const expectedSocket = (msg: Msg, scope: Scope, role: RoleCol): SE => SOCKET.find(([m]) => m === msg)![1][scope]![ROLE_COLS.indexOf(role)];

/** Bad tokens on the socket: carried by the upgrade (subprotocol or header), in an `auth` message, or as a refresh of a valid connection. */
/** The messages sent behind a bad token: the out-of-scope ones (what a forged token would be after). */
const PROBES: [Msg, Scope][] = [["auth", "-"], ["subscribe{teams}", "out"], ["ack", "out"], ["ingest", "out"], ["ping", "-"]];

const socketValidCells = SOCKET.reduce((n, [, scopes]) => n + Object.keys(scopes).length * ROLE_COLS.length, 0);
const socketBadCells = (mode: AuthMode, carriers: number) => BAD_KINDS[mode].length * WHO.length * carriers * PROBES.length;

// ---------------------------------------------------------------------------------------------
// Servers and tokens.

interface World {
  base: string;
  wsUrl: string;
  clock: TestClock;
  token(role: Who, kind?: "valid" | BadKind): Promise<string>;
  /** Valid tokens with any claims (same key as `token`). */
  sign(claims: { sub: string; role: string; teams: string[] }): Promise<string>;
  alert: { in: string; out: string; "in-closed": string; "out-closed": string };
  silence: { in: string; out: string; all: string; "in-closed": string; "out-closed": string };
  /** Ids of the other team's alerts and silences (grows as admins create silences for it). */
  secretIds: Set<string>;
  /** A file of the built board (`/board/app-<hash>.js`). */
  boardAsset: string;
  close(): Promise<void>;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

async function startWorld(transport: TransportKind, mode: AuthMode): Promise<World> {
  let base: string, wsUrl: string, clock: TestClock, close: () => Promise<void>;
  /** Signs claims the way the server's key holder would; `exp` in epoch seconds. */
  let sign: (claims: { sub: string; role: string; teams: string[] }, exp: number) => Promise<string>;
  const forged: Partial<Record<BadKind, (claims: Record<string, unknown>) => Promise<string>>> = {};
  const now = () => Math.floor(Date.now() / 1000); // jose checks exp against the real clock
  const rsa = await generateKeyPair("RS256", { extractable: true });

  if (mode === "hs256") {
    const h = await startServer(transport, {}, { backtests: BACKTESTS });
    ({ base, wsUrl, clock } = h);
    close = () => h.close();
    sign = (c, exp) => h.server.auth.sign({ sub: c.sub, role: c.role as Role, teams: c.teams }, exp);
    const other = new TextEncoder().encode("another-secret-that-is-long-enough-for-hs256!");
    forged["wrong-key"] = (c) => new SignJWT(c).setProtectedHeader({ alg: "HS256" }).sign(other);
    forged["rs256-on-hs256"] = (c) => new SignJWT(c).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "varsel-jwks-"));
    const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: "k1", alg: "RS256", use: "sig" }] };
    const jwksText = JSON.stringify(jwks);
    writeFileSync(join(dir, "jwks.json"), jwksText);
    clock = new TestClock();
    const server = new VarselServer({ auth: { jwksFile: join(dir, "jwks.json") }, transport, now: clock.now, tickMs: 0, logger: pino({ level: "silent" }), backtests: BACKTESTS });
    const port = await server.listen(0, "127.0.0.1");
    base = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/v1/ws`;
    close = async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    };
    const rs = (key: CryptoKey) => (c: Record<string, unknown>) => new SignJWT(c).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(key);
    sign = (c, exp) => rs(rsa.privateKey)({ role: c.role, teams: c.teams, sub: c.sub, iat: now(), exp });
    const stranger = await generateKeyPair("RS256");
    forged["wrong-key"] = rs(stranger.privateKey); // same kid, another key
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    forged["hs256-with-public-pem"] = (c) => new SignJWT(c).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(pem);
    const file = new TextEncoder().encode(jwksText);
    forged["hs256-with-jwks-file"] = (c) => new SignJWT(c).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(file);
  }

  const cache = new Map<string, Promise<string>>();
  const mint = async (role: Who, kind: "valid" | BadKind): Promise<string> => {
    const claims = { sub: `${role}-1`, role: role as string, teams: TEAMS_OF[role] };
    const valid = () => sign(claims, now() + 3600);
    switch (kind) {
      case "valid":
        return valid();
      case "expired":
        return sign(claims, now() - 120);
      case "role-case": // validly signed, but "ADMIN" is no role
        return sign({ ...claims, role: role.toUpperCase() }, now() + 3600);
      case "alg-none":
        return `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, role: "admin", iat: now(), exp: now() + 3600 })}.`;
      case "tampered": {
        // Payload edited (admin, plus the other team), signature kept.
        const [header, payload, signature] = (await valid()).split(".");
        const edited = { ...JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")), role: "admin", teams: [...TEAMS_OF[role], TEAM.out] };
        return `${header}.${b64(edited)}.${signature}`;
      }
      default:
        return forged[kind]!({ ...claims, iat: now(), exp: now() + 3600 });
    }
  };
  const token = (role: Who, kind: "valid" | BadKind = "valid") => {
    const key = `${role}/${kind}`;
    if (!cache.has(key)) cache.set(key, mint(role, kind));
    return cache.get(key)!;
  };

  // Two patients of two teams, an alert each, a silence each, and one silence for every patient.
  const admin = await token("admin");
  for (const side of ["in", "out"] as const) {
    const put = await call(base, "PUT", `/v1/patients/${PATIENT[side]}`, admin, patientBody(TEAM[side]));
    if (put.status !== 200) throw new Error(`setup: ${put.status} ${put.text}`);
    const ingest = await call(base, "POST", "/v1/measurements", admin, [{ patient: PATIENT[side], metric: "pulse", value: 125, time: clock.now() }]);
    if (ingest.status !== 200 || ingest.body.transitions !== 1) throw new Error(`setup: ${ingest.text}`);
  }
  // A resolved alert and an ended silence of each team.
  for (const side of ["in", "out"] as const) {
    await call(base, "PUT", `/v1/patients/${CLOSED_PATIENT[side]}`, admin, patientBody(TEAM[side]));
    for (const [value, ago] of [[125, 2000], [70, 1000]]) {
      await call(base, "POST", "/v1/measurements", admin, [{ patient: CLOSED_PATIENT[side], metric: "pulse", value, time: clock.now() - ago }]);
    }
  }
  const alerts = (await call(base, "GET", "/v1/alerts", admin)).body.alerts as { id: string; patient: string; state: string }[];
  const alertOf = (p: string) => alerts.find((a) => a.patient === p)!;
  for (const p of Object.values(CLOSED_PATIENT)) {
    if (alertOf(p).state !== "resolved") await call(base, "POST", `/v1/alerts/${alertOf(p).id}/ack`, admin, {});
    const history = await call(base, "GET", `/v1/alerts/${alertOf(p).id}/history`, admin);
    if (history.body.alert?.state !== "resolved") throw new Error(`setup: ${history.text}`);
  }
  const silence = async (patient?: string) => {
    const res = await call(base, "POST", "/v1/silences", admin, silenceBody(clock, patient));
    if (res.status !== 201) throw new Error(`setup: ${res.text}`);
    return res.body.id as string;
  };
  const ended = async (patient: string) => {
    const id = await silence(patient);
    if ((await call(base, "DELETE", `/v1/silences/${id}`, admin)).status !== 200) throw new Error("setup: silence not removed");
    return id;
  };
  const world: World = {
    base,
    wsUrl,
    clock,
    token,
    sign: (claims) => sign(claims, now() + 3600),
    alert: { in: alertOf(PATIENT.in).id, out: alertOf(PATIENT.out).id, "in-closed": alertOf(CLOSED_PATIENT.in).id, "out-closed": alertOf(CLOSED_PATIENT.out).id },
    silence: { in: await silence(PATIENT.in), out: await silence(PATIENT.out), all: await silence(), "in-closed": await ended(PATIENT.in), "out-closed": await ended(PATIENT.out) },
    secretIds: new Set(),
    boardAsset: `/board/${(await buildBoard()).find((f) => f.endsWith(".js"))}`,
    close,
  };
  for (const id of [world.alert.out, world.alert["out-closed"], world.silence.out, world.silence["out-closed"]]) world.secretIds.add(id);
  return world;
}

/** A backtest of one patient (or of everyone in scope) over the last day, on an upload: the matrix's servers keep no readings. */
function backtestBody(w: World, patient: string | undefined) {
  return { ...(patient === undefined ? {} : { patients: [patient] }), from: w.clock.now() - 24 * 60 * MIN, to: w.clock.now(), upload: "" };
}

const sharedJobs = new Map<string, Promise<string>>();
/** One job per world, owner and patient for the cells that leave it as it is. */
function sharedBacktest(w: World, owner: "admin" | "clinician" | "other", patient: string): Promise<string> {
  const key = `${w.base} ${owner} ${patient}`;
  if (!sharedJobs.has(key)) sharedJobs.set(key, backtest(w, owner, patient));
  return sharedJobs.get(key)!;
}

/** A finished backtest job started by `owner` ("other": a clinician of the other team); its id. */
async function backtest(w: World, owner: "admin" | "clinician" | "other", patient: string): Promise<string> {
  const token = owner === "other" ? await w.sign({ sub: "other-clinician", role: "clinician", teams: [TEAM.out] }) : await w.token(owner);
  const started = await call(w.base, "POST", "/v1/backtests", token, backtestBody(w, patient));
  if (started.status !== 202) throw new Error(`setup: ${started.text}`);
  for (;;) {
    const job = await call(w.base, "GET", `/v1/backtests/${started.body.id}`, token);
    if (job.body.status === "done") return started.body.id;
    if (job.body.status !== "running") throw new Error(`setup: ${job.text.slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function patientBody(team: string) {
  return { programme: "telehjerte", careTeams: [{ team, role: "hospital" }, { team: `${team}-gp`, role: "gp" }] };
}
function silenceBody(clock: TestClock, patient?: string) {
  return patient === undefined ? { rule: "pulse-band", until: clock.now() + 60 * MIN, reason: "matrix" } : { patient, until: clock.now() + 60 * MIN, reason: "matrix" };
}

interface Answer {
  status: number;
  body: any;
  text: string;
}
async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, body: parsed, text };
}

// ---------------------------------------------------------------------------------------------
// Running an HTTP cell.

let fresh = 0;

/** The request of a cell; `swap` turns the out-of-scope ids in the answer into the unknown ones. */
async function httpRequest(w: World, cell: HttpCell): Promise<{ method: string; path: string; body?: unknown; swap: [string, string][] }> {
  const [method, template] = cell.route.split(" ") as [string, string];
  const valid = cell.kind === "valid";
  const admin = () => w.token("admin");
  const patient = cell.scope === "in" || cell.scope === "out" || cell.scope === "unknown" ? PATIENT[cell.scope] : undefined;
  const swap: [string, string][] = [[PATIENT.out, PATIENT.unknown], [CLOSED_PATIENT.out, PATIENT.unknown], [TEAM.out, TEAM.unknown]];
  const sub = (id: string) => template.replace(":id", encodeURIComponent(id));
  switch (cell.route) {
    case "POST /v1/measurements":
      return { method, path: template, body: [{ patient, metric: "pulse", value: 125, time: w.clock.now() }], swap };
    case "DELETE /v1/measurements/:id": {
      // A valid token may withdraw it: every such cell gets a reading of its own (past the limit,
      // as the fixture's alert: withdrawing it leaves that alert open).
      const id = `m-matrix-${++fresh}`;
      if (valid && cell.scope !== "unknown") {
        await call(w.base, "POST", "/v1/measurements", await admin(), [{ patient, metric: "pulse", value: 125, time: w.clock.now() + fresh, id }]);
      }
      return { method, path: `${sub(id)}?patient=${encodeURIComponent(patient!)}`, swap };
    }
    case "PUT /v1/patients/:id": {
      const id = cell.scope === "new" ? `new-${++fresh}` : patient!;
      // A bad token's PUT would add an intruding team: the no-side-effects check looks for it.
      const body = cell.scope === "new" ? patientBody("team-new") : patientBody(TEAM[cell.scope as "in" | "out"]);
      if (!valid) body.careTeams.push({ team: "intruder", role: "gp" });
      return { method, path: sub(id), body, swap };
    }
    case "GET /v1/patients/:id":
    case "GET /v1/patients/:id/thresholds":
    case "GET /v1/patients/:id/readings":
      return { method, path: sub(patient!), swap };
    case "PUT /v1/patients/:id/thresholds":
      return { method, path: sub(patient!), body: { reason: "matrix", rules: [] }, swap };
    case "PUT /v1/programmes/:id/thresholds":
    case "GET /v1/programmes/:id/thresholds": {
      const path = sub(cell.scope === "in" ? PROGRAMME.known : PROGRAMME.unknown);
      const body = { reason: "matrix", rules: [{ id: "cgm-low", kind: "band", metric: "cgm", limits: { redLow: 3.0, yellowLow: 3.9 } }] };
      return { method, path, body: method === "PUT" ? body : undefined, swap };
    }
    case "GET /v1/alerts":
      return { method, path: cell.scope === "all" ? template : `${template}?patient=${encodeURIComponent(patient!)}`, swap };
    case "POST /v1/alerts/:id/ack":
    case "GET /v1/alerts/:id/history": {
      const id = cell.scope === "unknown" ? UNKNOWN_ALERT : w.alert[cell.scope as "in" | "out" | "in-closed" | "out-closed"];
      return { method, path: sub(id), body: method === "POST" ? { note: "matrix" } : undefined, swap: [[`"${id}"`, `"${UNKNOWN_ALERT}"`], ...swap] };
    }
    case "GET /v1/silences":
      return { method, path: cell.scope === "ended" ? `${template}?ended=true` : template, swap };
    case "POST /v1/silences":
      return { method, path: template, body: silenceBody(w.clock, patient), swap };
    case "DELETE /v1/silences/:id": {
      let id: string;
      if (cell.scope === "unknown") id = UNKNOWN_SILENCE;
      else if (!valid || cell.scope === "in-closed" || cell.scope === "out-closed") id = w.silence[cell.scope as "in" | "out" | "all" | "in-closed" | "out-closed"];
      else {
        // A valid token may end it: every such cell gets a silence of its own.
        const made = await call(w.base, "POST", "/v1/silences", await admin(), silenceBody(w.clock, patient));
        id = made.body.id;
        if (cell.scope === "out") w.secretIds.add(id);
      }
      return { method, path: sub(id), swap: [[`"${id}"`, `"${UNKNOWN_SILENCE}"`], ...swap] };
    }
    case "POST /v1/backtests":
      return { method, path: template, body: backtestBody(w, cell.scope === "all" ? undefined : patient), swap };
    case "GET /v1/backtests/:id":
    case "DELETE /v1/backtests/:id":
    case "GET /v1/backtests/:id/patients.csv": {
      // In scope: a job of the cell's own user; out: one of the other team's clinician over its
      // patient (the admin sees it); a valid token may cancel it, so every such cell has its own.
      let id = UNKNOWN_BACKTEST;
      const owner = (cell.scope === "out" || cell.role === "device" || !valid ? "other" : cell.role) as "admin" | "clinician" | "other";
      const patientOf = owner === "other" ? PATIENT.out : PATIENT.in;
      const ended = method === "DELETE" && cell.expect.status === 200; // a job per cell that forgets it
      if (cell.scope !== "unknown") id = ended ? await backtest(w, owner, patientOf) : await sharedBacktest(w, owner, patientOf);
      if (owner === "other") w.secretIds.add(id);
      return { method, path: sub(id), swap: [[id, UNKNOWN_BACKTEST], ...swap] };
    }
    case "GET /board/:file":
      return { method, path: cell.scope === "in" ? w.boardAsset : "/board/nope.js", swap };
    case "POST /v1/clock":
      return { method, path: template, body: { advanceBy: "1m" }, swap };
    default:
      return { method, path: template, swap };
  }
}

function judgeHttp(cell: HttpCell, got: Answer): string | undefined {
  const e = cell.expect;
  const show = () => `${got.status} ${got.text.slice(0, 200)}`;
  if (got.status !== e.status) return show();
  if (cell.kind !== "valid" && e.status === 401) {
    // A refused token: exactly the error body, nothing else (no claims echoed).
    return JSON.stringify(got.body) === JSON.stringify(cell.kind === "missing" ? NO_TOKEN : refusal(cell.kind)) ? undefined : show();
  }
  if (e.code !== undefined && got.body?.code !== e.code) return show();
  if (e.message !== undefined && got.body?.message !== e.message) return show();
  if (e.item === "accepted" && !(got.body.accepted === 1 && got.body.rejected.length === 0)) return show();
  if (e.item !== undefined && e.item !== "accepted" && !(got.body.accepted === 0 && got.body.rejected.length === 1 && got.body.rejected[0].code === e.item)) return show();
  return undefined;
}

const describeHttp = (c: HttpCell) => `${c.route} [${c.scope}] ${c.role}${c.kind === "valid" || c.kind === "missing" ? "" : ` (${c.kind})`}`;
const expectText = (e: E) => `${e.status}${e.code ? ` ${e.code}` : ""}${e.message ? ` "${e.message}"` : ""}${e.item ? ` item ${e.item}` : ""}`;

/** The other team's identifiers that must never reach a non-admin (after the echo of the request was swapped out). */
function leaks(w: World, text: string): string[] {
  const found: string[] = [PATIENT.out, CLOSED_PATIENT.out, TEAM.out].filter((s) => text.includes(s));
  for (const id of w.secretIds) if (text.includes(`"${id}"`)) found.push(id);
  return found;
}
const swapped = (text: string, swap: [string, string][]) => swap.reduce((t, [from, to]) => t.split(from).join(to), text);

// ---------------------------------------------------------------------------------------------
// A socket client: every frame, the close, and the next answer (events and heartbeats skipped).

class Peer {
  readonly frames: Record<string, any>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private answered = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => this.frames.push(JSON.parse(data.toString("utf8"))));
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, protocols: string[], headers: Record<string, string> = {}): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const peer = new Peer(new WebSocket(url, protocols, { headers }));
      peer.ws.once("open", () => resolve(peer));
      peer.ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      peer.ws.once("error", reject);
    });
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message), () => undefined); // after a close: no throw
  }

  answers(): Record<string, any>[] {
    return this.frames.filter((f) => f.type !== "event" && f.type !== "heartbeat");
  }

  /** The next answer frame not yet taken. */
  async next(timeoutMs = 5000): Promise<Record<string, any>> {
    const end = Date.now() + timeoutMs;
    while (this.answers().length <= this.answered) {
      if (Date.now() > end) throw new Error(`no answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
    return this.answers()[this.answered++]!;
  }

  async ask(message: Record<string, unknown>): Promise<Record<string, any>> {
    this.send(message);
    return this.next();
  }

  close(): void {
    this.ws.close(1000, "bye");
  }
}

let msgSeq = 0;
function socketMessage(w: World, msg: Msg, scope: Scope, token: string): Record<string, unknown> {
  const id = `m-${++msgSeq}`;
  const target = scope === "in" || scope === "out" || scope === "unknown" || scope === "in-closed" || scope === "out-closed" ? scope : undefined;
  switch (msg) {
    case "ping":
      return { type: "ping", id };
    case "auth":
      return { type: "auth", token };
    case "subscribe":
      return { type: "subscribe", id };
    case "unsubscribe":
      return { type: "unsubscribe", id };
    case "subscribe{teams}":
      return { type: "subscribe", id, teams: [TEAM[target as "in" | "out" | "unknown"]] };
    case "subscribe{patients}":
      return { type: "subscribe", id, patients: [PATIENT[target as "in" | "out" | "unknown"]] };
    case "ack":
      return { type: "ack", id, alert: target === "unknown" ? UNKNOWN_ALERT : w.alert[target!], note: "matrix" };
    case "ingest":
      return { type: "ingest", id, answer: "full", readings: [{ patient: PATIENT[target as "in" | "out" | "unknown"], metric: "pulse", value: 125, time: w.clock.now() }] };
    case "auth{same sub, other role}":
      return { type: "auth", token }; // minted by the caller
  }
}

function judgeSocket(e: SE, got: Record<string, any>, sent: Record<string, unknown>): string | undefined {
  const show = () => JSON.stringify(got).slice(0, 200);
  if (got.type !== e.type) return show();
  if (e.code !== undefined && got.code !== e.code) return show();
  if (e.message !== undefined && got.message !== e.message) return show();
  if (sent.id !== undefined && got.type !== "authenticated" && got.id !== sent.id) return show();
  if (e.item === "accepted" && !(got.accepted === 1 && got.rejected.length === 0)) return show();
  if (e.item !== undefined && e.item !== "accepted" && !(got.accepted === 0 && got.rejected.length === 1 && got.rejected[0].code === e.item)) return show();
  return undefined;
}
const seText = (e: SE) => `${e.type}${e.code ? ` ${e.code}` : ""}${e.message ? ` "${e.message}"` : ""}${e.item ? ` item ${e.item}` : ""}`;

/** What a non-admin's out-of-scope socket answer is compared as: the id of the message dropped, the out ids swapped for the unknown ones. */
function socketSwap(w: World, frame: Record<string, any>): string {
  const { id: _id, ...rest } = frame;
  const swap: [string, string][] = [[`"${w.alert.out}"`, `"${UNKNOWN_ALERT}"`], [`"${w.alert["out-closed"]}"`, `"${UNKNOWN_ALERT}"`]];
  return swapped(JSON.stringify(rest), [...swap, [PATIENT.out, PATIENT.unknown], [CLOSED_PATIENT.out, PATIENT.unknown], [TEAM.out, TEAM.unknown]]);
}

// ---------------------------------------------------------------------------------------------

const CONFIGS: { transport: TransportKind; auth: AuthMode }[] = [
  { transport: "uws", auth: "hs256" },
  { transport: "ws", auth: "hs256" },
  { transport: "uws", auth: "jwks" },
  { transport: "ws", auth: "jwks" },
];

it("the HTTP table has a row for every route the server serves (the OpenAPI route table, checked at start)", () => {
  expect(HTTP.map(([route]) => route).sort()).toEqual(Object.keys(ROUTE_DOCS).sort());
});

describe.each(CONFIGS)("security matrix on $transport with $auth", ({ transport, auth }) => {
  let w: World;
  /** Clinicians of team A, subscribed for the whole run: no event of team B may reach them. */
  const monitors: Peer[] = [];
  const readingCounters = async () =>
    (await call(w.base, "GET", "/metrics")).text
      .split("\n")
      .filter((l) => /^varsel_readings_(ingested|rejected)_total/.test(l))
      .join("\n");
  let countersBefore = "";
  const badNewPatients: string[] = [];

  beforeAll(async () => {
    w = await startWorld(transport, auth);
    for (const subscribe of [{ type: "subscribe", id: "mon" }, { type: "subscribe", id: "mon", patients: [PATIENT.in] }]) {
      const peer = await Peer.open(w.wsUrl, ["varsel.v1.json", `bearer.${await w.token("clinician")}`]);
      expect((await peer.next()).type).toBe("authenticated");
      expect((await peer.ask(subscribe)).type).toBe("snapshot");
      monitors.push(peer);
    }
    countersBefore = await readingCounters();
  });
  afterAll(async () => {
    monitors.splice(0).forEach((m) => m.close());
    await w?.close();
  });

  const badHttp = httpCells(auth, "bad");
  it(`HTTP, bad tokens: ${badHttp.length} cells answer 401 before any role or scope check`, async () => {
    const mismatches: string[] = [];
    for (const cell of badHttp) {
      const req = await httpRequest(w, cell);
      if (cell.route === "PUT /v1/patients/:id" && cell.scope === "new") badNewPatients.push(decodeURIComponent(req.path.split("/").pop()!));
      const got = await call(w.base, req.method, req.path, await w.token(cell.role as Who, cell.kind as BadKind), req.body);
      const problem = judgeHttp(cell, got);
      if (problem !== undefined) mismatches.push(`${describeHttp(cell)}: expected ${expectText(cell.expect)}, got ${problem}`);
    }
    expect(mismatches).toEqual([]);
  });

  it(`socket, bad tokens: ${socketBadCells(auth, 3)} cells (error frame; close 4001/4002 when the token came with the upgrade)`, async () => {
    const mismatches: string[] = [];
    for (const kind of BAD_KINDS[auth]) {
      const { code, message } = refusal(kind);
      const close = kind === "expired" ? { code: 4002, reason: "token_expired" } : { code: 4001, reason: `unauthorized: ${message}` };
      for (const role of WHO) {
        const bad = await w.token(role, kind);
        const where = (carrier: string, msg: Msg) => `${msg} via ${carrier}, ${role} (${kind})`;
        // Carried by the upgrade: one error frame, then the close; what was sent meanwhile is dropped unanswered.
        for (const carrier of ["subprotocol", "header"] as const) {
          const peer =
            carrier === "subprotocol" ? await Peer.open(w.wsUrl, ["varsel.v1.json", `bearer.${bad}`]) : await Peer.open(w.wsUrl, [], { authorization: `Bearer ${bad}` });
          for (const [msg, scope] of PROBES) peer.send(socketMessage(w, msg, scope, bad));
          const closed = await Promise.race([peer.closed, new Promise<undefined>((r) => setTimeout(r, 5000))]);
          const frames = JSON.stringify(peer.frames);
          const expected = JSON.stringify([{ type: "error", code, message }]);
          for (const [msg] of PROBES) {
            if (frames !== expected || closed?.code !== close.code || closed.reason !== close.reason) {
              mismatches.push(`${where(carrier, msg)}: expected only ${expected} and close ${close.code} "${close.reason}", got ${frames.slice(0, 300)} and close ${JSON.stringify(closed)}`);
            }
          }
        }
        // In an `auth` message: an error, the socket stays open and unauthenticated.
        const first = await Peer.open(w.wsUrl, ["varsel.v1.json"]);
        for (const [msg, scope] of PROBES) {
          const sent = socketMessage(w, msg, scope, bad);
          const expected = msg === "auth" ? err(code, message) : msg === "ping" ? PONG : FIRST;
          const problem = judgeSocket(expected, await first.ask(sent), sent);
          if (problem !== undefined) mismatches.push(`${where("auth-message", msg)}: expected ${seText(expected)}, got ${problem}`);
        }
        if (first.ws.readyState !== WebSocket.OPEN) mismatches.push(`${where("auth-message", "auth")}: the socket closed`);
        first.close();
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("the refused tokens changed nothing", async () => {
    const admin = await w.token("admin");
    const alerts = (await call(w.base, "GET", "/v1/alerts", admin)).body.alerts;
    const open = alerts.filter((a: { state: string }) => a.state !== "resolved");
    expect(open.map((a: { id: string }) => a.id).sort()).toEqual([w.alert.in, w.alert.out].sort());
    expect(open.filter((a: { ack?: unknown }) => a.ack !== undefined)).toEqual([]);
    expect(await readingCounters()).toBe(countersBefore);
    const silences = (await call(w.base, "GET", "/v1/silences?ended=true", admin)).body.silences;
    const states = [w.silence.in, w.silence.out, w.silence.all].map((id) => `${id}:active`).concat([w.silence["in-closed"], w.silence["out-closed"]].map((id) => `${id}:removed`));
    expect(silences.map((s: { id: string; state: string }) => `${s.id}:${s.state}`).sort()).toEqual(states.sort());
    expect((await call(w.base, "GET", `/v1/programmes/${PROGRAMME.known}/thresholds`, admin)).body.version).toBe(0);
    for (const p of [PATIENT.in, PATIENT.out]) {
      expect((await call(w.base, "GET", `/v1/patients/${p}/thresholds`, admin)).body.history).toEqual([]);
      expect((await call(w.base, "GET", `/v1/patients/${p}`, admin)).body.careTeams.map((t: { team: string }) => t.team)).not.toContain("intruder");
    }
    expect(badNewPatients.length).toBeGreaterThan(0);
    for (const p of badNewPatients) expect((await call(w.base, "GET", `/v1/patients/${p}`, admin)).status).toBe(404);
  });

  it(`socket, bad tokens as a refresh: ${socketBadCells(auth, 1)} cells (error; the connection keeps its old token, no escalation)`, async () => {
    const mismatches: string[] = [];
    for (const kind of BAD_KINDS[auth]) {
      const { code, message } = refusal(kind);
      for (const role of WHO) {
        const bad = await w.token(role, kind);
        const where = (carrier: string, msg: Msg) => `${msg} via ${carrier}, ${role} (${kind})`;
        // As a refresh of a valid connection: an error, and the connection keeps its old token (no escalation).
        const live = await Peer.open(w.wsUrl, ["varsel.v1.json", `bearer.${await w.token(role)}`]);
        await live.next(); // authenticated
        for (const [msg, scope] of PROBES) {
          const sent = socketMessage(w, msg, scope, bad);
          const expected = msg === "auth" ? err(code, message) : expectedSocket(msg, scope, role);
          const problem = judgeSocket(expected, await live.ask(sent), sent);
          if (problem !== undefined) mismatches.push(`${where("refresh", msg)}: expected ${seText(expected)}, got ${problem}`);
        }
        live.close();
      }
    }
    expect(mismatches).toEqual([]);
  });

  const validHttp = httpCells(auth, "valid");
  it(`HTTP, roles × scopes: ${validHttp.length} cells; out of scope answers as unknown and leaks nothing`, async () => {
    const mismatches: string[] = [];
    const answers = new Map<string, { status: number; text: string }>();
    for (const cell of validHttp) {
      const req = await httpRequest(w, cell);
      const token = cell.role === "none" ? undefined : await w.token(cell.role);
      const got = await call(w.base, req.method, req.path, token, req.body);
      const where = describeHttp(cell);
      const problem = judgeHttp(cell, got);
      if (problem !== undefined) mismatches.push(`${where}: expected ${expectText(cell.expect)}, got ${problem}`);
      if (cell.role === "admin" && got.status === 201 && (req.body as { patient?: string }).patient === PATIENT.out) w.secretIds.add(got.body.id);
      if (cell.role === "admin" || cell.role === "none") continue;
      // No state of the other team in any answer to a non-admin; out of scope = unknown, id for id.
      const text = isOut(cell.scope) ? swapped(got.text, req.swap) : got.text;
      const leaked = leaks(w, text);
      if (leaked.length > 0) mismatches.push(`${where}: answer names ${leaked.join(", ")}: ${got.text.slice(0, 200)}`);
      if (isOut(cell.scope) || cell.scope === "unknown") answers.set(`${cell.route}/${cell.role}/${cell.scope}`, { status: got.status, text });
    }
    for (const [key, out] of answers) {
      if (!/\/out(-closed)?$/.test(key)) continue;
      const unknown = answers.get(key.replace(/\/out(-closed)?$/, "/unknown"));
      if (unknown !== undefined && (unknown.status !== out.status || unknown.text !== out.text)) {
        mismatches.push(`${key}: another team's answer differs from an unknown id's: ${out.status} ${out.text.slice(0, 150)} vs ${unknown.status} ${unknown.text.slice(0, 150)}`);
      }
    }
    // The lists show the own team's and never the other's (the leak check above), and are not empty.
    const clinician = await w.token("clinician");
    expect((await call(w.base, "GET", "/v1/alerts", clinician)).body.alerts.map((a: { id: string }) => a.id).sort()).toEqual([w.alert.in, w.alert["in-closed"]].sort());
    expect((await call(w.base, "GET", "/v1/silences", clinician)).body.silences.map((s: { id: string }) => s.id)).toContain(w.silence.in);
    expect(mismatches).toEqual([]);
  });

  it(`socket, roles × scopes: ${socketValidCells} cells; out of scope answers as unknown and leaks nothing`, async () => {
    const mismatches: string[] = [];
    for (const role of ROLE_COLS) {
      const token = role === "none" ? "" : await w.token(role);
      const peer = await Peer.open(w.wsUrl, role === "none" ? ["varsel.v1.json"] : ["varsel.v1.json", `bearer.${token}`]);
      if (role !== "none") expect((await peer.next()).type).toBe("authenticated");
      const outOrUnknown = new Map<string, string>();
      for (const [msg, scopes] of SOCKET) {
        for (const scope of Object.keys(scopes) as Scope[]) {
          const e = expectedSocket(msg, scope, role);
          const sent =
            msg === "auth{same sub, other role}"
              ? socketMessage(w, msg, scope, await w.sign({ sub: `${role === "none" ? "admin" : role}-1`, role: role === "admin" ? "clinician" : "admin", teams: [TEAM.in] }))
              : socketMessage(w, msg, scope, token);
          const got = await peer.ask(sent);
          const where = `${msg} [${scope}] ${role}`;
          const problem = judgeSocket(e, got, sent);
          if (problem !== undefined) mismatches.push(`${where}: expected ${seText(e)}, got ${problem}`);
          if (got.type === "snapshot") {
            const ids = got.alerts.map((a: { id: string }) => a.id);
            // Not vacuous: an in-scope snapshot holds the team's alert, an admin's "out" one the other team's.
            const shown = scope === "in" || scope === "all" ? w.alert.in : scope === "out" ? w.alert.out : undefined;
            if (shown !== undefined && !ids.includes(shown)) mismatches.push(`${where}: snapshot lacks ${shown}: ${JSON.stringify(ids)}`);
          }
          if (role === "admin" || role === "none") continue;
          const text = isOut(scope) ? socketSwap(w, got) : JSON.stringify(got);
          const leaked = leaks(w, text);
          if (leaked.length > 0) mismatches.push(`${where}: answer names ${leaked.join(", ")}: ${JSON.stringify(got).slice(0, 200)}`);
          if (isOut(scope) || scope === "unknown") outOrUnknown.set(`${msg}/${scope}`, isOut(scope) ? text : socketSwap(w, got));
        }
      }
      for (const [key, out] of outOrUnknown) {
        const unknown = outOrUnknown.get(key.replace(/\/out(-closed)?$/, "/unknown"));
        if (/\/out(-closed)?$/.test(key) && unknown !== undefined && unknown !== out) mismatches.push(`${key} ${role}: another team's answer differs from an unknown id's: ${out.slice(0, 150)} vs ${unknown.slice(0, 150)}`);
      }
      // Events pushed to this connection meanwhile: none of the other team's.
      await peer.ask({ type: "ping", id: "sync" });
      if (role !== "admin") {
        for (const f of peer.frames.filter((f) => f.type === "event" || f.type === "heartbeat")) {
          const leaked = leaks(w, JSON.stringify(f));
          if (leaked.length > 0) mismatches.push(`${role} socket: pushed ${f.type} names ${leaked.join(", ")}: ${JSON.stringify(f).slice(0, 200)}`);
        }
      }
      peer.close();
    }
    expect(mismatches).toEqual([]);
  });

  it("no frame of the other team reached the subscribed clinicians of team A", async () => {
    const leaked: string[] = [];
    for (const m of monitors) {
      await m.ask({ type: "ping", id: "sync" });
      for (const f of m.frames) if (leaks(w, JSON.stringify(f)).length > 0) leaked.push(JSON.stringify(f).slice(0, 300));
      // Not vacuous: they saw their own team's alert being acknowledged.
      expect(m.frames.some((f) => f.type === "event" && f.event.type === "acknowledged" && f.event.alert.id === w.alert.in)).toBe(true);
    }
    expect(leaked).toEqual([]);
  });
});
