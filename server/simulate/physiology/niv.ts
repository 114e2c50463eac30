// Home NIV: the ventilator uploads a summary of the night when the patient gets up: hours of use,
// unintentional leak, residual AHI, tidal volume, minute ventilation, the share of the night
// with SpO2 < 90 % and (where a transcutaneous monitor is used) tcCO2. Low-usage nights, leaky
// masks on some nights; a hypercapnic decline (the `deteriorates` ones) raises tcCO2 and
// night-time desaturation over days while use falls. The modem misses a night now and then.
import type { Random } from "../random.js";
import { atLocal } from "../time.js";
import type { Measurement, SimPatient, Window } from "../types.js";
import { episodeIn, severity } from "./episode.js";
import { clamp, daily, round } from "./schedule.js";

export function* niv(patient: SimPatient, random: Random, window: Window): Generator<Measurement> {
  const base = { usage: random.between(5.5, 9), leak: random.between(4, 18), ahi: random.between(0.8, 4), vt: random.between(350, 620), mv: random.between(5, 9), t90: random.between(0, 8) };
  const lowUseNights = random.between(0.03, 0.25);
  const leakyNights = random.chance(0.3) ? 0.35 : 0.03;
  const tcco2 = random.chance(0.4) || patient.deteriorates ? random.between(5.3, 6.2) : undefined;
  const episode = patient.deteriorates
    ? episodeIn(window, random, { early: 0.0, late: 0.4, rampDays: [1, 2.5], holdDays: [3, 5], recoverDays: 4 })
    : undefined;

  yield* daily(window, (midnight) => {
    const t = atLocal(midnight, random.normal(7, 0.6));
    const s = severity(episode, t);
    const lowUse = random.chance(lowUseNights + 0.3 * s);
    const leaky = random.chance(leakyNights);
    const usage = lowUse ? random.between(0.3, 3.8) : base.usage + random.normal(0, 0.6) - 2 * s;
    const leak = leaky ? random.between(25, 55) : base.leak + random.normal(0, 3);
    if (random.chance(0.04)) return []; // the modem missed this night
    const night: Measurement[] = [
      { metric: "niv_usage", value: round(clamp(usage, 0, 24), 1), time: t },
      { metric: "niv_leak", value: round(clamp(leak, 0, 200), 1), time: t },
      { metric: "niv_ahi", value: round(clamp(base.ahi + (leaky ? random.between(2, 9) : 0) + random.normal(0, 0.8) + 6 * s, 0, 150), 1), time: t },
      { metric: "niv_tidal_volume", value: round(clamp(base.vt * (leaky ? 0.85 : 1) + random.normal(0, 25) - 60 * s, 50, 2000)), time: t },
      { metric: "niv_minute_vent", value: round(clamp(base.mv + random.normal(0, 0.5) - 1.2 * s, 0.5, 40), 1), time: t },
      { metric: "spo2_t90", value: round(clamp(base.t90 + random.normal(0, 2) + (lowUse ? 8 : 0) + random.between(15, 35) * s, 0, 100), 1), time: t },
    ];
    if (tcco2 !== undefined) night.push({ metric: "tcco2", value: round(clamp(tcco2 + random.normal(0, 0.15) + (lowUse ? 0.4 : 0) + random.between(1.2, 2.2) * s, 2, 20), 1), time: t });
    return night;
  });
}
