// SQL for the images table and the image list the UI pages through.

import { MAX_PAGE } from '../common/schemas.js';
import path from 'node:path';
import type { ImagePage, ImageQuery, ImageRecord, ImageSummary, Split } from '../common/images.js';
import type { ProjectDatabase } from './database.js';

/** What an import learned about one image file, ready to store. */
export interface NewImage extends Pick<
  ImageRecord,
  'width' | 'height' | 'format' | 'bytes' | 'sha256' | 'orientation'
> {
  /** Absolute path of the file. */
  file: string;
  split?: Split | null;
}

/** The table's row: the record less what is worked out on reading, `added_at` as SQL names it. */
interface ImageRow extends Omit<ImageRecord, 'absolutePath' | 'addedAt'> {
  added_at: string;
}

interface SummaryRow extends ImageRow {
  corrected_count: number;
  min_score: number | null;
  has_gt: number;
  reviewed: number;
}

/** Relative to the project's folder where possible (so the project moves with its images), '/' separators. */
export function toStoredPath(projectFolder: string, file: string): string {
  const relative = path.relative(projectFolder, file);
  if (path.isAbsolute(relative)) return file;
  return relative.split(path.sep).join('/');
}

export function resolveStoredPath(projectFolder: string, stored: string): string {
  return path.resolve(projectFolder, stored);
}

export class ImageStore {
  constructor(private readonly db: ProjectDatabase) {}

  private record(row: ImageRow): ImageRecord {
    return {
      id: row.id,
      path: row.path,
      absolutePath: resolveStoredPath(this.db.folder, row.path),
      width: row.width,
      height: row.height,
      format: row.format,
      bytes: row.bytes,
      sha256: row.sha256,
      orientation: row.orientation,
      split: row.split,
      addedAt: row.added_at,
    };
  }

  /** Stored path → image id, for every image of the project. */
  idsByPath(): Map<string, number> {
    const rows = this.db.sql.prepare('SELECT id, path FROM images').all() as Array<{ id: number; path: string }>;
    return new Map(rows.map((r) => [r.path, r.id]));
  }

  storedPath(file: string): string {
    return toStoredPath(this.db.folder, file);
  }

  /** Inserts images and returns their ids in order; call inside a transaction. */
  insert(images: NewImage[]): number[] {
    const statement = this.db.sql.prepare(
      `INSERT INTO images (path, width, height, format, bytes, sha256, orientation, split, added_at)
       VALUES (@path, @width, @height, @format, @bytes, @sha256, @orientation, @split, @addedAt)`,
    );
    const addedAt = new Date().toISOString();
    return images.map((image) => {
      const info = statement.run({
        path: this.storedPath(image.file),
        width: image.width,
        height: image.height,
        format: image.format,
        bytes: image.bytes,
        sha256: image.sha256,
        orientation: image.orientation,
        split: image.split ?? null,
        addedAt,
      });
      return Number(info.lastInsertRowid);
    });
  }

  get(id: number): ImageRecord | null {
    const row = this.db.sql.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row ? this.record(row) : null;
  }

  /** All images, in id order (exports and batch jobs). */
  all(): ImageRecord[] {
    return (this.db.sql.prepare('SELECT * FROM images ORDER BY id').all() as ImageRow[]).map((r) => this.record(r));
  }

  setSplit(ids: number[], split: Split | null): number {
    const statement = this.db.sql.prepare('UPDATE images SET split = ? WHERE id = ?');
    let changed = 0;
    for (const id of ids) changed += statement.run(split, id).changes;
    return changed;
  }

  /**
   * One page of images with what the grid shows. `runId` picks whose predictions count for the
   * score column (null: none); corrections count whatever the run. The score of a part the user
   * corrected does not count: that point has been looked at.
   */
  list(query: ImageQuery, runId: number | null): ImagePage {
    const where: string[] = [];
    const params: Record<string, unknown> = { run: runId };
    if (query.corrected !== undefined) where.push(query.corrected ? 'corrected_count > 0' : 'corrected_count = 0');
    if (query.scoreBelow !== undefined) {
      where.push('min_score < @scoreBelow');
      params.scoreBelow = query.scoreBelow;
    }
    if (query.hasGroundTruth !== undefined) where.push(query.hasGroundTruth ? 'has_gt = 1' : 'has_gt = 0');
    if (query.reviewed !== undefined) where.push(query.reviewed ? 'reviewed = 1' : 'reviewed = 0');
    if (query.split === 'none') where.push('split IS NULL');
    else if (query.split) {
      where.push('split = @split');
      params.split = query.split;
    }
    if (query.pathContains) {
      where.push('instr(lower(path), @needle) > 0');
      params.needle = query.pathContains.toLowerCase();
    }
    const order =
      query.sort === 'min-score'
        ? 'min_score IS NULL, min_score, id'
        : query.sort === 'added'
          ? 'added_at, id'
          : 'path, id';
    const base = `
      SELECT * FROM (
        SELECT i.*,
          (SELECT count(*) FROM corrections c WHERE c.image_id = i.id) AS corrected_count,
          (SELECT min(p.score) FROM predictions p JOIN indices x ON x.id = p.index_id
            JOIN parts t ON t.id = x.part_id
            WHERE p.image_id = i.id AND x.run_id = @run AND t.hidden = 0
              AND NOT EXISTS (SELECT 1 FROM corrections c
                WHERE c.image_id = p.image_id AND c.part_id = x.part_id)) AS min_score,
          EXISTS (SELECT 1 FROM gt_instances g WHERE g.image_id = i.id) AS has_gt,
          EXISTS (SELECT 1 FROM image_reviews r WHERE r.image_id = i.id) AS reviewed
        FROM images i
      ) ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`;
    const offset = Math.max(0, query.offset ?? 0);
    const limit = Math.min(MAX_PAGE, Math.max(0, query.limit ?? 100));
    const page = { ...params, limit, offset };
    const computed =
      query.corrected !== undefined ||
      query.scoreBelow !== undefined ||
      query.hasGroundTruth !== undefined ||
      query.sort === 'min-score';
    let rows: Array<SummaryRow & { total?: number }>;
    let total: number;
    if (computed) {
      // Filtering or sorting on the per-image columns computes them for every image anyway:
      // do it once, counting in the same pass.
      rows = this.db.sql
        .prepare(`SELECT *, count(*) OVER () AS total FROM (${base}) ORDER BY ${order} LIMIT @limit OFFSET @offset`)
        .all(page) as Array<SummaryRow & { total: number }>;
      total =
        rows[0]?.total ?? (this.db.sql.prepare(`SELECT count(*) AS n FROM (${base})`).get(params) as { n: number }).n;
    } else {
      // Otherwise SQLite computes those columns only for the rows of the page.
      total = (this.db.sql.prepare(`SELECT count(*) AS n FROM (${base})`).get(params) as { n: number }).n;
      rows = this.db.sql.prepare(`${base} ORDER BY ${order} LIMIT @limit OFFSET @offset`).all(page) as SummaryRow[];
    }
    const items: ImageSummary[] = rows.map((row) => ({
      ...this.record(row),
      correctedCount: row.corrected_count,
      minScore: row.min_score,
      hasGroundTruth: row.has_gt === 1,
      reviewed: row.reviewed === 1,
    }));
    return { total, offset, items };
  }

  /** Marks images reviewed (or not); returns how many changed. Call inside a transaction. */
  setReviewed(ids: number[], reviewed: boolean): number {
    const statement = reviewed
      ? this.db.sql.prepare('INSERT OR IGNORE INTO image_reviews (image_id, reviewed_at) VALUES (?, ?)')
      : this.db.sql.prepare('DELETE FROM image_reviews WHERE image_id = ?');
    const at = new Date().toISOString();
    let changed = 0;
    for (const id of ids) changed += (reviewed ? statement.run(id, at) : statement.run(id)).changes;
    return changed;
  }

  isReviewed(id: number): boolean {
    return this.db.sql.prepare('SELECT 1 FROM image_reviews WHERE image_id = ?').get(id) !== undefined;
  }

  count(): { images: number; train: number; test: number; unassigned: number } {
    return this.db.sql
      .prepare(
        `SELECT count(*) AS images,
           coalesce(sum(split = 'train'), 0) AS train,
           coalesce(sum(split = 'test'), 0) AS test,
           coalesce(sum(split IS NULL), 0) AS unassigned
         FROM images`,
      )
      .get() as { images: number; train: number; test: number; unassigned: number };
  }
}
