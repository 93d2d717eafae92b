// Images of the open project: adding a folder, paging through them, assigning splits.

import path from 'node:path';
import { z } from 'zod';
import { Emitter } from '../common/events.js';
import { ServiceError, notFound } from '../common/errors.js';
import type { ImagePage, ImageQuery, ImageRecord, ImportFolderResult, ImportProgress } from '../common/images.js';
import type { SkippedFile, Split } from '../common/images.js';
import type { ImageService } from '../common/services.js';
import { idSchema, imageQuerySchema } from '../common/schemas.js';
import { ImageStore, type NewImage } from '../db/imageStore.js';
import { KeypointStore } from '../db/keypointStore.js';
import type { ProjectDatabase } from '../db/database.js';
import { listFiles, readImageFiles } from './imageFiles.js';
import type { ProjectContext } from './projectContext.js';
import { parseInput } from './validation.js';

/** Files read and written per transaction: big enough to be fast, small enough to show progress. */
const BATCH = 250;

const splitSchema = z.enum(['train', 'test']);

/**
 * Adds every image under `folder` to the project, batch by batch (each batch one
 * transaction, so a crash keeps what was done). Files already in the project are left as
 * they were; unreadable ones are returned with the reason.
 */
export async function importFolderInto(
  db: ProjectDatabase,
  folder: string,
  progress: (p: ImportProgress) => void,
): Promise<ImportFolderResult> {
  const started = performance.now();
  db.requireWritable();
  const root = path.resolve(folder);
  const { files, unreadable } = listFiles(root);
  const ownFiles = new Set(['', '-wal', '-shm'].map((suffix) => db.path + suffix));
  const store = new ImageStore(db);
  const known = store.idsByPath();
  const candidates = files.filter((f) => !ownFiles.has(f));
  const fresh = candidates.filter((f) => !known.has(store.storedPath(f)));
  const skipped: SkippedFile[] = [...unreadable];
  let imported = 0;
  const total = fresh.length;
  for (let start = 0; start < fresh.length; start += BATCH) {
    const outcomes = await readImageFiles(fresh.slice(start, start + BATCH));
    const images: NewImage[] = [];
    for (const outcome of outcomes) {
      if ('image' in outcome) images.push(outcome.image);
      else skipped.push(outcome.skipped);
    }
    try {
      db.write(() => store.insert(images));
    } catch (e) {
      // Earlier batches are saved: say so, rather than that nothing was changed.
      if (!(e instanceof ServiceError) || e.code !== 'storage' || imported === 0) throw e;
      throw new ServiceError(
        'storage',
        `${e.message.replace(/: nothing was changed$/, '')}: ${imported} of the ${total} new images were imported ` +
          'before it filled; import the folder again when there is room (images already in the project are kept as they are)',
      );
    }
    imported += images.length;
    progress({ done: Math.min(start + BATCH, total), total, imported, skipped: skipped.length });
  }
  return {
    folder: root,
    found: candidates.length,
    imported,
    alreadyPresent: candidates.length - fresh.length,
    skipped,
    seconds: (performance.now() - started) / 1000,
  };
}

export class ImageServiceImpl implements ImageService {
  private readonly progress = new Emitter<ImportProgress>();
  readonly onImportProgress = this.progress.event;

  constructor(private readonly context: ProjectContext) {}

  async importFolder(folder: string): Promise<ImportFolderResult> {
    return this.importInto(this.context.writable, folder);
  }

  /** Imports into a project that is not (yet) the open one: ProjectService.create uses it. */
  importInto(db: ProjectDatabase, folder: string): Promise<ImportFolderResult> {
    parseInput(z.string().min(1), folder, 'image folder');
    return importFolderInto(db, folder, (p) => this.progress.fire(p));
  }

  async list(query: ImageQuery): Promise<ImagePage> {
    const valid = parseInput(imageQuerySchema, query, 'image query');
    const db = this.context.db;
    return new ImageStore(db).list(valid, new KeypointStore(db).currentRunId());
  }

  async get(id: number): Promise<ImageRecord> {
    const image = new ImageStore(this.context.db).get(parseInput(idSchema, id, 'image id'));
    if (!image) throw notFound(`the project has no image with id ${id}`);
    return image;
  }

  async setSplit(ids: number[], split: Split | null): Promise<number> {
    const valid = parseInput(z.array(idSchema), ids, 'image ids');
    const value = parseInput(splitSchema.nullable(), split, 'split');
    const db = this.context.writable;
    return db.write(() => new ImageStore(db).setSplit(valid, value));
  }

  async setReviewed(ids: number[], reviewed: boolean): Promise<number> {
    const valid = parseInput(z.array(idSchema), ids, 'image ids');
    const value = parseInput(z.boolean(), reviewed, 'reviewed');
    const db = this.context.writable;
    const store = new ImageStore(db);
    const unknown = valid.find((id) => !store.get(id));
    if (unknown !== undefined) throw notFound(`the project has no image with id ${unknown}`);
    return db.write(() => store.setReviewed(valid, value));
  }

  async isReviewed(id: number): Promise<boolean> {
    return new ImageStore(this.context.db).isReviewed((await this.get(id)).id);
  }
}
