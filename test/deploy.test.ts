// deploy/: the compose file is what Compose itself accepts (`docker compose config`, or Compose v1's
// `docker-compose config`), its mounts point at files that exist, Prometheus scrapes varsel under
// the job the rules expect and `promtool check config` accepts its configuration with the rules
// mounted as the container sees them, Grafana is provisioned with the dashboard and its data
// source, and the Dockerfile keeps its promises. No image is built or pulled: these machines have
// no Docker engine. Compose and promtool are skipped with a message where absent, unless
// VARSEL_REQUIRE_SERVICES=1 (CI installs both: .ci/run).
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { startServer } from "./support/server.js";
import { REQUIRE_SERVICES } from "./support/stores.js";

const ROOT = new URL("..", import.meta.url).pathname;
const DEPLOY = join(ROOT, "deploy");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const tmp = mkdtempSync(join(tmpdir(), "varsel-deploy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SECRETS = { POSTGRES_PASSWORD: "pg-secret", VARSEL_JWT_SECRET: "a-jwt-secret-of-at-least-32-characters", GRAFANA_ADMIN_PASSWORD: "grafana-secret" };
/** The environment without the compose file's variables, so that only what a test passes counts. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in SECRETS) && !/_PORT$|^LOG_LEVEL$|^COMPOSE_/.test(k)));

/** `docker compose` (v2 plugin) or `docker-compose` (v1 or v2 standalone), whichever answers. */
function findCompose(): string[] | undefined {
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), "version"], { encoding: "utf8" });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

function composeConfig(cmd: string[], env: Record<string, string>) {
  return spawnSync(cmd[0]!, [...cmd.slice(1), "-p", "varsel", "-f", join(DEPLOY, "compose.yaml"), "config"], { cwd: tmp, encoding: "utf8", env: { ...BASE_ENV, ...env } });
}

/** A volume's host side and container side, in the long or the short syntax. */
function mounts(service: { volumes?: (string | { source: string; target: string })[] }): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== "string") return { source: v.source, target: v.target };
    const [source, target] = v.split(":");
    return { source: source!, target: target! };
  });
}

describe("deploy/compose.yaml", () => {
  const compose = findCompose();
  if (compose === undefined && !REQUIRE_SERVICES) {
    it.skip("neither `docker compose` nor `docker-compose` is installed: skipped (apt-get install docker-compose; VARSEL_REQUIRE_SERVICES=1 fails instead)", () => {});
    return;
  }

  it("is valid for Compose, and names no default secret", () => {
    expect(compose, "docker compose or docker-compose is required (VARSEL_REQUIRE_SERVICES=1)").toBeDefined();
    const ok = composeConfig(compose!, SECRETS);
    expect(ok.stderr).not.toMatch(/error|invalid/i);
    expect(ok.status).toBe(0);
    for (const name of Object.keys(SECRETS)) {
      const without = composeConfig(compose!, Object.fromEntries(Object.entries(SECRETS).filter(([k]) => k !== name)));
      expect(without.status, `config without ${name}`).not.toBe(0);
      expect(without.stderr).toContain(name);
    }
  });

  it("runs varsel from the repository's Dockerfile on PostgreSQL, with Prometheus and Grafana, every mount an existing file", () => {
    const config = parse(composeConfig(compose!, SECRETS).stdout);
    const { varsel, postgres, prometheus, grafana } = config.services;
    expect(Object.keys(config.services).sort()).toEqual(["grafana", "postgres", "prometheus", "varsel"]);

    expect(varsel.build.context.replace(/\/$/, "")).toBe(ROOT.replace(/\/$/, ""));
    expect(existsSync(join(varsel.build.context, varsel.build.dockerfile))).toBe(true);
    expect(varsel.environment.VARSEL_DATABASE_URL).toMatch(/^postgres:\/\/varsel@postgres:5432\/varsel$/);
    expect(varsel.environment.PGPASSWORD).toBe(postgres.environment.POSTGRES_PASSWORD);
    expect(varsel.environment.VARSEL_JWT_SECRET).toBe(SECRETS.VARSEL_JWT_SECRET);
    expect(varsel.depends_on.postgres.condition).toBe("service_healthy");
    expect(postgres.healthcheck.test.join(" ")).toContain("pg_isready");

    for (const service of [varsel, prometheus, grafana]) {
      for (const port of service.ports) expect(String(typeof port === "string" ? port : port.host_ip)).toMatch(/^127\.0\.0\.1/);
    }
    for (const service of Object.values(config.services) as never[]) {
      for (const m of mounts(service)) if (m.source.startsWith("/")) expect(existsSync(m.source), m.source).toBe(true);
    }
    const source = (service: never, target: string) => mounts(service).find((m) => m.target === target)?.source;
    expect(source(prometheus as never, "/etc/prometheus/prometheus.yml")).toBe(join(DEPLOY, "prometheus/prometheus.yml"));
    expect(source(prometheus as never, "/etc/prometheus/rules/varsel.yml")).toBe(join(ROOT, "docs/ops/prometheus-rules.yml"));
    expect(source(grafana as never, "/etc/grafana/provisioning")).toBe(join(DEPLOY, "grafana/provisioning"));
    expect(source(grafana as never, "/etc/grafana/dashboards/varsel.json")).toBe(join(ROOT, "docs/ops/grafana-varsel.json"));
  });
});

describe("deploy/prometheus/prometheus.yml", () => {
  const prometheus = parse(read("deploy/prometheus/prometheus.yml"));

  it("scrapes varsel's /metrics under the job the rules expect, and loads the rules where compose mounts them", () => {
    const jobs = prometheus.scrape_configs.map((j: { job_name: string }) => j.job_name);
    expect(jobs).toEqual(["varsel"]);
    expect(read("docs/ops/prometheus-rules.yml")).toContain('job="varsel"');
    const [job] = prometheus.scrape_configs;
    expect(job.metrics_path ?? "/metrics").toBe("/metrics");
    expect(job.static_configs[0].targets).toEqual(["varsel:8080"]);
    expect(prometheus.rule_files).toEqual(["/etc/prometheus/rules/varsel.yml"]);
  });

  const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (promtool.error !== undefined && !REQUIRE_SERVICES) {
    it.skip("promtool is not installed: `promtool check config` skipped (apt-get install prometheus; VARSEL_REQUIRE_SERVICES=1 fails instead)", () => {});
    return;
  }

  it("passes `promtool check config`, rules included", () => {
    expect(promtool.error, "promtool is required (VARSEL_REQUIRE_SERVICES=1)").toBeUndefined();
    // The container path of the rules, as compose mounts them, becomes the repository's file.
    const file = join(tmp, "prometheus.yml");
    writeFileSync(file, read("deploy/prometheus/prometheus.yml").replace("/etc/prometheus/rules/varsel.yml", join(ROOT, "docs/ops/prometheus-rules.yml")));
    const check = spawnSync("promtool", ["check", "config", file], { encoding: "utf8" });
    const out = `${check.stdout}${check.stderr}`;
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    expect(check.status, out).toBe(0);
  });
});

describe("deploy/grafana/provisioning", () => {
  it("provides the compose Prometheus as the default data source, which the dashboard's datasource variable picks", () => {
    const { datasources } = parse(read("deploy/grafana/provisioning/datasources/prometheus.yml"));
    expect(datasources).toEqual([expect.objectContaining({ type: "prometheus", url: "http://prometheus:9090", isDefault: true })]);
    const dashboard = JSON.parse(read("docs/ops/grafana-varsel.json"));
    expect(dashboard.templating.list.find((v: { name: string }) => v.name === "datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
  });

  it("loads dashboards from the folder compose mounts the dashboard into", () => {
    const { providers } = parse(read("deploy/grafana/provisioning/dashboards/varsel.yml"));
    expect(providers).toEqual([expect.objectContaining({ type: "file", options: { path: "/etc/grafana/dashboards" } })]);
    expect(read("deploy/compose.yaml")).toContain("../docs/ops/grafana-varsel.json:/etc/grafana/dashboards/varsel.json:ro");
  });
});

describe("Dockerfile", () => {
  const lines = read("Dockerfile")
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  const stages = lines.reduce<string[][]>((acc, l) => (l.startsWith("FROM ") ? [...acc, [l]] : (acc.at(-1)?.push(l), acc)), []);
  const runtime = stages.at(-1)!;
  const find = (instruction: string) => runtime.filter((l) => l.startsWith(`${instruction} `));

  it("builds in one stage and runs in a slimmer one, as a user that is not root", () => {
    expect(stages.length).toBe(2);
    expect(stages[0]![0]).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm AS build$/);
    expect(runtime[0]).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim$/);
    expect(stages[0]!.join("\n")).toMatch(/npm ci .*\n[^]*npm run build/);
    expect(find("USER")).toEqual(["USER node"]);
    expect(runtime.findIndex((l) => l.startsWith("USER "))).toBeLessThan(runtime.findIndex((l) => l.startsWith("CMD ")));
  });

  it("listens on every interface, checks health on /readyz and runs node on the compiled server", () => {
    expect(find("ENV").join(" ")).toMatch(/\bHOST=0\.0\.0\.0\b/);
    const [healthcheck] = find("HEALTHCHECK");
    expect(healthcheck).toContain("/readyz");
    expect(JSON.parse(find("CMD")[0]!.slice(4))).toEqual(["node", "/app/dist/server/main.js", "serve"]);
  });

  it("has a HEALTHCHECK command that passes on a ready server and fails once it is gone", async () => {
    const [healthcheck] = find("HEALTHCHECK");
    const [node, ...args] = JSON.parse(healthcheck!.slice(healthcheck!.indexOf("CMD ") + 4)) as string[];
    expect(node).toBe("node");
    const probe = (port: number) =>
      new Promise<number>((resolve) => execFile(process.execPath, args, { env: { ...process.env, PORT: String(port) } }, (err) => resolve(err === null ? 0 : Number(err.code))));
    const h = await startServer("ws");
    const port = Number(new URL(h.base).port);
    try {
      expect(await probe(port)).toBe(0);
    } finally {
      await h.close();
    }
    expect(await probe(port)).toBe(1);
  });
});
