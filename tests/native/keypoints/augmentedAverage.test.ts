// The augmented average of one image's passes: each map's sum over the draws divided by how many
// draws covered each pixel, and each map's peak, computed over the sums (which ends the average).
import { describe, expect, it } from 'vitest';
import { AugmentedAverage } from '../../../native/keypoints/method.js';
import { seededRandom } from '../../support/random.js';

describe('augmented average', () => {
  it('divides each map by the coverage, with 0 where no draw covered a pixel, bit for bit, and finds each peak', () => {
    const [k, size] = [3, 5];
    const area = size * size;
    const rand = seededRandom(11);
    const sums = Float32Array.from({ length: k * area }, () => rand() * 4);
    const coverage = Float32Array.from({ length: area }, (_, j) => (j % 7 === 0 ? 0 : 1 + (j % 3)));
    const expected = sums.map((v, i) => {
      const c = coverage[i % area]!;
      return c === 0 ? 0 : Math.fround(v / c);
    });
    const average = new AugmentedAverage(k, size);
    average.update(Float32Array.from(sums), coverage);
    const { maps, points } = average.result();
    expect(Buffer.from(maps.buffer)).toEqual(Buffer.from(expected.buffer));
    expect(points).toEqual(
      Array.from({ length: k }, (_, n) => {
        const map = Array.from(expected.subarray(n * area, (n + 1) * area));
        const best = map.indexOf(Math.max(...map));
        return { y: (Math.floor(best / size) + 0.5) / size, x: ((best % size) + 0.5) / size, score: map[best] };
      }),
    );
  });

  it('puts a tied peak at its first pixel, and an uncovered map’s at the first pixel with score 0', () => {
    const average = new AugmentedAverage(2, 2);
    average.update(Float32Array.of(1, 3, 6, 5, 0, 0, 0, 0), Float32Array.of(1, 1, 2, 1));
    const { maps, points } = average.result();
    expect(Array.from(maps)).toEqual([1, 3, 3, 5, 0, 0, 0, 0]);
    expect(points).toEqual([
      { y: 0.75, x: 0.75, score: 5 },
      { y: 0.25, x: 0.25, score: 0 },
    ]);
    const tie = new AugmentedAverage(1, 2);
    tie.update(Float32Array.of(1, 4, 2, 4), Float32Array.of(1, 2, 1, 2));
    expect(tie.result().points).toEqual([{ y: 0.25, x: 0.75, score: 2 }]);
  });

  it('refuses to be fed, updated or read again once its result is taken', () => {
    const average = new AugmentedAverage(1, 2);
    average.update(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1, 2, 0));
    expect(Array.from(average.result().maps)).toEqual([1, 2, 1.5, 0]);
    expect(() => average.result()).toThrow(/already taken/);
    expect(() => average.feeds()).toThrow(/already taken/);
    expect(() => average.update(new Float32Array(4), new Float32Array(4))).toThrow(/already taken/);
  });
});
