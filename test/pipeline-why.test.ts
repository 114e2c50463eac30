// Every alert says why, through the whole pipeline (not only the lifecycle on its own): a NEWS2
// score rule without explicit limits states the default limits it was judged by.
import { describe, expect, it } from "vitest";
import { Pipeline } from "../engine/pipeline.js";
import { ingestRaw } from "./support/ingest.js";

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);

describe("pipeline: why", () => {
  it("a NEWS2 alert of a score rule without limits states the defaults (yellow 4, red 6) and the missing parameters", () => {
    const p = new Pipeline();
    p.upsertPatient("p1", { programme: "telekol", careTeams: [{ team: "t", role: "hospital" }], paused: false, references: {} }, NOW - 3_600_000);
    p.setPatientThresholds("p1", [{ id: "news2", kind: "score", score: "news2", window: "4h" }], "dr-a", "test", NOW - 3_600_000);
    const at = new Date(NOW - 60_000).toISOString();
    // resp 25 (3) + spo2 91 (3 on scale 1) = 6: red; temp and consciousness not measured
    ingestRaw(
      p,
      [
        { patient: "p1", metric: "resp_rate", value: 25, time: at },
        { patient: "p1", metric: "spo2", value: 91, time: at },
        { patient: "p1", metric: "bp_sys", value: 120, time: at },
        { patient: "p1", metric: "pulse", value: 70, time: at },
      ],
      { teams: undefined, channel: "test" },
      NOW,
    );
    const alert = p.lifecycle.list({ patient: "p1" }).find((a) => a.rule === "news2");
    expect(alert).toBeDefined();
    expect(alert!.why.limits).toEqual({ yellowHigh: 4, redHigh: 6 });
    expect(alert!.why.missingParameters).toEqual(expect.arrayContaining(["temp", "consciousness"]));
  });
});
