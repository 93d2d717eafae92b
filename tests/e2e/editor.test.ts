// The image editor in Chromium against a real `skp serve`: undo that stays with its image and its
// project, clicks that move nothing, zoom to 1:1 on a 4000×3000 image, the ground truth on screen,
// and Next walking the grid's worst-first list as a review queue.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoDataset, type DemoDataset } from '../../resources/demo/writeDataset.js';
import { openProjectDatabase } from '../../electron/db/database.js';
import { canvas, corrections, drag, placement, reviewed, screenPoint } from './editorPage.js';
import { RunStore } from '../../electron/db/runStore.js';
import { createServices } from '../../electron/services/container.js';
import { closeBrowserSession, ensureUiBuilt, openBrowserSession, screenshot, type BrowserSession } from './harness.js';
import { seedTrainedRun, type SeededRun } from './seed.js';

/** RGBA of the canvas pixels in a w×h box at canvas (CSS) pixel (x, y). */
function canvasPixels(page: Page, x: number, y: number, w: number, h: number): Promise<number[]> {
  return canvas(page).evaluate(
    (c, [x, y, w, h]) => {
      const el = c as HTMLCanvasElement;
      const dpr = el.width / el.clientWidth;
      return [
        ...el
          .getContext('2d')!
          .getImageData(Math.round(x! * dpr), Math.round(y! * dpr), Math.round(w! * dpr), Math.round(h! * dpr)).data,
      ];
    },
    [x, y, w, h],
  );
}

/** Canvas pixels in the ground truth's colour (#00e5ff) within `r` of image pixel (x, y). */
async function groundTruthPixels(page: Page, x: number, y: number, r: number): Promise<number> {
  const p = await placement(page);
  const cx = p.offsetX + x * p.scale;
  const cy = p.offsetY + y * p.scale;
  const data = await canvasPixels(page, cx - r, cy - r, 2 * r, 2 * r);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i]! < 60 && data[i + 1]! > 190 && data[i + 2]! > 220) n++;
  }
  return n;
}

const bigWidth = 4000;
const bigHeight = 3000;

/** A 4000×3000 PNG of coloured tiles whose every other pixel is black (a one-pixel checkerboard):
 * shown at its own size, neighbouring pixels differ; any smaller copy blurs them together. */
async function writeBigImage(file: string): Promise<void> {
  const pixels = Buffer.alloc(bigWidth * bigHeight * 3);
  for (let y = 0; y < bigHeight; y++) {
    for (let x = 0; x < bigWidth; x++) {
      if ((x + y) % 2 === 1) continue;
      const tile = Math.floor(x / 500) + Math.floor(y / 500);
      const o = 3 * (y * bigWidth + x);
      pixels[o] = 120 + ((tile * 53) % 136);
      pixels[o + 1] = 120 + ((tile * 97) % 136);
      pixels[o + 2] = 255;
    }
  }
  await sharp(pixels, { raw: { width: bigWidth, height: bigHeight, channels: 3 } })
    .png()
    .toFile(file);
}

async function createProject(file: string, images: string, coco?: string): Promise<void> {
  const services = createServices();
  await services.project.create({ path: file, images });
  if (coco) await services.imports.importCoco({ file: coco });
  await services.project.close();
}

/** A finished run with five indices predicted in the middle of the big image. */
function seedBigRun(file: string): void {
  const db = openProjectDatabase(file);
  try {
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: {} });
    runs.setStatus(run.id, 'done');
    const indices = runs.chooseIndices(run.id, [11, 48, 85, 122, 159]);
    runs.writePredictions(
      run.id,
      indices.map((index, k) => ({
        imageId: 1,
        indexId: index.id,
        x: 1000 + 400 * k,
        y: 1500,
        visibility: 2 as const,
        score: 0.9,
      })),
    );
  } finally {
    db.close();
  }
}

describe('the image editor in Chromium against skp serve', () => {
  let root: string;
  let birdsFile: string;
  let bigFile: string;
  let dataset: DemoDataset;
  let seeded: SeededRun;
  let session: BrowserSession;
  let page: Page;

  const cells = () => page.getByTestId('image-grid').getByRole('button');
  const undoButton = () => page.getByRole('button', { name: 'Undo', exact: true });
  const redoButton = () => page.getByRole('button', { name: 'Redo', exact: true });
  const imageName = () => page.locator('.toolbar .name');

  async function openProject(file: string): Promise<void> {
    await page.getByRole('button', { name: 'Close project' }).click();
    await page.getByRole('heading', { name: 'Open a project' }).waitFor();
    await page.fill('#open-file', file);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByRole('button', { name: 'Close project' }).waitFor();
  }

  async function openCell(n: number, name: string): Promise<void> {
    await cells().nth(n).click();
    await expect.poll(() => imageName().textContent()).toContain(name);
    await page.locator('canvas[data-image-loaded="true"]').waitFor();
  }

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-editor-'));
    const birds = path.join(root, 'birds');
    const big = path.join(root, 'big');
    fs.mkdirSync(big);
    const [, data] = await Promise.all([
      ensureUiBuilt(),
      writeDemoDataset(birds, 12, { size: 256, seed: 7 }),
      writeBigImage(path.join(big, 'large.png')),
    ]);
    dataset = data;
    birdsFile = path.join(birds, 'birds.skp');
    bigFile = path.join(big, 'big.skp');
    await createProject(birdsFile, birds, dataset.annotations);
    await createProject(bigFile, big);
    seeded = seedTrainedRun(birdsFile, dataset, 5);
    seedBigRun(bigFile);
    session = await openBrowserSession(root, ['--open', birdsFile]);
    page = session.page;
    await page.goto(session.serve.openUrl);
    await page.getByText('5 parts').waitFor();
    await cells().first().waitFor();
  });

  afterAll(() => closeBrowserSession(session, root));

  it('undoes only on the image on screen, keeps each image its own history across a reload', async () => {
    await openCell(0, 'bird_0000.png');
    const before = seeded.predicted.get('bird_0000.png')![0]!;
    const target = { x: before.x + 15, y: before.y + 10 };
    await drag(page, await screenPoint(page, before.x, before.y), await screenPoint(page, target.x, target.y));
    await expect.poll(() => corrections(birdsFile)).toHaveLength(1);
    expect(await undoButton().isEnabled()).toBe(true);

    await page.getByRole('button', { name: 'Next ›' }).click();
    await expect.poll(() => imageName().textContent()).toContain('bird_0001.png');
    expect(await undoButton().isDisabled()).toBe(true);
    await page.keyboard.press('Control+z');
    await page.waitForTimeout(600);
    await screenshot(page, 'editor-01-undo-on-another-image');
    // bird_0000's correction is not undone from bird_0001.
    expect(corrections(birdsFile)).toMatchObject([{ image: 'bird_0000.png', position: 0 }]);

    await page.reload();
    await cells().first().waitFor();
    await openCell(0, 'bird_0000.png');
    await expect.poll(() => undoButton().isEnabled()).toBe(true);
    await page.keyboard.press('Control+z');
    await expect.poll(() => corrections(birdsFile)).toEqual([]);
    expect(await redoButton().isEnabled()).toBe(true);
    await screenshot(page, 'editor-02-undone-after-reload');
  });

  it('does not carry a redo into another project', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await openCell(1, 'bird_0001.png');
    const before = seeded.predicted.get('bird_0001.png')![0]!;
    await drag(page, await screenPoint(page, before.x, before.y), await screenPoint(page, before.x - 12, before.y));
    const onBird1 = () => corrections(birdsFile).filter((c) => c.image === 'bird_0001.png');
    await expect.poll(onBird1).toHaveLength(1);
    await page.keyboard.press('Control+z');
    await expect.poll(onBird1).toEqual([]);
    expect(await redoButton().isEnabled()).toBe(true);

    await openProject(bigFile);
    await openCell(0, 'large.png');
    expect(await redoButton().isDisabled()).toBe(true);
    await page.keyboard.press('Control+Shift+z');
    await page.waitForTimeout(600);
    await screenshot(page, 'editor-03-other-project-no-redo');
    expect(corrections(bigFile)).toEqual([]);
  });

  it('zooms a 4000×3000 image to 1:1 at full resolution, pans with Space, and zooms with the wheel', async () => {
    expect(await canvas(page).getAttribute('data-resolution')).toBe('preview');
    await screenshot(page, 'editor-04-large-fitted');

    await page.getByRole('button', { name: '1:1' }).click();
    await expect.poll(async () => (await placement(page)).scale).toBe(1);
    await expect.poll(() => canvas(page).getAttribute('data-resolution'), { timeout: 30_000 }).toBe('full');
    await page.waitForTimeout(300);
    await screenshot(page, 'editor-05-large-one-to-one');
    // Image pixel (2000, 1500) and its neighbours: each on its own screen pixel, alternately lit and black.
    const p = await placement(page);
    const red = await canvasPixels(page, p.offsetX + 2000, p.offsetY + 1500, 2, 2);
    expect(red[0]).toBeGreaterThan(100); // (2000, 1500)
    expect(red[4]).toBeLessThan(10); // (2001, 1500)
    expect(red[8]).toBeLessThan(10); // (2000, 1501)
    expect(red[12]).toBeGreaterThan(100); // (2001, 1501)

    // Space + drag pans, and moves no point.
    const box = (await canvas(page).boundingBox())!;
    const start = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    await page.mouse.move(start.x, start.y);
    await page.keyboard.down(' ');
    await drag(page, start, { x: start.x - 150, y: start.y - 90 });
    await page.keyboard.up(' ');
    const panned = await placement(page);
    expect(panned.offsetX).toBeCloseTo(p.offsetX - 150, 0);
    expect(panned.offsetY).toBeCloseTo(p.offsetY - 90, 0);

    // So does the middle button.
    await page.mouse.move(start.x, start.y);
    await page.mouse.down({ button: 'middle' });
    await page.mouse.move(start.x + 40, start.y + 25, { steps: 4 });
    await page.mouse.up({ button: 'middle' });
    const middle = await placement(page);
    expect(middle.offsetX).toBeCloseTo(panned.offsetX + 40, 0);
    expect(middle.offsetY).toBeCloseTo(panned.offsetY + 25, 0);

    // The wheel zooms about the pointer: the image pixel under it stays there.
    const under = { x: start.x - middle.offsetX - box.x, y: start.y - middle.offsetY - box.y };
    await page.mouse.move(start.x, start.y);
    await page.mouse.wheel(0, -300);
    await expect.poll(async () => (await placement(page)).scale).toBeGreaterThan(1);
    const at = await screenPoint(page, under.x, under.y);
    expect(at.x).toBeCloseTo(start.x, 0);
    expect(at.y).toBeCloseTo(start.y, 0);

    await page.getByRole('button', { name: 'Fit' }).click();
    await expect.poll(async () => (await placement(page)).scale).toBeLessThan(0.5);
    expect(corrections(bigFile)).toEqual([]);
  });

  it('moves nothing on a click in the margin or beside a point; a drag stops at the image edge', async () => {
    await openProject(birdsFile);
    await openCell(2, 'bird_0002.png');
    const box = (await canvas(page).boundingBox())!;
    await page.mouse.click(box.x + 8, box.y + 8);
    const p = await placement(page);
    expect(p.offsetX).toBeGreaterThan(8);
    await page.mouse.click(box.x + p.offsetX / 2, box.y + box.height / 2);
    const inside = await screenPoint(page, 10, 245);
    await page.mouse.click(inside.x, inside.y);
    await page.waitForTimeout(600);
    await screenshot(page, 'editor-06-margin-click-moves-nothing');
    expect(corrections(birdsFile)).toEqual([]);
    expect(await undoButton().isDisabled()).toBe(true);

    // A click just beside a point selects it and moves nothing.
    const eye = seeded.predicted.get('bird_0002.png')![1]!;
    const nearEye = await screenPoint(page, eye.x, eye.y);
    await page.mouse.click(nearEye.x + 6, nearEye.y - 3);
    await expect.poll(() => page.locator('.index-row.selected').textContent()).toContain('keypoint_2');
    await page.waitForTimeout(400);
    expect(corrections(birdsFile)).toEqual([]);
    await page.keyboard.press('1');

    // Dragged far out to the left and top, the beak stops on the image's corner.
    const beak = seeded.predicted.get('bird_0002.png')![0]!;
    await drag(page, await screenPoint(page, beak.x, beak.y), { x: box.x + 2, y: box.y + 2 });
    await expect.poll(() => corrections(birdsFile)).toEqual([{ image: 'bird_0002.png', position: 0, x: 0, y: 0 }]);

    // P places the selected index at the pointer, on purpose.
    const spot = await screenPoint(page, 120, 60);
    await page.mouse.move(spot.x, spot.y);
    await page.keyboard.press('p');
    await expect.poll(() => corrections(birdsFile)[0]?.x).toBeCloseTo(120, 0);
    expect(corrections(birdsFile)[0]?.y).toBeCloseTo(60, 0);
    await screenshot(page, 'editor-07-placed-with-p');
  });

  it('moves every point of the image together with Shift+drag, stops the group at the edge, and undoes it in one step', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await openCell(5, 'bird_0005.png');
    const predicted = seeded.predicted.get('bird_0005.png')!;
    const first = predicted[0]!;
    const from = await screenPoint(page, first.x, first.y);
    const onImage = () => corrections(birdsFile).filter((c) => c.image === 'bird_0005.png');
    const shiftDrag = async (to: { x: number; y: number }) => {
      await page.keyboard.down('Shift');
      await drag(page, from, to);
      await page.keyboard.up('Shift');
      await expect.poll(() => onImage().length).toBe(predicted.length);
    };

    await shiftDrag(await screenPoint(page, first.x + 10, first.y + 6));
    for (const c of onImage()) {
      expect(c.x).toBeCloseTo(predicted[c.position]!.x + 10, 0);
      expect(c.y).toBeCloseTo(predicted[c.position]!.y + 6, 0);
    }
    await screenshot(page, 'editor-07b-moved-together');
    await page.keyboard.press('Control+z');
    await expect.poll(onImage).toEqual([]);

    // Far past the left edge: the group stops as one piece when its leftmost point reaches x = 0.
    const box = (await canvas(page).boundingBox())!;
    await shiftDrag({ x: box.x + 2, y: from.y });
    const leftmost = Math.min(...predicted.map((p) => p.x));
    for (const c of onImage()) {
      expect(c.x).toBeCloseTo(predicted[c.position]!.x - leftmost, 0);
      expect(c.y).toBeCloseTo(predicted[c.position]!.y, 0);
    }
    await page.keyboard.press('Control+z');
    await expect.poll(onImage).toEqual([]);
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await openCell(2, 'bird_0002.png');
  });

  it('draws the imported ground truth as hollow diamonds, with names on request', async () => {
    const truth = dataset.coco.annotations[2]!.keypoints;
    // The tail (part 6): the seeded run predicts only the first five parts, so nothing else is drawn there.
    const [gx, gy] = [truth[15]!, truth[16]!];
    await expect.poll(() => canvas(page).getAttribute('data-ground-truth-points')).toBe(String(truth.length / 3));
    await page.waitForTimeout(200);
    expect(await groundTruthPixels(page, gx, gy, 14)).toBeGreaterThan(10);
    await page.keyboard.press('n');
    await page.waitForTimeout(200);
    await screenshot(page, 'editor-08-ground-truth-with-names');

    // A clicked checkbox keeps no hold on the keys: G still switches the overlay.
    await page.getByLabel('names').click();
    await page.keyboard.press('g');
    await expect.poll(() => canvas(page).getAttribute('data-ground-truth-points')).toBe('0');
    expect(await groundTruthPixels(page, gx, gy, 14)).toBe(0);
    await screenshot(page, 'editor-09-ground-truth-off');
    await page.keyboard.press('g');
  });

  it('walks the worst-first list with Next, marks images reviewed and shows the progress', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByLabel('Order').selectOption('worst-first');
    // Scores fall with the file number, so the worst image is the last one by name.
    await expect.poll(() => cells().first().getAttribute('title')).toContain('bird_0011.png');
    await screenshot(page, 'editor-10-grid-worst-first');
    await openCell(0, 'bird_0011.png');
    expect(await page.getByTestId('queue-position').textContent()).toBe('1 / 12');
    await page.getByRole('button', { name: 'Next ›' }).click();
    await expect.poll(() => imageName().textContent()).toContain('bird_0010.png');
    expect(await page.getByTestId('queue-position').textContent()).toBe('2 / 12');

    await page.keyboard.press('Enter');
    await expect.poll(() => imageName().textContent()).toContain('bird_0009.png');
    expect(reviewed(birdsFile)).toEqual(['bird_0010.png']);
    await expect.poll(() => page.getByTestId('review-progress').textContent()).toBe('reviewed 1 / 12');
    await screenshot(page, 'editor-11-reviewed-and-next');

    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByLabel('not yet reviewed').check();
    await page.getByText('11 images', { exact: true }).waitFor();
    await screenshot(page, 'editor-12-grid-not-reviewed');
    // The grid's cursor stays on the image last open (bird_0009, now second); arrows move it, Enter opens.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await expect.poll(() => imageName().textContent()).toContain('bird_0008.png');
  });

  it('rings the predictions scored below the low-score line, which the grid sets', async () => {
    // Still on bird_0008: the seeded scores fall with the index and the file number.
    await expect.poll(() => imageName().textContent()).toContain('bird_0008.png');
    const scores = seeded.predicted.get('bird_0008.png')!;
    const low = scores.filter((p) => p.score < 0.5);
    expect(low.length).toBeGreaterThan(0);
    expect(low.length).toBeLessThan(scores.length);
    await expect.poll(() => canvas(page).getAttribute('data-doubtful-points')).toBe(String(low.length));
    await page.waitForTimeout(200);
    await screenshot(page, 'editor-13-low-scores-ringed');
    const p = await placement(page);
    const ringPixels = async (x: number, y: number) => {
      const data = await canvasPixels(page, p.offsetX + x * p.scale - 12, p.offsetY + y * p.scale - 12, 24, 24);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! > 230 && data[i + 1]! < 70 && data[i + 2]! < 70) n++;
      return n;
    };
    expect(await ringPixels(low[0]!.x, low[0]!.y)).toBeGreaterThan(10);
    const sure = scores.find((q) => q.score >= 0.5)!;
    expect(await ringPixels(sure.x, sure.y)).toBe(0);
    expect(await page.locator('.index-row [style*="color"]').count()).toBe(low.length);

    // A lower line in the grid rings fewer.
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.locator('input.threshold').fill('0.25');
    await cells().first().click();
    await page.locator('canvas[data-image-loaded="true"]').waitFor();
    await expect.poll(() => canvas(page).getAttribute('data-doubtful-points')).toBe('0');
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.locator('input.threshold').fill('0.5');
  });

  it('lists the points far from where their part usually sits, and opens one with its part selected', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await page.getByTestId('image-grid').locator('button[title*="bird_0003.png"]').click();
    await page.locator('canvas[data-image-loaded="true"]').waitFor();
    await expect.poll(() => imageName().textContent()).toContain('bird_0003.png');
    // The beak dragged to the bottom left corner, far from any beak.
    const beak = seeded.predicted.get('bird_0003.png')![0]!;
    await drag(page, await screenPoint(page, beak.x, beak.y), await screenPoint(page, 4, 250));
    await expect.poll(() => corrections(birdsFile).filter((c) => c.image === 'bird_0003.png')).toHaveLength(1);

    await page.getByRole('button', { name: 'Evaluation', exact: true }).click();
    const checks = page.getByTestId('label-checks');
    await checks.getByRole('button', { name: 'Check the labels' }).click();
    const row = checks.locator('tbody tr', { hasText: 'bird_0003.png' });
    await row.first().waitFor();
    expect((await row.first().textContent())!.replace(/\s+/g, ' ')).toContain(
      'keypoint_1 far from where it usually sits',
    );
    await screenshot(page, 'editor-13b-label-checks');
    await row.first().getByRole('button').click();
    await expect.poll(() => imageName().textContent()).toContain('bird_0003.png');
    await expect.poll(() => page.locator('.index-row.selected').textContent()).toContain('keypoint_1');
    await page.keyboard.press('Control+z');
    await expect.poll(() => corrections(birdsFile).filter((c) => c.image === 'bird_0003.png')).toEqual([]);
  });

  it('shows each index as crops of where it lands, and says what an index is', async () => {
    await page.getByRole('button', { name: 'Gallery', exact: true }).click();
    await page.getByText('An index is one keypoint the run learned to find').waitFor();
    await expect.poll(() => page.getByTestId('gallery-index').count()).toBe(5);
    await expect.poll(() => page.getByTestId('gallery-index').first().locator('canvas').count()).toBe(12);
    await page.waitForTimeout(400);
    await screenshot(page, 'editor-14-index-gallery');
    expect(session.problems).toEqual([]);
  });
});
