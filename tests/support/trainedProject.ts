// A project as a training run would leave it: images, a run that chose K indices (each a new
// part: it is the project's first run), and predictions for every image — written through RunStore, as the jobs do.

import path from 'node:path';
import type { KeypointIndex, Part } from '../../electron/common/keypoints.js';
import { PartStore } from '../../electron/db/partStore.js';
import { RunStore } from '../../electron/db/runStore.js';
import { createServices, type ServiceHost } from '../../electron/services/container.js';
import { writeImage } from './projectHelpers.js';

export interface TrainedProject {
  services: ServiceHost;
  file: string;
  imageIds: number[];
  runId: number;
  indices: KeypointIndex[];
  /** The part each index stands for, in the indices' order (the first run makes them). */
  parts: Part[];
}

/** `count` images of 100×80 in `dir`/images, a run with `tokens.length` indices, predictions everywhere. */
export async function trainedProject(dir: string, count = 4, tokens = [7, 3, 42]): Promise<TrainedProject> {
  for (let i = 0; i < count; i++) await writeImage(path.join(dir, 'images', `img${i}.png`), 100, 80, 'png', i + 1);
  const services = createServices();
  const file = path.join(dir, 'trained.skp');
  await services.project.create({ path: file, images: path.join(dir, 'images') });
  const imageIds = (await services.images.list({ sort: 'path' })).items.map((i) => i.id);
  const runs = new RunStore(services.context.db);
  const run = runs.createRun({ settings: { tokens: 500, steps: 200 } });
  runs.setStatus(run.id, 'done');
  const indices = runs.chooseIndices(run.id, tokens);
  runs.writePredictions(
    run.id,
    imageIds.flatMap((imageId, i) =>
      indices.map((index, k) => ({
        imageId,
        indexId: index.id,
        x: 10 + 10 * k + i,
        y: 20 + 5 * k,
        visibility: 2 as const,
        score: 0.9 - 0.1 * k - 0.05 * i,
      })),
    ),
  );
  const partStore = new PartStore(services.context.db);
  const parts = indices.map((index) => partStore.part(index.partId!)!);
  return { services, file, imageIds, runId: run.id, indices, parts };
}
