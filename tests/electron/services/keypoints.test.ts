import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPartName } from '../../../electron/common/keypoints.js';
import { expectError, tempDir } from '../../support/projectHelpers.js';
import { trainedProject, type TrainedProject } from '../../support/trainedProject.js';

let dir: string;
let p: TrainedProject;

beforeEach(async () => {
  dir = tempDir();
  p = await trainedProject(dir);
});
afterEach(() => {
  p.services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('parts', () => {
  it("the project's first run makes one per index, in chosen order, with stable default names and distinct colours", async () => {
    const indices = await p.services.keypoints.listIndices();
    expect(indices.map((i) => [i.position, i.token])).toEqual([
      [0, 7],
      [1, 3],
      [2, 42],
    ]);
    const parts = await p.services.keypoints.listParts();
    expect(indices.map((i) => i.partId)).toEqual(parts.map((part) => part.id));
    expect(parts.map((part) => [part.name, part.displayName, part.order])).toEqual([
      [null, defaultPartName(parts[0]!.id), 0],
      [null, defaultPartName(parts[1]!.id), 1],
      [null, defaultPartName(parts[2]!.id), 2],
    ]);
    expect(new Set(parts.map((part) => part.colour)).size).toBe(3);
  });

  it('can be renamed, recoloured, hidden and reordered', async () => {
    const [a, b, c] = p.parts;
    await p.services.keypoints.updatePart(a!.id, { name: ' beak ', colour: '#FF0000' });
    await p.services.keypoints.updatePart(c!.id, { hidden: true });
    await p.services.keypoints.reorderParts([c!.id, a!.id, b!.id]);
    const parts = await p.services.keypoints.listParts();
    expect(parts.map((i) => [i.displayName, i.colour, i.hidden, i.order])).toEqual([
      [defaultPartName(c!.id), c!.colour, true, 0],
      ['beak', '#ff0000', false, 1],
      [defaultPartName(b!.id), b!.colour, false, 2],
    ]);
    await p.services.keypoints.updatePart(a!.id, { name: null });
    expect((await p.services.keypoints.listParts())[1]!.displayName).toBe(defaultPartName(a!.id));
  });

  it('rejects clashing names, bad colours and incomplete orders', async () => {
    const [a, b, c] = p.parts;
    await p.services.keypoints.updatePart(a!.id, { name: 'eye' });
    await expectError(() => p.services.keypoints.updatePart(b!.id, { name: 'EYE' }), 'already used');
    await expectError(() => p.services.keypoints.updatePart(b!.id, { name: defaultPartName(c!.id) }), 'already used');
    await expectError(() => p.services.keypoints.updatePart(b!.id, { colour: 'red' }), 'colour');
    await expectError(() => p.services.keypoints.reorderParts([a!.id, b!.id]), 'exactly once');
    await expectError(() => p.services.keypoints.updatePart(999, { hidden: true }), 'no part');
  });

  it('keep a skeleton between them', async () => {
    const [a, b, c] = p.parts;
    await p.services.keypoints.setSkeleton([
      { from: a!.id, to: b!.id },
      { from: b!.id, to: c!.id },
    ]);
    expect(await p.services.keypoints.getSkeleton()).toEqual([
      { from: a!.id, to: b!.id },
      { from: b!.id, to: c!.id },
    ]);
    await expectError(() => p.services.keypoints.setSkeleton([{ from: a!.id, to: a!.id }]), 'two different');
    await expectError(() => p.services.keypoints.setSkeleton([{ from: a!.id, to: 12345 }]), 'no part with id 12345');
  });
});

describe('keypoints on an image', () => {
  it('hand corrections win over predictions and keep their own row', async () => {
    const [a, b] = p.parts;
    const image = p.imageIds[0]!;
    await p.services.keypoints.setCorrected(image, [{ partId: a!.id, x: 55.5, y: 44.25, visibility: 1 }]);
    const { points } = await p.services.keypoints.getKeypoints(image);
    const pa = points.find((x) => x.partId === a!.id)!;
    expect(pa.effective).toMatchObject({ source: 'corrected', x: 55.5, y: 44.25, visibility: 1, score: null });
    expect(pa.predicted).toMatchObject({ source: 'predicted', x: 10, y: 20, visibility: 2 });
    const pb = points.find((x) => x.partId === b!.id)!;
    expect(pb.corrected).toBeNull();
    expect(pb.effective?.source).toBe('predicted');
  });

  it('a correction with one bad point writes none of its points', async () => {
    const [a, b] = p.parts;
    const image = p.imageIds[1]!;
    await expectError(
      () =>
        p.services.keypoints.setCorrected(image, [
          { partId: a!.id, x: 1, y: 1, visibility: 2 },
          { partId: 999, x: 1, y: 1, visibility: 2 },
        ]),
      'no part with id 999',
    );
    await expectError(
      () =>
        p.services.keypoints.setCorrected(image, [
          { partId: a!.id, x: 1, y: 1, visibility: 2 },
          { partId: b!.id, x: Number.NaN, y: 1, visibility: 2 },
        ]),
      'corrected points',
      '[1].x',
    );
    const { points } = await p.services.keypoints.getKeypoints(image);
    expect(points.every((x) => x.corrected === null)).toBe(true);
  });

  it('lists images by corrected, low score and ground truth', async () => {
    const [a] = p.parts;
    await p.services.keypoints.setCorrected(p.imageIds[2]!, [{ partId: a!.id, x: 5, y: 5, visibility: 2 }]);
    const corrected = await p.services.images.list({ corrected: true });
    expect(corrected.items.map((i) => [i.id, i.correctedCount])).toEqual([[p.imageIds[2], 1]]);
    expect((await p.services.images.list({ corrected: false })).total).toBe(3);
    // Scores: 0.9 - 0.1k - 0.05i, lowest at k = 2 → 0.7 - 0.05i; below 0.62: images 2 and 3.
    const low = await p.services.images.list({ scoreBelow: 0.62, sort: 'min-score' });
    expect(low.items.map((i) => i.id)).toEqual([p.imageIds[3], p.imageIds[2]]);
    expect(low.items[0]!.minScore).toBeCloseTo(0.55);
    expect((await p.services.images.list({ hasGroundTruth: true })).total).toBe(0);
  });

  it('clearing a correction is an explicit act and brings the prediction back', async () => {
    const [a] = p.parts;
    const image = p.imageIds[0]!;
    await p.services.keypoints.setCorrected(image, [{ partId: a!.id, x: 1, y: 2, visibility: 2 }]);
    expect(await p.services.keypoints.clearCorrected(image, [a!.id])).toBe(1);
    const { points } = await p.services.keypoints.getKeypoints(image);
    expect(points[0]!.effective?.source).toBe('predicted');
  });
});
