// Bad patient and silence bodies answer the code the error catalogue names (docs/http.md "Error
// codes"), with a message that says what is wrong — not the schema's "Expected union value" —
// and change nothing. Through a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerPatient, startServer, type Harness } from "./support/server.js";

let h: Harness;
beforeAll(async () => {
  h = await startServer("ws");
  await registerPatient(h, "pA", "team-a");
});
afterAll(() => h.close());

const entry = (extra: object) => ({ team: "team-a", role: "hospital", ...extra });
const hours = (extra: object) => entry({ hours: { from: "08:00", to: "16:00", ...extra } });

const PATIENT_CASES: { name: string; body: object; code: string; says: RegExp }[] = [
  { name: "an unknown programme", body: { programmes: ["nope"], careTeams: [entry({})] }, code: "invalid_body", says: /unknown programme nope/ },
  { name: "an unknown single programme", body: { programme: "nope", careTeams: [entry({})] }, code: "invalid_body", says: /unknown programme nope/ },
  { name: "an unknown weekday", body: { careTeams: [hours({ days: ["mon", "someday"] })] }, code: "invalid_routing", says: /hours\.days must be a list of mon/ },
  { name: "a weekday twice", body: { careTeams: [hours({ days: ["mon", "mon"] })] }, code: "invalid_routing", says: /each once/ },
  { name: "eight weekdays", body: { careTeams: [hours({ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "sun"] })] }, code: "invalid_routing", says: /hours\.days/ },
  { name: "an unknown holiday rule", body: { careTeams: [hours({ holidays: "sometimes" })] }, code: "invalid_routing", says: /hours\.holidays must be one of/ },
  { name: "an unknown extra holiday", body: { careTeams: [hours({ extraHolidays: ["easter"] })] }, code: "invalid_routing", says: /hours\.extraHolidays/ },
  { name: "an extra holiday twice", body: { careTeams: [hours({ extraHolidays: ["grundlovsdag", "grundlovsdag"] })] }, code: "invalid_routing", says: /each once/ },
  { name: "an unknown half day", body: { careTeams: [hours({ halfDays: { on: ["easter"], to: "12:00" } })] }, code: "invalid_routing", says: /hours\.halfDays\.on/ },
  { name: "a half day twice", body: { careTeams: [hours({ halfDays: { on: ["juleaftensdag", "juleaftensdag"], to: "12:00" } })] }, code: "invalid_routing", says: /each once/ },
  { name: "an ackTimeout with spaces", body: { careTeams: [entry({ ackTimeout: " 10m " })] }, code: "invalid_routing", says: /ackTimeout/ },
];

describe("PUT /v1/patients: the catalogue's codes", () => {
  it.each(PATIENT_CASES)("$name → $code", async ({ body, code, says }) => {
    const admin = await h.token("admin", []);
    const before = (await h.http("GET", "/v1/patients/pA", { token: admin })).body;
    const res = await h.http("PUT", "/v1/patients/pA", { token: admin, body });
    expect([res.status, res.body.code]).toEqual([422, code]);
    expect(res.body.message).toMatch(says);
    expect((await h.http("GET", "/v1/patients/pA", { token: admin })).body).toEqual(before);
  });

  it("valid hour lists are still accepted", async () => {
    const admin = await h.token("admin", []);
    const body = { programme: "telehjerte", careTeams: [hours({ days: ["mon", "tue"], holidays: "exclude", extraHolidays: ["grundlovsdag"], halfDays: { on: ["juleaftensdag", "nytaarsaftensdag"], to: "12:00" } })] };
    expect((await h.http("PUT", "/v1/patients/pB", { token: admin, body })).status).toBe(200);
  });
});

describe("POST /v1/silences: the catalogue's codes", () => {
  it.each(["", "   "])("a reason of %j is invalid_silence", async (reason) => {
    const nurse = await h.token("clinician", ["team-a"]);
    const res = await h.http("POST", "/v1/silences", { token: nurse, body: { patient: "pA", until: h.clock.now() + 3_600_000, reason } });
    expect([res.status, res.body.code, res.body.message]).toEqual([422, "invalid_silence", "silence: reason is required"]);
  });
});
