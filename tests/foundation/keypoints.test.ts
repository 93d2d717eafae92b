import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultIndexName } from '../../electron/common/keypoints.js';
import { RunStore } from '../../electron/db/runStore.js';
import { expectError, tempDir } from './helpers.js';
import { trainedProject, type TrainedProject } from './fixtures.js';

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

describe('keypoint indices', () => {
  it('come from the run in chosen order with stable default names and distinct colours', async () => {
    const indices = await p.services.keypoints.listIndices();
    expect(indices.map((i) => [i.position, i.token, i.name, i.displayName])).toEqual([
      [0, 7, null, defaultIndexName(0)],
      [1, 3, null, defaultIndexName(1)],
      [2, 42, null, defaultIndexName(2)],
    ]);
    expect(new Set(indices.map((i) => i.colour)).size).toBe(3);
  });

  it('can be renamed, recoloured, hidden and reordered', async () => {
    const [a, b, c] = p.indices;
    await p.services.keypoints.updateIndex(a!.id, { name: ' beak ', colour: '#FF0000' });
    await p.services.keypoints.updateIndex(c!.id, { hidden: true });
    await p.services.keypoints.reorderIndices(p.runId, [c!.id, a!.id, b!.id]);
    const indices = await p.services.keypoints.listIndices(p.runId);
    expect(indices.map((i) => [i.displayName, i.colour, i.hidden, i.order])).toEqual([
      [defaultIndexName(2), c!.colour, true, 0],
      ['beak', '#ff0000', false, 1],
      [defaultIndexName(1), b!.colour, false, 2],
    ]);
    await p.services.keypoints.updateIndex(a!.id, { name: null });
    expect((await p.services.keypoints.listIndices())[1]!.displayName).toBe(defaultIndexName(0));
  });

  it('rejects clashing names, bad colours and incomplete orders', async () => {
    const [a, b] = p.indices;
    await p.services.keypoints.updateIndex(a!.id, { name: 'eye' });
    await expectError(() => p.services.keypoints.updateIndex(b!.id, { name: 'EYE' }), 'already used');
    await expectError(() => p.services.keypoints.updateIndex(b!.id, { name: defaultIndexName(2) }), 'already used');
    await expectError(() => p.services.keypoints.updateIndex(b!.id, { colour: 'red' }), 'colour');
    await expectError(() => p.services.keypoints.reorderIndices(p.runId, [a!.id, b!.id]), 'exactly once');
    await expectError(() => p.services.keypoints.updateIndex(999, { hidden: true }), 'no keypoint index');
  });

  it('keeps a skeleton between indices of the run', async () => {
    const [a, b, c] = p.indices;
    await p.services.keypoints.setSkeleton(p.runId, [
      { from: a!.id, to: b!.id },
      { from: b!.id, to: c!.id },
    ]);
    expect(await p.services.keypoints.getSkeleton()).toEqual([
      { from: a!.id, to: b!.id },
      { from: b!.id, to: c!.id },
    ]);
    await expectError(() => p.services.keypoints.setSkeleton(p.runId, [{ from: a!.id, to: a!.id }]), 'two different');
    await expectError(() => p.services.keypoints.setSkeleton(p.runId, [{ from: a!.id, to: 12345 }]), 'not one of');
  });
});

describe('keypoints on an image', () => {
  it('hand corrections win over predictions and keep their own row', async () => {
    const [a, b] = p.indices;
    const image = p.imageIds[0]!;
    await p.services.keypoints.setCorrected(image, [{ indexId: a!.id, x: 55.5, y: 44.25, visibility: 1 }]);
    const { points } = await p.services.keypoints.getKeypoints(image);
    const pa = points.find((x) => x.indexId === a!.id)!;
    expect(pa.effective).toMatchObject({ source: 'corrected', x: 55.5, y: 44.25, visibility: 1, score: null });
    expect(pa.predicted).toMatchObject({ source: 'predicted', x: 10, y: 20, visibility: 2 });
    const pb = points.find((x) => x.indexId === b!.id)!;
    expect(pb.corrected).toBeNull();
    expect(pb.effective?.source).toBe('predicted');
  });

  it('a correction with one bad point writes none of its points', async () => {
    const [a, b] = p.indices;
    const image = p.imageIds[1]!;
    const runs = new RunStore(p.services.context.db);
    const foreign = runs.chooseIndices(runs.createRun({ settings: {} }).id, [1]);
    await expectError(
      () =>
        p.services.keypoints.setCorrected(image, [
          { indexId: a!.id, x: 1, y: 1, visibility: 2 },
          { indexId: foreign[0]!.id, x: 1, y: 1, visibility: 2 },
        ]),
      'same run',
    );
    await expectError(
      () =>
        p.services.keypoints.setCorrected(image, [
          { indexId: a!.id, x: 1, y: 1, visibility: 2 },
          { indexId: b!.id, x: Number.NaN, y: 1, visibility: 2 },
        ]),
      'corrected points',
      '[1].x',
    );
    const { points } = await p.services.keypoints.getKeypoints(image);
    expect(points.every((x) => x.corrected === null)).toBe(true);
  });

  it('lists images by corrected, low score and ground truth', async () => {
    const [a] = p.indices;
    await p.services.keypoints.setCorrected(p.imageIds[2]!, [{ indexId: a!.id, x: 5, y: 5, visibility: 2 }]);
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
    const [a] = p.indices;
    const image = p.imageIds[0]!;
    await p.services.keypoints.setCorrected(image, [{ indexId: a!.id, x: 1, y: 2, visibility: 2 }]);
    expect(await p.services.keypoints.clearCorrected(image, [a!.id])).toBe(1);
    const { points } = await p.services.keypoints.getKeypoints(image);
    expect(points[0]!.effective?.source).toBe('predicted');
  });
});
