// Picks the transport: node:http + ws by default; uWebSockets.js when asked for.
//
// ws is the default because no registry build of uWebSockets.js loads on Node 22/24 with glibc
// 2.36, and the measured gain is small (README, Choices). VARSEL_TRANSPORT=uws|ws forces one (a
// forced uws that cannot load is an error, not a silent fallback). Otherwise `preferred` (default
// "ws") is used, and a preferred uws whose native load fails falls back to ws, logged once per
// process with the reason.
//
// The binary is required directly (binaries/uws_<platform>_<arch>_<abi>.node) rather than
// through the package's entry point: the installed build (@trufflesuite/uws-js-unofficial)
// falls back on its own to a JavaScript emulation, printing to the console, when the binary
// does not load — we want to know, and to fall back to our own tested ws transport instead.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pino, type Logger } from "pino";
import { createNodeTransport } from "./node.js";
import type { Transport, TransportKind, TransportOptions } from "./types.js";
import { createUwsTransport, type UwsModule } from "./uws.js";

export const TRANSPORT_ENV = "VARSEL_TRANSPORT";

/** Loads the native uWebSockets.js binding or throws why it cannot. */
export function loadNativeUws(): UwsModule {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve("uWebSockets.js/package.json"));
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  // binaries/ in the trufflesuite build, the package root in upstream uWebSockets.js.
  const candidates = [path.join(pkgDir, "binaries", name), path.join(pkgDir, name)];
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) throw new Error(`uWebSockets.js has no native binary ${name} (looked in ${pkgDir})`);
  const mod = require(file) as UwsModule;
  if (typeof mod.App !== "function" || typeof mod.us_socket_local_port !== "function" || typeof mod.us_listen_socket_close !== "function") {
    throw new Error(`${file} does not look like the uWebSockets.js native binding`);
  }
  return mod;
}

type LoadResult = { ok: true; mod: UwsModule } | { ok: false; error: unknown };

/** Chooses and builds transports; caches the native load and logs a fallback once. */
export class TransportSelector {
  private loaded: LoadResult | undefined;
  private warned = false;

  constructor(
    private readonly load: () => UwsModule | Promise<UwsModule> = loadNativeUws,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private async uws(): Promise<LoadResult> {
    if (this.loaded === undefined) {
      try {
        this.loaded = { ok: true, mod: await this.load() };
      } catch (error) {
        this.loaded = { ok: false, error };
      }
    }
    return this.loaded;
  }

  async create(options: TransportOptions, preferred: TransportKind = "ws"): Promise<Transport> {
    const logger: Logger = options.logger ?? pino({ enabled: false });
    const forced = this.env[TRANSPORT_ENV];
    if (forced !== undefined && forced !== "") {
      if (forced !== "uws" && forced !== "ws") throw new Error(`${TRANSPORT_ENV} must be "uws" or "ws", got ${JSON.stringify(forced)}`);
      if (forced === "ws") return createNodeTransport(options);
      const r = await this.uws();
      if (!r.ok) throw new Error(`${TRANSPORT_ENV}=uws but uWebSockets.js does not load: ${String(r.error)}`, { cause: r.error });
      return createUwsTransport(r.mod, options);
    }
    if (preferred === "ws") return createNodeTransport(options);
    const r = await this.uws();
    if (r.ok) return createUwsTransport(r.mod, options);
    if (!this.warned) {
      this.warned = true;
      logger.warn({ err: r.error }, "uWebSockets.js native binary does not load; using the node:http + ws transport");
    }
    return createNodeTransport(options);
  }
}

const defaultSelector = new TransportSelector();

/**
 * The transport to serve with: see the file comment. The logger of `options` gets the one-time
 * fallback warning.
 */
export function createTransport(options: TransportOptions, preferred?: TransportKind): Promise<Transport> {
  return defaultSelector.create(options, preferred);
}
