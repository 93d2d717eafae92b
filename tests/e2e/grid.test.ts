// The image grid with thousands of images: only what is near the viewport is in the page, rows are
// fetched as they scroll into view, and the last image is reachable.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectDatabase } from '../../electron/db/database.js';
import { ImageStore } from '../../electron/db/imageStore.js';
import { RunStore } from '../../electron/db/runStore.js';
import { writeDemoDataset } from '../../resources/demo/writeDataset.js';
import {
  closeBrowserSession,
  ensureUiBuilt,
  openBrowserSession,
  screenshot,
  type BrowserSession,
  type ServeProcess,
} from './harness.js';

const imageCount = 5000;
const side = 128;

/** A project of `imageCount` images (hard links to a few drawn birds) with predictions for each. */
async function bigProject(root: string): Promise<string> {
  const birds = await writeDemoDataset(path.join(root, 'birds'), 8, { size: side, seed: 11 });
  const folder = path.join(root, 'many');
  fs.mkdirSync(folder);
  const file = path.join(root, 'many.skp');
  const db = createProjectDatabase(file);
  try {
    const images = Array.from({ length: imageCount }, (_, i) => {
      const link = path.join(folder, `img_${String(i).padStart(4, '0')}.png`);
      fs.linkSync(birds.images[i % birds.images.length]!, link);
      const sha256 = crypto.createHash('sha256').update(String(i)).digest('hex');
      return { file: link, width: side, height: side, format: 'png' as const, bytes: 1, sha256, orientation: 1 };
    });
    const ids = db.write(() => new ImageStore(db).insert(images));
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: {} });
    runs.setStatus(run.id, 'done');
    const indices = runs.chooseIndices(run.id, [1, 2, 3, 4, 5]);
    runs.writePredictions(
      run.id,
      ids.flatMap((imageId, i) => {
        const truth = birds.coco.annotations[i % birds.images.length]!.keypoints;
        // Every tenth image has a doubtful point.
        return indices.map((index, k) => ({
          imageId,
          indexId: index.id,
          x: truth[3 * k]!,
          y: truth[3 * k + 1]!,
          visibility: 2 as const,
          score: i % 10 === 0 && k === 2 ? 0.2 : 0.9,
        }));
      }),
    );
  } finally {
    db.close();
  }
  return file;
}

describe('the image grid with thousands of images', () => {
  let root: string;
  let session: BrowserSession;
  let serve: ServeProcess;
  let page: Page;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-grid-'));
    const [, file] = await Promise.all([ensureUiBuilt(), bigProject(root)]);
    session = await openBrowserSession(root, ['--open', file]);
    ({ serve, page } = session);
  });

  afterAll(() => closeBrowserSession(session, root));

  const cells = () => page.getByTestId('image-grid').getByRole('button');

  it('keeps only the visible part of the grid in the page while scrolling to the end', async () => {
    await page.goto(serve.openUrl);
    await page.getByText(`${imageCount} images`, { exact: true }).waitFor();
    await cells().first().waitFor();
    const first = await cells().count();
    expect(first).toBeGreaterThan(20);
    expect(first).toBeLessThan(150);

    await page.getByTestId('image-grid').evaluate((grid) => grid.scrollTo(0, grid.scrollHeight / 2));
    await page.getByText('img_2500.png').waitFor();
    await page.getByTestId('image-grid').evaluate((grid) => grid.scrollTo(0, grid.scrollHeight));
    await page.getByText(`img_${imageCount - 1}.png`).waitFor();
    expect(await cells().count()).toBeLessThan(150);
    await page.waitForTimeout(300);
    await screenshot(page, '30-grid-5000-end');
  });

  it('filters to the images with a low score', async () => {
    await page.getByLabel('low score').check();
    await page.getByText(`${imageCount / 10} images`, { exact: true }).waitFor();
    await page.waitForTimeout(300);
    await screenshot(page, '31-grid-low-score');
  });

  it('opens the image clicked while the list is being fetched again', async () => {
    // The server's answers to the new list are held back: the grid still shows the old rows,
    // and a click on one opens that image (it used to empty the cells until the answer came).
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/api/call/images.list', async (route) => {
      await held;
      await route.continue();
    });
    try {
      await page.getByLabel('low score').uncheck();
      const first = cells().first();
      const file = await first.getAttribute('title');
      await first.click({ timeout: 5000 });
      await page.locator('[data-testid="image-canvas"][data-image-loaded="true"]').waitFor();
      expect(await page.locator('.image-view .name').textContent()).toBe(file);
    } finally {
      release();
      await page.unrouteAll({ behavior: 'wait' });
    }
    await page.getByRole('button', { name: '← Grid' }).click();
    await page.getByText(`${imageCount} images`, { exact: true }).waitFor();
  });

  it('fetches again the first page and those in view, not every page down to the cursor', async () => {
    await page.keyboard.press('End');
    await page.getByText(`img_${imageCount - 1}.png`).waitFor();
    const offsets = new Set<number>();
    const listed = (request: Request) => {
      if (!request.url().endsWith('/api/call/images.list')) return;
      const input = JSON.parse(request.postData() ?? '{}') as { offset?: number };
      if (input.offset !== undefined) offsets.add(input.offset);
    };
    page.on('request', listed);
    await page.getByLabel('Order').selectOption('path');
    await expect.poll(() => offsets.has(0)).toBe(true);
    await page.getByText(`img_${imageCount - 1}.png`).waitFor();
    await page.waitForTimeout(500);
    page.off('request', listed);
    // The first page, the last (the cursor's and the view's), and at most the one before it in
    // view: not the forty pages before the cursor.
    expect(offsets.size).toBeLessThanOrEqual(3);
  });
});
