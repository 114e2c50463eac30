// WCAG AA for the board's palette, computed from board/board.css itself: every text colour on
// its background reaches 4.5:1, and lines, borders and focus rings that carry meaning reach 3:1
// (WCAG 2.1, 1.4.3 and 1.4.11). And nothing in the palette is green: an untriaged or quiet
// patient must never look like an all-clear.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const css = readFileSync(new URL("../board/board.css", import.meta.url), "utf8");
const root = /:root\s*{([^}]*)}/.exec(css)?.[1] ?? "";
const palette = Object.fromEntries([...root.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;/g)].map(([, name, hex]) => [name, hex]));

function channel(c: number): number {
  const s = c / 255;
  return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}

/** WCAG relative luminance of #rrggbb. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => channel(parseInt(hex.slice(i, i + 2), 16)));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

function colour(name: string): string {
  const hex = palette[name];
  if (hex === undefined) throw new Error(`board.css has no --${name}`);
  return hex;
}

describe("board palette (board/board.css)", () => {
  it("the formula is WCAG's: black on white is 21:1, a colour on itself 1:1", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#767676", "#ffffff")).toBeCloseTo(4.54, 2);
    expect(contrast("#b3261e", "#b3261e")).toBe(1);
  });

  // Every --X-fg is text on --X-bg (chips, header, banner, errors, the selected row).
  const pairs = Object.keys(palette)
    .filter((n) => n.endsWith("-fg") && palette[n.replace(/-fg$/, "-bg")] !== undefined)
    .map((fg) => [fg, fg.replace(/-fg$/, "-bg")] as const);
  // Text that sits on other backgrounds.
  const textOn: (readonly [string, string])[] = [
    ["muted-fg", "page-bg"],
    ["muted-fg", "panel-bg"],
    ["muted-fg", "selected-bg"],
    ["page-fg", "panel-bg"],
    ["accent-bg", "panel-bg"], // secondary buttons: accent text on white
    ["accent-bg", "accent-fg"], // the chosen language: inverted
    ["error-fg", "panel-bg"],
    ["past-fg", "panel-bg"],
    ["past-fg", "selected-bg"],
  ];
  // Lines and outlines that carry meaning: the colour stripes, limits, the chart, borders, focus.
  const graphics: (readonly [string, string])[] = [
    ...["red-line", "yellow-line", "blue-line", "grey-line", "past-line", "spark-line", "border", "focus"].flatMap((g) => [[g, "panel-bg"] as const, [g, "page-bg"] as const]),
    ["red-line", "selected-bg"],
    ["yellow-line", "selected-bg"],
    ["blue-line", "selected-bg"],
    ["grey-line", "selected-bg"],
    ["past-line", "selected-bg"],
  ];

  it("finds the colour pairs in the stylesheet", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(9);
    expect(pairs.map(([fg]) => fg)).toEqual(expect.arrayContaining(["red-fg", "yellow-fg", "blue-fg", "grey-fg", "past-fg", "again-fg", "banner-fg", "accent-fg"]));
  });

  it.each([...pairs, ...textOn])("text %s on %s is at least 4.5:1", (fg, bg) => {
    const ratio = contrast(colour(fg), colour(bg));
    expect(ratio).toBeGreaterThanOrEqual(4.5);
  });

  it.each(graphics)("graphic %s on %s is at least 3:1", (fg, bg) => {
    expect(contrast(colour(fg), colour(bg))).toBeGreaterThanOrEqual(3);
  });

  it("has no green: no colour whose hue is green and that is not grey", () => {
    for (const [name, hex] of Object.entries(palette)) {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
      const max = Math.max(r, g, b);
      const min = Math.min(r, g, b);
      const saturation = max === 0 ? 0 : (max - min) / max;
      const greenish = g === max && saturation > 0.15 && g - Math.max(r, b) > 0.08;
      expect(greenish, `--${name} ${hex} looks green`).toBe(false);
    }
  });
});
