import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The golden reference case beside the checkout; its absence is an error, never a skip. */
export function goldenCaseDir(name = 'case_a'): string {
  const dir = path.resolve(repoRoot, '../shared/golden', name);
  if (!fs.existsSync(path.join(dir, 'golden/meta.json'))) {
    throw new Error(`golden case not found at ${dir}: the parity tests need ../shared/golden beside the repository`);
  }
  return dir;
}

export const goldenModelDir = (name = 'case_a'): string => path.join(goldenCaseDir(name), 'model');
export const goldenSingleFile = (name = 'case_a'): string =>
  path.join(goldenCaseDir(name), 'single_file_fp16.safetensors');
