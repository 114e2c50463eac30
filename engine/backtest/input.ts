// An uploaded file of readings for a backtest: NDJSON (one reading per line), a JSON array of
// readings, CSV (a header naming the reading fields), or a FHIR Bundle / Observation. Every item
// is validated exactly as ingest validates it (engine/ingest/canonical.ts); refused items are
// reported with their catalogued code and do not stop the others.
import { VarselError } from "../errors.js";
import { canonicalFhir, canonicalReadings, type CanonicalBatch, type CanonicalReading } from "../ingest/canonical.js";

export type InputFormat = "ndjson" | "json" | "csv" | "fhir";

/** The reading fields a CSV header may name (others are ignored). */
const CSV_FIELDS = new Set(["patient", "metric", "value", "unit", "time", "id", "device"]);

/** Detects the format from the text's first non-blank character and header. */
export function detectFormat(text: string): InputFormat {
  const start = text.trimStart();
  if (start.startsWith("[")) return "json";
  if (start.startsWith("{")) {
    const firstLine = start.split("\n", 1)[0];
    try {
      const doc = JSON.parse(firstLine) as { resourceType?: unknown };
      return typeof doc.resourceType === "string" ? "fhir" : "ndjson";
    } catch {
      return "fhir"; // a pretty-printed document spans lines: only FHIR is a single document
    }
  }
  return "csv";
}

/** Validates a file's readings at `now`; the readings come back in time order (ties in file order). */
export function parseReadingsFile(text: string, now: number, format: InputFormat = detectFormat(text)): CanonicalBatch {
  let batch: CanonicalBatch;
  switch (format) {
    case "fhir":
      batch = canonicalFhir(parseJson(text), now);
      break;
    case "json": {
      const doc = parseJson(text);
      if (!Array.isArray(doc)) throw new VarselError("invalid_body", "a JSON file of readings must be an array");
      batch = canonicalReadings(doc, now);
      break;
    }
    case "ndjson":
      batch = canonicalReadings(ndjsonItems(text), now);
      break;
    case "csv":
      batch = canonicalReadings(csvItems(text), now);
      break;
  }
  batch.readings = inTimeOrder(batch.readings);
  return batch;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new VarselError("invalid_body", "the file is not valid JSON");
  }
}

/** One item per non-blank line; a line that is not JSON becomes an item the validator refuses. */
function ndjsonItems(text: string): unknown[] {
  const items: unknown[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      items.push(JSON.parse(line));
    } catch {
      items.push(null);
    }
  }
  return items;
}

/**
 * CSV (RFC 4180: comma separated, fields may be double-quoted with "" for a quote). The header
 * names the fields; a time of digits only is epoch ms. Hand-written: 30 lines against a
 * dependency for a format this small.
 */
function csvItems(text: string): unknown[] {
  const rows = csvRows(text);
  if (rows.length === 0) return [];
  const header = rows[0].map((h) => h.trim().toLowerCase());
  if (!header.includes("patient") || !header.includes("metric") || !header.includes("value") || !header.includes("time")) {
    throw new VarselError("invalid_body", "a CSV file needs a header with patient, metric, value and time");
  }
  return rows.slice(1).map((row) => {
    const item: Record<string, unknown> = {};
    header.forEach((h, i) => {
      if (!CSV_FIELDS.has(h) || row[i] === undefined || row[i] === "") return;
      item[h] = h === "time" && /^\d+$/.test(row[i]) ? Number(row[i]) : row[i];
    });
    return item;
  });
}

function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') field += text[++i];
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      if (row.some((f) => f !== "")) rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f !== "")) rows.push(row);
  return rows;
}

function inTimeOrder(readings: CanonicalReading[]): CanonicalReading[] {
  return readings.map((r, i) => ({ r, i })).sort((a, b) => a.r.time - b.r.time || a.i - b.i).map((x) => x.r);
}
