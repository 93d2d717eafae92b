// Host-side sinusoidal embeddings and the DDIM noise schedule, in float32 arithmetic
// step by step (Math.fround) so they round like the reference's torch code.
import type { SchedulerConfig } from './config.js';

const f = Math.fround;

/** diffusers `get_timestep_embedding` for one value: [cos | sin] when flipped. */
export function sinusoidalEmbedding(
  value: number,
  dim: number,
  flipSinToCos: boolean,
  freqShift: number,
): Float32Array {
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

/**
 * The last (smallest) timestep of the inference schedule, the one the method evaluates at
 * (1 for SDXL's "leading" spacing with offset 1), following diffusers' DDIMScheduler.set_timesteps.
 */
export function lastTimestep(s: SchedulerConfig, inferenceSteps: number): number {
  const T = s.numTrainTimesteps;
  if (s.timestepSpacing === 'trailing') return Math.round(T / inferenceSteps) - 1;
  if (s.timestepSpacing === 'linspace') return 0;
  return s.stepsOffset;
}

/** sqrt(ᾱ_t) and sqrt(1−ᾱ_t) for `add_noise` at timestep t. */
export function noiseCoefficients(s: SchedulerConfig, t: number): { signal: number; noise: number } {
  const T = s.numTrainTimesteps;
  let cumprod = 1;
  for (let i = 0; i <= t; i++) {
    let beta: number;
    if (s.betaSchedule === 'scaled_linear') {
      const a = Math.sqrt(s.betaStart);
      const b = Math.sqrt(s.betaEnd);
      const x = f(a + ((b - a) * i) / (T - 1));
      beta = f(x * x);
    } else if (s.betaSchedule === 'linear') {
      beta = f(s.betaStart + ((s.betaEnd - s.betaStart) * i) / (T - 1));
    } else {
      const alphaBar = (u: number) => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      beta = f(Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999));
    }
    cumprod = f(cumprod * f(1 - beta));
  }
  return { signal: f(Math.sqrt(cumprod)), noise: f(Math.sqrt(f(1 - cumprod))) };
}
