// `npm run build:board` (and prestart / pretest): bundles the board with esbuild into
// build/board/: app-<hash>.js, style-<hash>.css, icon-<hash>.svg and the index.html naming them.
// Hashed names let the server cache assets for good and revalidate only the page.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const BOARD_OUT = join(ROOT, "build/board");

/**
 * Builds the board into `outdir`; resolves the files written (names only). Every file is
 * written whole and renamed into place, and old files are removed only after the new page
 * names the new ones: a server reading the folder meanwhile (a test that builds while another
 * one serves) never sees a missing or half-written file.
 */
export async function buildBoard(outdir = BOARD_OUT): Promise<string[]> {
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
    write: false,
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
  const files = new Map<string, Uint8Array | string>(result.outputFiles.map((f) => [basename(f.path), f.contents]));
  files.set(iconName, icon);
  for (const [name, contents] of files) await writeWhole(join(outdir, name), contents);
  const page = (await readFile(join(ROOT, "board/index.html"), "utf8"))
    .replace("%APP_JS%", `/board/${outputOf("board/main.ts")}`)
    .replace("%APP_CSS%", `/board/${outputOf("board/board.css")}`)
    .replace("%ICON%", `/board/${iconName}`);
  await writeWhole(join(outdir, "index.html"), page);
  const written = [outputOf("board/main.ts"), outputOf("board/board.css"), iconName, "index.html"];
  for (const old of await readdir(outdir)) if (!written.includes(old) && !old.includes(".tmp-")) await rm(join(outdir, old), { force: true });
  return written;
}

/** Writes a temporary file beside `path` and renames it over `path` (atomic on one file system). */
async function writeWhole(path: string, contents: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, contents);
  await rename(tmp, path);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const files = await buildBoard();
  process.stdout.write(`board built in ${Math.round(performance.now() - started)} ms: build/board/{${files.join(",")}}\n`);
}
