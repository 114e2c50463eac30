// The home gateway (or phone app) between the devices and varsel: it uploads each measurement
// seconds after it is taken, but loses its connection now and then (flaky ones every few days,
// others rarely) and then uploads the buffered hours in one go when it is back. Uploads keep
// the measurements' order, so a late upload is late for everyone, never out of order.
import type { Random } from "./random.js";
import { DAY, HOUR } from "./time.js";
import type { Measurement, SimPatient, Upload } from "./types.js";

export function* gateway(patient: SimPatient, measurements: Iterator<Measurement>, random: Random, from: number): Generator<Upload> {
  const meanGapMs = (patient.flakyGateway ? 2.5 : 25) * DAY;
  const nextOutage = (after: number) => {
    const start = after + -Math.log(1 - random.next()) * meanGapMs;
    return { start, end: start + random.between(2, 10) * HOUR };
  };
  let outage = nextOutage(from - random.between(0, 1) * meanGapMs);
  let last = from;
  for (let m = measurements.next(); !m.done; m = measurements.next()) {
    const { time } = m.value;
    while (time >= outage.end) outage = nextOutage(outage.end);
    const sent = time >= outage.start ? outage.end + random.between(5_000, 60_000) : time + random.between(2_000, 40_000);
    last = Math.max(last, Math.round(sent));
    yield { ...m.value, uploadAt: last };
  }
}
