// In-graph token selection against the host-side implementation of the same rules, on the
// golden maps, for one and for several subjects per image.
import { describe, expect, it } from 'vitest';
import { Graph } from '../../../native/graph/ir.js';
import { evaluate } from '../../../native/graph/interpret.js';
import { furthestPointSampling as hostFps, topCandidates } from '../../../native/keypoints/fps.js';
import { furthestPointSampling, sharpestTokens } from '../../../native/keypoints/selection.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { goldenCaseDir } from '../../golden/paths.js';

const golden = openGoldenCase(goldenCaseDir());

function inGraph(maps: Float32Array, n: number, r: number, subjects: number) {
  const g = new Graph();
  const m = g.input('maps', [n, r, r]);
  const candidates = sharpestTokens(m, 2, 25, subjects);
  const selected = furthestPointSampling(m, candidates, 10);
  const [c, s] = evaluate([candidates, selected], { maps });
  return {
    candidates: Array.from(c!.data as BigInt64Array, Number),
    selected: Array.from(s!.data as BigInt64Array, Number),
  };
}

describe('in-graph selection', () => {
  const { data, shape } = golden.tensor('attn_maps');
  const [, n, r] = shape as [number, number, number];
  for (const subjects of [1, 2, 3]) {
    it(`matches the host implementation with ${subjects} subject(s) per image`, () => {
      for (let i = 0; i < 2; i++) {
        const maps = data.subarray(i * n * r * r, (i + 1) * n * r * r);
        const ours = inGraph(maps, n, r, subjects);
        const host = topCandidates({ data: maps, tokens: n, size: r }, 25, { sigma: 2, subjects });
        expect(ours.candidates).toEqual(host);
        expect(ours.selected).toEqual(hostFps({ data: maps, tokens: n, size: r }, host, 10));
      }
    });
  }

  it('picks different candidates when a second subject is expected', () => {
    const maps = data.subarray(0, n * r * r);
    expect(inGraph(maps, n, r, 2).candidates).not.toEqual(inGraph(maps, n, r, 1).candidates);
  });
});
