// TeleHjerte (heart failure): weight, blood pressure and pulse every morning after the toilet.
// Fluid retention makes the weight creep up (1.2–2 kg a day) for days before a decompensation,
// with a rising pulse; once treated (diuretics) the weight falls back fast. Some mornings are
// missed.
import type { Random } from "../random.js";
import { atLocal, MINUTE } from "../time.js";
import type { Measurement, SimPatient, Window } from "../types.js";
import { episodeIn, severity } from "./episode.js";
import { daily, round } from "./schedule.js";

export function* telehjerte(patient: SimPatient, random: Random, window: Window): Generator<Measurement> {
  const base = { weight: random.between(58, 112), sys: random.between(108, 145), dia: random.between(64, 88), pulse: random.between(58, 84) };
  // The retention may have begun before the window: the simulation catches it under way.
  const episode = patient.deteriorates
    ? episodeIn(window, random, { early: -0.5, late: 0.2, rampDays: [2.5, 4], holdDays: [0.5, 1.5], recoverDays: 2 })
    : undefined;
  const gainKg = episode === undefined ? 0 : (random.between(1.2, 2.0) * episode.rampMs) / 86_400_000;
  const adherence = random.between(0.88, 0.98);
  let drift = 0; // day-to-day variation that persists a little (diet, salt)

  yield* daily(window, (midnight) => {
    if (!random.chance(adherence)) return [];
    const t = atLocal(midnight, random.normal(7.5, 0.5));
    const s = severity(episode, t);
    drift = 0.6 * drift + random.normal(0, 0.2);
    return [
      { metric: "weight", value: round(base.weight + gainKg * s + drift + random.normal(0, 0.15), 1), time: t },
      { metric: "bp_sys", value: round(base.sys + 8 * s + random.normal(0, 7)), time: t + 3 * MINUTE },
      { metric: "bp_dia", value: round(base.dia + 4 * s + random.normal(0, 5)), time: t + 3 * MINUTE },
      { metric: "pulse", value: round(base.pulse + 22 * s + random.normal(0, 4)), time: t + 3 * MINUTE },
    ];
  });
}
