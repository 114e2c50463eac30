// CGM (diabetes): a sensor value every 5 minutes. Meals raise glucose (peak about an hour
// later); the bolus insulin that goes with them acts more slowly and is sometimes too much, too
// little or forgotten; the dawn phenomenon lifts the early morning. Hypoglycaemia-prone patients
// (the `deteriorates` ones) fall low on most nights around 03:00. Sensors drop out (signal loss,
// a compression at night) for 20–90 minutes now and then, and read 2.2–22.2 mmol/L.
import type { Random } from "../random.js";
import { atLocal, DAY, HOUR, localMidnight, MINUTE } from "../time.js";
import type { Measurement, SimPatient, Window } from "../types.js";
import { clamp, round } from "./schedule.js";

const EVERY = 5 * MINUTE;

/** A bump of height `size` peaking `peakMin` minutes after `at` (u·e^(1−u): a meal, or insulin's action). */
interface Bump {
  at: number;
  size: number;
  peakMin: number;
}

function bump(b: Bump, t: number): number {
  const u = (t - b.at) / (b.peakMin * MINUTE);
  return u <= 0 ? 0 : b.size * u * Math.exp(1 - u);
}

export function* cgm(patient: SimPatient, random: Random, window: Window): Generator<Measurement> {
  const base = random.between(5.5, 8.0);
  const bolusBias = random.normal(1.0, 0.1);
  const lowNights = patient.deteriorates ? 0.8 : 0.05;
  let bumps: Bump[] = [];
  let dropout = { from: 0, to: 0 };
  let day = Number.NaN;
  let noise = 0;

  const planDay = (midnight: number) => {
    bumps = bumps.filter((b) => b.at > midnight - 12 * HOUR);
    const meals = [random.normal(7.5, 0.4), random.normal(12, 0.4), random.normal(18.5, 0.6)];
    if (random.chance(0.4)) meals.push(random.normal(15.5, 0.5));
    for (const hour of meals) {
      const at = atLocal(midnight, hour);
      const size = random.between(3, 7);
      bumps.push({ at, size, peakMin: 60 });
      // The bolus: its action integrates to the meal's when the dose is right (k = 1).
      const k = random.chance(0.05) ? 0 : Math.max(0, random.normal(bolusBias, 0.2));
      bumps.push({ at: at + random.normal(0, 10) * MINUTE, size: (-k * size * 60) / 90, peakMin: 90 });
    }
    if (random.chance(lowNights)) {
      // Basal insulin too strong for tonight: down to 2.3–3.4 mmol/L around 03:00.
      const depth = base - random.between(2.3, 3.4);
      bumps.push({ at: atLocal(midnight, random.normal(3, 0.5)) - 2 * HOUR, size: -Math.max(0, depth), peakMin: 120 });
    } else if (random.chance(0.3)) {
      bumps.push({ at: atLocal(midnight, 1), size: -random.between(0.5, 1.5), peakMin: 120 });
    }
    dropout = random.chance(0.5) ? dropoutIn(midnight, random) : { from: 0, to: 0 };
  };

  for (let t = window.from + Math.floor(random.between(0, EVERY)); ; t += EVERY) {
    const midnight = localMidnight(t);
    if (midnight !== day) {
      day = midnight;
      planDay(midnight);
    }
    noise = 0.8 * noise + random.normal(0, 0.2);
    if (t >= dropout.from && t < dropout.to) continue;
    const hour = (t - midnight) / HOUR;
    const dawn = hour > 4 && hour < 9 ? 0.8 * Math.sin(((hour - 4) / 5) * Math.PI) : 0;
    let g = base + dawn + noise;
    for (const b of bumps) g += bump(b, t);
    yield { metric: "cgm", value: round(clamp(g, 2.2, 22.2), 1), time: t };
  }
}

function dropoutIn(midnight: number, random: Random): { from: number; to: number } {
  const from = midnight + random.between(0, DAY);
  return { from, to: from + random.between(20, 90) * MINUTE };
}
