// Durations in rule definitions: "90s", "15m", "72h", "3d" (strict; anything else is an error).

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;

/** Milliseconds of a duration string, or null when it is not one. */
export function parseDuration(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (match === null) return null;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}

/** Milliseconds after midnight of "HH:MM", or null. */
export function parseTimeOfDay(text: string): number | null {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (match === null) return null;
  return (Number(match[1]) * 60 + Number(match[2])) * 60_000;
}
