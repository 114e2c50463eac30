// The audit trail through the API: every admin change (patients, thresholds, silences,
// acknowledgements) is in GET /v1/audit with who made it, written with the change's own commit
// (a change the store refused has no entry), readable by admins only; readings are not audited.
import { afterAll, describe, expect, it } from "vitest";
import type { AuditEntry as Entry } from "../engine/store/store.js";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";
import { startServer } from "./support/server.js";

afterAll(removeFlakyStores);

describe("GET /v1/audit", () => {
  it("lists each admin change once, with its author, in order; pages by since, after and limit; admins only", async () => {
    const { server, base, send, flaky } = await serverOnFlakyStore("audit.db");
    const get = async (query: string, token?: string) => {
      const res = await fetch(`${base}/v1/audit${query}`, { headers: { authorization: `Bearer ${token ?? (await server.auth.sign({ sub: "admin", role: "admin", teams: [] }))}` } });
      return { status: res.status, body: (await res.json()) as { entries: Entry[]; code?: string } };
    };
    try {
      const before = Date.now();
      expect((await send("/v1/patients/p-1", { programme: "telekol", careTeams: [{ team: "lung", role: "hospital" }] }, "PUT")).status).toBe(200);
      expect((await send("/v1/patients/p-1/thresholds", { reason: "own baseline", rules: [] }, "PUT")).status).toBe(200);
      expect((await send("/v1/measurements", [{ patient: "p-1", metric: "spo2", value: 84, time: Date.now() }])).status).toBe(200);
      const clinician = await server.auth.sign({ sub: "dr-a", role: "clinician", teams: ["lung"] });
      const open = (await server.pipeline.lifecycle.list({ state: ["firing"] }))[0];
      expect(open).toBeDefined();
      const acked = await fetch(`${base}/v1/alerts/${open!.id}/ack`, { method: "POST", headers: { authorization: `Bearer ${clinician}`, "content-type": "application/json" }, body: JSON.stringify({ note: "called" }) });
      expect(acked.status).toBe(200);
      const silence = (await (await send("/v1/silences", { patient: "p-1", until: new Date(Date.now() + 3_600_000).toISOString(), reason: "admitted" })).json()) as { id: string };
      expect((await send(`/v1/silences/${silence.id}`, undefined, "DELETE")).status).toBe(200);

      // The store refuses a change: no entry for it.
      flaky.down = true;
      expect((await send("/v1/patients/p-2", { programme: "telekol", careTeams: [{ team: "lung", role: "hospital" }] }, "PUT")).status).toBe(503);
      flaky.down = false;
      for (let i = 0; i < 100 && !(await fetch(`${base}/readyz`)).ok; i++) await new Promise((r) => setTimeout(r, 50));

      const { status, body } = await get("");
      expect(status).toBe(200);
      const entries = body.entries;
      expect(entries.map((e) => [e.action, e.actor, e.target])).toEqual([
        ["patient", "admin", "p-1"],
        ["patient_thresholds", "admin", "p-1"],
        ["ack", "dr-a", open!.id],
        ["silence_add", "admin", silence.id],
        ["silence_remove", "admin", silence.id],
      ]);
      for (const e of entries) expect(e.patient).toBe("p-1");
      expect(entries[0]!.details).toMatchObject({ programmes: ["telekol"], careTeams: [{ team: "lung", role: "hospital" }] });
      expect(entries[1]!.details).toMatchObject({ reason: "own baseline", rules: [], version: 1 });
      expect(entries[2]!.details).toMatchObject({ note: "called", rule: open!.rule });
      expect(entries[3]!.details).toMatchObject({ reason: "admitted" });
      expect(entries.every((e, i) => i === 0 || e.pos > entries[i - 1]!.pos)).toBe(true);
      expect(entries[0]!.at).toBeGreaterThanOrEqual(before);

      expect((await get(`?after=${entries[1]!.pos}&limit=2`)).body.entries.map((e) => e.action)).toEqual(["ack", "silence_add"]);
      expect((await get(`?since=${entries[3]!.at}`)).body.entries.map((e) => e.action)).toEqual(expect.arrayContaining(["silence_add", "silence_remove"]));
      expect((await get(`?since=${new Date(entries[4]!.at + 1).toISOString()}`)).body.entries).toEqual([]);
      for (const bad of ["?limit=0", "?limit=1001", "?after=-1", "?since=yesterday"]) expect((await get(bad)).body.code, bad).toBe("invalid_field");

      expect((await get("", clinician)).status).toBe(403);
      expect((await get("", await server.auth.sign({ sub: "gw", role: "device", teams: ["lung"] }))).status).toBe(403);
      expect((await fetch(`${base}/v1/audit`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it("without a store (--memory) nothing is kept: no entries", async () => {
    const h = await startServer("ws");
    try {
      const admin = await h.token("admin", []);
      expect((await h.http("PUT", "/v1/patients/p-1", { token: admin, body: { programme: "telekol", careTeams: [{ team: "lung", role: "hospital" }] } })).status).toBe(200);
      expect(await h.http("GET", "/v1/audit", { token: admin })).toMatchObject({ status: 200, body: { entries: [] } });
    } finally {
      await h.close();
    }
  });
});
