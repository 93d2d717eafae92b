// The user's naming work survives a second run (issue 11, blocker 1), in Chromium against a real
// `skp serve` with a small random-weight SDXL model on the CPU: train, find keypoints, name the
// parts, colour one, link two, correct a point; train again and find keypoints; the new run waits
// for a match the user confirms (re-assigning by hand), and names, colour, skeleton and the
// correction are all still there — in the UI, in `skp info` and in the COCO export. Also: the model
// is checked when chosen, a job shows in the header on every tab, and export asks before replacing.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoDataset } from '../../resources/demo/writeDataset.js';
import { DEMO_SIZES, writeRandomSdxlModel } from '../../native/sdxl/randomModel.js';
import { TINY } from '../support/jobFixtures.js';
import {
  closeBrowserSession,
  ensureUiBuilt,
  openBrowserSession,
  repoRoot,
  screenshot,
  type BrowserSession,
} from './harness.js';

const NAMES = ['beak', 'eye', 'tail'];

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

/** The project's hand corrections, read from the file itself. */
function corrections(projectFile: string) {
  const sql = new Database(projectFile, { readonly: true });
  try {
    return sql
      .prepare(
        `SELECT p.name AS part, c.x, c.y, c.visibility FROM corrections c JOIN parts p ON p.id = c.part_id
         ORDER BY c.image_id, c.part_id`,
      )
      .all() as Array<{ part: string | null; x: number; y: number; visibility: number }>;
  } finally {
    sql.close();
  }
}

/** Where the current run predicts part `partId` on the image named `imageName`. */
function predicted(projectFile: string, imageName: string, partId: number): { x: number; y: number } {
  const sql = new Database(projectFile, { readonly: true });
  try {
    return sql
      .prepare(
        `SELECT p.x, p.y FROM predictions p JOIN indices x ON x.id = p.index_id JOIN images i ON i.id = p.image_id
         WHERE x.part_id = ? AND i.path LIKE ?`,
      )
      .get(partId, `%${imageName}`) as { x: number; y: number };
  } finally {
    sql.close();
  }
}

async function train(page: Page, seed: number): Promise<void> {
  await page.getByRole('button', { name: 'Training', exact: true }).click();
  await page.locator('#setting-steps').waitFor();
  const advanced = page.locator('details:has(#setting-seed)');
  if (!(await advanced.evaluate((d: HTMLDetailsElement) => d.open))) {
    await page.getByText(/^Advanced settings/).click();
  }
  for (const [key, value] of Object.entries({ ...TINY, steps: 2, seed })) {
    await page.fill(`#setting-${key}`, String(value));
  }
  await page.getByRole('button', { name: 'Start training' }).click();
  await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 180_000 }).toBe('done');
}

async function findKeypoints(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Find keypoints' }).click();
  // The header shows the job on every tab while it runs.
  await page.getByRole('button', { name: 'Images', exact: true }).click();
  await page.getByTestId('job-under-way').waitFor({ timeout: 60_000 });
  expect(await page.getByTestId('job-under-way').textContent()).toMatch(/Finding keypoints run \d/);
  await screenshot(page, '51-job-in-header');
  await page.getByTestId('job-under-way').waitFor({ state: 'detached', timeout: 180_000 });
  await page.getByRole('button', { name: 'Training', exact: true }).click();
  await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 60_000 }).toBe('done');
}

async function partNames(page: Page): Promise<string[]> {
  const fields = page.locator('tr[data-part-id] input[type="text"]');
  return (await fields.evaluateAll((inputs: HTMLInputElement[]) => inputs.map((i) => i.value || i.placeholder))).map(
    String,
  );
}

describe('parts outlive runs', () => {
  let root: string;
  let data: string;
  let model: string;
  let projectFile: string;
  let session: BrowserSession;
  let page: Page;
  let problems: string[];
  let corrected: { x: number; y: number };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-parts-'));
    data = path.join(root, 'data');
    model = path.join(root, 'model');
    projectFile = path.join(data, 'annotations.skp');
    writeRandomSdxlModel(model, DEMO_SIZES, 0);
    await Promise.all([ensureUiBuilt(), writeDemoDataset(data, 6, { size: 64, seed: 5 })]);
    session = await openBrowserSession(root);
    ({ page, problems } = session);
  });

  afterAll(() => closeBrowserSession(session, root));

  it('checks the model when it is chosen, and says its weights are random', async () => {
    await page.goto(session.serve.openUrl);
    await page.fill('#import-source', path.join(data, 'annotations.json'));
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('6 images ·').waitFor();

    await page.getByRole('button', { name: 'Model', exact: true }).click();
    // An image folder is no model: refused at once, not at Start.
    await page.fill('#model-path', data);
    await page.getByRole('button', { name: 'Use for this project' }).click();
    await page.getByText(`${data} cannot be used`).waitFor({ timeout: 60_000 });
    expect(await page.getByText('In use:').count()).toBe(0);
    await screenshot(page, '40-model-refused');

    await page.fill('#model-path', model);
    await page.getByRole('button', { name: 'Check', exact: true }).click();
    await page.getByTestId('random-weights').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-check').locator('h2').textContent()).toBe('Runs — random weights');
    await page.getByRole('button', { name: 'Use for this project' }).click();
    await page.getByText(`In use: ${model}`).waitFor({ timeout: 60_000 });
    await screenshot(page, '41-model-random-weights');
  });

  it('trains run 1, finds its keypoints, and the user names, colours, links and corrects its parts', async () => {
    await train(page, 3);
    await screenshot(page, '42-training-basic-first');
    await findKeypoints(page);
    await page.getByText('3 parts').waitFor();

    await page.getByRole('button', { name: 'Parts', exact: true }).click();
    for (const [i, name] of NAMES.entries()) {
      const field = page.getByLabel(`Name of part ${i + 1}`);
      await field.fill(name);
      await field.press('Enter');
      await expect.poll(() => field.getAttribute('placeholder')).toBe(name);
    }
    // A duplicate name is refused and put back in the field it was typed in.
    const third = page.getByLabel('Name of part 3');
    await third.fill('BEAK');
    await third.press('Enter');
    await page.getByText('part name "BEAK" is already used').waitFor();
    await expect.poll(() => third.inputValue()).toBe('tail');
    await page.getByLabel('Colour of beak').fill('#ff0000');
    await page.getByLabel('Link from').selectOption({ label: 'beak' });
    await page.getByLabel('Link to').selectOption({ label: 'eye' });
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await page.getByText('beak — eye').waitFor();
    await screenshot(page, '43-parts-named');

    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByTestId('image-grid').getByRole('button').first().click();
    await page.locator('[data-testid="image-canvas"][data-image-loaded="true"]').waitFor();
    await page.keyboard.press('1');
    const row = page.locator('button[data-index-id]').first();
    const partId = Number(await row.getAttribute('data-index-id'));
    const start = predicted(projectFile, 'bird_0000.png', partId);
    corrected = { x: Math.min(60, start.x + 10), y: Math.min(60, start.y + 6) };
    const a = await screenPoint(page, start.x, start.y);
    const b = await screenPoint(page, corrected.x, corrected.y);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 6 });
    await page.mouse.up();
    await expect.poll(() => corrections(projectFile).length).toBe(1);
    expect(corrections(projectFile)[0]).toMatchObject({ part: 'beak', visibility: 2 });
    await page.getByText('1 corrected').waitFor();
    await screenshot(page, '44-corrected-run-1');
  });

  it('trains run 2 and finds its keypoints: nothing of the user changes until they accept a match', async () => {
    const saved = corrections(projectFile);
    await train(page, 11);
    await findKeypoints(page);
    await page.getByTestId('match-waiting').waitFor();
    expect(await page.getByText('3 parts ·').count()).toBe(1);
    await page.getByText('1 corrected').waitFor();
    await screenshot(page, '45-run-2-waiting');

    await page.getByRole('button', { name: 'Parts', exact: true }).click();
    expect(await partNames(page)).toEqual(NAMES);
    const proposal = page.getByTestId('match-proposal');
    await proposal.locator('tbody tr').first().waitFor();
    expect(await proposal.locator('tbody tr').count()).toBe(3);
    await screenshot(page, '46-match-proposal');
    // Random weights put run 2's points anywhere: the user assigns each index by hand.
    for (const [i, name] of NAMES.entries()) {
      await page.getByLabel(`Part for index ${i + 1}`).selectOption({ label: name });
    }
    await page.getByRole('button', { name: 'Accept and use run 2' }).click();
    await page.getByText('Run 2 now feeds the predictions').waitFor();
    await expect.poll(() => page.locator('[data-run-id="2"] .feeds').count()).toBe(1);

    expect(await partNames(page)).toEqual(NAMES);
    expect(await page.getByLabel('Colour of beak').inputValue()).toBe('#ff0000');
    await page.getByText('beak — eye').waitFor();
    expect(await page.getByTestId('match-waiting').count()).toBe(0);
    expect(await page.getByText('3 parts · 1 corrected · run 2').count()).toBe(1);
    expect(corrections(projectFile)).toEqual(saved);
    await screenshot(page, '47-run-2-matched');

    // The correction shows on its image, over run 2's prediction.
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByTestId('image-grid').getByRole('button').first().click();
    await page.locator('[data-testid="image-canvas"][data-image-loaded="true"]').waitFor();
    await expect.poll(() => page.locator('button[data-index-id]').first().textContent()).toContain('corrected');
    await screenshot(page, '48-correction-after-run-2');
  });

  it('switches back to run 1 and keeps everything; skp info and the export tell the same', async () => {
    await page.getByRole('button', { name: 'Parts', exact: true }).click();
    await page.locator('[data-run-id="1"]').getByRole('button', { name: 'Use this run' }).click();
    await expect.poll(() => page.locator('[data-run-id="1"] .feeds').count()).toBe(1);
    expect(await partNames(page)).toEqual(NAMES);
    await screenshot(page, '49-back-to-run-1');

    const info = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'electron', 'cli', 'main.ts'), 'info', projectFile],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/Run 1 .*feeds the predictions/);
    expect(info.stdout).toMatch(/1\. beak — index \d, token \d+, #ff0000/);
    expect(info.stdout).toContain('1 corrected by hand on 1 images');

    const out = path.join(data, 'parts.json');
    fs.writeFileSync(out, 'the user keeps this file\n');
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await page.fill('#export-file', out);
    await page.getByRole('button', { name: 'Export', exact: true }).last().click();
    await page.getByTestId('export-replace').waitFor();
    await screenshot(page, '50-export-asks');
    await page.getByRole('button', { name: 'Keep it' }).click();
    expect(fs.readFileSync(out, 'utf8')).toBe('the user keeps this file\n');
    await page.getByRole('button', { name: 'Export', exact: true }).last().click();
    await page.getByRole('button', { name: 'Replace' }).click();
    await page.getByTestId('export-result').waitFor();
    const coco = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      annotations: { keypoints: number[]; keypoint_sources?: string[] }[];
      categories: { keypoints: string[]; skeleton: number[][]; keypoint_colors: string[] }[];
    };
    expect(coco.categories[0]!.keypoints).toEqual(NAMES);
    expect(coco.categories[0]!.skeleton).toEqual([[1, 2]]);
    expect(coco.categories[0]!.keypoint_colors[0]).toBe('#ff0000');
    const withCorrection = coco.annotations.find((a) => a.keypoint_sources?.[0] === 'corrected')!;
    expect(withCorrection.keypoints[0]).toBeCloseTo(corrected.x, 0);
    expect(withCorrection.keypoints[1]).toBeCloseTo(corrected.y, 0);
    expect(problems).toEqual([]);
  });
});
