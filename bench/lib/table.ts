// Aligned plain-text tables for benchmark output.

export type Align = "l" | "r";

export function renderTable(header: string[], rows: string[][], align: Align[] = []): string {
  const cols = header.length;
  const width = new Array<number>(cols).fill(0);
  for (const r of [header, ...rows]) for (let c = 0; c < cols; c++) width[c] = Math.max(width[c], len(r[c] ?? ""));
  const line = (r: string[]): string =>
    r
      .map((cell, c) => {
        const pad = " ".repeat(width[c] - len(cell ?? ""));
        return (align[c] ?? "l") === "r" ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  const rule = width.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

// Display length (the tables use only BMP characters that take one column each).
function len(s: string): number {
  return [...s].length;
}
