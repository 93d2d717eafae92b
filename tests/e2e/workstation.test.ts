// The workstation in a real browser (Debian's Chromium) against a real `skp serve` process and a
// real project made here: the user's path from an image folder to a COCO file with their corrections,
// and what happens when the server or an image file goes away.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoDataset, type DemoDataset } from '../../resources/demo/writeDataset.js';
import { openProjectDatabase } from '../../electron/db/database.js';
import {
  closeBrowserSession,
  ensureUiBuilt,
  openBrowserSession,
  screenshot,
  serveFolder,
  type BrowserSession,
} from './harness.js';
import { seedTrainedRun, type SeededRun } from './seed.js';

interface Placement {
  scale: number;
  offsetX: number;
  offsetY: number;
}

/** Where image pixel (x, y) is on screen, from the placement the canvas publishes. */
async function screenPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const canvas = page.getByTestId('image-canvas');
  const box = (await canvas.boundingBox())!;
  const p = JSON.parse((await canvas.getAttribute('data-placement'))!) as Placement;
  return { x: box.x + p.offsetX + x * p.scale, y: box.y + p.offsetY + y * p.scale };
}

async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }): Promise<void> {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps: 6 });
  await page.mouse.up();
}

/** The hand-corrected point of `imageName`'s part that the run's index at `position` stands for, read from the project file. */
function correctionIn(projectFile: string, imageName: string, position: number) {
  const db = openProjectDatabase(projectFile);
  try {
    return db.sql
      .prepare(
        `SELECT c.x, c.y, c.visibility FROM corrections c JOIN images i ON i.id = c.image_id
         JOIN indices n ON n.part_id = c.part_id
         WHERE i.path LIKE ? AND n.position = ?`,
      )
      .get(`%${imageName}`, position) as { x: number; y: number; visibility: number } | undefined;
  } finally {
    db.close();
  }
}

describe('the workstation in Chromium against skp serve', () => {
  let root: string;
  let birds: string;
  let projectFile: string;
  let dataset: DemoDataset;
  let seeded: SeededRun;
  let session: BrowserSession;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-'));
    birds = path.join(root, 'birds');
    projectFile = path.join(birds, 'birds.skp');
    const [, data] = await Promise.all([ensureUiBuilt(), writeDemoDataset(birds, 12, { size: 256, seed: 7 })]);
    dataset = data;
    session = await openBrowserSession(root);
    ({ page, problems } = session);
  });

  afterAll(() => closeBrowserSession(session, root));

  it('creates a project from an image folder', async () => {
    await page.goto(session.serve.openUrl);
    await page.getByRole('heading', { name: 'Create a project' }).waitFor();
    await screenshot(page, '01-start');
    await page.fill('#create-images', birds);
    expect(await page.inputValue('#create-file')).toBe(projectFile);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByText('12 images ·').waitFor();
    expect(fs.existsSync(projectFile)).toBe(true);
  });

  it('shows the predicted keypoints in the grid and the image view', async () => {
    seeded = seedTrainedRun(projectFile, dataset, 5);
    await page.reload();
    await page.getByText('5 parts').waitFor();
    const thumbnails = page.getByTestId('image-grid').getByRole('button');
    await thumbnails.first().waitFor();
    expect(await thumbnails.count()).toBe(12);
    await page.waitForTimeout(300);
    await screenshot(page, '02-grid');

    await thumbnails.first().click();
    await page.getByTestId('image-canvas').waitFor();
    await expect.poll(() => page.locator('[data-index-id]').count()).toBe(5);
    await page.waitForTimeout(300);
    await screenshot(page, '03-image-view');
  });

  it('corrects a point by dragging, with undo and redo', async () => {
    const name = 'bird_0000.png';
    const before = seeded.predicted.get(name)![0]!;
    const target = { x: before.x + 14, y: before.y - 9 };
    await drag(page, await screenPoint(page, before.x, before.y), await screenPoint(page, target.x, target.y));
    const firstRow = page.locator('button[data-index-id]').first();
    await expect.poll(() => firstRow.textContent()).toContain('corrected');
    await expect.poll(() => correctionIn(projectFile, name, 0)).toBeTruthy();
    const saved = correctionIn(projectFile, name, 0)!;
    expect(saved.x).toBeCloseTo(target.x, 0);
    expect(saved.y).toBeCloseTo(target.y, 0);
    expect(saved.visibility).toBe(2);

    await page.keyboard.press('Control+z');
    await expect.poll(() => correctionIn(projectFile, name, 0)).toBeUndefined();
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(() => correctionIn(projectFile, name, 0)?.x).toBeCloseTo(target.x, 0);
    await page.waitForTimeout(200);
    await screenshot(page, '04-corrected');
  });

  it('renames a part', async () => {
    await page.getByRole('button', { name: 'Parts', exact: true }).click();
    const nameField = page.getByLabel('Name of part 1');
    await nameField.fill('beak');
    await nameField.press('Enter');
    await expect.poll(() => page.getByLabel('Name of part 1').getAttribute('placeholder')).toBe('beak');
    await page.getByLabel('Link from').selectOption({ label: 'beak' });
    await page.getByLabel('Link to').selectOption({ index: 1 });
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await page.getByText('beak — keypoint_2').waitFor();
    await screenshot(page, '05-parts');
  });

  it('exports COCO keypoints that hold the correction and the name', async () => {
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await page.getByRole('button', { name: 'Export', exact: true }).last().click();
    const result = page.getByTestId('export-result');
    await result.waitFor();
    await screenshot(page, '06-export');
    const file = (await result.locator('.mono').textContent())!.trim();
    expect(path.dirname(file)).toBe(birds);
    const coco = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      images: { id: number; file_name: string }[];
      annotations: { image_id: number; keypoints: number[]; keypoint_sources?: string[] }[];
      categories: { keypoints: string[]; skeleton: number[][] }[];
    };
    expect(coco.categories[0]!.keypoints[0]).toBe('beak');
    expect(coco.categories[0]!.skeleton).toContainEqual([1, 2]);
    const image = coco.images.find((i) => i.file_name.endsWith('bird_0000.png'))!;
    const annotation = coco.annotations.find((a) => a.image_id === image.id)!;
    const corrected = correctionIn(projectFile, 'bird_0000.png', 0)!;
    expect(annotation.keypoints[0]).toBeCloseTo(corrected.x, 1);
    expect(annotation.keypoints[1]).toBeCloseTo(corrected.y, 1);
    expect(annotation.keypoints[2]).toBe(2);
    expect(annotation.keypoint_sources?.[0]).toBe('corrected');

    // The same keypoints as a CSV table: the suggested name follows the format.
    await page.getByLabel('Format').selectOption('csv');
    expect(await page.inputValue('#export-file')).toBe(file.replace(/\.json$/, '.csv'));
    await page.getByRole('button', { name: 'Export', exact: true }).last().click();
    await expect.poll(() => result.textContent()).toContain('rows');
    await screenshot(page, '06-export-csv');
    const rows = fs
      .readFileSync(file.replace(/\.json$/, '.csv'), 'utf8')
      .trimEnd()
      .split('\r\n');
    expect(rows[0]).toBe('image,image_id,category,part,part_order,x,y,visibility,source,score');
    const beak = rows.find((r) => r.includes('bird_0000.png') && r.split(',')[3] === 'beak')!.split(',');
    expect(Number(beak[5])).toBeCloseTo(corrected.x, 1);
    expect(Number(beak[6])).toBeCloseTo(corrected.y, 1);
    expect(beak.slice(7, 9)).toEqual(['2', 'corrected']);
  });

  it('keeps a correction made while the server restarts, and says what happened', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByTestId('image-grid').getByRole('button').nth(1).click();
    await page.getByText('bird_0001.png').first().waitFor();
    await session.serve.stop();
    // The banner; the open image's panel may say it too, in its own words (a CI run saw both at once).
    await page.getByRole('status').filter({ hasText: 'The server cannot be reached' }).waitFor();

    const before = seeded.predicted.get('bird_0001.png')![1]!;
    const target = { x: before.x - 12, y: before.y + 8 };
    await drag(page, await screenPoint(page, before.x, before.y), await screenPoint(page, target.x, target.y));
    await page.getByText('1 correction(s) are kept here').waitFor();
    await screenshot(page, '10-server-away');
    expect(correctionIn(projectFile, 'bird_0001.png', 1)).toBeUndefined();

    // A restarted server prints a new token; the page asks for it and then carries on.
    const port = new URL(session.serve.url).port;
    session.serve = await serveFolder(root, ['--port', port]);
    await page.getByLabel('Access token').waitFor();
    await screenshot(page, '11-needs-token');
    await page.getByLabel('Access token').fill(session.serve.openUrl);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('1 queued correction(s) saved.').waitFor();
    const saved = correctionIn(projectFile, 'bird_0001.png', 1)!;
    expect(saved.x).toBeCloseTo(target.x, 0);
    expect(saved.y).toBeCloseTo(target.y, 0);
    await screenshot(page, '12-server-back');
  });

  it('says when an image file was deleted and keeps its keypoints editable', async () => {
    fs.rmSync(path.join(birds, 'bird_0003.png'));
    await page.getByRole('button', { name: '← Grid' }).click();
    await page.getByTestId('image-grid').getByRole('button').nth(3).click();
    await page.getByText(/bird_0003\.png is missing \(moved or deleted\)/).waitFor();
    await page.keyboard.press('3');
    await page.keyboard.press('v');
    await expect.poll(() => correctionIn(projectFile, 'bird_0003.png', 2)?.visibility).toBe(1);
    await page.waitForTimeout(200);
    await screenshot(page, '13-missing-image');
  });

  it('shows the training, model and evaluation views', async () => {
    for (const [tab, file] of [
      ['Training', '07-training'],
      ['Model', '08-model'],
      ['Evaluation', '09-evaluation'],
    ] as const) {
      await page.getByRole('button', { name: tab, exact: true }).click();
      await page.waitForTimeout(200);
      await screenshot(page, file);
    }
    expect(problems).toEqual([]);
  });

  it('says who has a project open in another process, and opens it read-only on request', async () => {
    await page.getByRole('button', { name: 'Close project' }).click();
    await page.getByRole('heading', { name: 'Open a project' }).waitFor();
    // This test's process stands for another window's: alive, on this host, not the server.
    fs.writeFileSync(
      `${projectFile}.lock`,
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() }),
    );
    await page.fill('#open-file', projectFile);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    const locked = page.getByTestId('project-locked');
    await locked.waitFor();
    expect(await locked.textContent()).toContain(`is open in another window/process (pid ${process.pid}`);
    await screenshot(page, '14-project-locked');
    await page.getByRole('button', { name: 'Open read-only' }).click();
    const banner = page.getByTestId('read-only-reason');
    await banner.waitFor();
    expect(await banner.textContent()).toContain(`pid ${process.pid}`);
    await page.getByText('12 images ·').waitFor();
    await screenshot(page, '15-read-only');
    fs.rmSync(`${projectFile}.lock`);
    expect(problems).toEqual([]);
  });
});
