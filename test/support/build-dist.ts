// vitest globalSetup: compiles the server to dist/ once, before any test file runs, as `npm run
// build` does (tests that start `npm start` or the `varsel` command run the compiled output;
// one build here, instead of one per test file racing another file's server start).
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  const root = new URL("../..", import.meta.url).pathname;
  const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${tsc.stdout}${tsc.stderr}`);
}
