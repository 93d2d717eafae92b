// Where training and keypoints compute, chosen in the training panel: this machine, GPUs of this
// machine, or workers on a Redis server. A choice is checked in the page and again by the app,
// kept in the project file (never with a password), shown after a reload, and used by the next
// job the panel starts.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../electron/services/container.js';
import { listGpus } from '../../electron/services/distributed/gpus.js';
import { TINY, writeModel, writeProject } from '../support/jobFixtures.js';
import { closeBrowserSession, ensureUiBuilt, openBrowserSession, screenshot, type BrowserSession } from './harness.js';

/** Nothing listens on port 1: a job that reaches for this server fails at once, naming it. */
const NOBODY = 'redis://127.0.0.1:1';

/** The project's saved choice, read from the file itself (undefined: never saved). */
function savedInFile(projectFile: string): unknown {
  const sql = new Database(projectFile, { readonly: true });
  try {
    const row = sql.prepare("SELECT value FROM settings WHERE key = 'workers'").get() as { value: string } | undefined;
    return row && JSON.parse(row.value);
  } finally {
    sql.close();
  }
}

/** Types into a field and leaves it, as a user does: its change is committed then. */
async function commit(page: Page, selector: string, text: string): Promise<void> {
  await page.fill(selector, text);
  await page.locator(selector).blur();
}

describe('the training panel chooses where jobs compute', () => {
  let root: string;
  let project: string;
  let session: BrowserSession;
  let page: Page;
  const saved = () => page.getByTestId('workers-saved').textContent();
  const error = () => page.getByTestId('workers-error');

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-workers-'));
    const model = writeModel(root);
    project = await writeProject(root, 4);
    const services = createServices();
    try {
      await services.project.open(project);
      await services.project.setModel({ name: 'tiny', path: model });
    } finally {
      services.dispose();
    }
    await ensureUiBuilt();
    session = await openBrowserSession(root);
    page = session.page;
  });

  afterAll(() => closeBrowserSession(session, root));

  it('starts on this machine; a Redis URL is checked, kept in the project without a password, and shown after a reload', async () => {
    await page.goto(session.serve.openUrl);
    await page.fill('#open-file', project);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByText('4 images ·').waitFor();
    await page.getByRole('button', { name: 'Training', exact: true }).click();
    expect(await saved()).toBe('Training and keypoints compute on this machine.');
    expect(await page.getByLabel('This machine', { exact: true }).isChecked()).toBe(true);

    await page.getByLabel('Workers on Redis').check();
    await page.locator('#workers-redis').waitFor();
    expect(await error().count(), 'an error before anything was typed').toBe(0);

    await commit(page, '#workers-redis', 'queue.lab:6379');
    await error().waitFor();
    expect(await error().textContent()).toBe(
      'The Redis server must be a URL such as redis://host:6379 (rediss:// for TLS), not "queue.lab:6379"',
    );
    await commit(page, '#workers-redis', 'redis://:s3cret@queue.lab:6379');
    await expect.poll(() => error().textContent()).toContain('The project file would keep this password');
    expect(await saved()).toBe('Training and keypoints compute on this machine.');
    expect(savedInFile(project)).toBeUndefined();

    await commit(page, '#workers-redis', NOBODY);
    await expect.poll(saved).toBe(`Training and keypoints compute on the workers on ${NOBODY}.`);
    expect(await error().count()).toBe(0);
    expect(savedInFile(project)).toEqual({ redis: NOBODY });
    await screenshot(page, '60-workers-redis');

    await page.reload();
    await page.getByRole('button', { name: 'Training', exact: true }).click();
    await expect.poll(saved).toBe(`Training and keypoints compute on the workers on ${NOBODY}.`);
    expect(await page.getByLabel('Workers on Redis').isChecked()).toBe(true);
    expect(await page.inputValue('#workers-redis')).toBe(NOBODY);
  });

  it('GPUs of this machine: a list that is not one is refused in the page, GPUs the machine lacks by the app', async () => {
    let gpus: number[] = [];
    let why = '';
    try {
      gpus = listGpus().map((gpu) => gpu.index);
    } catch (e) {
      why = (e as Error).message;
    }
    await page.getByLabel('GPUs of this machine').check();
    if (gpus.length === 0) {
      // "all" is asked for at once; with no GPU here the app says why, and keeps the saved choice.
      await expect.poll(() => error().textContent()).toContain(why);
      expect(why).toMatch(/^no NVIDIA GPU was found: /);
      expect(await saved()).toBe(`Training and keypoints compute on the workers on ${NOBODY}.`);
    } else {
      await commit(page, '#workers-gpus', String(Math.max(...gpus) + 1));
      await expect.poll(() => error().textContent()).toContain(`GPU ${Math.max(...gpus) + 1} does not exist`);
    }
    await commit(page, '#workers-gpus', '0,x');
    await expect
      .poll(() => error().textContent())
      .toBe('GPUs must be "all" or GPU numbers separated by commas such as 0,1, not "0,x"');
    expect(savedInFile(project)).toEqual({ redis: NOBODY });
    await screenshot(page, '61-workers-gpus');
  });

  it('training started from the panel runs on the saved workers; "This machine" is saved as such', async () => {
    await page.reload();
    await page.getByRole('button', { name: 'Training', exact: true }).click();
    await page.getByText(/^Advanced settings/).click();
    for (const [key, value] of Object.entries({ ...TINY, steps: 2 })) {
      await page.fill(`#setting-${key}`, String(value));
    }
    await page.getByRole('button', { name: 'Start training' }).click();
    // The job reached for the saved server, which is not there: it says so, naming it.
    await page.getByText(`Redis at ${NOBODY}: connect ECONNREFUSED`).first().waitFor({ timeout: 60_000 });
    await screenshot(page, '62-workers-job-failed');

    await page.getByLabel('This machine', { exact: true }).check();
    await expect.poll(saved).toBe('Training and keypoints compute on this machine.');
    expect(savedInFile(project)).toBeNull();
    expect(session.problems).toEqual([]);
  });
});
