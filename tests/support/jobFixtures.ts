// Real projects for the job tests: a small random SDXL-architecture model, drawn birds with
// known keypoints imported as ground truth, and settings small enough for a step to take a
// fraction of a second on a CPU.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonObject } from '../../electron/common/runs.js';
import { openProjectDatabase, type ProjectDatabase } from '../../electron/db/database.js';
import { createServices } from '../../electron/services/container.js';
import { DEMO_SIZES, writeRandomSdxlModel } from '../../native/sdxl/randomModel.js';
import { writeDemoDataset } from '../../resources/demo/writeDataset.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const made: string[] = [];
export function tempDir(prefix = 'skp-jobs-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
export const removeTempDirs = () => made.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true }));

/** Every knob small; K = 3 of 8 tokens at 64×64 pixels. */
export const TINY: JsonObject = {
  tokens: 8,
  steps: 4,
  batchSize: 1,
  keypoints: 3,
  candidates: 4,
  imageSize: 64,
  upsampleRes: 8,
  indexImages: 4,
  augmentationIterations: 1,
  seed: 3,
};

export function writeModel(dir: string): string {
  const folder = path.join(dir, 'model');
  writeRandomSdxlModel(folder, DEMO_SIZES, 0);
  return folder;
}

/** A project with `count` drawn birds and their keypoints as ground truth. */
export async function writeProject(dir: string, count: number): Promise<string> {
  const data = await writeDemoDataset(path.join(dir, 'images'), count, { size: 64, seed: 5 });
  const file = path.join(dir, 'project.skp');
  const services = createServices();
  try {
    await services.project.create({ path: file });
    await services.imports.importCoco({ file: data.annotations });
  } finally {
    services.dispose();
  }
  return file;
}

/** Opens the project on a connection of the test's own, for reading what the jobs wrote. */
export function withProject<T>(file: string, read: (db: ProjectDatabase) => T): T {
  const db = openProjectDatabase(file);
  try {
    return read(db);
  } finally {
    db.close();
  }
}
