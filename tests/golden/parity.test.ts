// The engine against the PyTorch reference's own numbers (the carried copies of shared/golden's
// case_a and case_c), through the same code path as `skp parity`, on ONNX Runtime's CPU provider.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runParity, type ParityLine } from '../../native/parity/run.js';
import { OrtBackend } from '../../native/runtime/ort.js';
import { goldenCaseDir } from './paths.js';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-parity-'));
const failures = (lines: ParityLine[]) =>
  lines.filter((l) => l.outcome === 'fail').map((l) => `${l.quantity} ${l.measure} ${l.error} ${l.detail ?? ''}`);

describe('parity with the reference (case_a)', () => {
  it('reproduces every golden quantity from the float32 diffusers folder', async () => {
    const lines = await runParity(goldenCaseDir(), { backend: new OrtBackend({ provider: 'cpu', cacheDir }) });
    expect(failures(lines)).toEqual([]);
    const names = new Set(lines.map((l) => l.quantity));
    for (const q of [
      'latents',
      'attn_maps',
      'step_grad',
      'step selected indices',
      'best indices',
      'aug_maps',
      'augmented keypoints (y, x)',
    ]) {
      expect(names).toContain(q);
    }
    expect(lines.some((l) => l.quantity.startsWith('tokens after step 2'))).toBe(true);
  });

  it('gives the same maps (within float16 rounding) and selections from the float16 single file', async () => {
    const dir = goldenCaseDir();
    const lines = await runParity(dir, {
      backend: new OrtBackend({ provider: 'cpu', cacheDir }),
      singleFile: path.join(dir, 'single_file_fp16.safetensors'),
    });
    expect(failures(lines)).toEqual([]);
    const maps = lines.find((l) => l.quantity === 'attn_maps')!;
    expect(maps.tolerance).toBe(2e-3);
    // float16 weights must actually change something, or the file was not the one read.
    expect(maps.error).toBeGreaterThan(1e-6);
  });

  it('reproduces case_c (other shapes) with every discrete result identical or at a tie that shows its numbers', async () => {
    const lines = await runParity(goldenCaseDir('case_c'), { backend: new OrtBackend({ provider: 'cpu', cacheDir }) });
    expect(failures(lines)).toEqual([]);
    for (let it = 0; it < 4; it++) {
      for (const q of ['maps', 'warped maps', 'candidates', 'selected indices', 'loss'])
        expect(lines.map((l) => l.quantity)).toContain(`optimisation iteration ${it} ${q}`);
    }
    for (const tie of lines.filter((l) => l.outcome === 'tie')) {
      expect(tie.error).toBeLessThanOrEqual(1e-6);
      expect(tie.detail).toMatch(/value|score|at \d/);
    }
  });
});
