// Matching a new run's indices to the project's parts by where their keypoints land. The points
// are the demo birds' drawn keypoints (beak, eye, … on varied poses): run 1 predicts them and
// makes the parts, run 2 predicts the same parts in another order, one of them off by a margin
// and one index somewhere no part is.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeypointIndex, PredictedPointInput } from '../../../../electron/common/keypoints.js';
import { RunStore } from '../../../../electron/db/runStore.js';
import { createServices, type ServiceHost } from '../../../../electron/services/container.js';
import { cheapestAssignment } from '../../../../electron/services/parts/assignment.js';
import { CONFIDENT, NEW_PART } from '../../../../electron/services/parts/matchParts.js';
import { Random } from '../../../../native/keypoints/rng.js';
import { BIRD_KEYPOINTS, demoBird, type PixelPoint } from '../../../../resources/demo/birds.js';
import { expectError, snapshot, tempDir, writeImage } from '../../../support/projectHelpers.js';

const SIZE = 128;
const IMAGES = 10;
const PARTS = BIRD_KEYPOINTS.slice(0, 6);
/** Run 2's order of the parts: its index k predicts PARTS[PERMUTATION[k]]. */
const PERMUTATION = [3, 0, 5, 1, 4, 2];

let dir: string;
let services: ServiceHost;
let imageIds: number[];
let runs: RunStore;

const birds = Array.from({ length: IMAGES }, (_, i) => demoBird(i, { size: SIZE, seed: 11 }));
const diagonal = Math.hypot(SIZE, SIZE);

function predictions(indices: KeypointIndex[], where: (k: number, image: number) => PixelPoint): PredictedPointInput[] {
  return imageIds.flatMap((imageId, i) =>
    indices.map((index, k) => ({ imageId, indexId: index.id, ...where(k, i), visibility: 2 as const, score: 0.5 })),
  );
}

/** A finished run that chose `tokens` and predicted where `where` says. */
function run(tokens: number[], where: (k: number, image: number) => PixelPoint): KeypointIndex[] {
  const created = runs.createRun({ settings: { steps: 10 } });
  runs.setStatus(created.id, 'done');
  const indices = runs.chooseIndices(created.id, tokens);
  runs.writePredictions(created.id, predictions(indices, where));
  return runs.indices(created.id);
}

beforeEach(async () => {
  dir = tempDir();
  for (let i = 0; i < IMAGES; i++) await writeImage(path.join(dir, 'images', `bird_${i}.png`), SIZE, SIZE, 'png', i);
  services = createServices();
  await services.project.create({ path: path.join(dir, 'birds.skp'), images: path.join(dir, 'images') });
  imageIds = (await services.images.list({ sort: 'path' })).items.map((i) => i.id);
  runs = new RunStore(services.context.db);
});
afterEach(() => {
  services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('matching a run to the parts', () => {
  it('recovers a permuted run exactly, flags a doubtful match and offers a new part for a stray index', async () => {
    const first = run([7, 3, 42, 11, 5, 9], (k, i) => birds[i]!.keypoints[PARTS[k]!]);
    const parts = await services.keypoints.listParts();
    expect(first.map((index) => index.partId)).toEqual(parts.map((p) => p.id));
    for (const [k, part] of parts.entries()) await services.keypoints.updatePart(part.id, { name: PARTS[k] });
    await services.keypoints.setSkeleton([{ from: parts[0]!.id, to: parts[1]!.id }]);
    await services.keypoints.setCorrected(imageIds[0]!, [{ partId: parts[5]!.id, x: 1.5, y: 2.25, visibility: 1 }]);

    // Same parts, another order, a pixel of jitter; index 4 (wing tip) sits 8 % of the diagonal
    // away; index 6 lands in a corner where no part is.
    const jitter = new Random(5, 'jitter');
    const off = 0.08 * diagonal;
    const second = run([1, 2, 3, 4, 5, 6, 8], (k, i) => {
      if (k === 6) return { x: 2, y: SIZE - 2 };
      const p = birds[i]!.keypoints[PARTS[PERMUTATION[k]!]!];
      const shift = k === 4 ? off / Math.SQRT2 : 0;
      return { x: p.x + shift + jitter.uniformIn(-1, 1), y: p.y + shift + jitter.uniformIn(-1, 1) };
    });
    const before = snapshot(path.join(dir, 'birds.skp'));

    const proposal = await services.keypoints.proposeMatch(second[0]!.runId);
    expect(proposal.comparedWithRunId).toBe(first[0]!.runId);
    expect(proposal.matches.map((m) => [m.indexId, m.partId, m.verdict])).toEqual([
      ...PERMUTATION.map((p, k) => [second[k]!.id, parts[p]!.id, k === 4 ? 'check' : 'confident']),
      [second[6]!.id, null, 'new'],
    ]);
    for (const m of proposal.matches.slice(0, 6)) expect(m.images).toBe(IMAGES);
    expect(proposal.matches[0]!.distance).toBeLessThan(CONFIDENT);
    expect(proposal.matches[4]!.distance).toBeGreaterThan(CONFIDENT);
    expect(proposal.matches[4]!.distance).toBeLessThan(NEW_PART);
    expect(proposal.matches[4]!.nearest).toEqual({ partId: parts[4]!.id, distance: proposal.matches[4]!.distance });
    // The stray index is told how far the nearest part is.
    expect(proposal.matches[6]!.nearest!.distance).toBeGreaterThan(NEW_PART);
    // A proposal changes nothing: run 1 still feeds the predictions.
    expect(snapshot(path.join(dir, 'birds.skp'))).toEqual(before);
    expect((await services.project.info()).currentRunId).toBe(first[0]!.runId);

    // The user re-assigns index 4 by hand to a part of its own, and accepts the rest.
    const accepted = proposal.matches.map((m, k) => ({ indexId: m.indexId, partId: k === 4 ? null : m.partId }));
    const adopted = await services.keypoints.adoptRun(second[0]!.runId, accepted);
    const info = await services.project.info();
    expect(info.currentRunId).toBe(second[0]!.runId);
    expect(info.parts.map((p) => p.displayName)).toEqual([...PARTS, 'keypoint_7', 'keypoint_8']);
    expect(adopted.map((index) => index.partId)).toEqual([
      parts[3]!.id,
      parts[0]!.id,
      parts[5]!.id,
      parts[1]!.id,
      7,
      parts[2]!.id,
      8,
    ]);
    expect(info.counts).toMatchObject({ correctedKeypoints: 1, indices: 7, parts: 8 });
    expect(await services.keypoints.getSkeleton()).toEqual([{ from: parts[0]!.id, to: parts[1]!.id }]);
    const { points } = await services.keypoints.getKeypoints(imageIds[0]!);
    const beak = points.find((p) => p.partId === parts[0]!.id)!;
    expect(beak.predicted).toMatchObject({ runId: second[0]!.runId });
    expect(beak.predicted!.x).toBeCloseTo(birds[0]!.keypoints.beak.x, -0.5);
    expect(points.find((p) => p.partId === parts[5]!.id)!.effective).toMatchObject({ source: 'corrected', x: 1.5 });
    // Wing tip's old part keeps no prediction of run 2, but stays: run 1 still stands for it.
    expect(points.find((p) => p.partId === parts[4]!.id)!.predicted).toBeNull();

    // Back to run 1: names, skeleton and corrections as they were, run 1's predictions again.
    await services.project.updateSettings({ activeRunId: first[0]!.runId });
    const again = await services.keypoints.getKeypoints(imageIds[0]!);
    expect(again.points.find((p) => p.partId === parts[0]!.id)!.predicted).toMatchObject({
      runId: first[0]!.runId,
      x: birds[0]!.keypoints.beak.x,
    });
    expect((await services.project.info()).parts.map((p) => p.displayName)).toEqual([
      ...PARTS,
      'keypoint_7',
      'keypoint_8',
    ]);
  });

  it('refuses assignments that give a part twice or leave an index out, and a run not yet matched as the current one', async () => {
    const first = run([7, 3], (k, i) => birds[i]!.keypoints[PARTS[k]!]);
    const second = run([1, 2], (k, i) => birds[i]!.keypoints[PARTS[k]!]);
    const runId = second[0]!.runId;
    const [a, b] = second;
    await expectError(
      () => services.keypoints.adoptRun(runId, [{ indexId: a!.id, partId: first[0]!.partId }]),
      'exactly once',
    );
    await expectError(
      () =>
        services.keypoints.adoptRun(runId, [
          { indexId: a!.id, partId: first[0]!.partId },
          { indexId: b!.id, partId: first[0]!.partId },
        ]),
      'given to two indices',
    );
    await expectError(() => services.project.updateSettings({ activeRunId: runId }), 'match them first');
    expect((await services.project.info()).currentRunId).toBe(first[0]!.runId);
  });
});

describe('cheapest assignment', () => {
  const permutations = (n: number, m: number): number[][] => {
    if (n === 0) return [[]];
    return permutations(n - 1, m).flatMap((p) =>
      Array.from({ length: m }, (_, j) => j)
        .filter((j) => !p.includes(j))
        .map((j) => [...p, j]),
    );
  };

  it('finds the least total cost of every small matrix, as trying every assignment does', () => {
    const random = new Random(3, 'costs');
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + (trial % 4);
      const m = n + (trial % 3);
      const cost = Array.from({ length: n }, () => Array.from({ length: m }, () => random.uniformIn(0, 1)));
      const total = (columns: number[]) => columns.reduce((sum, j, i) => sum + cost[i]![j]!, 0);
      const best = Math.min(...permutations(n, m).map(total));
      const found = cheapestAssignment(cost);
      expect(new Set(found).size).toBe(n);
      expect(total(found)).toBeCloseTo(best, 12);
    }
  });
});
