// `npm run build:board` (and prestart / pretest): bundles the board with esbuild into
// build/board/: app-<hash>.js, app-<hash>.css, icon-<hash>.svg and the index.html naming them.
// Hashed names let the server cache assets for good and revalidate only the page.
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const BOARD_OUT = join(ROOT, "build/board");

/** Builds the board into `outdir`; resolves the files written (names only). */
export async function buildBoard(outdir = BOARD_OUT): Promise<string[]> {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: "board/main.ts", style: "board/board.css" },
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    minify: true,
    legalComments: "none",
    entryNames: "[name]-[hash]",
    outdir,
    metafile: true,
    logLevel: "warning",
  });
  const outputs = Object.entries(result.metafile.outputs);
  const outputOf = (entry: string): string => {
    const found = outputs.find(([, o]) => o.entryPoint === entry);
    if (found === undefined) throw new Error(`esbuild wrote nothing for ${entry}`);
    return basename(found[0]);
  };
  const icon = await readFile(join(ROOT, "board/icon.svg"));
  const iconName = `icon-${createHash("sha256").update(icon).digest("hex").slice(0, 8)}.svg`;
  await writeFile(join(outdir, iconName), icon);
  const page = (await readFile(join(ROOT, "board/index.html"), "utf8"))
    .replace("%APP_JS%", `/board/${outputOf("board/main.ts")}`)
    .replace("%APP_CSS%", `/board/${outputOf("board/board.css")}`)
    .replace("%ICON%", `/board/${iconName}`);
  await writeFile(join(outdir, "index.html"), page);
  return [outputOf("board/main.ts"), outputOf("board/board.css"), iconName, "index.html"];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const files = await buildBoard();
  process.stdout.write(`board built in ${Math.round(performance.now() - started)} ms: build/board/{${files.join(",")}}\n`);
}
