// Reading param sets back out of kernel memory, so a restored kernel rebuilds its dedup map.
import {
  P_DEADLINE_MS,
  P_ENROLMENT_DAY,
  P_EVERY_N_DAYS,
  P_FOR_MS,
  P_GRACE_MS,
  P_HORIZON_MS,
  P_KEEP_MS,
  P_M,
  P_MARGIN,
  P_MIN_COUNT,
  P_MODE,
  P_N,
  P_WEEKDAYS,
  P_WINDOW_MS,
  PARAM_BYTES,
} from "../../assembly/layout.js";
import type { ParamSet } from "../evaluator.js";
import type { Views } from "./views.js";

/** The `count` param records at address `at`, in id order. */
export function readParamSets(views: Views, at: number, count: number): ParamSet[] {
  const { u8, f32, f64 } = views.fresh();
  const out: ParamSet[] = [];
  for (let id = 0; id < count; id++) {
    const p = at + id * PARAM_BYTES;
    const d = (off: number) => f64[(p + off) >>> 3];
    out.push({
      forMs: d(P_FOR_MS),
      keepMs: d(P_KEEP_MS),
      windowMs: d(P_WINDOW_MS),
      horizonMs: d(P_HORIZON_MS),
      deadlineMs: d(P_DEADLINE_MS),
      graceMs: d(P_GRACE_MS),
      margin: f32[(p + P_MARGIN) >>> 2],
      n: u8[p + P_N],
      m: u8[p + P_M],
      mode: u8[p + P_MODE],
      minCount: u8[p + P_MIN_COUNT],
      weekdays: u8[p + P_WEEKDAYS],
      everyNDays: u8[p + P_EVERY_N_DAYS],
      enrolmentDay: u8[p + P_ENROLMENT_DAY],
    });
  }
  return out;
}
