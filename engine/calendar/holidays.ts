// Danish public holidays (helligdage) for any Gregorian year, and the named days that are not
// public holidays but that many teams keep closed or as half days. Pure; one table per year,
// computed once. Source: /work/shared/spec/calendar.md.
//
// Hand-written rather than a library: the rule is a dozen dates around Easter, while
// date-holidays (the maintained npm library, correct for Denmark incl. 2024) installs 15 packages
// and 45 MB (moment-timezone, astronomia, lunar calendars) and does not name nytårsaftensdag.

const DAY_MS = 86_400_000;

/** National public holidays. Store bededag only for years up to 2023 (abolished from 2024). */
export const PUBLIC_HOLIDAYS = [
  "nytaarsdag", "skaertorsdag", "langfredag", "paaskedag", "anden_paaskedag", "store_bededag",
  "kristi_himmelfartsdag", "pinsedag", "anden_pinsedag", "juledag", "anden_juledag",
] as const;
export type PublicHoliday = (typeof PUBLIC_HOLIDAYS)[number];

/** Days that are not public holidays; whether a team works them is the team's setting. */
export const OBSERVANCES = ["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"] as const;
export type Observance = (typeof OBSERVANCES)[number];

/** What a local date is in the Danish calendar; both absent on an ordinary day. */
export interface DanishDay {
  holiday?: PublicHoliday;
  observance?: Observance;
}

/** Easter Sunday of a Gregorian year (anonymous Gregorian computus, Meeus/Jones/Butcher). */
export function easterSunday(year: number): { month: number; day: number } {
  const a = mod(year, 19), b = Math.floor(year / 100), c = mod(year, 100);
  const d = Math.floor(b / 4), e = mod(b, 4), f = Math.floor((b + 8) / 25), g = Math.floor((b - f + 1) / 3);
  const h = mod(19 * a + b - d - g + 15, 30);
  const l = mod(32 + 2 * e + 2 * Math.floor(c / 4) - h - mod(c, 4), 7);
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const n = h + l - 7 * m + 114;
  return { month: Math.floor(n / 31), day: mod(n, 31) + 1 };
}

/** Days since 1970-01-01 of a calendar date (month 1–12): the key of a local date. */
export function epochDay(year: number, month: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // Date.UTC would map years 0–99 to 1900–1999
  return Math.floor(d.getTime() / DAY_MS);
}

/** "YYYY-MM-DD" of an epoch day (years 0–9999). */
export function isoDate(day: number): string {
  const d = new Date(day * DAY_MS);
  return `${String(d.getUTCFullYear()).padStart(4, "0")}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The public holidays and observances of a year, by epoch day. */
function buildYear(year: number): Map<number, DanishDay> {
  const days = new Map<number, DanishDay>();
  const easter = easterSunday(year);
  const e = epochDay(year, easter.month, easter.day);
  const holiday = (day: number, name: PublicHoliday) => days.set(day, { ...days.get(day), holiday: name });
  const observance = (day: number, name: Observance) => days.set(day, { ...days.get(day), observance: name });
  holiday(epochDay(year, 1, 1), "nytaarsdag");
  holiday(e - 3, "skaertorsdag");
  holiday(e - 2, "langfredag");
  holiday(e, "paaskedag");
  holiday(e + 1, "anden_paaskedag");
  if (year <= 2023) holiday(e + 26, "store_bededag");
  holiday(e + 39, "kristi_himmelfartsdag");
  holiday(e + 49, "pinsedag");
  holiday(e + 50, "anden_pinsedag");
  holiday(epochDay(year, 12, 25), "juledag");
  holiday(epochDay(year, 12, 26), "anden_juledag");
  // 5 June can be 2. pinsedag too (2028): the day is both.
  observance(epochDay(year, 6, 5), "grundlovsdag");
  observance(epochDay(year, 12, 24), "juleaftensdag");
  observance(epochDay(year, 12, 31), "nytaarsaftensdag");
  for (const d of days.values()) Object.freeze(d); // shared by every caller
  return days;
}

const years = new Map<number, Map<number, DanishDay>>();
const ORDINARY: DanishDay = Object.freeze({});

function yearTable(year: number): Map<number, DanishDay> {
  let table = years.get(year);
  if (table === undefined) {
    table = buildYear(year);
    years.set(year, table);
  }
  return table;
}

/** The Danish calendar status of a local date given as an epoch day. */
export function danishDay(day: number): DanishDay {
  const year = new Date(day * DAY_MS).getUTCFullYear();
  return yearTable(year).get(day) ?? ORDINARY;
}

/** A year's public holidays in date order, as "YYYY-MM-DD" (for tables and tests). */
export function publicHolidays(year: number): { date: string; holiday: PublicHoliday }[] {
  return [...yearTable(year)]
    .filter(([, d]) => d.holiday !== undefined)
    .sort(([a], [b]) => a - b)
    .map(([day, d]) => ({ date: isoDate(day), holiday: d.holiday! }));
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
