// The machine-readable contracts parse, are valid against their specifications, and hold:
// - docs/openapi.json is what server/http/openapi.ts generates (regenerate: npm run contracts),
//   valid OpenAPI 3.1 (@seriousme/openapi-schema-validator), served at GET /openapi.json, and
//   every route's real answers (success and error, JSON and MessagePack) match its schemas (ajv);
// - docs/asyncapi.yaml is strict YAML and a valid AsyncAPI document (@asyncapi/parser).
// The error catalogue against the prose docs: test/docs-contract.test.ts.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { buildBoard } from "../board/build.js";
import { openStore } from "../engine/store/open-store.js";
import { VirtualClock } from "../engine/virtual-clock.js";
import { decode } from "../server/codec.js";
import { openApiDocument, openApiText, ROUTE_DOCS } from "../server/http/openapi.js";
import { startServer, msgpack, type Harness } from "./support/server.js";

const OPENAPI_FILE = new URL("../docs/openapi.json", import.meta.url);
const ASYNCAPI_TEXT = readFileSync(new URL("../docs/asyncapi.yaml", import.meta.url), "utf8");

describe("docs/openapi.json", () => {
  it("is the generated document (after changing a route or a schema, run `npm run contracts`)", () => {
    const committed = readFileSync(OPENAPI_FILE, "utf8");
    expect(committed === openApiText(), "docs/openapi.json differs from server/http/openapi.ts: run `npm run contracts` and commit docs/openapi.json").toBe(true);
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(readFileSync(OPENAPI_FILE, "utf8")));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("names every route once, with an operation id of its own", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string }>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`, id: op.operationId })));
    expect(operations.map((o) => o.route).sort()).toEqual(Object.keys(ROUTE_DOCS).sort());
    expect(new Set(operations.map((o) => o.id)).size).toBe(operations.length);
  });
});

describe("real answers match the OpenAPI document", () => {
  const doc = openApiDocument() as any;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...doc, $id: "https://varsel.invalid/openapi.json" });
  const exercised = new Set<string>();
  let dir: string;
  let h: Harness;
  let admin: string;
  let device: string;
  let nurse: string;
  let boardFiles: string[];

  /** Sends a request and checks its answer against the document's schema for the route, status and media type. */
  async function call(method: string, pattern: string, path: string, options: Parameters<Harness["http"]>[2] = {}) {
    const res = await h.http(method, path, options);
    const docPath = pattern.replace(/:(\w+)/g, "{$1}");
    const responses = doc.paths[docPath]?.[method.toLowerCase()]?.responses;
    expect(responses, `${method} ${pattern} is not in the document`).toBeDefined();
    const declared = Object.hasOwn(responses, String(res.status)) ? String(res.status) : "default";
    const response = responses[declared].$ref === undefined ? responses[declared] : doc.components.responses[responses[declared].$ref.split("/").pop()];
    const type = (res.headers.get("content-type") ?? "").split(";")[0];
    const media = Object.keys(response.content ?? {}).find((t) => t === type);
    expect(media, `${method} ${pattern} answered ${res.status} ${type}, which the document does not declare`).toBeDefined();
    const pointer = ["paths", docPath, method.toLowerCase(), "responses", declared, "content", type, "schema"].map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
    const schema = response === responses[declared] ? `https://varsel.invalid/openapi.json#/${pointer}` : `https://varsel.invalid/openapi.json#/components/schemas/Error`;
    const body = type === "application/msgpack" ? decode(res.body as Buffer, "msgpack") : res.body;
    const check = ajv.getSchema(schema) ?? ajv.compile({ $ref: schema });
    expect(check(body), `${method} ${path} → ${res.status}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(body).slice(0, 600)}`).toBe(true);
    if (res.status < 400) exercised.add(`${method} ${pattern}`);
    return { ...res, body: body as any };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "varsel-contracts-"));
    // With development sign-in, so that GET /v1/dev/token answers its document's 200 too.
    h = await startServer("ws", {}, { store: await openStore(`sqlite:${join(dir, "varsel.db")}`), devSignIn: true });
    boardFiles = await buildBoard();
    admin = await h.token("admin", []);
    device = await h.token("device", ["lung"]);
    nurse = await h.token("clinician", ["lung"], "1h", "nurse-1");
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("for every route, its errors, and MessagePack", async () => {
    await call("GET", "/healthz", "/healthz");
    await call("GET", "/readyz", "/readyz");
    await call("GET", "/metrics", "/metrics");
    expect((await call("GET", "/openapi.json", "/openapi.json")).body).toEqual(openApiDocument());
    expect((await call("GET", "/", "/")).body).toContain("<!doctype html>");
    for (const file of boardFiles.filter((f) => f !== "index.html")) await call("GET", "/board/:file", `/board/${file}`);
    expect((await call("GET", "/v1/dev/token", "/v1/dev/token?role=clinician&teams=lung")).body).toMatchObject({ role: "clinician", teams: ["lung"] });

    const patient = { programme: "telekol", careTeams: [{ team: "lung", role: "hospital" }, { team: "gp-1", role: "gp", hours: { from: "08:00", to: "16:00", days: ["mon"] } }], references: { weight: 80 } };
    expect((await call("PUT", "/v1/patients/:id", "/v1/patients/p-1", { token: admin, body: patient })).status).toBe(200);
    await call("GET", "/v1/patients/:id", "/v1/patients/p-1", { token: nurse });

    const t = h.clock.now();
    const ingest = await call("POST", "/v1/measurements", "/v1/measurements", {
      token: device,
      body: [
        { patient: "p-1", metric: "spo2", value: 86, time: t - 60_000, id: "m-1", device: "ox-1" },
        { patient: "p-1", metric: "pulse", value: "abc", time: t - 60_000 },
      ],
    });
    expect(ingest.body).toMatchObject({ accepted: 1, transitions: 1, rejected: [{ index: 1, code: "not_a_number" }] });
    expect((await call("POST", "/v1/measurements", "/v1/measurements", { token: device, body: [{ patient: "p-1", metric: "spo2", value: 200, time: t }] })).status).toBe(422);
    const packed = await call("POST", "/v1/measurements", "/v1/measurements", {
      token: device,
      raw: msgpack({ readings: [{ patient: "p-1", metric: "weight", value: 81, time: t - 1000, id: "w-1" }] }),
      type: "application/msgpack",
      accept: "application/msgpack",
    });
    expect(packed.body.accepted).toBe(1);
    await call("GET", "/v1/patients/:id/readings", "/v1/patients/p-1/readings?limit=10", { token: nurse });

    const programme = await call("GET", "/v1/programmes/:id/thresholds", "/v1/programmes/telekol/thresholds", { token: nurse });
    await call("PUT", "/v1/programmes/:id/thresholds", "/v1/programmes/telekol/thresholds", { token: admin, body: { reason: "reviewed", rules: programme.body.rules } });
    const band = programme.body.rules.find((r: { id: string }) => r.id === "spo2-band");
    await call("PUT", "/v1/patients/:id/thresholds", "/v1/patients/p-1/thresholds", { token: admin, body: { reason: "known low saturation", rules: [{ ...band, limits: { redLow: 85, yellowLow: 89 } }, { id: "spo2-missing", remove: true }] } });
    await call("GET", "/v1/patients/:id/thresholds", "/v1/patients/p-1/thresholds", { token: nurse });

    const alerts = await call("GET", "/v1/alerts", "/v1/alerts?state=firing&state=cleared_awaiting_ack", { token: nurse });
    expect(alerts.body.alerts.length).toBeGreaterThan(0);
    const alert = alerts.body.alerts[0].id;
    await call("POST", "/v1/alerts/:id/ack", `/v1/alerts/${alert}/ack`, { token: nurse, body: { note: "called the patient" } });
    await call("GET", "/v1/alerts/:id/history", `/v1/alerts/${alert}/history`, { token: nurse });

    const silence = await call("POST", "/v1/silences", "/v1/silences", { token: nurse, body: { patient: "p-1", rule: "pulse-band", until: t + 3_600_000, reason: "known arrhythmia" } });
    expect(silence.status).toBe(201);
    await call("GET", "/v1/silences", "/v1/silences", { token: nurse });
    await call("DELETE", "/v1/silences/:id", `/v1/silences/${silence.body.id}`, { token: nurse });
    await call("GET", "/v1/silences", "/v1/silences?ended=true", { token: nurse });
    // The spo2 reading m-1 raised an alert; withdrawn by the nurse, the id may be sent again.
    const withdrawn = await call("DELETE", "/v1/measurements/:id", "/v1/measurements/m-1?patient=p-1&reason=probe%20off", { token: nurse });
    expect(withdrawn.body).toMatchObject({ patient: "p-1", id: "m-1", metrics: ["spo2"] });
    expect((await call("DELETE", "/v1/measurements/:id", "/v1/measurements/m-1?patient=p-1", { token: nurse })).status).toBe(404);
    const audit = await call("GET", "/v1/audit", "/v1/audit?limit=50", { token: admin });
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(["silence_remove", "withdraw"]));

    // A backtest of the nurse's patient over the last day: started, followed, its CSV, forgotten.
    const started = await call("POST", "/v1/backtests", "/v1/backtests", { token: nurse, body: { patients: ["p-1"], from: t - 86_400_000, to: t, markers: [{ patient: "p-1", time: t - 1000 }] } });
    expect(started.status).toBe(202);
    let job = started.body;
    while (job.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, 20));
      job = (await call("GET", "/v1/backtests/:id", `/v1/backtests/${job.id}`, { token: nurse, accept: "application/msgpack" })).body;
    }
    expect(job).toMatchObject({ status: "done", report: { patients: 1 } });
    expect((await call("GET", "/v1/backtests/:id/patients.csv", `/v1/backtests/${job.id}/patients.csv`, { token: nurse })).body).toMatch(/^patient,programmes,/);
    await call("DELETE", "/v1/backtests/:id", `/v1/backtests/${job.id}`, { token: nurse });
    expect((await call("GET", "/v1/backtests/:id", `/v1/backtests/${job.id}`, { token: nurse })).status).toBe(404);

    // Errors: the Error schema, whatever the route.
    expect((await call("GET", "/v1/alerts", "/v1/alerts")).status).toBe(401);
    expect((await call("GET", "/v1/alerts", "/v1/alerts", { token: device })).status).toBe(403);
    expect((await call("GET", "/v1/patients/:id", "/v1/patients/nobody", { token: admin })).status).toBe(404);
    expect((await call("PUT", "/v1/patients/:id", "/v1/patients/p-2", { token: admin, body: { careTeams: [] } })).status).toBe(422);
    expect((await call("POST", "/v1/measurements", "/v1/measurements", { token: device, raw: "[", type: "application/json" })).status).toBe(400);
    expect((await call("DELETE", "/v1/silences/:id", `/v1/silences/${silence.body.id}`, { token: nurse })).status).toBe(409);

    // The clock: this server's is the system clock; a second server runs a virtual one.
    expect((await call("GET", "/v1/clock", "/v1/clock", { token: admin })).body.clock).toBe("system");
    expect((await call("POST", "/v1/clock", "/v1/clock", { token: admin, body: { advanceBy: "1h" } })).status).toBe(409);
    const system = h;
    h = await startServer("ws", {}, { clock: new VirtualClock(t) });
    try {
      const virtualAdmin = await h.token("admin", []);
      expect((await call("GET", "/v1/clock", "/v1/clock", { token: virtualAdmin })).body).toEqual({ clock: "virtual", now: t });
      expect((await call("POST", "/v1/clock", "/v1/clock", { token: virtualAdmin, body: { advanceBy: "90m", step: "5m" } })).body).toMatchObject({ from: t, now: t + 90 * 60_000 });
      expect((await call("POST", "/v1/clock", "/v1/clock", { token: virtualAdmin, body: { advanceTo: t } })).status).toBe(409);
    } finally {
      await h.close();
      h = system;
    }

    expect([...exercised].sort()).toEqual(Object.keys(ROUTE_DOCS).sort());
  });
});

describe("docs/asyncapi.yaml", () => {
  it("is strict YAML: no errors, no warnings, no duplicate keys", () => {
    const parsed = parseDocument(ASYNCAPI_TEXT, { strict: true, uniqueKeys: true, prettyErrors: true });
    expect(parsed.errors.map((e) => e.message)).toEqual([]);
    expect(parsed.warnings.map((e) => e.message)).toEqual([]);
  });

  it("is a valid AsyncAPI document (errors and warnings of the official parser's rules)", async () => {
    const { document, diagnostics } = await new Parser().parse(ASYNCAPI_TEXT);
    const problems = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning);
    expect(problems.map((d) => `${d.code} at ${d.path.join(".")}: ${d.message}`)).toEqual([]);
    expect(document?.version()).toBe("3.0.0");
  });
});
