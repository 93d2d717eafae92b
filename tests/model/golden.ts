// Where the golden reference data lives: ../shared/golden relative to the repo root. Missing data is
// a failure with a clear message, never a silent skip.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function goldenCaseDir(name = 'case_a'): string {
  const dir = path.resolve(repoRoot, '../shared/golden', name);
  if (!fs.existsSync(dir)) {
    throw new Error(`golden data not found at ${dir}: the tests need ../shared/golden next to the repository`);
  }
  return dir;
}

export const goldenModelDir = (name = 'case_a'): string => path.join(goldenCaseDir(name), 'model');
export const goldenSingleFile = (name = 'case_a'): string =>
  path.join(goldenCaseDir(name), 'single_file_fp16.safetensors');
