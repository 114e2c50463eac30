// One rule of the reading's slot, general path (every kind; the evaluate loop inlines plain
// band rules itself). Returns the rule's triage code, or 0 when it does not count.
import { classifyHeld, classifyPlain, codeDir } from "./classify";
import {
  DIR_HIGH,
  KIND_BAND,
  KIND_BASELINE,
  KIND_DELTA,
  KIND_MISSING,
  KIND_RATE,
  KIND_SCORE_LINK,
  P_MARGIN,
  RULE_K_NO_MARGIN,
  RULE_K_NO_PERSIST,
  TRIAGE_REF_NEEDED,
} from "./layout";
import { paramOf, step, stepDirect } from "./persistence";
import { baselineRef, baselineX } from "./rules/baseline";
import { delta } from "./rules/delta";
import { gXHigh, gXLow } from "./rules/derived";
import { moveMissing } from "./rules/missing";
import { rate } from "./rules/rate";
import { joinSet } from "./rules/score-set";

/** Applies reading (t, v), index `reading`, to the rule at rp whose first word is hdr (cp: its slot's cold record). */
export function evalRule(rp: usize, hdr: u32, cp: usize, t: f64, v: f64, reading: i32, now: f64, tz: f64): u32 {
  const kind = hdr & 0xff;
  if (kind == KIND_MISSING) {
    moveMissing(rp, now, tz, reading);
    return 0;
  }
  if (kind == KIND_SCORE_LINK) return joinSet(rp, t, v, reading);
  const pp = paramOf(rp);
  let xLow: f64;
  let xHigh: f64;
  if (kind == KIND_BAND) {
    xLow = v;
    xHigh = v;
  } else if (kind == KIND_BASELINE) {
    const ref = baselineRef(rp, cp, pp, t);
    if (isNaN(ref)) return TRIAGE_REF_NEEDED; // not stepped: the alert stays as it is
    xLow = xHigh = baselineX(pp, v, ref);
  } else if (kind == KIND_DELTA) {
    delta(cp, pp, t, v);
    xLow = gXLow;
    xHigh = gXHigh;
  } else if (kind == KIND_RATE) {
    rate(cp, pp, t, v);
    xLow = gXLow;
    xHigh = gXHigh;
  } else {
    return 0; // OFF, or a score rule (scored through its links only)
  }
  const plain = classifyPlain(rp, xLow, xHigh);
  const flags = hdr >> 24;
  const level = (hdr >> 8) & 0xff;
  // With margin 0, or no level held, the alert's classification is the plain one.
  const raw = (flags & RULE_K_NO_MARGIN) != 0 || level == 0
    ? plain
    : classifyHeld(rp, xLow, xHigh, level, (hdr >> 16) & 0xff, <f64>load<f32>(pp, P_MARGIN));
  const x = codeDir(raw) == DIR_HIGH ? xHigh : xLow;
  if (flags & RULE_K_NO_PERSIST) stepDirect(rp, hdr, raw, t, x, reading);
  else step(rp, raw, t, x, reading, 0);
  return isNaN(xLow) && isNaN(xHigh) ? 0 : plain;
}
