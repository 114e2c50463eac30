// Param-set deduplication: programme defaults are shared by many rules, so equal sets share one
// kernel record. The key uses the values as stored (margin as f32, the small fields as u8), so a
// key rebuilt from a restored record equals the key of the ParamSet that made it.
import type { ParamSet } from "../evaluator.js";

function checkU8(name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0 && v <= 255)) throw new RangeError(`param ${name} must be an integer 0..255, got ${v}`);
}

/** Throws unless every u8 field is an integer 0..255 (the kernel stores them as bytes). */
export function checkParams(p: ParamSet): void {
  checkU8("n", p.n);
  checkU8("m", p.m);
  checkU8("mode", p.mode);
  checkU8("minCount", p.minCount);
  checkU8("weekdays", p.weekdays);
  checkU8("everyNDays", p.everyNDays);
  checkU8("enrolmentDay", p.enrolmentDay);
}

/** Do two param sets store the same record? (margin compared as f32, like the key) */
export function sameParams(a: ParamSet, b: ParamSet): boolean {
  return (
    Object.is(a.forMs, b.forMs) && Object.is(a.keepMs, b.keepMs) && Object.is(a.windowMs, b.windowMs) &&
    Object.is(a.horizonMs, b.horizonMs) && Object.is(a.deadlineMs, b.deadlineMs) && Object.is(a.graceMs, b.graceMs) &&
    Object.is(Math.fround(a.margin), Math.fround(b.margin)) && a.n === b.n && a.m === b.m && a.mode === b.mode &&
    a.minCount === b.minCount && a.weekdays === b.weekdays && a.everyNDays === b.everyNDays &&
    a.enrolmentDay === b.enrolmentDay
  );
}

/** The dedup key of a param set. */
export function paramKey(p: ParamSet): string {
  return `${p.forMs},${p.keepMs},${p.windowMs},${p.horizonMs},${p.deadlineMs},${p.graceMs},${Math.fround(p.margin)},${p.n},${p.m},${p.mode},${p.minCount},${p.weekdays},${p.everyNDays},${p.enrolmentDay}`;
}
