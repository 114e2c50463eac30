// The metric's recent history as a small SVG line with the limits in force drawn across it;
// points outside the limits take their triage colour. Axes name the value range (lowest and
// highest value drawn, limits included) and the time span. A sentence says the same for screen readers.
import { h, svg } from "./dom.js";
import { formatNumber, formatTime, t } from "./i18n.js";

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

/** The value range and the time span drawn: every reading and limit, from the first reading when the history is shorter. */
export interface SparkScale {
  lo: number;
  hi: number;
  from: number;
  to: number;
}

export function sparkScale(points: readonly SparkPoint[], limits: SparkLimits | null, from: number, to: number): SparkScale {
  const all = [...points.map((p) => p.value), ...limitLines(limits).map(([, v]) => v)];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
  // The axis starts at the first reading when the history is shorter than the window (a new sensor).
  return { lo, hi, from: Math.max(from, points[0]?.time ?? from), to };
}

/** The axes' labels: top and bottom of the value axis, start and end of the time axis. */
export function axisLabels(scale: SparkScale, unit: string): { top: string; bottom: string; from: string; to: string } {
  const value = (v: number) => t("sparkAxisValue", { value: formatNumber(v), unit }).trim();
  return { top: value(scale.hi), bottom: value(scale.lo), from: formatTime(scale.from), to: formatTime(scale.to) };
}

function limitLines(limits: SparkLimits | null): [keyof SparkLimits, number][] {
  return Object.entries(limits ?? {}).filter((e): e is [keyof SparkLimits, number] => typeof e[1] === "number");
}

export function sparkline(points: readonly SparkPoint[], limits: SparkLimits | null, unit: string, from: number, to: number): HTMLElement {
  if (points.length === 0) return h("p", { class: "muted" }, t("sparklineEmpty"));
  const values = points.map((p) => p.value);
  const lines = limitLines(limits);
  const scale = sparkScale(points, limits, from, to);
  const { lo, hi } = scale;
  const span = Math.max(1, scale.to - scale.from);
  const x = (time: number) => PAD + ((time - scale.from) / span) * (W - 2 * PAD);
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
  // Axis labels are HTML beside the SVG (text in a stretched viewBox would be distorted); the chart's sentence already says them.
  const labels = axisLabels(scale, unit);
  const axes = h(
    "div",
    { class: "spark-axes" },
    h("div", { class: "spark-y", "aria-hidden": "true" }, h("span", { class: "spark-max" }, labels.top), h("span", { class: "spark-min" }, labels.bottom)),
    chart,
    h("div", { class: "spark-x" }, h("span", { class: "spark-from" }, labels.from), h("span", { class: "spark-to" }, labels.to)),
  );
  return h("figure", { class: "sparkfig" }, axes, h("figcaption", { class: "muted" }, summary));
}

/** Triage codes (LL, L, N, H, HH, not_triaged, …) to a dot colour; normal readings stay neutral. */
function dotColour(triage: string): string {
  if (triage === "LL" || triage === "HH") return "red";
  if (triage === "L" || triage === "H") return "yellow";
  if (triage === "not_triaged" || triage === "reference_needed") return "grey";
  return "";
}
