// Corrections land where the user sees them, and none is lost or replayed unasked: keys pressed
// while the next image loads, Enter pressed twice, a correction still on its way when the image
// reloads, a late failed load, corrections an earlier session left queued, an export while some
// are queued, V under the pointer, and a project open read-only. The server's
// answers are held back (Playwright routes) to make each moment last; the server and the project
// file are the real ones.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openProjectDatabase } from '../../electron/db/database.js';
import { createServices } from '../../electron/services/container.js';
import { writeDemoDataset } from '../../resources/demo/writeDataset.js';
import { corrections, drag, reviewed, screenPoint } from './editorPage.js';
import { closeBrowserSession, ensureUiBuilt, openBrowserSession, screenshot, type BrowserSession } from './harness.js';
import { seedTrainedRun, type SeededRun } from './seed.js';

/** Holds the server's answers to one API method until `release`; what was held then goes through. */
async function holdAnswers(page: Page, method: string, letThrough = 0): Promise<{ release: () => Promise<void> }> {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let seen = 0;
  await page.route(`**/api/call/${method}`, async (route: Route) => {
    if (seen++ >= letThrough) await opened;
    await route.continue();
  });
  return {
    release: async () => {
      open();
      await page.unrouteAll({ behavior: 'wait' });
    },
  };
}

function imageIdOf(projectFile: string, name: string): number {
  const db = openProjectDatabase(projectFile);
  try {
    const rows = db.sql.prepare('SELECT id, path FROM images').all() as Array<{ id: number; path: string }>;
    return rows.find((r) => path.basename(r.path) === name)!.id;
  } finally {
    db.close();
  }
}

describe('corrections land where the user sees them', () => {
  let root: string;
  let birdsFile: string;
  let seeded: SeededRun;
  let session: BrowserSession;
  let page: Page;

  const cells = () => page.getByTestId('image-grid').getByRole('button');
  const imageName = () => page.locator('.toolbar .name');
  const position = () => page.getByTestId('queue-position');
  const loaded = () => page.locator('canvas[data-image-loaded="true"]').waitFor();
  const indexRow = (n: number) => page.locator('button[data-index-id]').nth(n);

  // A CI machine running other test files beside this one can take over a second to show an image.
  async function showImage(name: string): Promise<void> {
    await expect.poll(() => imageName().textContent(), { timeout: 10_000 }).toContain(name);
    await loaded();
  }

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-e2e-saved-'));
    const birds = path.join(root, 'birds');
    const [, dataset] = await Promise.all([ensureUiBuilt(), writeDemoDataset(birds, 6, { size: 256, seed: 3 })]);
    birdsFile = path.join(birds, 'birds.skp');
    const services = createServices();
    await services.project.create({ path: birdsFile, images: birds });
    await services.project.close();
    seeded = seedTrainedRun(birdsFile, dataset, 3);
    session = await openBrowserSession(root, ['--open', birdsFile]);
    page = session.page;
    await page.goto(session.serve.openUrl);
    await page.getByText('3 parts').waitFor();
    await cells().first().click();
    await page.locator('canvas[data-image-loaded="true"]').waitFor();
  });

  afterAll(() => closeBrowserSession(session, root));

  it('a key pressed while the next image loads changes nothing on the image left behind', async () => {
    await page.keyboard.press('1');
    const held = await holdAnswers(page, 'images.get');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => position().textContent()).toBe('2 / 6');
    // bird_0000's points are still on screen; V would make its first point occluded.
    await page.keyboard.press('v');
    await page.keyboard.press('Control+z');
    await page.waitForTimeout(500);
    await held.release();
    await showImage('bird_0001.png');
    expect(corrections(birdsFile)).toEqual([]);
  });

  it('Enter pressed again before the next image is on screen neither marks the last one twice nor skips one', async () => {
    const held = await holdAnswers(page, 'images.get');
    await page.keyboard.press('Enter');
    await expect.poll(() => position().textContent()).toBe('3 / 6');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(500);
    await held.release();
    await showImage('bird_0002.png');
    expect(await position().textContent()).toBe('3 / 6');
    expect(reviewed(birdsFile)).toEqual(['bird_0001.png']);
  });

  it('a correction still on its way stays on screen when its image is shown again', async () => {
    const [first, second] = seeded.predicted.get('bird_0002.png')!;
    // The first correction is saved at once, the second waits for the server.
    const held = await holdAnswers(page, 'keypoints.correct', 1);
    await drag(page, await screenPoint(page, first!.x, first!.y), await screenPoint(page, first!.x + 9, first!.y));
    await expect.poll(() => corrections(birdsFile)).toHaveLength(1);
    await drag(page, await screenPoint(page, second!.x, second!.y), await screenPoint(page, second!.x, second!.y + 9));
    await expect.poll(() => indexRow(1).textContent()).toContain('corrected');
    // Away and back: the server's copy of bird_0002 lacks the second correction.
    await page.keyboard.press('ArrowRight');
    await showImage('bird_0003.png');
    await page.keyboard.press('ArrowLeft');
    await showImage('bird_0002.png');
    await page.waitForTimeout(300);
    expect(await indexRow(1).textContent()).toContain('corrected');
    await screenshot(page, 'saved-01-queued-correction-shown');
    await held.release();
    await expect.poll(() => corrections(birdsFile).map((c) => c.position)).toEqual([0, 1]);
  });

  it('a late failure to load an image the user has left does not blank the one on screen', async () => {
    let fail = (): void => undefined;
    const failing = new Promise<void>((resolve) => (fail = resolve));
    // bird_0003's load is the one held, then failed: another load that happens to come first (a
    // refresh of the image on screen) goes through.
    const left = imageIdOf(birdsFile, 'bird_0003.png');
    let first = true;
    await page.route('**/api/call/images.get', async (route: Route) => {
      if (!first || (route.request().postDataJSON() as { id: number }).id !== left) return route.continue();
      first = false;
      await failing;
      await route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"the disk went away"}' });
    });
    try {
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => position().textContent()).toBe('4 / 6');
      await page.keyboard.press('ArrowRight');
      await showImage('bird_0004.png');
    } finally {
      // Released even when the test fails, so the tests after it do not wait on the held load.
      fail();
      await page.unrouteAll({ behavior: 'wait' });
    }
    expect(first).toBe(false);
    await page.waitForTimeout(300);
    expect(await page.locator('canvas[data-image-loaded="true"]').count()).toBe(1);
    expect(await imageName().textContent()).toContain('bird_0004.png');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await showImage('bird_0002.png');
  });

  it('sends the corrections an earlier session left queued as soon as the project opens', async () => {
    const imageId = imageIdOf(birdsFile, 'bird_0004.png');
    const partId = Number(await indexRow(2).getAttribute('data-index-id'));
    const left = [
      {
        kind: 'correct',
        imageId,
        points: [{ partId, x: 40, y: 50, visibility: 2 }],
        projectPath: birdsFile,
      },
    ];
    // As a window closed while the server was away leaves it: in the browser's storage only.
    await page.evaluate((queue) => localStorage.setItem('skp.pending-edits', queue), JSON.stringify(left));
    await page.reload();
    await page.getByText('1 queued correction(s) saved.').waitFor();
    expect(corrections(birdsFile).filter((c) => c.image === 'bird_0004.png')).toEqual([
      { image: 'bird_0004.png', position: 2, x: 40, y: 50 },
    ]);
    expect(await page.evaluate(() => localStorage.getItem('skp.pending-edits'))).toBe('[]');
  });

  it('an export sends the corrections still queued first, and says when some are not saved', async () => {
    await cells().nth(3).click();
    await showImage('bird_0003.png');
    const held = await holdAnswers(page, 'keypoints.correct');
    const [point] = seeded.predicted.get('bird_0003.png')!;
    await drag(page, await screenPoint(page, point!.x, point!.y), await screenPoint(page, point!.x, point!.y + 11));
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await page.getByTestId('export-unsaved').waitFor();
    await screenshot(page, 'saved-02-export-unsaved');
    const out = path.join(root, 'birds-keypoints.json');
    await page.fill('#export-file', out);
    await page.getByRole('button', { name: 'Export', exact: true }).last().click();
    await page.waitForTimeout(500);
    expect(fs.existsSync(out)).toBe(false);
    await held.release();
    await page.getByTestId('export-result').waitFor();
    expect(await page.getByTestId('export-unsaved').count()).toBe(0);
    const saved = corrections(birdsFile).find((c) => c.image === 'bird_0003.png')!;
    const coco = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      images: Array<{ id: number; file_name: string }>;
      annotations: Array<{ image_id: number; keypoints: number[] }>;
    };
    const image = coco.images.find((i) => i.file_name.endsWith('bird_0003.png'))!;
    const [x, y] = coco.annotations.find((a) => a.image_id === image.id)!.keypoints;
    expect(x).toBeCloseTo(saved.x, 1);
    expect(y).toBeCloseTo(saved.y, 1);
  });

  it('V changes the point under the pointer, else the selected one', async () => {
    await page.getByRole('button', { name: 'Images', exact: true }).click();
    await cells().nth(4).click();
    await showImage('bird_0004.png');
    await page.keyboard.press('1');
    const [, second] = seeded.predicted.get('bird_0004.png')!;
    const over = await screenPoint(page, second!.x, second!.y);
    await page.mouse.move(over.x, over.y);
    await page.keyboard.press('v');
    const onImage = () => corrections(birdsFile).filter((c) => c.image === 'bird_0004.png');
    await expect.poll(() => onImage().map((c) => c.position)).toEqual([1, 2]);
    expect(await indexRow(1).textContent()).toContain('occluded');
    expect(await page.locator('.index-row.selected button[data-index-id]').getAttribute('data-index-id')).toBe(
      await indexRow(1).getAttribute('data-index-id'),
    );
    // Away from every point, V changes the selected index: now the second.
    await page.mouse.move(over.x + 200, over.y + 200);
    await page.keyboard.press('v');
    await expect.poll(() => indexRow(1).textContent()).toContain('not labelled');
    expect(onImage().map((c) => c.position)).toEqual([1, 2]);
  });

  it('is back online after one call was lost on the way while the event socket stayed open', async () => {
    const away = page.getByRole('status').filter({ hasText: 'The server cannot be reached' });
    // Every call lost for a moment (a network blip the socket survived)…
    await page.route('**/api/call/**', (route) => route.abort('connectionreset'));
    await page.keyboard.press('ArrowRight');
    await away.waitFor();
    // …then answered again: the next image opens and the banner goes, with no new greeting.
    await page.unrouteAll({ behavior: 'wait' });
    await page.keyboard.press('ArrowLeft');
    await showImage('bird_0004.png');
    await expect.poll(() => away.count()).toBe(0);
  });

  it("keeps two tabs' queued corrections apart in the browser's storage, and saves both", async () => {
    const other = await page.context().newPage();
    await other.goto(session.serve.openUrl);
    await other.getByText('3 parts').waitFor();
    // Neither tab can save a correction for now: each keeps its own queued.
    const refuse = (route: Route) => route.abort('connectionreset');
    await page.route('**/api/call/keypoints.correct', refuse);
    await other.route('**/api/call/keypoints.correct', refuse);
    const here = seeded.predicted.get('bird_0004.png')![0]!;
    await drag(page, await screenPoint(page, here.x, here.y), await screenPoint(page, here.x + 8, here.y));
    await other.getByTestId('image-grid').getByRole('button').first().click();
    await other.locator('canvas[data-image-loaded="true"]').waitFor();
    const there = seeded.predicted.get('bird_0000.png')![0]!;
    await drag(other, await screenPoint(other, there.x, there.y), await screenPoint(other, there.x, there.y + 8));
    const queued = () =>
      page.evaluate(() =>
        (JSON.parse(localStorage.getItem('skp.pending-edits') ?? '[]') as Array<{ imageId: number }>).map(
          (e) => e.imageId,
        ),
      );
    await expect
      .poll(async () => (await queued()).sort())
      .toEqual([imageIdOf(birdsFile, 'bird_0000.png'), imageIdOf(birdsFile, 'bird_0004.png')].sort());
    await other.close();

    // Saved once the server answers: by the tab's own retry or at the reload (whichever comes
    // first; a CI run once saw the retry win, and the reload then had nothing left to send).
    await page.unrouteAll({ behavior: 'wait' });
    await page.reload();
    const savedAt = (image: string) =>
      corrections(birdsFile).filter((c) => c.image === image && c.position === 0).length;
    await expect.poll(() => [savedAt('bird_0000.png'), savedAt('bird_0004.png')], { timeout: 90_000 }).toEqual([1, 1]);
    await expect.poll(() => queued()).toEqual([]);
  });

  it('takes no correction on a project open read-only, and says so', async () => {
    const before = corrections(birdsFile);
    await page.getByRole('button', { name: 'Close project' }).click();
    await page.getByRole('heading', { name: 'Open a project' }).waitFor();
    // This test's process stands for another window's: alive, on this host, not the server.
    fs.writeFileSync(
      `${birdsFile}.lock`,
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() }),
    );
    try {
      await page.fill('#open-file', birdsFile);
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByRole('button', { name: 'Open read-only' }).click();
      await page.getByTestId('read-only-reason').waitFor();
      await cells().nth(5).click();
      await showImage('bird_0005.png');
      const [point] = seeded.predicted.get('bird_0005.png')!;
      await drag(page, await screenPoint(page, point!.x, point!.y), await screenPoint(page, point!.x + 12, point!.y));
      await page.getByText('Not saved: this project is open read-only').waitFor();
      await screenshot(page, 'saved-03-read-only-refuses');
      expect(await page.evaluate(() => localStorage.getItem('skp.pending-edits'))).toBe('[]');
      expect(await indexRow(0).textContent()).not.toContain('corrected');
    } finally {
      fs.rmSync(`${birdsFile}.lock`);
    }
    expect(corrections(birdsFile)).toEqual(before);
    expect(session.problems).toEqual([]);
  });
});
