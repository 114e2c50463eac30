// `promtool check metrics` (Prometheus' own linter) accepts a real scrape: a server on a SQLite
// store after a patient, readings, a commit and a snapshot, so every series is present. Skipped
// with a message where promtool is not installed, unless VARSEL_REQUIRE_SERVICES=1 (CI installs
// it: .ci/run).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { registerPatient, startServer } from "./support/server.js";
import { REQUIRE_SERVICES } from "./support/stores.js";

const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" });
const missing = promtool.error !== undefined;
const dir = mkdtempSync(join(tmpdir(), "varsel-promtool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("promtool check metrics", () => {
  if (missing && !REQUIRE_SERVICES) {
    it.skip("promtool is not installed: skipped (apt-get install prometheus; VARSEL_REQUIRE_SERVICES=1 fails instead)", () => {});
    return;
  }

  it("exits 0 on a real scrape", async () => {
    expect(promtool.error, "promtool is required (VARSEL_REQUIRE_SERVICES=1)").toBeUndefined();
    const h = await startServer("uws", {}, { store: await openStore(`sqlite:${join(dir, "varsel.db")}`) });
    try {
      await registerPatient(h, "p-1", "team-a", "telekol");
      const device = await h.token("device", ["team-a"]);
      expect((await h.http("POST", "/v1/measurements", { token: device, body: [{ patient: "p-1", metric: "spo2", value: 85, time: h.clock.t }] })).status).toBe(200);
      await h.server.durable.snapshot();
      const scrape = (await h.http("GET", "/metrics")).body as string;
      expect(scrape).toMatch(/^varsel_snapshot_size_bytes [1-9]/m);
      expect(scrape).toMatch(/^varsel_store_commit_duration_seconds_count [1-9]/m);
      const check = spawnSync("promtool", ["check", "metrics"], { input: scrape, encoding: "utf8" });
      expect(`${check.stdout}${check.stderr}`).toBe("");
      expect(check.status).toBe(0);
    } finally {
      await h.close();
    }
  });
});
