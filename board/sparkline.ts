// The metric's recent history as a small SVG line with the limits in force drawn across it;
// points outside the limits take their triage colour. A sentence says the same for screen readers.
import { h, svg } from "./dom.js";
import { formatNumber, t } from "./i18n.js";

export interface SparkPoint {
  time: number;
  value: number;
  triage: string;
}

export interface SparkLimits {
  redLow?: number;
  yellowLow?: number;
  yellowHigh?: number;
  redHigh?: number;
}

const W = 600;
const H = 120;
const PAD = 6;

export function sparkline(points: readonly SparkPoint[], limits: SparkLimits | null, unit: string, from: number, to: number): HTMLElement {
  if (points.length === 0) return h("p", { class: "muted" }, t("sparklineEmpty"));
  const values = points.map((p) => p.value);
  const lines = Object.entries(limits ?? {}).filter((e): e is [keyof SparkLimits, number] => typeof e[1] === "number");
  const all = [...values, ...lines.map(([, v]) => v)];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
  // The axis starts at the first reading when the history is shorter than the window (a new sensor).
  from = Math.max(from, points[0].time);
  const span = Math.max(1, to - from);
  const x = (time: number) => PAD + ((time - from) / span) * (W - 2 * PAD);
  const y = (v: number) => H - PAD - ((v - lo) / (hi - lo)) * (H - 2 * PAD);
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const summary = t("sparklineSummary", { n: points.length, min: formatNumber(Math.min(...values)), max: formatNumber(Math.max(...values)), last: formatNumber(values.at(-1)!), unit });
  const chart = svg(
    "svg",
    { class: "spark", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
    ...lines.map(([name, v]) => svg("line", { class: `limit ${name.startsWith("red") ? "red" : "yellow"}`, x1: 0, x2: W, y1: y(v).toFixed(1), y2: y(v).toFixed(1) })),
    svg("path", { class: "line", d: path, "vector-effect": "non-scaling-stroke" }),
    ...points.map((p) => svg("circle", { class: `dot ${dotColour(p.triage)}`, cx: x(p.time).toFixed(1), cy: y(p.value).toFixed(1), r: 2.5 })),
  );
  return h("figure", { class: "sparkfig" }, chart, h("figcaption", { class: "muted" }, summary));
}

/** Triage codes (LL, L, N, H, HH, not_triaged, …) to a dot colour; normal readings stay neutral. */
function dotColour(triage: string): string {
  if (triage === "LL" || triage === "HH") return "red";
  if (triage === "L" || triage === "H") return "yellow";
  if (triage === "not_triaged" || triage === "reference_needed") return "grey";
  return "";
}
