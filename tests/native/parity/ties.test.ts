// The parity tool tells a tie from a bug: judged on the reference's own recorded maps, a choice
// that differs at a real tie of the reference's numbers passes as a tie, and a choice the
// reference's numbers call worse fails, also when it comes out of the engine mid-run.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../../native/graph/ir.js';
import { gaussianScores, peakPositions, type TokenMaps } from '../../../native/keypoints/fps.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { runParity } from '../../../native/parity/run.js';
import { judgeFarthestPoints, judgePeaks, judgeRanking } from '../../../native/parity/ties.js';
import type { Backend, HostTensor } from '../../../native/runtime/backend.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { goldenCaseDir } from '../../golden/paths.js';

const caseC = openGoldenCase(goldenCaseDir('case_c'));
const caseA = openGoldenCase(goldenCaseDir('case_a'));
const mapsOf = (c: typeof caseC, name: string): TokenMaps => ({
  data: c.tensor(name).data,
  tokens: c.meta.params.num_tokens,
  size: c.meta.params.feature_upsample_res,
});

/** Furthest point sampling with distances in float64: the reference's rule without its float32 rounding. */
function fps64(maps: TokenMaps, candidates: readonly number[], k: number): number[] {
  const peaks = peakPositions(maps);
  const d = (a: number, b: number) => Math.hypot(peaks[a]!.y - peaks[b]!.y, peaks[a]!.x - peaks[b]!.x);
  let pair = [candidates[0]!, candidates[1]!];
  for (let i = 0; i < candidates.length; i++)
    for (let j = i + 1; j < candidates.length; j++)
      if (d(candidates[i]!, candidates[j]!) > d(pair[0]!, pair[1]!)) pair = [candidates[i]!, candidates[j]!];
  const chosen = [...pair];
  while (chosen.length < k) {
    const rest = candidates.filter((c) => !chosen.includes(c));
    const near = (c: number) => Math.min(...chosen.map((s) => d(s, c)));
    chosen.push(rest.reduce((best, c) => (near(c) > near(best) ? c : best)));
  }
  return chosen;
}

/** `selection` with its last token swapped for the candidate nearest to the others: the worst last choice. */
function withWorstLast(selection: readonly number[], candidates: readonly number[], maps: TokenMaps): number[] {
  const peaks = peakPositions(maps);
  const kept = selection.slice(0, -1);
  const near = (c: number) =>
    Math.min(...kept.map((k) => Math.hypot(peaks[k]!.y - peaks[c]!.y, peaks[k]!.x - peaks[c]!.x)));
  const worst = candidates.filter((c) => !kept.includes(c)).reduce((w, c) => (near(c) < near(w) ? c : w));
  return [...kept, worst];
}

describe('ties in the reference numbers', () => {
  it('calls a lattice tie of furthest point sampling a tie, with gap 0', () => {
    // case_c, iteration 0: two candidates lie at mathematically equal distances; float64 picks the other one.
    const s = caseC.meta.optimize.schedule[0]!;
    const maps = mapsOf(caseC, 'opt_maps_transformed_0');
    const ours = fps64(maps, s.top_initial_candidates, s.selected_indices.length);
    expect(ours).not.toEqual(s.selected_indices);
    const j = judgeFarthestPoints(ours, s.selected_indices, s.top_initial_candidates, maps, 1e-6);
    expect(j.kind).toBe('tie');
    if (j.kind === 'tie') {
      expect(j.gap).toBe(0);
      expect(j.detail).toMatch(/^(step \d+|first pair): ours \d+ at [\d.]+, reference \d+ at [\d.]+/);
    }
  });

  it('fails a selection that takes the candidate nearest to the chosen set', () => {
    const s = caseC.meta.optimize.schedule[1]!;
    const maps = mapsOf(caseC, 'opt_maps_transformed_1');
    const wrong = withWorstLast(s.selected_indices, s.top_initial_candidates, maps);
    const j = judgeFarthestPoints(wrong, s.selected_indices, s.top_initial_candidates, maps, 1e-6);
    expect(j.kind).toBe('fail');
    expect(j.kind !== 'identical' && j.gap).toBeGreaterThan(1e-3);
  });

  it('fails a first pair out of candidate order, and a list with a stranger or a repeat', () => {
    const s = caseC.meta.optimize.schedule[2]!;
    const maps = mapsOf(caseC, 'opt_maps_transformed_2');
    const [a, b, ...rest] = s.selected_indices;
    const judge = (ours: number[]) => judgeFarthestPoints(ours, s.selected_indices, s.top_initial_candidates, maps, 1);
    expect(judge([b!, a!, ...rest]).kind).toBe('fail');
    const stranger = [...Array(caseC.meta.params.num_tokens).keys()].find(
      (t) => !s.top_initial_candidates.includes(t),
    )!;
    expect(judge([a!, b!, ...rest.slice(0, -1), stranger]).kind).toBe('fail');
    expect(judge([a!, b!, ...rest.slice(0, -1), a!]).kind).toBe('fail');
  });

  it('judges a candidate swap by the gap of the reference scores: a tie from float16, a failure from float32', () => {
    // case_a's golden step: tokens 13 and 38 score 3.1022754 and 3.1022717 (relative gap 1.2e-6).
    const scores = gaussianScores(mapsOf(caseA, 'step_maps'), { sigma: caseA.meta.params.sigma });
    const theirs = caseA.meta.step.top_initial_candidates;
    const i = theirs.indexOf(13);
    const j = theirs.indexOf(38);
    expect(Math.abs(i - j)).toBe(1);
    const swapped = theirs.map((t) => (t === 13 ? 38 : t === 38 ? 13 : t));
    expect(judgeRanking(swapped, theirs, scores, 1e-4).kind).toBe('tie');
    const strict = judgeRanking(swapped, theirs, scores, 1e-6);
    expect(strict.kind).toBe('fail');
    expect(strict.kind !== 'identical' && strict.detail).toContain('3.102275409');
    // The sharpest and the bluntest candidate exchanged is no tie at any sensible tolerance.
    const reversed = [theirs.at(-1)!, ...theirs.slice(1, -1), theirs[0]!];
    expect(judgeRanking(reversed, theirs, scores, 1e-2).kind).toBe('fail');
  });

  it('compares keypoints as pixels: the same float32 coordinate is identical, a moved peak a tie or a failure', () => {
    const maps: TokenMaps = { data: new Float32Array(96 * 96).fill(0.5), tokens: 1, size: 96 };
    const f32 = { y: 0.1302083432674408, x: 0.1302083432674408 };
    const f64 = { y: 0.13020833333333334, x: 0.13020833333333334 };
    expect(judgePeaks([f64], [f32], maps, 1e-6).kind).toBe('identical');

    const aug = caseC.meta.augmented;
    const augMaps: TokenMaps = {
      data: caseC.tensor('aug_maps').data,
      tokens: aug.indices.length,
      size: aug.upscale_size,
    };
    const theirs = aug.keypoints_yx_normalized.map(([y, x]) => ({ y: y!, x: x! }));
    // Map 0's reference peak (1,127) and (0,127) hold 0.0425600521 and 0.0425600484.
    const moved = theirs.map((p, k) => (k === 0 ? { y: 0.5 / aug.upscale_size, x: p.x } : p));
    expect(judgePeaks(moved, theirs, augMaps, 1e-6).kind).toBe('tie');
    const far = theirs.map((p, k) => (k === 0 ? { y: 1 - p.y, x: 1 - p.x } : p));
    expect(judgePeaks(far, theirs, augMaps, 1e-6).kind).toBe('fail');
  });
});

/**
 * The real engine, with one fault: at one optimisation iteration the in-graph selection that
 * comes back swaps its last token for the candidate nearest to the others, as a kernel bug would.
 */
function withWrongSelection(inner: Backend, iteration: number, maps: TokenMaps, candidates: number[]): Backend {
  return {
    info: inner.info,
    async compile(outputs: readonly Tensor[], opts?: { name?: string }) {
      const compiled = await inner.compile(outputs, opts);
      if (opts?.name !== 'train-step-given-choice') return compiled;
      let runs = 0;
      return {
        inputNames: compiled.inputNames,
        release: () => compiled.release(),
        async run(feeds: Record<string, HostTensor>) {
          const out = await compiled.run(feeds);
          if (runs++ !== iteration) return out;
          const at = outputs.findIndex((t) => t.dtype === 'int64' && t.shape[0] === caseC.meta.params.top_k);
          const selected = Array.from(out[at]!.data as BigInt64Array, Number);
          out[at] = { ...out[at]!, data: BigInt64Array.from(withWorstLast(selected, candidates, maps).map(BigInt)) };
          return out;
        },
      };
    },
  };
}

describe('a wrong selection mid-run', () => {
  it('is a failure, not a tie, and every later quantity is still compared strictly', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-ties-'));
    const it = 1;
    const s = caseC.meta.optimize.schedule[it]!;
    const backend = withWrongSelection(
      new OrtBackend({ provider: 'cpu', cacheDir }),
      it,
      mapsOf(caseC, `opt_maps_transformed_${it}`),
      s.top_initial_candidates,
    );
    const lines = await runParity(goldenCaseDir('case_c'), { backend });
    const failed = lines.filter((l) => l.outcome === 'fail').map((l) => l.quantity);
    expect(failed).toEqual([`optimisation iteration ${it} selected indices`]);
    // Losses after the fault follow the reference's choice, so they still match it closely.
    for (const later of [2, 3]) {
      const loss = lines.find((l) => l.quantity === `optimisation iteration ${later} loss`)!;
      expect(loss.outcome).toBe('pass');
    }
    expect(lines.find((l) => l.quantity === 'tokens after step 2 (displacement)')!.outcome).toBe('pass');
  });
});
