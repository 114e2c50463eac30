// A real browser for end-to-end tests: Debian's Chromium, headless, driven by playwright-core,
// each browser with a fresh profile. Without the background-networking flags Chromium floods a
// closed network with refused connections. A failed test leaves screenshots in build/e2e/.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { onTestFinished } from "vitest";

export const CHROMIUM = process.env.VARSEL_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const SCREENSHOT_DIR = new URL("../../build/e2e/", import.meta.url).pathname;

/** Why there is no browser to test with (undefined: there is one). */
export function chromiumProblem(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set VARSEL_CHROMIUM)`;
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A browser with a fresh user-data dir (its own storage: another clinician's browser). */
export async function openBrowser(locale = "en-GB"): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "varsel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    locale,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * For one test: opens browsers, and when the test ends closes them, after saving a full-page
 * screenshot of each to build/e2e/<name>-<n>.png if it failed. Call it inside the test.
 */
export function testBrowsers(name: string): (locale?: string) => Promise<TestBrowser> {
  const opened: TestBrowser[] = [];
  onTestFinished(async ({ task }) => {
    if (task.result?.state === "fail") {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      for (const [i, b] of opened.entries()) {
        const path = join(SCREENSHOT_DIR, `${name}-${i + 1}.png`);
        await b.page.screenshot({ path, fullPage: true }).catch(() => undefined);
        console.error(`screenshot of the failed case: ${path}`);
      }
    }
    for (const b of opened) await b.close();
  });
  return async (locale) => {
    const b = await openBrowser(locale);
    opened.push(b);
    return b;
  };
}
