// Stands in for a finished training run: writes a run, its chosen indices and a prediction per
// image into the project file through RunStore, the way the training job does. The engine itself
// is tested elsewhere; here it would cost minutes and prove nothing about the UI.
import path from 'node:path';
import { openProjectDatabase } from '../../electron/db/database.js';
import { ImageStore } from '../../electron/db/imageStore.js';
import { RunStore } from '../../electron/db/runStore.js';
import type { KeypointIndex } from '../../electron/common/keypoints.js';
import type { DemoDataset } from '../../resources/demo/writeDataset.js';

export interface SeededRun {
  runId: number;
  indices: KeypointIndex[];
  /** Predicted point per image file name, per index position. */
  predicted: Map<string, { x: number; y: number; score: number }[]>;
}

/** Predicts the first `k` labelled parts of each demo bird, a little off, with falling scores. */
export function seedTrainedRun(projectFile: string, dataset: DemoDataset, k: number): SeededRun {
  const db = openProjectDatabase(projectFile);
  try {
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: { tokens: 500, steps: 200, keypoints: k } });
    runs.setStatus(run.id, 'done');
    const indices = runs.chooseIndices(
      run.id,
      Array.from({ length: k }, (_, i) => 37 * i + 11),
    );
    const byName = new Map(new ImageStore(db).all().map((r) => [path.basename(r.path), r.id]));
    const predicted = new Map<string, { x: number; y: number; score: number }[]>();
    const points = dataset.coco.images.flatMap((image, n) => {
      const imageId = byName.get(image.file_name);
      if (imageId === undefined) throw new Error(`seed: ${image.file_name} is not in the project`);
      const truth = dataset.coco.annotations[n]!.keypoints;
      const mine = indices.map((_, i) => ({
        x: truth[3 * i]! + 3,
        y: truth[3 * i + 1]! - 2,
        score: 0.95 - 0.08 * i - 0.03 * n,
      }));
      predicted.set(path.basename(image.file_name), mine);
      return indices.map((index, i) => ({ imageId, indexId: index.id, ...mine[i]!, visibility: 2 as const }));
    });
    runs.writePredictions(run.id, points);
    return { runId: run.id, indices, predicted };
  } finally {
    db.close();
  }
}
