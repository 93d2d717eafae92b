// An image's augmented average: the graph divides the summed maps by their coverage (0 where no
// draw covered a pixel) and finds each map's peak; the host turns those into keypoints.
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../native/graph/interpret.js';
import { Graph } from '../../../native/graph/ir.js';
import { averagedMaps } from '../../../native/keypoints/graphs.js';
import { AugmentedAverage } from '../../../native/keypoints/method.js';
import { seededRandom } from '../../support/random.js';

function averageOf(sums: Float32Array, coverage: Float32Array, k: number, size: number) {
  const g = new Graph();
  const { averaged, peaks } = averagedMaps(g.input('sums', [k, size, size]), g.input('coverage', [size, size]));
  const [maps, at] = evaluate([averaged, peaks], { sums, coverage });
  return { maps: Float32Array.from(maps!.data as Float64Array), peaks: at!.data as BigInt64Array };
}

describe('augmented average', () => {
  it('divides each map by the coverage, with 0 where no draw covered a pixel, and finds each first peak', () => {
    const [k, size] = [3, 5];
    const area = size * size;
    const rand = seededRandom(11);
    const sums = Float32Array.from({ length: k * area }, () => rand() * 4);
    sums[area + 7] = sums[area + 3] = 9; // a tie: the first pixel wins
    const coverage = Float32Array.from({ length: area }, (_, j) => (j % 7 === 0 ? 0 : j === 3 ? 1 : 1 + (j % 3)));
    const { maps, peaks } = averageOf(sums, coverage, k, size);
    const expected = sums.map((v, i) => (coverage[i % area] === 0 ? 0 : v / coverage[i % area]!));
    expect(Array.from(maps)).toEqual(Array.from(expected));
    expect(Array.from(peaks, Number)).toEqual(
      Array.from({ length: k }, (_, n) => {
        const map = Array.from(expected.subarray(n * area, (n + 1) * area));
        return map.indexOf(Math.max(...map));
      }),
    );
    expect(Number(peaks[1])).toBe(3);
  });

  it('gives each peak as the normalised centre of its pixel, with the averaged value as score', () => {
    const average = new AugmentedAverage(2, 4);
    expect(() => average.result()).toThrow(/no pass has run/);
    const maps = Float32Array.from({ length: 32 }, (_, i) => i / 8);
    average.update([
      { dtype: 'float32', shape: [2, 4, 4], data: new Float32Array(32) },
      { dtype: 'float32', shape: [4, 4], data: new Float32Array(16) },
      { dtype: 'float32', shape: [2, 4, 4], data: maps },
      { dtype: 'int64', shape: [2], data: BigInt64Array.of(6n, 13n) },
    ]);
    expect(average.result()).toEqual({
      points: [
        { y: 0.375, x: 0.625, score: 0.75 },
        { y: 0.875, x: 0.375, score: 3.625 },
      ],
      maps,
    });
  });
});
