// Keeps docs/ops honest: every metric the Grafana dashboard and the Prometheus rules query is one
// a real server exposes at GET /metrics (with the labels they select on), the dashboard is
// importable in shape and never paints a plain rate green, every rule is complete, and nothing
// in either file mentions patients.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../engine/store/open-store.js";
import { registerPatient, startServer, type Harness } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

const read = (path: string) => readFileSync(new URL(`../docs/ops/${path}`, import.meta.url), "utf8");
const dashboardText = read("grafana-varsel.json");
const rulesText = read("prometheus-rules.yml");
const dashboard = JSON.parse(dashboardText);
const rules = parse(rulesText);

/** Labels Prometheus adds at scrape time, and the histogram bucket label. */
const SCRAPE_LABELS = new Set(["job", "instance", "le"]);
/** Words of PromQL that look like metric names but are not. */
const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"]);

/** Removes string literals, Grafana variables and everything in {...} and [...]. */
function strip(expr: string): string {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\$\{\w+\}|\$\w+/g, "");
}

/** The label lists of `by (...)` / `without (...)` / `on (...)` / `ignoring (...)` / `group_*(...)`. */
function groupingLabels(expr: string): string[] {
  const lists = [...strip(expr).matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/gi)].map((m) => m[1]);
  return lists.flatMap((l) => l.split(",").map((s) => s.trim()).filter(Boolean));
}

/** Metric names an expression selects: identifiers that are neither functions, keywords, label lists nor numbers. */
function metricNames(expr: string): string[] {
  const bare = strip(expr).replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, "");
  const names = [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((m) => m[1]);
  return [...new Set(names.filter((n) => !KEYWORDS.has(n.toLowerCase())))];
}

/** Each selector `name{label op "value", ...}` in an expression, with the label names it matches on. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...noStrings.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)].map((m) => ({
    name: m[1],
    labels: [...m[2].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]),
  }));
}

/** The metric a Grafana `label_values(selector, label)` variable query reads; none for `label_values(label)`. */
function variableMetrics(query: string): string[] {
  const m = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query);
  return m ? metricNames(m[1]) : [];
}

interface Scrape {
  /** Family name → type, from the `# TYPE` lines. */
  types: Map<string, string>;
  /** Sample name (e.g. `x_bucket`) → label names seen on its samples. */
  samples: Map<string, Set<string>>;
}

function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line === "" || line.startsWith("#")) continue;
    const sample = /^([^\s{]+)(?:\{([^}]*)\})?/.exec(line)!;
    const labels = samples.get(sample[1]) ?? new Set<string>();
    for (const l of (sample[2] ?? "").matchAll(/([a-zA-Z_]\w*)="/g)) labels.add(l[1]);
    samples.set(sample[1], labels);
  }
  return { types, samples };
}

/** Why `name` is not a series the scrape has, or undefined when it is. */
function missing(scrape: Scrape, name: string): string | undefined {
  if (name === "up") return undefined; // Prometheus's own, per target
  const suffixed = /^(.+)_(bucket|sum|count)$/.exec(name);
  const familyType = suffixed ? scrape.types.get(suffixed[1]) : undefined;
  if (suffixed && (familyType === "histogram" || (familyType === "summary" && suffixed[2] !== "bucket"))) {
    return scrape.samples.has(name) ? undefined : `${name}: the ${familyType} ${suffixed[1]} has no ${suffixed[2]} series`;
  }
  const type = scrape.types.get(name);
  if (type === "histogram" || type === "summary") return `${name} is a ${type}: query ${name}_bucket, _sum or _count`;
  if (type === undefined) return `${name} is not exposed at /metrics`;
  return scrape.samples.has(name) ? undefined : `${name} is declared but has no series`;
}

const panels: any[] = dashboard.panels.filter((p: any) => p.type !== "row");
const targets: { panel: string; expr: string; legendFormat?: string }[] = panels.flatMap((p) =>
  (p.targets ?? []).map((t: any) => ({ panel: p.title, expr: t.expr, legendFormat: t.legendFormat })),
);
const variables: any[] = dashboard.templating?.list ?? [];
const queryVariables = variables.filter((v) => v.type === "query");
const ruleList: any[] = (rules?.groups ?? []).flatMap((g: any) => g.rules ?? []);

/** Every PromQL expression in both files, with where it comes from. */
const expressions: { where: string; expr: string }[] = [
  ...targets.map((t) => ({ where: `panel "${t.panel}"`, expr: t.expr })),
  ...ruleList.map((r) => ({ where: `rule ${r.alert}`, expr: String(r.expr) })),
];

describe("the metric-name extraction itself", () => {
  it("finds selected metrics and skips functions, keywords, labels, strings, ranges and numbers", () => {
    expect(metricNames('histogram_quantile(0.99, sum by (instance, le) (rate(a_seconds_bucket{job=~"$job", code="x_total"}[$__rate_interval])))')).toEqual(["a_seconds_bucket"]);
    expect(metricNames("sum(rate(b_total[1h] offset 15m)) / on (job) group_left c > 1e3 and d_bytes or sum(up) * 0")).toEqual(["b_total", "c", "d_bytes", "up"]);
    expect(metricNames("time() - process_start_time_seconds{instance=~\"$instance\"}")).toEqual(["process_start_time_seconds"]);
    expect(variableMetrics('label_values(varsel_ws_subscriptions{job=~"$job"}, instance)')).toEqual(["varsel_ws_subscriptions"]);
    expect(selectors('rate(x_total{code=~"a|b", job="j"}[5m])')).toEqual([{ name: "x_total", labels: ["code", "job"] }]);
  });
});

describe("docs/ops against a real scrape", () => {
  let h: Harness;
  let scrape: Scrape;
  const storeDir = mkdtempSync(join(tmpdir(), "varsel-ops-"));
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    // On a store, as in production: the durability series (commits, snapshots, recovery) exist.
    h = await startServer("uws", {}, { store: await openStore(`sqlite:${join(storeDir, "varsel.db")}`) });
    await registerPatient(h, "ops-1", "team-ops");
    // A subscribed clinician socket: clients by role, subscriptions, pushed events.
    const clinician = await TestSocket.connect(h.wsUrl, await h.token("clinician", ["team-ops"]));
    sockets.push(clinician);
    clinician.send({ type: "subscribe", id: "s1" });
    await clinician.next((f) => f.type === "snapshot");
    // One reading that raises an alert and one that is rejected; one request refused.
    const device = await h.token("device", ["team-ops"]);
    const time = new Date(h.clock.now()).toISOString();
    const res = await h.http("POST", "/v1/measurements", {
      token: device,
      body: [
        { id: "ops-m1", metric: "bp_sys", value: 190, time, patient: "ops-1" },
        { metric: "shoe_size", value: 42, time, patient: "ops-1" },
      ],
    });
    expect(res.body).toMatchObject({ accepted: 1, rejected: [{ index: 1, code: "unknown_metric" }] });
    await clinician.next((f) => f.type === "event" && f.event.type === "raised");
    expect((await h.http("POST", "/v1/measurements", { body: [] })).status).toBe(401);

    const metrics = await h.http("GET", "/metrics");
    expect(metrics.status).toBe(200);
    scrape = parseScrape(metrics.body as string);
  });
  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await h?.close();
    rmSync(storeDir, { recursive: true, force: true });
  });

  it("exposes every metric the dashboard's panels and variables query", () => {
    const names = new Set([...targets.flatMap((t) => metricNames(t.expr)), ...queryVariables.flatMap((v) => variableMetrics(queryOf(v)))]);
    // The extraction found the histograms through their _bucket series, and the process metrics.
    expect([...names]).toEqual(expect.arrayContaining(["varsel_kernel_batch_duration_seconds_bucket", "varsel_ingest_to_push_seconds_bucket", "nodejs_eventloop_lag_p99_seconds", "process_resident_memory_bytes"]));
    expect([...names].map((n) => missing(scrape, n)).filter(Boolean)).toEqual([]);
  });

  it("exposes every metric the alerting rules query", () => {
    const names = new Set(ruleList.flatMap((r) => metricNames(String(r.expr))));
    expect(names.size).toBeGreaterThan(4);
    expect([...names].map((n) => missing(scrape, n)).filter(Boolean)).toEqual([]);
  });

  it("selects and groups only on labels the metrics carry (besides job, instance and le)", () => {
    const problems: string[] = [];
    for (const { where, expr } of expressions) {
      const names = metricNames(expr).filter((n) => n !== "up");
      const carried = new Set(names.flatMap((n) => [...(scrape.samples.get(n) ?? [])]));
      for (const s of selectors(expr)) {
        if (s.name === "up") continue;
        for (const l of s.labels) if (!SCRAPE_LABELS.has(l) && !scrape.samples.get(s.name)?.has(l)) problems.push(`${where}: ${s.name} has no label ${l}`);
      }
      for (const l of groupingLabels(expr)) if (!SCRAPE_LABELS.has(l) && !carried.has(l)) problems.push(`${where}: no queried metric has the label ${l}`);
    }
    expect(problems).toEqual([]);
  });

  it("shows every varsel_ metric the server exports somewhere on the dashboard", () => {
    const shown = new Set(targets.flatMap((t) => metricNames(t.expr)).map((n) => (scrape.types.has(n) ? n : n.replace(/_(bucket|sum|count)$/, ""))));
    const exported = [...scrape.types.keys()].filter((n) => n.startsWith("varsel_"));
    expect(exported.length).toBeGreaterThan(5);
    expect(exported.filter((n) => !shown.has(n))).toEqual([]);
  });
});

function queryOf(variable: any): string {
  return typeof variable.query === "string" ? variable.query : String(variable.query?.query ?? variable.definition ?? "");
}

describe("the Grafana dashboard", () => {
  it("is an importable dashboard on a ${datasource} Prometheus variable", () => {
    expect(typeof dashboard.title).toBe("string");
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(variables).toContainEqual(expect.objectContaining({ name: "datasource", type: "datasource", query: "prometheus" }));
    expect(dashboard.panels.filter((p: any) => p.type === "row").map((p: any) => p.title)).toEqual(
      expect.arrayContaining(["Ingest", "Evaluation & delivery", "Clients", "Process"]),
    );
    expect(panels.length).toBeGreaterThan(10);
  });

  it("gives every panel PromQL targets on that data source", () => {
    for (const p of panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      for (const t of p.targets) {
        expect(typeof t.expr === "string" && t.expr.trim().length > 0, `${p.title} ${t.refId}`).toBe(true);
        expect(t.datasource?.uid, p.title).toBe("${datasource}");
      }
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it("never shows a metric as green: explicit neutral thresholds, no green, no classic palette", () => {
    expect(dashboardText).not.toMatch(/green|palette-classic|#73BF69|#7EB26D/i);
    for (const p of panels) {
      const steps = p.fieldConfig?.defaults?.thresholds?.steps;
      expect(Array.isArray(steps) && steps.length > 0, p.title).toBe(true);
      expect(p.fieldConfig.defaults.color?.mode, p.title).toBeDefined();
    }
  });
});

describe("the Prometheus rules", () => {
  it("are groups of complete alerting rules", () => {
    expect(Array.isArray(rules.groups) && rules.groups.length > 0).toBe(true);
    expect(ruleList.length).toBeGreaterThan(4);
    for (const g of rules.groups) expect(typeof g.name).toBe("string");
    for (const r of ruleList) {
      expect(typeof r.alert === "string" && /^\w+$/.test(r.alert), JSON.stringify(r)).toBe(true);
      expect(String(r.expr ?? "").trim().length, r.alert).toBeGreaterThan(0);
      expect(String(r.for ?? ""), r.alert).toMatch(/^(\d+[smhdwy])+$/);
      expect(["critical", "warning", "info"], r.alert).toContain(r.labels?.severity);
      expect(String(r.annotations?.summary ?? "").trim().length, r.alert).toBeGreaterThan(0);
      expect(String(r.annotations?.description ?? "").trim().length, r.alert).toBeGreaterThan(0);
    }
    expect(new Set(ruleList.map((r) => r.alert)).size).toBe(ruleList.length);
  });
});

describe("no patient anywhere", () => {
  it("no expression, legend, label or annotation mentions a patient", () => {
    const texts = [
      ...expressions.map((e) => [e.where, e.expr]),
      ...targets.map((t) => [`legend of "${t.panel}"`, t.legendFormat ?? ""]),
      ...queryVariables.map((v) => [`variable ${v.name}`, queryOf(v)]),
      ...ruleList.flatMap((r) => [
        ...Object.entries(r.labels ?? {}).map(([k, v]) => [`labels of ${r.alert}`, `${k}=${v}`]),
        ...Object.entries(r.annotations ?? {}).map(([k, v]) => [`annotations of ${r.alert}`, `${k}=${v}`]),
      ]),
    ];
    expect(texts.filter(([, text]) => /patient/i.test(text))).toEqual([]);
    expect(dashboardText).not.toMatch(/patient/i);
    expect(rulesText).not.toMatch(/patient/i);
  });
});
