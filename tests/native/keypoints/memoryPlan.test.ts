// A job's memory on a given GPU: float32 copies of the weights exactly where the backend's rule
// (FLOAT32_WEIGHTS_SHARE of the card) keeps them.
import { describe, expect, it } from 'vitest';
import { CUDA_CONTEXT_BYTES, onGpu, type GraphMemory } from '../../../native/keypoints/memoryPlan.js';
import { FLOAT32_WEIGHTS_SHARE } from '../../../native/cuda/weights.js';

const GiB = 2 ** 30;

/** SDXL-sized training at 512²: 4.5 GiB of activations, float16 weights of 2.63 GiB. */
const job = (weightBytes: number, float32WeightBytes: number): GraphMemory => {
  const arenaBytes = 4.5 * GiB;
  return {
    arenaBytes,
    constantBytes: 0,
    weightBytes,
    float32WeightBytes,
    totalBytes: arenaBytes + weightBytes + CUDA_CONTEXT_BYTES,
  };
};

describe('memory on a given GPU', () => {
  const sdxl = job(2.63 * GiB, 5.26 * GiB);
  const withCopies = sdxl.totalBytes - 2.63 * GiB + 5.26 * GiB;

  it('counts float32 copies where the job with them takes at most the share of the card', () => {
    expect(FLOAT32_WEIGHTS_SHARE).toBe(0.5);
    expect(onGpu(sdxl, 140 * GiB)).toEqual({ totalBytes: withCopies, float32Weights: true });
    expect(onGpu(sdxl, 24 * GiB)).toEqual({ totalBytes: withCopies, float32Weights: true });
    // Exactly at the share still keeps them; a byte less of card does not.
    expect(onGpu(sdxl, withCopies / FLOAT32_WEIGHTS_SHARE).float32Weights).toBe(true);
    expect(onGpu(sdxl, withCopies / FLOAT32_WEIGHTS_SHARE - 1).float32Weights).toBe(false);
  });

  it('keeps the stored width on smaller cards, and where the weights are float32 already', () => {
    expect(onGpu(sdxl, 12 * GiB)).toEqual({ totalBytes: sdxl.totalBytes, float32Weights: false });
    expect(onGpu(sdxl, 16 * GiB)).toEqual({ totalBytes: sdxl.totalBytes, float32Weights: false });
    const float32 = job(5.26 * GiB, 5.26 * GiB);
    expect(onGpu(float32, 140 * GiB)).toEqual({ totalBytes: float32.totalBytes, float32Weights: false });
  });
});
