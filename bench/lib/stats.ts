// Small statistics and number formatting for the benchmarks.

export interface Summary {
  runs: number;
  min: number;
  median: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { runs: 0, min: NaN, median: NaN, max: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { runs: s.length, min: s[0], median, max: s[s.length - 1] };
}

/** Readings per second, e.g. "52.3 M/s", "812 k/s", "9.41 k/s". */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 1)} M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : x >= 1e4 ? 1 : 2)} k/s`;
  return `${x.toFixed(0)} /s`;
}

/** A count: "10.0 M", "200 k", "512". */
export function fmtCount(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x % 1e6 === 0 ? 0 : 2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x % 1e3 === 0 ? 0 : 1)} k`;
  return `${x}`;
}

/** A ratio: "12.3×", "0.42×", "1530×". */
export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x >= 100) return `${x.toFixed(0)}×`;
  if (x >= 10) return `${x.toFixed(1)}×`;
  return `${x.toFixed(2)}×`;
}

/** Rounds to `digits` significant digits (for the JSON line). */
export function sig(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return `${Number.isInteger(x) || x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms`;
}
