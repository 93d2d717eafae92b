import { describe, expect, it } from 'vitest';
import { defaultRunSettings, parseRunSettings, SettingsError } from '../../../native/keypoints/settings.js';

const problemsOf = (raw: unknown): string[] => {
  try {
    parseRunSettings(raw);
  } catch (e) {
    if (e instanceof SettingsError) return e.problems;
    throw e;
  }
  return [];
};

describe('run settings', () => {
  it('defaults to the reference settings', () => {
    expect(defaultRunSettings()).toEqual({
      tokens: 500,
      steps: 200,
      batchSize: 4,
      learningRate: 0.005,
      weightDecay: 1e-4,
      sigma: 2,
      keypoints: 10,
      candidates: 25,
      upsampleRes: 128,
      layers: [0, 1, 2],
      maxQueryTokens: 1024,
      augmentation: { rotationDegrees: 15, scale: [0.8, 1], translate: [0.25, 0.25] },
      augmentationIterations: 10,
      warpsPerPass: 0,
      equivarianceWeight: 1000,
      sharpeningWeight: 100,
      imageSize: 512,
      latentScale: 0.18215,
      indexImages: 100,
      subjects: 1,
      seed: 0,
      lowMemory: false,
      fastPrecision: false,
    });
  });

  it('accepts the golden case_a parameters (a small model at 128 px)', () => {
    const s = parseRunSettings({ tokens: 40, imageSize: 128, upsampleRes: 32, augmentation: { rotationDegrees: 15 } });
    expect(s.upsampleRes).toBe(32);
    expect(s.augmentation.scale).toEqual([0.8, 1]);
  });

  it('names the field and the reason for a bad single value', () => {
    expect(problemsOf({ tokens: 0 })[0]).toMatch(/^tokens: /);
    expect(problemsOf({ learningRate: 'fast' })[0]).toMatch(/^learningRate: .*number/);
    expect(problemsOf({ augmentation: { rotationDegrees: 200 } })[0]).toMatch(/^augmentation\.rotationDegrees: /);
    expect(problemsOf({ tokenz: 10 })[0]).toMatch(/tokenz/);
    expect(problemsOf({ seed: -1 })[0]).toMatch(/^seed: /);
  });

  it('rejects combinations that cannot run, each with its own message', () => {
    expect(problemsOf({ tokens: 8, candidates: 8 })).toContain('keypoints: K = 10 is more than the 8 tokens');
    expect(problemsOf({ candidates: 5 })).toEqual([
      'candidates: 5 candidates cannot hold the K = 10 keypoints (need candidates >= keypoints)',
    ]);
    expect(problemsOf({ tokens: 20 })).toEqual(['candidates: 25 candidates is more than the 20 tokens']);
    expect(problemsOf({ upsampleRes: 100 })).toEqual([
      'upsampleRes: 100 is not a multiple of the 16×16 attention grid at image size 512 (try 96)',
    ]);
    expect(problemsOf({ imageSize: 500 })[0]).toMatch(/^imageSize: 500 px is not a multiple of 32/);
    expect(problemsOf({ augmentation: { scale: [1.1, 0.9] } })[0]).toMatch(/^augmentation\.scale: /);
    expect(problemsOf({ layers: [0, 0] })[0]).toMatch(/^layers: .*twice/);
  });

  it('reports every problem at once, under the caller’s label', () => {
    let error: unknown;
    try {
      parseRunSettings({ candidates: 5, upsampleRes: 100 }, 'project.json settings');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems).toHaveLength(2);
    expect((error as Error).message).toMatch(/^project\.json settings: \n {2}- candidates/);
  });
});
