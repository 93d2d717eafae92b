import { describe, expect, it } from 'vitest';
import {
  chooseIndices,
  furthestPointSampling,
  gaussianScores,
  gaussianTarget,
  peakPositions,
  subjectPeaks,
  topCandidates,
  type TokenMaps,
} from '../../../native/keypoints/fps.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { goldenCaseDir } from '../../golden/paths.js';

/** Maps whose token n is a Gaussian blob (width w) at peaks[n] plus a floor. */
function blobMaps(size: number, blobs: Array<Array<[number, number]>>, width: number): TokenMaps {
  const data = new Float32Array(blobs.length * size * size);
  blobs.forEach((centres, n) => {
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) {
        let v = 0.01;
        for (const [cy, cx] of centres) v += Math.exp(-((i - cy) ** 2 + (j - cx) ** 2) / (2 * width * width));
        data[(n * size + i) * size + j] = v;
      }
  });
  return { data, tokens: blobs.length, size };
}

describe('candidate scoring', () => {
  it('finds peaks at pixel centres, first maximum on ties', () => {
    const maps: TokenMaps = { data: Float32Array.from([0, 1, 1, 0, 2, 0, 0, 0]), tokens: 2, size: 2 };
    expect(peakPositions(maps)).toEqual([
      { y: 0.25, x: 0.75 },
      { y: 0.25, x: 0.25 },
    ]);
  });

  it('draws the Gaussian target on pixel centres', () => {
    const t = gaussianTarget([{ y: 0.5 / 4, x: 1.5 / 4 }], 4, 2);
    expect(t[1]).toBe(1);
    expect(t[0]).toBeCloseTo(Math.exp(-1 / 8), 12);
    expect(t[4 + 2]).toBeCloseTo(Math.exp(-2 / 8), 12);
  });

  it('scores a sharp blob better than a wide one, and ranks candidates ascending', () => {
    const maps = blobMaps(16, [[[4, 4]], [[8, 8]], [[12, 3]]], 1);
    // Token 1 becomes a wide blob, unlike the σ = 1 target that tokens 0 and 2 match.
    const wide = blobMaps(16, [[[8, 8]]], 5).data;
    maps.data.set(wide, 16 * 16);
    const scores = gaussianScores(maps, { sigma: 1 });
    expect(scores[1]).toBeGreaterThan(scores[0]!);
    expect(topCandidates(maps, 2, { sigma: 1 })).not.toContain(1);
    expect(() => topCandidates(maps, 4, { sigma: 1 })).toThrow(/1\.\.3/);
  });

  it('with two subjects, rewards tokens that light up two places', () => {
    const maps = blobMaps(
      32,
      [
        [
          [8, 8],
          [24, 24],
        ],
        [[16, 16]],
      ],
      1.5,
    );
    expect(subjectPeaks(maps.data.subarray(0, 1024), 32, 2)).toHaveLength(2);
    const one = gaussianScores(maps, { sigma: 1.5, subjects: 1 });
    const two = gaussianScores(maps, { sigma: 1.5, subjects: 2 });
    expect(two[0]).toBeLessThan(one[0]!);
    expect(two[0]).toBeLessThan(two[1]!);
  });
});

describe('furthest point sampling', () => {
  it('starts from the farthest pair and adds the point farthest from the chosen set', () => {
    // Peaks on a 10-grid: token 0 at (0,0), 1 at (9,9), 2 at (0,9), 3 at (1,1), 4 at (5,5), 5 at (9,0).
    const at: Array<[number, number]> = [
      [0, 0],
      [9, 9],
      [0, 9],
      [1, 1],
      [5, 5],
      [9, 0],
    ];
    const maps = blobMaps(
      10,
      at.map((p) => [p]),
      0.5,
    );
    expect(furthestPointSampling(maps, [3, 4, 0, 1, 2], 4)).toEqual([0, 1, 2, 4]);
    // Tokens 2 and 5 are equally far from the pair (0, 1): the one listed first wins.
    expect(furthestPointSampling(maps, [0, 1, 5, 2], 3)).toEqual([0, 1, 5]);
    expect(furthestPointSampling(maps, [0, 1, 2, 5], 3)).toEqual([0, 1, 2]);
    expect(() => furthestPointSampling(maps, [0, 1], 1)).toThrow(/K must be/);
  });
});

describe('golden selections (case_a)', () => {
  const golden = openGoldenCase(goldenCaseDir());
  const { params, step, find_best_indices: best } = golden.meta;
  const maps = (name: string): TokenMaps => {
    const t = golden.tensor(name);
    return { data: t.data, tokens: t.shape[0]!, size: t.shape[1]! };
  };

  it('ranks the same candidates as the reference on step_maps', () => {
    const candidates = topCandidates(maps('step_maps'), params.furthest_point_num_samples, {
      sigma: params.sigma,
      subjects: params.num_subjects,
    });
    expect(candidates).toEqual(step.top_initial_candidates);
  });

  it('selects the same K tokens by furthest point sampling on step_maps_transformed', () => {
    const candidates = topCandidates(maps('step_maps'), params.furthest_point_num_samples, {
      sigma: params.sigma,
      subjects: params.num_subjects,
    });
    const selected = furthestPointSampling(maps('step_maps_transformed'), candidates, params.top_k);
    expect(selected).toEqual(step.selected_indices);
  });

  it('votes the same best indices and counts from the per-image selections', () => {
    const choice = chooseIndices(best.per_image, params.top_k);
    expect(choice.indices).toEqual(best.best_by_count_then_index);
    expect(Object.fromEntries([...choice.counts].map(([k, v]) => [String(k), v]))).toEqual(best.counts);
  });
});
