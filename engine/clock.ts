// Local time for daily deadlines: Danish patients measure by the Copenhagen clock (CET/CEST).

const HOUR_MS = 3_600_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

const cache = new Map<string, { hour: number; offset: number }>();

/** The UTC offset in ms of a time zone at an instant (e.g. 3 600 000 for Copenhagen in winter). */
export function utcOffsetMs(timeZone: string, at: number): number {
  // Offsets change only on whole hours (DST): one Intl lookup per zone and hour.
  const hour = Math.floor(at / HOUR_MS);
  const hit = cache.get(timeZone);
  if (hit !== undefined && hit.hour === hour) return hit.offset;
  const offset = lookupOffset(timeZone, at);
  cache.set(timeZone, { hour, offset });
  return offset;
}

function lookupOffset(timeZone: string, at: number): number {
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
    formatters.set(timeZone, fmt);
  }
  const name = fmt.formatToParts(at).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (match === null) return 0;
  const sign = match[1] === "-" ? -1 : 1;
  return sign * (Number(match[2]) * HOUR_MS + Number(match[3]) * 60_000);
}

export const DEFAULT_TIME_ZONE = "Europe/Copenhagen";
