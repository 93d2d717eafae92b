// Read access to imported ground truth (writing happens only through imports).

import { notFound } from '../common/errors.js';
import { idSchema } from '../common/schemas.js';
import type { GroundTruthInstance, GroundTruthSchema, GroundTruthSummary } from '../common/groundTruth.js';
import type { GroundTruthService } from '../common/services.js';
import { GroundTruthStore } from '../db/groundTruthStore.js';
import { ImageStore } from '../db/imageStore.js';
import type { ProjectContext } from './projectContext.js';
import { parseInput } from './validation.js';

export class GroundTruthServiceImpl implements GroundTruthService {
  constructor(private readonly context: ProjectContext) {}

  async summary(): Promise<GroundTruthSummary> {
    return new GroundTruthStore(this.context.db).summary();
  }

  async schema(): Promise<GroundTruthSchema> {
    return new GroundTruthStore(this.context.db).schema();
  }

  async forImage(imageId: number): Promise<GroundTruthInstance[]> {
    const db = this.context.db;
    if (!new ImageStore(db).get(parseInput(idSchema, imageId, 'image id'))) {
      throw notFound(`the project has no image with id ${imageId}`);
    }
    return new GroundTruthStore(db).forImage(imageId);
  }
}
