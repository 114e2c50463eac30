// TeleKOL (COPD): a morning session (many also one in the evening) with pulse oximeter,
// respiratory rate and thermometer. An exacerbation builds over half a day to a day and a half: SpO2 falls
// while pulse, respiratory rate and temperature rise; ill patients are asked to measure at
// midday too. Some sessions are simply missed.
import type { Random } from "../random.js";
import { atLocal, MINUTE } from "../time.js";
import type { Measurement, SimPatient, Window } from "../types.js";
import { episodeIn, severity } from "./episode.js";
import { clamp, daily, round } from "./schedule.js";

export function* telekol(patient: SimPatient, random: Random, window: Window): Generator<Measurement> {
  const base = { spo2: random.between(92.5, 96.5), pulse: random.between(66, 88), resp: random.between(14, 19), temp: random.between(36.4, 37.0) };
  const episode = patient.deteriorates
    ? episodeIn(window, random, { early: 0, late: 0.35, rampDays: [0.5, 1.5], holdDays: [2, 4], recoverDays: 4 })
    : undefined;
  const effect = { spo2: random.between(6, 10), pulse: random.between(18, 32), resp: random.between(6, 11), temp: random.between(1.0, 2.0) };
  const evening = random.chance(0.5);
  const adherence = random.between(0.85, 0.98);

  const session = (t: number): Measurement[] => {
    const s = severity(episode, t);
    return [
      { metric: "spo2", value: clamp(round(base.spo2 - effect.spo2 * s + random.normal(0, 0.8)), 70, 100), time: t },
      { metric: "pulse", value: round(base.pulse + effect.pulse * s + random.normal(0, 4)), time: t },
      { metric: "resp_rate", value: clamp(round(base.resp + effect.resp * s + random.normal(0, 1.2)), 6, 50), time: t + MINUTE },
      { metric: "temp", value: round(base.temp + effect.temp * s + random.normal(0, 0.15), 1), time: t + 2 * MINUTE },
    ];
  };

  yield* daily(window, (midnight) => {
    const times = [atLocal(midnight, random.normal(8.5, 0.6))];
    if (evening) times.push(atLocal(midnight, random.normal(19, 0.7)));
    const midday = atLocal(midnight, random.normal(13, 0.5));
    if (severity(episode, midday) > 0.3) times.push(midday);
    return times.filter(() => random.chance(adherence)).flatMap(session);
  });
}
