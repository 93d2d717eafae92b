// Parts (names, colours, order, skeleton), the keypoints on each image, and matching a run's
// indices to parts.

import { z } from 'zod';
import { badInput, notFound } from '../common/errors.js';
import {
  coordinateSchema,
  correctedPointSchema,
  idSchema,
  indexAssignmentSchema,
  partChangeSchema,
  skeletonEdgeSchema,
  visibilitySchema,
} from '../common/schemas.js';
import type { CorrectedPointInput, ImageKeypoints, IndexAssignment, Keypoint } from '../common/keypoints.js';
import type { KeypointIndex, MatchProposal, Part, PartPatch, PartPoint } from '../common/keypoints.js';
import type { PredictedPointInput, PredictionWriteResult, SkeletonEdge } from '../common/keypoints.js';
import type { ImageRecord } from '../common/images.js';
import type { KeypointService } from '../common/services.js';
import { ImageStore } from '../db/imageStore.js';
import { KeypointStore } from '../db/keypointStore.js';
import { PartStore } from '../db/partStore.js';
import { RunStore } from '../db/runStore.js';
import { writeSettings } from '../db/settingsStore.js';
import type { ProjectDatabase } from '../db/database.js';
import { matchIndicesToParts, type Point } from './parts/matchParts.js';
import type { ProjectContext } from './projectContext.js';
import { imagePointSchema, parseInput } from './validation.js';

const id = idSchema;
const coordinate = coordinateSchema;
const visibility = visibilitySchema;

const correctedSchema = z.array(correctedPointSchema);

const predictedSchema = z.array(
  z.strictObject({ imageId: id, indexId: id, x: coordinate, y: coordinate, visibility, score: coordinate.nullable() }),
);

const edgesSchema = z.array(skeletonEdgeSchema);

const assignmentsSchema = z.array(indexAssignmentSchema);

export class KeypointServiceImpl implements KeypointService {
  constructor(private readonly context: ProjectContext) {}

  /** The run asked for, or the current one; null when no run stands for parts yet. */
  private runOrCurrent(db: ProjectDatabase, runId: number | undefined): number | null {
    if (runId === undefined) return new KeypointStore(db).currentRunId();
    return this.requireRun(db, runId);
  }

  private requireRun(db: ProjectDatabase, runId: number): number {
    parseInput(id, runId, 'run id');
    if (!new RunStore(db).run(runId)) throw notFound(`the project has no run ${runId}`);
    return runId;
  }

  private requirePart(parts: PartStore, partId: number): Part {
    const part = parts.part(partId);
    if (!part) throw notFound(`the project has no part with id ${partId}`);
    return part;
  }

  private requireImage(db: ProjectDatabase, imageId: number): ImageRecord {
    parseInput(id, imageId, 'image id');
    const image = new ImageStore(db).get(imageId);
    if (!image) throw notFound(`the project has no image with id ${imageId}`);
    return image;
  }

  async listParts(): Promise<Part[]> {
    return new PartStore(this.context.db).parts();
  }

  async updatePart(partId: number, patch: PartPatch): Promise<Part> {
    const valid = parseInput(partChangeSchema, patch, 'part change');
    const db = this.context.writable;
    const parts = new PartStore(db);
    const part = this.requirePart(parts, parseInput(id, partId, 'part id'));
    const name = valid.name === undefined ? undefined : valid.name?.trim() || null;
    if (name) {
      // Export uses names as COCO keypoint names, which must be unique within the category.
      const clash = parts
        .parts()
        .find((other) => other.id !== part.id && other.displayName.toLowerCase() === name.toLowerCase());
      if (clash) throw badInput(`part name "${name}" is already used by another part`);
    }
    db.write(() => parts.updatePart(part.id, { name, colour: valid.colour, hidden: valid.hidden }));
    return parts.part(part.id) as Part;
  }

  async reorderParts(partIds: number[]): Promise<Part[]> {
    const ids = parseInput(z.array(id), partIds, 'part order');
    const db = this.context.writable;
    const parts = new PartStore(db);
    const own = parts.parts().map((p) => p.id);
    if (ids.length !== own.length || new Set(ids).size !== ids.length || ids.some((i) => !own.includes(i))) {
      throw badInput(`part order must list each of the project's ${own.length} parts exactly once`);
    }
    db.write(() => parts.setOrder(ids));
    return parts.parts();
  }

  async getSkeleton(): Promise<SkeletonEdge[]> {
    return new PartStore(this.context.db).skeleton();
  }

  async setSkeleton(edges: SkeletonEdge[]): Promise<SkeletonEdge[]> {
    const valid = parseInput(edgesSchema, edges, 'skeleton');
    const db = this.context.writable;
    const parts = new PartStore(db);
    const own = new Set(parts.parts().map((p) => p.id));
    const stray = valid.flatMap((e) => [e.from, e.to]).find((p) => !own.has(p));
    if (stray !== undefined) throw badInput(`skeleton: the project has no part with id ${stray}`);
    const self = valid.find((e) => e.from === e.to);
    if (self) throw badInput(`skeleton: an edge must join two different parts (part ${self.from} twice)`);
    db.write(() => parts.replaceSkeleton(valid));
    return parts.skeleton();
  }

  async listIndices(runId?: number): Promise<KeypointIndex[]> {
    const db = this.context.db;
    const run = this.runOrCurrent(db, runId);
    return run === null ? [] : new KeypointStore(db).indices(run);
  }

  async getKeypoints(imageId: number, runId?: number): Promise<ImageKeypoints> {
    const db = this.context.db;
    this.requireImage(db, imageId);
    const run = this.runOrCurrent(db, runId);
    const predictions = run === null ? [] : new KeypointStore(db).forImage(imageId, run);
    const parts = new PartStore(db);
    const corrections = parts.correctionsForImage(imageId);
    const points: PartPoint[] = parts.parts().map((part) => {
      const predicted = predictions.find((p) => p.partId === part.id) ?? null;
      const corrected = corrections.find((c) => c.partId === part.id) ?? null;
      return { partId: part.id, predicted, corrected, effective: corrected ?? predicted };
    });
    return { imageId, runId: run, points };
  }

  async setCorrected(imageId: number, points: CorrectedPointInput[]): Promise<Keypoint[]> {
    const valid = parseInput(correctedSchema, points, 'corrected points');
    const db = this.context.writable;
    const image = this.requireImage(db, imageId);
    const outside = valid.find((p) => p.x < 0 || p.y < 0 || p.x > image.width || p.y > image.height);
    if (outside)
      throw badInput(
        `corrected points: part ${outside.partId} at (${outside.x}, ${outside.y}) lies outside the ${image.width}×${image.height} image`,
      );
    const parts = new PartStore(db);
    for (const p of valid) this.requirePart(parts, p.partId);
    db.write(() => parts.writeCorrected(imageId, valid));
    const ids = new Set(valid.map((p) => p.partId));
    return parts.correctionsForImage(imageId).filter((k) => ids.has(k.partId));
  }

  async clearCorrected(imageId: number, partIds: number[]): Promise<number> {
    const ids = parseInput(z.array(id), partIds, 'part ids');
    const db = this.context.writable;
    this.requireImage(db, imageId);
    const parts = new PartStore(db);
    return db.write(() => parts.deleteCorrected(imageId, ids));
  }

  async setPredicted(runId: number, points: PredictedPointInput[]): Promise<PredictionWriteResult> {
    const valid = parseInput(predictedSchema, points, 'predicted points');
    const db = this.context.writable;
    const run = this.requireRun(db, runId);
    const own = new Set(new KeypointStore(db).indices(run).map((i) => i.id));
    const stray = valid.find((p) => !own.has(p.indexId));
    if (stray) throw badInput(`predicted points: index ${stray.indexId} is not one of run ${run}'s indices`);
    const store = new ImageStore(db);
    const images = new Map([...new Set(valid.map((p) => p.imageId))].map((i) => [i, store.get(i)]));
    const missing = [...images].find(([, image]) => !image)?.[0];
    if (missing !== undefined) throw notFound(`predicted points: the project has no image with id ${missing}`);
    valid.forEach((point, i) => {
      const image = images.get(point.imageId) as ImageRecord;
      parseInput(imagePointSchema(image.width, image.height), point, `predicted points[${i}]`);
    });
    return new RunStore(db).writePredictions(run, valid);
  }

  async proposeMatch(runId: number): Promise<MatchProposal> {
    const db = this.context.db;
    const run = this.requireRun(db, runId);
    const store = new KeypointStore(db);
    const indices = store.indices(run);
    if (indices.length === 0) throw badInput(`run ${run} has not chosen its indices yet; find its keypoints first`);
    if (store.isMatched(run)) {
      // Matched before: show what stands, for the user to change by hand.
      return {
        runId: run,
        comparedWithRunId: null,
        matches: indices.map((index) => ({
          indexId: index.id,
          position: index.position,
          token: index.token,
          partId: index.partId,
          distance: null,
          images: 0,
          verdict: 'confident',
          nearest: null,
        })),
      };
    }
    const current = store.currentRunId();
    const indexPoints = new Map(indices.map((index) => [index.id, new Map<number, Point>()]));
    for (const p of store.forRun(run)) if (p.visibility > 0) indexPoints.get(p.indexId)?.set(p.imageId, p);
    const parts = new PartStore(db);
    const partPoints = new Map(parts.parts().map((part) => [part.id, new Map<number, Point>()]));
    // A part is where the user put it, else where the current run sees it.
    const corrected = parts.corrections();
    for (const c of corrected) if (c.visibility > 0) partPoints.get(c.partId)?.set(c.imageId, c);
    const hasCorrection = new Set(corrected.map((c) => `${c.imageId}:${c.partId}`));
    if (current !== null) {
      const partOf = new Map(store.indices(current).map((index) => [index.id, index.partId]));
      for (const p of store.forRun(current)) {
        const partId = partOf.get(p.indexId);
        if (partId == null || p.visibility === 0 || hasCorrection.has(`${p.imageId}:${partId}`)) continue;
        partPoints.get(partId)?.set(p.imageId, p);
      }
    }
    const imageSizes = new Map(new ImageStore(db).all().map((image) => [image.id, image]));
    const matches = matchIndicesToParts({ indices, indexPoints, partPoints, imageSizes });
    return { runId: run, comparedWithRunId: current, matches };
  }

  async adoptRun(runId: number, assignments: IndexAssignment[]): Promise<KeypointIndex[]> {
    const valid = parseInput(assignmentsSchema, assignments, 'part assignments');
    const db = this.context.writable;
    const run = this.requireRun(db, runId);
    const store = new KeypointStore(db);
    const indices = store.indices(run);
    const own = new Set(indices.map((i) => i.id));
    if (valid.length !== own.size || new Set(valid.map((a) => a.indexId)).size !== own.size) {
      throw badInput(`part assignments must give each of run ${run}'s ${own.size} indices exactly once`);
    }
    const stray = valid.find((a) => !own.has(a.indexId));
    if (stray) throw badInput(`part assignments: index ${stray.indexId} is not one of run ${run}'s indices`);
    const parts = new PartStore(db);
    const chosen = valid.flatMap((a) => (a.partId === null ? [] : [a.partId]));
    for (const partId of chosen) this.requirePart(parts, partId);
    const twice = chosen.find((partId, i) => chosen.indexOf(partId) !== i);
    if (twice !== undefined) throw badInput(`part assignments: part ${twice} is given to two indices of run ${run}`);
    db.write(() => {
      const partOf = new Map(valid.map((a) => [a.indexId, a.partId ?? parts.addPart().id]));
      store.assignParts(run, partOf);
      writeSettings(db, { activeRunId: run });
      parts.removeUnused();
    });
    return store.indices(run);
  }
}
