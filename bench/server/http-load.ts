// HTTP ingest load in its own process: autocannon against POST /v1/measurements with a JSON
// batch body of `perRequest` readings (distinct patient × metric slots; no measurement ids, so
// idempotency is not involved). Bodies are cut from templates: template k covers a fixed set
// of slots and all its readings carry one time, max(Date.now(), the template's last time + 1),
// so times increase per slot and no reading is out_of_order.
// IPC config: HttpLoadConfig as JSON. IPC: → {type: "result", …} or {type: "error"}.
import { createRequire } from "node:module";
import { failChild, guardChild, receiveConfig, HOST, METRICS, patientId, rng, shuffle, VALUES } from "./common.js";

export interface HttpLoadConfig {
  port: number;
  token: string;
  patients: number;
  perRequest: number;
  connections: number;
  pipelining: number;
  warmupS: number;
  durationS: number;
  seed: number;
  oob: number;
  maxLifetimeMs: number;
}

guardChild(15 * 60_000); // until the configuration arrives (then its own limit)
const cfg = await receiveConfig<HttpLoadConfig>();
guardChild(cfg.maxLifetimeMs);

// autocannon ships no type declarations: the part used here.
interface AcRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (req: AcRequest) => AcRequest;
}
interface AcResult {
  "2xx": number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  latency: { p50: number; p99: number };
}
type Autocannon = (
  opts: { url: string; connections: number; pipelining: number; duration: number; timeout: number; requests: AcRequest[] },
  cb: (err: Error | null, res: AcResult) => void,
) => unknown;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const TIME = "\u0000T\u0000";

function templates(): string[][] {
  const rand = rng(cfg.seed);
  const slots: { p: number; m: number }[] = [];
  for (let p = 0; p < cfg.patients; p++) for (let m = 0; m < METRICS.length; m++) slots.push({ p, m });
  shuffle(slots, rand);
  const out: string[][] = [];
  for (let i = 0; i + cfg.perRequest <= slots.length; i += cfg.perRequest) {
    const readings = slots.slice(i, i + cfg.perRequest).map(({ p, m }) => {
      const v = VALUES[METRICS[m]];
      const u = rand();
      const range = u < cfg.oob ? (u < cfg.oob * 0.75 ? v.yellow : v.red) : v.inBand;
      const value = range[0] + Math.floor(rand() * (range[1] - range[0] + 1));
      return { patient: patientId(p), metric: METRICS[m], value, time: TIME };
    });
    out.push(JSON.stringify({ readings }).split(JSON.stringify(TIME)));
  }
  return out;
}

async function main(): Promise<void> {
  const parts = templates();
  const last = new Float64Array(parts.length);
  let k = 0;
  const body = (): string => {
    const i = k;
    k = k + 1 === parts.length ? 0 : k + 1;
    const now = Date.now();
    const t = now > last[i] ? now : last[i] + 1;
    last[i] = t;
    return parts[i].join(String(t));
  };
  const url = `http://${HOST}:${cfg.port}`;
  const headers = { "content-type": "application/json", authorization: `Bearer ${cfg.token}` };

  // One request by hand: every reading accepted and triaged (none out_of_order).
  const check = await fetch(`${url}/v1/measurements`, { method: "POST", headers, body: body() });
  const answer = (await check.json()) as { accepted?: number; rejected?: unknown[]; readings?: { triage: string }[] };
  if (check.status !== 200 || answer.accepted !== cfg.perRequest || answer.readings?.some((r) => r.triage === "out_of_order")) {
    throw new Error(`HTTP check request: status ${check.status}, ${JSON.stringify(answer).slice(0, 300)}`);
  }

  const run = (duration: number): Promise<AcResult> =>
    new Promise((resolve, reject) => {
      const instance = autocannon(
        {
          url,
          connections: cfg.connections,
          pipelining: cfg.pipelining,
          duration,
          timeout: 10,
          requests: [
            {
              method: "POST",
              path: "/v1/measurements",
              headers,
              setupRequest: (req: AcRequest) => {
                req.body = body();
                return req;
              },
            },
          ],
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      void instance;
    });

  if (cfg.warmupS > 0) await run(cfg.warmupS);
  process.send?.({ type: "measuring" });
  const cpu0 = process.cpuUsage();
  const res = await run(cfg.durationS);
  const cpu = process.cpuUsage(cpu0);
  const ok = res["2xx"];
  process.send?.({
    type: "result",
    rps: ok / res.duration,
    readingsPerS: (ok * cfg.perRequest) / res.duration,
    ok,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    durationS: res.duration,
    latencyP50: res.latency.p50,
    latencyP99: res.latency.p99,
    cpuMicros: cpu.user + cpu.system,
  });
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "stop") process.exit(0);
  });
}

main().catch(failChild);
