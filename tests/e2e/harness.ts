// What the browser tests need: the UI built, `skp serve` running as a real process, Debian's
// Chromium driven by Playwright, and screenshots kept in test-artifacts/ for a person to look at.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServe, type ServeProcess } from '../support/serveProcess.js';

export type { ServeProcess };

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const artifactsFolder = path.join(repoRoot, 'test-artifacts', 'e2e');
const uiFolder = path.join(repoRoot, 'dist', 'renderer');
const chromiumPath = '/usr/bin/chromium';

function newestChange(folder: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function uiIsFresh(): boolean {
  const index = path.join(uiFolder, 'index.html');
  const sources = Math.max(
    newestChange(path.join(repoRoot, 'renderer')),
    newestChange(path.join(repoRoot, 'electron', 'common')),
    fs.statSync(path.join(repoRoot, 'vite.config.ts')).mtimeMs,
  );
  return fs.existsSync(index) && fs.statSync(index).mtimeMs > sources;
}

/** Test files run in parallel workers: one builds while the others wait, then find it fresh. */
async function underBuildLock(work: () => Promise<void>): Promise<void> {
  const lock = path.join(repoRoot, 'dist', '.renderer-build.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx'));
      break;
    } catch {
      // A lock older than any build is left over from a killed run.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) fs.rmSync(lock, { force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    await work();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Builds dist/renderer unless it is newer than every source it is built from (a build takes seconds). */
export async function ensureUiBuilt(): Promise<void> {
  if (uiIsFresh()) return;
  await underBuildLock(async () => {
    if (uiIsFresh()) return;
    const { build } = await import('vite');
    await build({
      configFile: path.join(repoRoot, 'vite.config.ts'),
      root: path.join(repoRoot, 'renderer'),
      logLevel: 'error',
    });
  });
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Debian's Chromium is missing at ${chromiumPath}: install it with \`apt-get install -y chromium\``);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Collects what the page reports as broken: uncaught errors and CSP refusals. */
export function watchPageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  return problems;
}

/** `skp serve` allowed into a test's folder, its settings kept there too (away from the user's). */
export function serveFolder(root: string, args: string[] = []): Promise<ServeProcess> {
  return startServe(['--allow', root, ...args], path.join(root, 'config'));
}

export interface BrowserSession {
  serve: ServeProcess;
  browser: Browser;
  page: Page;
  /** What the page reported as broken (see watchPageProblems). */
  problems: string[];
}

/** `serveFolder(root, serveArgs)` and a Chromium page of a laptop's size, watched for problems. */
export async function openBrowserSession(root: string, serveArgs: string[] = []): Promise<BrowserSession> {
  const serve = await serveFolder(root, serveArgs);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    // A context of its own, so that a test can open a second tab that shares the first one's storage.
    const context = await browser.newContext({ viewport: { width: 1400, height: 880 } });
    const page = await context.newPage();
    // CI shares 2 cores between these tests, the engine tests' ONNX Runtime threads (which spin
    // while they wait) and Chromium: a page can stall for tens of seconds there. Waits stay
    // waits for a state, only with more room than Playwright's 30 s.
    page.setDefaultTimeout(90_000);
    return { serve, browser, page, problems: watchPageProblems(page) };
  } catch (error) {
    await browser?.close();
    await serve.stop();
    throw error;
  }
}

/** Stops what openBrowserSession started (nothing, if it failed) and deletes the test's folder. */
export async function closeBrowserSession(session: BrowserSession | undefined, root: string): Promise<void> {
  await session?.browser.close();
  await session?.serve.stop();
  fs.rmSync(root, { recursive: true, force: true });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsFolder, { recursive: true });
  const file = path.join(artifactsFolder, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
