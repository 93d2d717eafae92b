// The review queue's storage (which images the user marked reviewed) and the edge check that keeps
// hand-placed points inside their image, on a real project file.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openProjectDatabase } from '../../../electron/db/database.js';
import { trainedProject, type TrainedProject } from '../../support/trainedProject.js';
import { expectError, tempDir } from '../../support/projectHelpers.js';

let dir: string;
let p: TrainedProject;

beforeEach(async () => {
  dir = tempDir();
  p = await trainedProject(dir, 4);
});
afterEach(() => {
  p.services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('marking images reviewed', () => {
  it('lists reviewed and not yet reviewed images, and keeps the marks in the project file', async () => {
    const [first, second, third] = p.imageIds;
    expect(await p.services.images.setReviewed([first!, third!], true)).toBe(2);
    expect(await p.services.images.setReviewed([first!], true)).toBe(0);
    const done = await p.services.images.list({ reviewed: true, sort: 'path' });
    expect(done.items.map((i) => i.id)).toEqual([first, third]);
    expect(done.items.every((i) => i.reviewed)).toBe(true);
    expect((await p.services.images.list({ reviewed: false })).total).toBe(2);
    expect(await p.services.images.isReviewed(second!)).toBe(false);

    expect(await p.services.images.setReviewed([third!], false)).toBe(1);
    p.services.dispose();
    const db = openProjectDatabase(p.file);
    try {
      expect(db.sql.prepare('SELECT image_id FROM image_reviews').all()).toEqual([{ image_id: first }]);
    } finally {
      db.close();
    }
  });

  it('refuses an image the project does not have, changing nothing', async () => {
    await expectError(() => p.services.images.setReviewed([p.imageIds[0]!, 999], true), 'no image with id 999');
    expect((await p.services.images.list({ reviewed: true })).total).toBe(0);
  });
});

describe('hand-placed points stay inside their image', () => {
  it('accepts the edges and refuses a point beyond them, saying where', async () => {
    const image = p.imageIds[0]!;
    const part = p.parts[0]!.id;
    await p.services.keypoints.setCorrected(image, [{ partId: part, x: 0, y: 80, visibility: 2 }]);
    await p.services.keypoints.setCorrected(image, [{ partId: part, x: 100, y: 0, visibility: 2 }]);
    await expectError(
      () => p.services.keypoints.setCorrected(image, [{ partId: part, x: -23.3, y: 10, visibility: 2 }]),
      'part',
      '(-23.3, 10)',
      'outside the 100×80 image',
    );
    const { points } = await p.services.keypoints.getKeypoints(image);
    expect(points.find((q) => q.partId === part)?.corrected).toMatchObject({ x: 100, y: 0 });
  });
});
