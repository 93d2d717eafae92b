import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The reference cases the project carries (copies of shared/golden; see cases/README.md). */
export const casesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cases');

/** A carried golden reference case; its absence is an error, never a skip. */
export function goldenCaseDir(name = 'case_a'): string {
  const dir = path.join(casesDir, name);
  if (!fs.existsSync(path.join(dir, 'golden/meta.json'))) {
    throw new Error(`golden case not found at ${dir}: the repository carries its reference cases in ${casesDir}`);
  }
  return dir;
}

export const goldenModelDir = (name = 'case_a'): string => path.join(goldenCaseDir(name), 'model');
export const goldenSingleFile = (name = 'case_a'): string =>
  path.join(goldenCaseDir(name), 'single_file_fp16.safetensors');
