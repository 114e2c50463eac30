// Durations in rule definitions: "90s", "15m", "72h", "3d" (strict; anything else is an error).

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;

/** The longest duration a rule may name: a year (longer is a typo, and 9…9d overflows to Infinity). */
export const MAX_DURATION_MS = 366 * 86_400_000;

/** Milliseconds of a duration string, or null when it is not one (or longer than MAX_DURATION_MS). */
export function parseDuration(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (match === null) return null;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]]);
  return ms <= MAX_DURATION_MS ? ms : null;
}

/** Milliseconds after midnight of "HH:MM", or null. */
export function parseTimeOfDay(text: string): number | null {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (match === null) return null;
  return (Number(match[1]) * 60 + Number(match[2])) * 60_000;
}
