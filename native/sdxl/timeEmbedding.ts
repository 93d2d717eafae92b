// Host-side sinusoidal embeddings and the DDIM noise schedule, in float32 arithmetic
// step by step (Math.fround) so they round like the reference's torch code.

const f = Math.fround;

/** diffusers `get_timestep_embedding` for one value: [cos | sin] when flipped. */
export function sinusoidalEmbedding(value: number, dim: number, flipSinToCos: boolean, freqShift: number): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const logMax = f(-Math.log(10000));
  for (let i = 0; i < half; i++) {
    const exponent = f(f(logMax * i) / f(half - freqShift));
    const arg = f(f(value) * f(Math.exp(exponent)));
    const s = f(Math.sin(arg));
    const c = f(Math.cos(arg));
    out[flipSinToCos ? half + i : i] = s;
    out[flipSinToCos ? i : half + i] = c;
  }
  return out;
}

export interface NoiseSchedule {
  betaStart: number;
  betaEnd: number;
  trainSteps: number;
  betaSchedule: 'scaled_linear' | 'linear';
  stepsOffset: number;
  inferenceSteps: number;
}

export const DEFAULT_SCHEDULE: NoiseSchedule = {
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainSteps: 1000,
  betaSchedule: 'scaled_linear',
  stepsOffset: 1,
  inferenceSteps: 50,
};

/**
 * The last DDIM timestep with "leading" spacing, the one the method evaluates at (1 for SDXL):
 * timesteps are i·(train/inference) + offset, so the smallest is the offset itself.
 */
export const lastTimestep = (s: NoiseSchedule): number => s.stepsOffset;

/** sqrt(ᾱ_t) and sqrt(1-ᾱ_t) for `add_noise` at timestep t. */
export function noiseCoefficients(s: NoiseSchedule, t: number): { signal: number; noise: number } {
  let cumprod = 1;
  for (let i = 0; i <= t; i++) {
    let beta: number;
    if (s.betaSchedule === 'scaled_linear') {
      const a = Math.sqrt(s.betaStart);
      const b = Math.sqrt(s.betaEnd);
      const x = f(a + ((b - a) * i) / (s.trainSteps - 1));
      beta = f(x * x);
    } else {
      beta = f(s.betaStart + ((s.betaEnd - s.betaStart) * i) / (s.trainSteps - 1));
    }
    cumprod = f(cumprod * f(1 - beta));
  }
  return { signal: f(Math.sqrt(cumprod)), noise: f(Math.sqrt(f(1 - cumprod))) };
}
