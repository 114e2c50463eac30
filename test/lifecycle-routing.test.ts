// Routing to care teams by programme, priority and Copenhagen local time (CET and CEST), Danish
// holidays and half days (across Easter and both daylight-saving changes), and escalation along
// the chain on a controllable clock.
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { VarselError } from "../engine/errors.js";
import { AlertLifecycle, coversHours, localTime, type AlertEvent, type LifecycleEvent, type LifecycleOptions, type RoutingEntry } from "../engine/lifecycle/index.js";
import { utcOffsetMs } from "../engine/clock.js";
import { epochDay } from "../engine/calendar/holidays.js";
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

/** A Copenhagen wall time as routing sees it (the date and weekday of the local day). */
function wall(iso: string, hhmm: string) {
  const [y, m, d] = iso.split("-").map(Number);
  const date = epochDay(y, m, d);
  const [h, min] = hhmm.split(":").map(Number);
  return { minute: h * 60 + min, day: (new Date(date * 86_400_000).getUTCDay() + 6) % 7, date };
}

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
    expect(localTime(WINTER_10, CPH(WINTER_10))).toEqual({ minute: 600, day: 2, date: epochDay(2026, 1, 14) });
    expect(localTime(SUMMER_10, CPH(SUMMER_10))).toEqual({ minute: 600, day: 2, date: epochDay(2026, 7, 15) });
    expect(localTime(SUMMER_22, CPH(SUMMER_22))).toEqual({ minute: 1320, day: 2, date: epochDay(2026, 7, 15) });
    // 23:30 UTC on 14 July is 01:30 on the 15th in Copenhagen: the local date, not the UTC one
    const late = Date.UTC(2026, 6, 14, 23, 30);
    expect(localTime(late, CPH(late))).toEqual({ minute: 90, day: 2, date: epochDay(2026, 7, 15) });
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
    expect(coversHours(hours, wall("2026-01-16", "23:00"))).toBe(true); // Friday 23:00
    expect(coversHours(hours, wall("2026-01-17", "03:00"))).toBe(true); // Saturday 03:00
    expect(coversHours(hours, wall("2026-01-16", "03:00"))).toBe(false); // Friday 03:00 (Thursday's night)
    expect(coversHours(hours, wall("2026-01-17", "07:00"))).toBe(false);
    expect(coversHours({ from: "00:00", to: "00:00" }, wall("2026-01-18", "00:05"))).toBe(true);
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
    expect(bad({ team: "t", role: "gp", hours: null })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", holidays: "never" } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", extraHolidays: ["store_bededag"] } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", halfDays: { on: [], to: "12:00" } } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", halfDays: { on: ["juleaftensdag"] } } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", halfDays: { on: ["juleaftensdag"], to: "12" } } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", extraHolidays: ["juleaftensdag"], halfDays: { on: ["juleaftensdag"], to: "12:00" } } })).toBe("invalid_routing");
    expect(bad({ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", holidays: "exclude", extraHolidays: ["grundlovsdag"], halfDays: { on: ["juleaftensdag"], to: "12:00" } } })).toBe("ok");
  });

  it("names the bad field in the message", () => {
    const { lc } = lifecycle();
    expect(() => lc.setPatient("p", { careTeams: [{ team: "t", role: "gp", hours: { from: "08:00", to: "16:00", halfDays: { on: ["juleaftensdag"] } } }] }, WINTER_10))
      .toThrow("care team entry 0: hours.halfDays needs from or to");
  });
});

describe("lifecycle: routing on Danish holidays", () => {
  const MON_FRI = ["mon", "tue", "wed", "thu", "fri"] as const;
  // Municipal daytime nursing (holidays by default as on Sundays: off), closed on grundlovsdag
  // and until 12:00 on juleaftensdag and nytårsaftensdag; the out-of-hours GP service at night
  // and in daytime on holidays; the hospital's acute function for what is left (weekend days).
  // The chain of docs/http.md's holiday example.
  const HOLIDAY_CHAIN: RoutingEntry[] = [
    { team: "hjemmepleje", role: "municipality", hours: { from: "08:00", to: "16:00", days: [...MON_FRI], extraHolidays: ["grundlovsdag"], halfDays: { on: ["juleaftensdag", "nytaarsaftensdag"], to: "12:00" } } },
    { team: "laegevagt", role: "gp", hours: { from: "16:00", to: "08:00" } },
    { team: "laegevagt", role: "gp", hours: { from: "00:00", to: "00:00", holidays: "only", extraHolidays: ["juleaftensdag", "nytaarsaftensdag", "grundlovsdag"] } },
    { team: "akut", role: "hospital" },
  ];
  const routed = (at: number) => {
    const { lc } = lifecycle();
    lc.setPatient("p", { careTeams: HOLIDAY_CHAIN }, at);
    lc.apply([raise("p", "pulse-band", "yellow", at)], at);
    const r = lc.list()[0].routedTo!;
    return `${r.team}#${r.entry}`;
  };

  // Instants in UTC; Copenhagen is UTC+1 until 29 March 2026 / 28 March 2027 02:00 and after
  // 25 October 2026 03:00, UTC+2 between.
  it.each([
    ["Wednesday before Easter 2026, 10:00 CEST", Date.UTC(2026, 3, 1, 8, 0), "hjemmepleje#0"],
    ["skærtorsdag 2026-04-02, 10:00 CEST", Date.UTC(2026, 3, 2, 8, 0), "laegevagt#2"],
    ["langfredag 2026-04-03, 15:59 CEST", Date.UTC(2026, 3, 3, 13, 59), "laegevagt#2"],
    ["påskedag 2026-04-05 (a Sunday), 10:00 CEST", Date.UTC(2026, 3, 5, 8, 0), "laegevagt#2"],
    ["2. påskedag 2026-04-06, 10:00 CEST", Date.UTC(2026, 3, 6, 8, 0), "laegevagt#2"],
    ["Tuesday after 2. påskedag, 07:59 CEST (Monday's night)", Date.UTC(2026, 3, 7, 5, 59), "laegevagt#1"],
    ["Tuesday after 2. påskedag, 08:00 CEST", Date.UTC(2026, 3, 7, 6, 0), "hjemmepleje#0"],
    ["Saturday 2026-01-17, 10:00 CET (no holiday)", Date.UTC(2026, 0, 17, 9, 0), "akut#3"],
    ["Kristi himmelfartsdag 2026-05-14, 10:00 CEST", Date.UTC(2026, 4, 14, 8, 0), "laegevagt#2"],
    ["store bededag's old date 2026-05-01, 10:00 CEST: a working day", Date.UTC(2026, 4, 1, 8, 0), "hjemmepleje#0"],
    ["2. pinsedag 2026-05-25, 10:00 CEST", Date.UTC(2026, 4, 25, 8, 0), "laegevagt#2"],
    ["grundlovsdag 2026-06-05 (team closed), 10:00 CEST", Date.UTC(2026, 5, 5, 8, 0), "laegevagt#2"],
    ["juleaftensdag 2026-12-24, 11:59 CET (half day)", Date.UTC(2026, 11, 24, 10, 59), "hjemmepleje#0"],
    ["juleaftensdag 2026-12-24, 12:00 CET (half day over)", Date.UTC(2026, 11, 24, 11, 0), "laegevagt#2"],
    ["nytårsaftensdag 2026-12-31, 12:00 CET", Date.UTC(2026, 11, 31, 11, 0), "laegevagt#2"],
    ["nytårsdag 2027-01-01, 10:00 CET", Date.UTC(2027, 0, 1, 9, 0), "laegevagt#2"],
    // Easter 2027 falls on the spring change (28 March): skærtorsdag in CET, 2. påskedag in CEST
    ["Wednesday 2027-03-24, 10:00 CET", Date.UTC(2027, 2, 24, 9, 0), "hjemmepleje#0"],
    ["skærtorsdag 2027-03-25, 10:00 CET", Date.UTC(2027, 2, 25, 9, 0), "laegevagt#2"],
    ["påskedag 2027-03-28, 10:00 CEST, the first day of summer time", Date.UTC(2027, 2, 28, 8, 0), "laegevagt#2"],
    ["2. påskedag 2027-03-29, 08:30 CEST (07:30 if the offset were still CET)", Date.UTC(2027, 2, 29, 6, 30), "laegevagt#2"],
    ["Tuesday 2027-03-30, 07:59 CEST (2. påskedag's night)", Date.UTC(2027, 2, 30, 5, 59), "laegevagt#1"],
    ["Tuesday 2027-03-30, 08:00 CEST (07:00 if the offset were still CET)", Date.UTC(2027, 2, 30, 6, 0), "hjemmepleje#0"],
    // The autumn change, 25 October 2026: 02:00–03:00 happens twice
    ["Friday 2026-10-23, 08:30 CEST", Date.UTC(2026, 9, 23, 6, 30), "hjemmepleje#0"],
    ["Sunday 2026-10-25, the first 02:30 (CEST)", Date.UTC(2026, 9, 25, 0, 30), "laegevagt#1"],
    ["Sunday 2026-10-25, the second 02:30 (CET)", Date.UTC(2026, 9, 25, 1, 30), "laegevagt#1"],
    ["Sunday 2026-10-25, 10:00 CET", Date.UTC(2026, 9, 25, 9, 0), "akut#3"],
    ["Monday 2026-10-26, 07:30 CET (08:30 if it were still CEST)", Date.UTC(2026, 9, 26, 6, 30), "laegevagt#1"],
    ["Monday 2026-10-26, 08:00 CET", Date.UTC(2026, 9, 26, 7, 0), "hjemmepleje#0"],
  ])("%s", (_what, at, expected) => {
    expect(routed(at)).toBe(expected);
  });

  it("combines days and holidays: as_sunday (default), include, exclude, only", () => {
    const weekdays = { from: "08:00", to: "16:00", days: [...MON_FRI] };
    const everyDay = { from: "08:00", to: "16:00" };
    const table: [object, string, string, boolean][] = [
      // skærtorsdag 2026-04-02 (Thursday), påskedag 2026-04-05 (Sunday), an ordinary Thursday and Sunday
      [weekdays, "2026-04-02", "10:00", false],
      [weekdays, "2026-04-09", "10:00", true],
      [everyDay, "2026-04-02", "10:00", true],
      [{ ...weekdays, days: ["thu"] }, "2026-04-02", "10:00", false],
      [{ ...weekdays, days: ["sun"] }, "2026-04-02", "10:00", true], // a holiday counts as a Sunday
      [{ ...weekdays, holidays: "include" }, "2026-04-02", "10:00", true],
      [{ ...weekdays, holidays: "include" }, "2026-04-05", "10:00", true],
      [{ ...weekdays, holidays: "include" }, "2026-04-12", "10:00", false],
      [{ ...everyDay, holidays: "exclude" }, "2026-04-05", "10:00", false],
      [{ ...everyDay, holidays: "exclude" }, "2026-04-12", "10:00", true],
      [{ ...everyDay, holidays: "only" }, "2026-04-02", "10:00", true],
      [{ ...everyDay, holidays: "only" }, "2026-04-09", "10:00", false],
      [{ ...weekdays, holidays: "only" }, "2026-04-05", "10:00", false], // påskedag is a Sunday
      [{ ...weekdays, holidays: "only" }, "2026-04-06", "10:00", true],
      [{ ...weekdays, holidays: "only" }, "2026-04-06", "16:00", false],
      // observances are ordinary days unless the entry names them
      [{ ...everyDay, holidays: "only" }, "2026-12-24", "10:00", false],
      [{ ...everyDay, holidays: "only", extraHolidays: ["juleaftensdag"] }, "2026-12-24", "10:00", true],
      [{ ...weekdays, holidays: "exclude", extraHolidays: ["juleaftensdag"] }, "2026-12-24", "10:00", false],
      [{ ...weekdays, holidays: "exclude", extraHolidays: ["juleaftensdag"] }, "2026-12-31", "10:00", true],
    ];
    for (const [hours, date, time, covered] of table) {
      expect([hours, date, time, coversHours(hours as RoutingEntry["hours"] & object, wall(date, time))]).toEqual([hours, date, time, covered]);
    }
  });

  it("a night window's morning takes the holiday status of the evening it started", () => {
    const nights = { from: "22:00", to: "07:00", holidays: "only" as const };
    expect(coversHours(nights, wall("2026-04-01", "23:00"))).toBe(false); // Wednesday evening
    expect(coversHours(nights, wall("2026-04-02", "03:00"))).toBe(false); // skærtorsdag 03:00 is Wednesday's night
    expect(coversHours(nights, wall("2026-04-02", "23:00"))).toBe(true); // skærtorsdag evening
    expect(coversHours(nights, wall("2026-04-07", "03:00"))).toBe(true); // Tuesday 03:00 is 2. påskedag's night
    expect(coversHours(nights, wall("2026-04-07", "23:00"))).toBe(false);
    // 2. juledag's night ends on an ordinary Sunday morning
    expect(coversHours({ ...nights, holidays: "exclude" }, wall("2026-12-27", "06:59"))).toBe(false);
    expect(coversHours({ ...nights, holidays: "exclude" }, wall("2026-12-28", "06:59"))).toBe(true);
  });

  it("half days move the window's start or end on the named days only", () => {
    const day = { from: "08:00", to: "16:00", halfDays: { on: ["juleaftensdag" as const], to: "12:00" } };
    expect(coversHours(day, wall("2026-12-24", "11:59"))).toBe(true);
    expect(coversHours(day, wall("2026-12-24", "12:00"))).toBe(false);
    expect(coversHours(day, wall("2026-12-23", "15:00"))).toBe(true);
    expect(coversHours(day, wall("2026-12-31", "15:00"))).toBe(true);
    // an evening service that starts at 12:00 on juleaftensdag and runs through the night
    const evening = { from: "16:00", to: "08:00", halfDays: { on: ["juleaftensdag" as const], from: "12:00" } };
    expect(coversHours(evening, wall("2026-12-24", "12:00"))).toBe(true);
    expect(coversHours(evening, wall("2026-12-25", "07:59"))).toBe(true);
    expect(coversHours(evening, wall("2026-12-23", "12:00"))).toBe(false);
    // a half day that falls on a public holiday is the holiday (2. pinsedag = grundlovsdag in 2028)
    const grundlov = { from: "08:00", to: "16:00", holidays: "include" as const, halfDays: { on: ["grundlovsdag" as const], to: "12:00" } };
    expect(coversHours(grundlov, wall("2028-06-05", "15:00"))).toBe(true);
    expect(coversHours(grundlov, wall("2029-06-05", "15:00"))).toBe(false);
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
