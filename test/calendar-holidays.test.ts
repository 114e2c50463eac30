// Danish public holidays against the published table for 2025–2030 (the almanac's helligdage,
// written here as literals; the same dates as date-holidays 3.37.0's DK data, compared once for
// 1900–2400 outside the repository), Easter by the computus against known dates, and store
// bededag's abolition from 2024.
import { describe, expect, it } from "vitest";
import { danishDay, easterSunday, epochDay, isoDate, publicHolidays } from "../engine/calendar/holidays.js";

// Nytårsdag, skærtorsdag, langfredag, påskedag, 2. påskedag, Kristi himmelfartsdag, pinsedag,
// 2. pinsedag, juledag, 2. juledag.
const PUBLISHED: Record<number, string[]> = {
  2025: ["01-01", "04-17", "04-18", "04-20", "04-21", "05-29", "06-08", "06-09", "12-25", "12-26"],
  2026: ["01-01", "04-02", "04-03", "04-05", "04-06", "05-14", "05-24", "05-25", "12-25", "12-26"],
  2027: ["01-01", "03-25", "03-26", "03-28", "03-29", "05-06", "05-16", "05-17", "12-25", "12-26"],
  2028: ["01-01", "04-13", "04-14", "04-16", "04-17", "05-25", "06-04", "06-05", "12-25", "12-26"],
  2029: ["01-01", "03-29", "03-30", "04-01", "04-02", "05-10", "05-20", "05-21", "12-25", "12-26"],
  2030: ["01-01", "04-18", "04-19", "04-21", "04-22", "05-30", "06-09", "06-10", "12-25", "12-26"],
};
const NAMES = [
  "nytaarsdag", "skaertorsdag", "langfredag", "paaskedag", "anden_paaskedag",
  "kristi_himmelfartsdag", "pinsedag", "anden_pinsedag", "juledag", "anden_juledag",
];

const day = (iso: string) => {
  const [y, m, d] = iso.split("-").map(Number);
  return danishDay(epochDay(y, m, d));
};

describe("calendar: Danish public holidays", () => {
  it.each(Object.entries(PUBLISHED))("%s matches the published table", (year, dates) => {
    expect(publicHolidays(Number(year))).toEqual(dates.map((d, i) => ({ date: `${year}-${d}`, holiday: NAMES[i] })));
  });

  it("computes Easter Sunday by the Gregorian computus, including the earliest and latest dates", () => {
    const known: [number, number, number][] = [
      [1818, 3, 22], [2285, 3, 22], // earliest possible
      [1943, 4, 25], [2038, 4, 25], // latest possible
      [1583, 4, 10], [2000, 4, 23], [2008, 3, 23], [2011, 4, 24], [2024, 3, 31],
      [2025, 4, 20], [2026, 4, 5], [2027, 3, 28], [2028, 4, 16], [2029, 4, 1], [2030, 4, 21],
      [2031, 4, 13], [2032, 3, 28], [2035, 3, 25], [2040, 4, 1],
    ];
    for (const [y, month, d] of known) expect([y, easterSunday(y)]).toEqual([y, { month, day: d }]);
  });

  it("Easter is always a Sunday between 22 March and 25 April (1583–4099)", () => {
    for (let y = 1583; y <= 4099; y++) {
      const e = easterSunday(y);
      const date = epochDay(y, e.month, e.day);
      expect(new Date(date * 86_400_000).getUTCDay()).toBe(0);
      expect(date).toBeGreaterThanOrEqual(epochDay(y, 3, 22));
      expect(date).toBeLessThanOrEqual(epochDay(y, 4, 25));
    }
  });

  it("store bededag (4th Friday after Easter) is a holiday up to 2023 and an ordinary working day from 2024", () => {
    expect(day("2023-05-05")).toEqual({ holiday: "store_bededag" });
    expect(publicHolidays(2023)).toHaveLength(11);
    expect(day("2024-04-26")).toEqual({});
    expect(day("2025-05-16")).toEqual({});
    for (let y = 2024; y <= 2100; y++) expect(publicHolidays(y).map((h) => h.holiday)).not.toContain("store_bededag");
  });

  it("names grundlovsdag, juleaftensdag and nytårsaftensdag as observances, not public holidays", () => {
    expect(day("2026-06-05")).toEqual({ observance: "grundlovsdag" });
    expect(day("2026-12-24")).toEqual({ observance: "juleaftensdag" });
    expect(day("2026-12-31")).toEqual({ observance: "nytaarsaftensdag" });
    // 2028: 2. pinsedag falls on grundlovsdag, so the day is both
    expect(day("2028-06-05")).toEqual({ holiday: "anden_pinsedag", observance: "grundlovsdag" });
    expect(day("2026-04-07")).toEqual({});
  });

  it("keeps local dates as days since 1970 in both directions", () => {
    expect(epochDay(1970, 1, 1)).toBe(0);
    expect(isoDate(epochDay(2028, 2, 29))).toBe("2028-02-29");
    expect(isoDate(epochDay(50, 6, 5))).toBe("0050-06-05");
    expect(day("0050-06-05")).toEqual({ observance: "grundlovsdag" });
  });
});
