// Routing to care teams by programme, priority and Copenhagen local time (CET and CEST), and
// escalation along the chain on a controllable clock.
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { VarselError } from "../engine/errors.js";
import { AlertLifecycle, coversHours, localTime, type AlertEvent, type LifecycleEvent, type LifecycleOptions, type RoutingEntry } from "../engine/lifecycle/index.js";
import { utcOffsetMs } from "../engine/clock.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestRaw } from "./support/ingest.js";

const MIN = 60_000;
const CPH = (at: number) => utcOffsetMs("Europe/Copenhagen", at);
// Wednesdays: 14 January 2026 (CET, UTC+1) and 15 July 2026 (CEST, UTC+2).
const WINTER_10 = Date.UTC(2026, 0, 14, 9, 0);
const WINTER_22 = Date.UTC(2026, 0, 14, 21, 0);
const SUMMER_10 = Date.UTC(2026, 6, 15, 8, 0);
const SUMMER_22 = Date.UTC(2026, 6, 15, 20, 0);
const SATURDAY_10 = Date.UTC(2026, 0, 17, 9, 0);

const CHAIN: RoutingEntry[] = [
  { team: "hjerteafd-dagtid", role: "hospital", programmes: ["telehjerte"], hours: { from: "08:00", to: "16:00", days: ["mon", "tue", "wed", "thu", "fri"] } },
  { team: "kol-team", role: "hospital", programmes: ["telekol"] },
  { team: "akutteam-kommune", role: "municipality", priorities: ["high"] },
  { team: "hjemmepleje", role: "municipality" },
  { team: "egen-laege", role: "gp", hours: { from: "08:00", to: "16:00" } },
];

function raise(patient: string, rule: string, to: "yellow" | "red", time: number): AlertTransition {
  return {
    patient, rule, metric: "pulse", kind: "raise", from: "none", to, direction: "high", time, value: 130,
    priority: to === "red" ? "high" : "medium", interpretation: to === "red" ? "HH" : "H",
  };
}

/** A lifecycle; `events()`: every event its calls returned so far (takeEvents). */
function lifecycle(options: Partial<LifecycleOptions> = {}) {
  const lc = new AlertLifecycle({ rules: () => ({ kind: "band" }), latching: {}, ...options });
  const seen: LifecycleEvent[] = [];
  const events = () => {
    seen.push(...lc.takeEvents());
    return seen;
  };
  return { lc, events };
}

function routedAt(now: number, level: "yellow" | "red", programme = "telehjerte"): string | undefined {
  const { lc } = lifecycle();
  lc.setPatient("p", { programme, careTeams: CHAIN }, now);
  lc.apply([raise("p", "pulse-band", level, now)], now);
  return lc.list()[0].routedTo?.team;
}

describe("lifecycle: routing", () => {
  it("knows Copenhagen local time in winter and summer", () => {
    expect(localTime(WINTER_10, CPH(WINTER_10))).toEqual({ minute: 600, day: 2 });
    expect(localTime(SUMMER_10, CPH(SUMMER_10))).toEqual({ minute: 600, day: 2 });
    expect(localTime(SUMMER_22, CPH(SUMMER_22))).toEqual({ minute: 1320, day: 2 });
  });

  it("routes a weekday 10:00 alert to the daytime hospital team and a 22:00 one down the chain, CET and CEST", () => {
    for (const [ten, twentyTwo] of [[WINTER_10, WINTER_22], [SUMMER_10, SUMMER_22]]) {
      expect(routedAt(ten, "red")).toBe("hjerteafd-dagtid");
      expect(routedAt(ten, "yellow")).toBe("hjerteafd-dagtid");
      expect(routedAt(twentyTwo, "red")).toBe("akutteam-kommune");
      expect(routedAt(twentyTwo, "yellow")).toBe("hjemmepleje");
    }
    expect(routedAt(SATURDAY_10, "yellow")).toBe("hjemmepleje");
  });

  it("uses the offset in force: 06:30 UTC is 07:30 in winter (closed) but 08:30 in summer (open)", () => {
    expect(routedAt(Date.UTC(2026, 0, 14, 6, 30), "yellow")).toBe("hjemmepleje");
    expect(routedAt(Date.UTC(2026, 6, 15, 6, 30), "yellow")).toBe("hjerteafd-dagtid");
    // the last minute before 16:00 local is in, 16:00 itself is out (to is exclusive)
    expect(routedAt(Date.UTC(2026, 6, 15, 13, 59), "yellow")).toBe("hjerteafd-dagtid");
    expect(routedAt(Date.UTC(2026, 6, 15, 14, 0), "yellow")).toBe("hjemmepleje");
  });

  it("routes by programme", () => {
    expect(routedAt(WINTER_10, "yellow", "telekol")).toBe("kol-team");
    expect(routedAt(WINTER_22, "yellow", "cgm")).toBe("hjemmepleje");
  });

  it("falls back to the first team when nothing matches, never unrouted", () => {
    const { lc } = lifecycle();
    lc.setPatient("p", { programme: "cgm", careTeams: [CHAIN[0], CHAIN[1]] }, WINTER_22);
    lc.apply([raise("p", "pulse-band", "yellow", WINTER_22)], WINTER_22);
    expect(lc.list()[0].routedTo).toEqual({ team: "hjerteafd-dagtid", role: "hospital", entry: 0 });
  });

  it("a window spanning midnight belongs to the day it starts", () => {
    const hours = { from: "22:00", to: "07:00", days: ["fri" as const] };
    expect(coversHours(hours, { minute: 23 * 60, day: 4 })).toBe(true); // Friday 23:00
    expect(coversHours(hours, { minute: 3 * 60, day: 5 })).toBe(true); // Saturday 03:00
    expect(coversHours(hours, { minute: 3 * 60, day: 4 })).toBe(false); // Friday 03:00 (Thursday's night)
    expect(coversHours(hours, { minute: 7 * 60, day: 5 })).toBe(false);
    expect(coversHours({ from: "00:00", to: "00:00" }, { minute: 5, day: 6 })).toBe(true);
  });

  it("re-routes on a priority change", () => {
    const { lc } = lifecycle();
    lc.setPatient("p", { programme: "telehjerte", careTeams: CHAIN }, WINTER_22);
    lc.apply([raise("p", "pulse-band", "yellow", WINTER_22)], WINTER_22);
    expect(lc.list()[0].routedTo?.team).toBe("hjemmepleje");
    lc.apply([{ ...raise("p", "pulse-band", "red", WINTER_22), kind: "upgrade", from: "yellow" }], WINTER_22 + MIN);
    expect(lc.list()[0].routedTo?.team).toBe("akutteam-kommune");
  });

  it("every team of the patient sees the alert; routedTo says who is responsible", () => {
    const { lc } = lifecycle();
    lc.setPatient("p", { programme: "telehjerte", careTeams: CHAIN }, WINTER_10);
    lc.setPatient("q", { programme: "telehjerte", careTeams: [{ team: "other", role: "gp" }] }, WINTER_10);
    lc.apply([raise("p", "pulse-band", "yellow", WINTER_10), raise("q", "pulse-band", "yellow", WINTER_10)], WINTER_10);
    expect(lc.snapshot({ teams: ["egen-laege"] }).alerts.map((a) => [a.patient, a.routedTo?.team])).toEqual([["p", "hjerteafd-dagtid"]]);
    expect(lc.snapshot({ teams: ["other"] }).alerts.map((a) => a.patient)).toEqual(["q"]);
    expect(lc.list()[0].teams).toEqual(CHAIN.map((e) => e.team));
  });

  it("refuses an invalid chain with invalid_routing", () => {
    const { lc } = lifecycle();
    const bad = (e: unknown) => {
      try {
        lc.setPatient("p", { careTeams: [e as RoutingEntry] }, WINTER_10);
      } catch (err) {
        return err instanceof VarselError ? err.code : "other";
      }
      return "ok";
    };
    expect(bad({ team: "t", role: "hospital", hours: { from: "8:00", to: "16:00" } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "nurse" })).toBe("invalid_routing");
    expect(bad({ team: "", role: "gp" })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", priorities: ["urgent"] })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "24:00", days: ["monday"] } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "24:00" } })).toBe("ok");
  });
});

describe("lifecycle: escalation", () => {
  const chain: RoutingEntry[] = [
    { team: "hospital", role: "hospital" },
    { team: "kommune", role: "municipality" },
    { team: "gp", role: "gp" },
  ];
  const T0 = WINTER_10;
  const escalations = (events: LifecycleEvent[]) =>
    events.filter((e): e is AlertEvent => e.type === "escalated").map((e) => [e.at - T0, e.escalation!.step, e.escalation!.team, e.escalation!.final]);

  it("walks the chain after each delay, re-announces to every team once at the end, then stops (no loops)", () => {
    const { lc, events } = lifecycle({ escalationLoops: 0 });
    lc.setPatient("p", { careTeams: chain }, T0);
    lc.apply([raise("p", "pulse-band", "red", T0)], T0);
    expect(lc.list()[0].escalation.nextAt).toBe(T0 + 15 * MIN);
    lc.tick(T0 + 15 * MIN - 1);
    expect(escalations(events())).toEqual([]);
    for (let m = 15; m <= 90; m += 15) lc.tick(T0 + m * MIN);
    expect(escalations(events())).toEqual([
      [15 * MIN, 1, "kommune", false],
      [30 * MIN, 2, "gp", false],
      [45 * MIN, 3, null, true],
    ]);
    const final = events().find((e): e is AlertEvent => e.type === "escalated" && e.escalation!.final)!;
    expect(final.escalation!.teams).toEqual(["hospital", "kommune", "gp"]);
    expect(lc.list()[0]).toMatchObject({ routedTo: { team: "gp" }, escalation: { step: 3, done: true, notified: ["hospital", "kommune", "gp"] } });
    expect(lc.list()[0].escalation.nextAt).toBeUndefined();
  });

  it("the delay is configurable per organisation and per patient", () => {
    const { lc, events } = lifecycle({ escalationDelayMs: 5 * MIN });
    lc.setPatient("p", { careTeams: chain }, T0);
    lc.setPatient("q", { careTeams: chain, escalationDelayMs: 30 * MIN }, T0);
    lc.apply([raise("p", "pulse-band", "red", T0), raise("q", "pulse-band", "red", T0)], T0);
    lc.tick(T0 + 5 * MIN);
    lc.tick(T0 + 30 * MIN);
    expect(events().filter((e) => e.type === "escalated").map((e) => [e.patient, e.at - T0])).toEqual([
      ["p", 5 * MIN],
      ["p", 30 * MIN],
      ["q", 30 * MIN],
    ]);
  });

  it("stops on ack; an upgrade after the ack starts it again", () => {
    const { lc, events } = lifecycle();
    lc.setPatient("p", { careTeams: chain }, T0);
    lc.apply([raise("p", "pulse-band", "red", T0)], T0);
    lc.tick(T0 + 15 * MIN);
    const id = lc.list()[0].id;
    lc.ack(id, "sygeplejerske.kommune", "på vej", T0 + 16 * MIN);
    expect(lc.get(id).escalation.nextAt).toBeUndefined();
    lc.tick(T0 + 120 * MIN);
    expect(escalations(events())).toEqual([[15 * MIN, 1, "kommune", false]]);
    lc.apply([{ ...raise("p", "pulse-band", "yellow", T0), kind: "downgrade", from: "red" }], T0 + 121 * MIN);
    lc.apply([{ ...raise("p", "pulse-band", "red", T0), kind: "upgrade", from: "yellow" }], T0 + 122 * MIN);
    expect(lc.get(id).ack).toBeUndefined();
    expect(lc.get(id)).toMatchObject({ routedTo: { team: "hospital" }, escalation: { step: 0, nextAt: T0 + 137 * MIN } });
    lc.tick(T0 + 137 * MIN);
    expect(escalations(events()).at(-1)).toEqual([137 * MIN, 1, "kommune", false]);
  });

  it("does not escalate yellow alerts, and pauses while a latched alert awaits its ack", () => {
    const { lc, events } = lifecycle({ latching: { levels: ["red"] } });
    lc.setPatient("p", { careTeams: chain }, T0);
    lc.apply([raise("p", "pulse-band", "yellow", T0), raise("p", "bp-band", "red", T0)], T0);
    lc.apply([{ ...raise("p", "bp-band", "red", T0), kind: "resolve", to: "none", from: "red" }], T0 + MIN);
    lc.tick(T0 + 60 * MIN);
    expect(escalations(events())).toEqual([]);
    // the condition comes back: the same alert, a full delay again
    lc.apply([raise("p", "bp-band", "red", T0 + 61 * MIN)], T0 + 61 * MIN);
    lc.tick(T0 + 76 * MIN);
    expect(escalations(events())).toEqual([[76 * MIN, 1, "kommune", false]]);
  });

  it("prefers the next team that is on duty, skipping one whose hours are out", () => {
    const { lc, events } = lifecycle({ escalationLoops: 0 });
    lc.setPatient("p", { careTeams: [chain[0], { team: "gp", role: "gp", hours: { from: "08:00", to: "16:00" } }, chain[1]] }, WINTER_22);
    lc.apply([raise("p", "pulse-band", "red", WINTER_22)], WINTER_22);
    lc.tick(WINTER_22 + 15 * MIN);
    expect(lc.list()[0].routedTo?.team).toBe("kommune");
    // no team after kommune: the chain has ended, so every team (the skipped GP too) hears it once more
    lc.tick(WINTER_22 + 30 * MIN);
    const last = events().at(-1) as AlertEvent;
    expect(last.escalation).toEqual({ step: 2, team: null, final: true, teams: ["hospital", "gp", "kommune"], loop: 0 });
    expect(lc.list()[0].routedTo?.team).toBe("kommune");
  });

  it("escalates a real engine alert (TeleHjerte blood pressure) along the patient's chain", () => {
    const p = new Pipeline();
    const lc = p.lifecycle;
    p.upsertPatient("p", { programme: "telehjerte", careTeams: CHAIN, paused: false, references: {} }, T0 - MIN);
    ingestRaw(p, [{ patient: "p", metric: "bp_sys", value: 190, time: T0 }], ANY_SENDER, T0);
    expect(lc.list()[0]).toMatchObject({ rule: "bp-sys-band", priority: "high", routedTo: { team: "hjerteafd-dagtid" } });
    lc.tick(T0 + 15 * MIN);
    expect(lc.list()[0].routedTo?.team).toBe("akutteam-kommune");
  });
});
