// `varsel check`: what `serve` would start with, checked without starting it and without changing
// anything: the configuration, the token keys (secret strength), the store (reachable, schema
// version), the wasm kernel and the transport. One line per item; exit code 1 when one fails.
import { existsSync } from "node:fs";
import { Command } from "commander";
import { createStore } from "../../engine/store/open-store.js";
import { SqliteStore } from "../../engine/store/sqlite.js";
import { packageFile } from "../../engine/package-root.js";
import { loadNativeUws } from "../transport/select.js";
import { storeLocation } from "./store.js";
import { addServerOptions, databaseUrl, DEFAULT_HOST, env, serverSettings, tokenKeys, type ServerOptionValues } from "./settings.js";

type Status = "ok" | "warn" | "fail";
interface Finding {
  status: Status;
  item: string;
  text: string;
}

/** Below this many bits of variety (Shannon entropy × length) a secret is called weak. */
const WEAK_SECRET_BITS = 128;

/** Bits of variety in a text: how unpredictable its characters are, times its length. */
export function secretBits(secret: string): number {
  const counts = new Map<string, number>();
  for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) perChar -= (n / secret.length) * Math.log2(n / secret.length);
  return Math.round(perChar * secret.length);
}

/** Runs `probe`; its error becomes a `fail` finding. */
async function attempt(item: string, probe: () => Promise<Omit<Finding, "item">> | Omit<Finding, "item">): Promise<Finding> {
  try {
    return { item, ...(await probe()) };
  } catch (err) {
    return { item, status: "fail", text: (err as Error).message };
  }
}

function configuration(opts: ServerOptionValues): Omit<Finding, "item"> {
  const s = serverSettings(opts);
  const local = s.host === DEFAULT_HOST ? " (this machine only; HOST=0.0.0.0 listens on every interface)" : "";
  return { status: "ok", text: `listens on ${s.host}:${s.port}${local}, transport ${s.transport ?? "ws"}, log level ${s.logLevel}` };
}

function keys(opts: ServerOptionValues): Omit<Finding, "item"> {
  const k = tokenKeys(opts.jwks);
  if (k.kind === "jwks") return { status: "ok", text: `tokens verified with the keys in ${k.file}` };
  if (k.kind === "dev") return { status: "warn", text: "DEV MODE: neither VARSEL_JWT_SECRET nor VARSEL_JWKS is set; tokens are signed with a generated development secret (not for patient data)" };
  const bits = secretBits(k.secret);
  return bits < WEAK_SECRET_BITS
    ? { status: "warn", text: `VARSEL_JWT_SECRET looks weak: about ${bits} bits of variety in ${k.secret.length} characters; make one with: openssl rand -base64 32` }
    : { status: "ok", text: `VARSEL_JWT_SECRET: ${k.secret.length} characters, about ${bits} bits of variety` };
}

async function store(opts: ServerOptionValues): Promise<Omit<Finding, "item">> {
  if (opts.memory) return { status: "ok", text: "none (--memory): nothing is kept" };
  const url = databaseUrl(opts.database);
  const where = storeLocation(url);
  const target = createStore(url);
  let inspected: { version: number | undefined; latest: number };
  try {
    inspected = target instanceof SqliteStore ? SqliteStore.inspect(target.path) : await target.inspect();
  } catch (err) {
    throw new Error(`${target.kind} ${where}: ${(err as Error).message}`);
  }
  const { version, latest } = inspected;
  if (version === undefined) return { status: "ok", text: `${target.kind} ${where} does not exist yet: the first start (or varsel migrate) creates it` };
  if (version > latest) return { status: "fail", text: `${target.kind} ${where}: schema at version ${version}, newer than this varsel knows (${latest}): upgrade varsel` };
  const pending = latest - version;
  return {
    status: "ok",
    text: `${target.kind} ${where} is reachable, schema at version ${version}${pending === 0 ? " (current)" : `; ${pending} migration(s) to apply: varsel migrate, or the next start`}`,
  };
}

function kernel(): Omit<Finding, "item"> {
  const file = packageFile("build/varsel.wasm");
  if (!existsSync(file)) return { status: "fail", text: `${file} is missing: run npm run build` };
  return { status: "ok", text: file };
}

function transport(opts: ServerOptionValues): Omit<Finding, "item"> {
  const wanted = opts.transport ?? env("VARSEL_TRANSPORT");
  if (wanted !== "uws") return { status: "ok", text: "node:http + ws (the default)" };
  try {
    loadNativeUws();
    return { status: "ok", text: "uWebSockets.js loads" };
  } catch (err) {
    return { status: "fail", text: `uWebSockets.js does not load (${(err as Error).message}); it was asked for` };
  }
}

export function checkCommand(): Command {
  return addServerOptions(new Command("check"))
    .description("check the configuration, the token keys, the store, the kernel and the transport without starting; exit code 1 when one fails")
    .action(async (opts: ServerOptionValues) => {
      const findings = [
        await attempt("configuration", () => configuration(opts)),
        await attempt("token keys", () => keys(opts)),
        await attempt("store", () => store(opts)),
        await attempt("kernel", kernel),
        await attempt("transport", () => transport(opts)),
      ];
      for (const f of findings) process.stdout.write(`${f.status.padEnd(4)} ${f.item}: ${f.text}\n`);
      if (findings.some((f) => f.status === "fail")) process.exitCode = 1;
    });
}
