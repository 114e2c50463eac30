// The clinician's board (board/, bundled by `npm run build:board` into build/board/): its page
// at `/` and its assets at `/board/<file>`, with a strict Content-Security-Policy. Files are read
// per request, so a rebuild is served without a restart, and a missing build says how to make it.
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { VarselError } from "../../engine/errors.js";
import { packageFile } from "../../engine/package-root.js";
import type { HttpResponse } from "../transport/types.js";

/** build/board/ of the package, from the sources (tsx) and from dist/ (node) alike. */
export const BOARD_DIR = packageFile("build/board");

/**
 * Only our own script, style and socket; nothing inline, no framing, no plugins. `connect-src
 * 'self'` admits the same-origin WebSocket (CSP Level 3).
 */
export const BOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; font-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  "content-security-policy": BOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * Asset names the build writes: a name, a content hash, a known extension; no path, no dot file.
 * Bounded in length: a name past the file system's limit (ENAMETOOLONG) was a 500, not a 404.
 */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.(js|css|svg)$/;

/** The page: revalidated every time, so a new build (new asset hashes) is picked up at once. */
export async function boardPage(dir = BOARD_DIR): Promise<HttpResponse> {
  const body = await readBuilt(dir, "index.html");
  return { status: 200, headers: { ...SECURITY_HEADERS, "content-type": TYPES[".html"], "cache-control": "no-cache" }, body };
}

/** An asset: its name carries its content hash, so it never changes and may be cached for good. */
export async function boardAsset(file: string, dir = BOARD_DIR): Promise<HttpResponse> {
  if (!ASSET_NAME.test(file)) throw new VarselError("not_found", "no such file");
  const body = await readBuilt(dir, file);
  const type = TYPES[extname(file)];
  return { status: 200, headers: { ...SECURITY_HEADERS, "content-type": type, "cache-control": "public, max-age=31536000, immutable" }, body };
}

async function readBuilt(dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    throw new VarselError("not_found", file === "index.html" ? "the board is not built: run npm run build:board" : "no such file");
  }
}
