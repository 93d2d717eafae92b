// Keypoint indices (names, colours, order, skeleton) and the keypoints on each image.

import { z } from 'zod';
import { badInput, notFound } from '../common/errors.js';
import { indexNameSchema } from '../common/names.js';
import type { CorrectedPointInput, ImageKeypoints, IndexPatch, IndexPoint, Keypoint } from '../common/keypoints.js';
import type { KeypointIndex, PredictedPointInput, PredictionWriteResult, SkeletonEdge } from '../common/keypoints.js';
import type { KeypointService } from '../common/services.js';
import { ImageStore } from '../db/imageStore.js';
import { KeypointStore } from '../db/keypointStore.js';
import { RunStore } from '../db/runStore.js';
import type { ProjectDatabase } from '../db/database.js';
import type { ProjectContext } from './projectContext.js';
import { parseInput } from './validation.js';

const id = z.number().int();
const coordinate = z.number().refine(Number.isFinite, 'must be a finite number');
const visibility = z.union([z.literal(0), z.literal(1), z.literal(2)]);

const patchSchema = z.strictObject({
  name: indexNameSchema.nullable().optional(),
  colour: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, "must look like '#12ab9f'")
    .optional(),
  hidden: z.boolean().optional(),
});

const correctedSchema = z.array(z.strictObject({ indexId: id, x: coordinate, y: coordinate, visibility }));

const predictedSchema = z.array(
  z.strictObject({ imageId: id, indexId: id, x: coordinate, y: coordinate, visibility, score: coordinate.nullable() }),
);

const edgesSchema = z.array(z.strictObject({ from: id, to: id }));

export class KeypointServiceImpl implements KeypointService {
  constructor(private readonly context: ProjectContext) {}

  /** The run asked for, or the current one; null when the project has no indices yet. */
  private runOrCurrent(db: ProjectDatabase, runId: number | undefined): number | null {
    if (runId === undefined) return new KeypointStore(db).currentRunId();
    parseInput(id, runId, 'run id');
    if (!new RunStore(db).run(runId)) throw notFound(`the project has no run ${runId}`);
    return runId;
  }

  private requireIndex(store: KeypointStore, indexId: number): KeypointIndex {
    const index = store.index(indexId);
    if (!index) throw notFound(`the project has no keypoint index with id ${indexId}`);
    return index;
  }

  private requireImage(db: ProjectDatabase, imageId: number): void {
    parseInput(id, imageId, 'image id');
    if (!new ImageStore(db).get(imageId)) throw notFound(`the project has no image with id ${imageId}`);
  }

  /** Checks that every index id belongs to `runId`. */
  private requireRunIndices(store: KeypointStore, runId: number, indexIds: number[], what: string): void {
    const own = new Set(store.indices(runId).map((i) => i.id));
    const stray = indexIds.find((i) => !own.has(i));
    if (stray !== undefined) throw badInput(`${what}: index ${stray} is not one of run ${runId}'s indices`);
  }

  async listIndices(runId?: number): Promise<KeypointIndex[]> {
    const db = this.context.db;
    const run = this.runOrCurrent(db, runId);
    return run === null ? [] : new KeypointStore(db).indices(run);
  }

  async updateIndex(indexId: number, patch: IndexPatch): Promise<KeypointIndex> {
    const valid = parseInput(patchSchema, patch, 'index change');
    const db = this.context.writable;
    const store = new KeypointStore(db);
    const index = this.requireIndex(store, parseInput(id, indexId, 'index id'));
    const name = valid.name === undefined ? undefined : valid.name?.trim() || null;
    if (name) {
      // Export uses names as COCO keypoint names, which must be unique within the category.
      const clash = store
        .indices(index.runId)
        .find((other) => other.id !== index.id && other.displayName.toLowerCase() === name.toLowerCase());
      if (clash) throw badInput(`index name "${name}" is already used by another index of this run`);
    }
    db.write(() => store.updateIndex(index.id, { name, colour: valid.colour?.toLowerCase(), hidden: valid.hidden }));
    return store.index(index.id) as KeypointIndex;
  }

  async reorderIndices(runId: number, indexIds: number[]): Promise<KeypointIndex[]> {
    const ids = parseInput(z.array(id), indexIds, 'index order');
    const db = this.context.writable;
    const run = this.runOrCurrent(db, runId) as number;
    const store = new KeypointStore(db);
    const own = store.indices(run).map((i) => i.id);
    if (ids.length !== own.length || new Set(ids).size !== ids.length || ids.some((i) => !own.includes(i))) {
      throw badInput(`index order must list each of run ${run}'s ${own.length} indices exactly once`);
    }
    db.write(() => store.setOrder(ids));
    return store.indices(run);
  }

  async getSkeleton(runId?: number): Promise<SkeletonEdge[]> {
    const db = this.context.db;
    const run = this.runOrCurrent(db, runId);
    return run === null ? [] : new KeypointStore(db).skeleton(run);
  }

  async setSkeleton(runId: number, edges: SkeletonEdge[]): Promise<SkeletonEdge[]> {
    const valid = parseInput(edgesSchema, edges, 'skeleton');
    const db = this.context.writable;
    const run = this.runOrCurrent(db, runId) as number;
    const store = new KeypointStore(db);
    this.requireRunIndices(
      store,
      run,
      valid.flatMap((e) => [e.from, e.to]),
      'skeleton',
    );
    const self = valid.find((e) => e.from === e.to);
    if (self) throw badInput(`skeleton: an edge must join two different indices (index ${self.from} twice)`);
    db.write(() => store.replaceSkeleton(run, valid));
    return store.skeleton(run);
  }

  async getKeypoints(imageId: number, runId?: number): Promise<ImageKeypoints> {
    const db = this.context.db;
    this.requireImage(db, imageId);
    const run = this.runOrCurrent(db, runId);
    if (run === null) return { imageId, runId: null, points: [] };
    const store = new KeypointStore(db);
    const rows = store.forImage(imageId, run);
    const points: IndexPoint[] = store.indices(run).map((index) => {
      const predicted = rows.find((r) => r.indexId === index.id && r.source === 'predicted') ?? null;
      const corrected = rows.find((r) => r.indexId === index.id && r.source === 'corrected') ?? null;
      return { indexId: index.id, predicted, corrected, effective: corrected ?? predicted };
    });
    return { imageId, runId: run, points };
  }

  async setCorrected(imageId: number, points: CorrectedPointInput[]): Promise<Keypoint[]> {
    const valid = parseInput(correctedSchema, points, 'corrected points');
    const db = this.context.writable;
    this.requireImage(db, imageId);
    const store = new KeypointStore(db);
    const runs = new Set(valid.map((p) => this.requireIndex(store, p.indexId).runId));
    if (runs.size > 1) throw badInput('corrected points: all points of one change must belong to the same run');
    db.write(() => store.writeCorrected(imageId, valid));
    const ids = new Set(valid.map((p) => p.indexId));
    const [run] = runs;
    return run === undefined
      ? []
      : store.forImage(imageId, run).filter((k) => k.source === 'corrected' && ids.has(k.indexId));
  }

  async clearCorrected(imageId: number, indexIds: number[]): Promise<number> {
    const ids = parseInput(z.array(id), indexIds, 'index ids');
    const db = this.context.writable;
    this.requireImage(db, imageId);
    const store = new KeypointStore(db);
    return db.write(() => store.deleteCorrected(imageId, ids));
  }

  async setPredicted(runId: number, points: PredictedPointInput[]): Promise<PredictionWriteResult> {
    const valid = parseInput(predictedSchema, points, 'predicted points');
    const db = this.context.writable;
    const run = this.runOrCurrent(db, runId) as number;
    this.requireRunIndices(
      new KeypointStore(db),
      run,
      valid.map((p) => p.indexId),
      'predicted points',
    );
    const images = new ImageStore(db);
    const missing = [...new Set(valid.map((p) => p.imageId))].find((i) => !images.get(i));
    if (missing !== undefined) throw notFound(`predicted points: the project has no image with id ${missing}`);
    return new RunStore(db).writePredictions(run, valid);
  }
}
