// Param-set deduplication: programme defaults are shared by many rules, so equal sets share one
// kernel record. The key uses the values as stored (margin as f32, the small fields as u8), so a
// key rebuilt from a restored record equals the key of the ParamSet that made it.
import type { ParamSet } from "../evaluator.js";

const U8_FIELDS = ["n", "m", "mode", "minCount", "weekdays", "everyNDays"] as const;

/** Throws unless every u8 field is an integer 0..255 (the kernel stores them as bytes). */
export function checkParams(p: ParamSet): void {
  for (const f of U8_FIELDS) {
    const v = p[f];
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`param ${f} must be an integer 0..255, got ${v}`);
  }
}

/** The dedup key of a param set. */
export function paramKey(p: ParamSet): string {
  return [
    p.forMs, p.keepMs, p.windowMs, p.horizonMs, p.deadlineMs, p.graceMs, Math.fround(p.margin),
    p.n, p.m, p.mode, p.minCount, p.weekdays, p.everyNDays,
  ].join(",");
}
