// Files of the package itself (build/varsel.wasm, package.json), found from the sources
// (engine/, run by tsx) and from the compiled output (dist/engine/, run by node) alike: the
// nearest folder above this file that holds a package.json.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** The package's root folder. */
export const PACKAGE_ROOT = findRoot();

/** A path inside the package, e.g. `packageFile("build/varsel.wasm")`. */
export function packageFile(relative: string): string {
  return join(PACKAGE_ROOT, relative);
}
