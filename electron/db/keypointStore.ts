// SQL for keypoint indices, their skeleton, and the keypoints on images. Predictions and
// hand corrections are separate rows (source is part of the key): writing predictions
// only ever touches rows whose source is 'predicted'.

import { defaultIndexName } from '../common/keypoints.js';
import type { CorrectedPointInput, Keypoint, KeypointIndex, KeypointSource } from '../common/keypoints.js';
import type { PredictedPointInput, SkeletonEdge, Visibility } from '../common/keypoints.js';
import { defaultIndexColour } from '../common/palette.js';
import { readSettings } from './settingsStore.js';
import type { ProjectDatabase } from './database.js';

interface IndexRow {
  id: number;
  run_id: number;
  position: number;
  token: number;
  name: string | null;
  colour: string;
  hidden: number;
  display_order: number;
}

interface KeypointRow {
  image_id: number;
  index_id: number;
  source: KeypointSource;
  x: number;
  y: number;
  visibility: Visibility;
  score: number | null;
  run_id: number | null;
  updated_at: string;
}

function toIndex(row: IndexRow): KeypointIndex {
  return {
    id: row.id,
    runId: row.run_id,
    position: row.position,
    token: row.token,
    name: row.name,
    displayName: row.name ?? defaultIndexName(row.position),
    colour: row.colour,
    hidden: row.hidden === 1,
    order: row.display_order,
  };
}

export function toKeypoint(row: KeypointRow): Keypoint {
  return {
    imageId: row.image_id,
    indexId: row.index_id,
    source: row.source,
    x: row.x,
    y: row.y,
    visibility: row.visibility,
    score: row.score,
    runId: row.run_id,
    updatedAt: row.updated_at,
  };
}

export class KeypointStore {
  constructor(private readonly db: ProjectDatabase) {}

  /** The run whose indices are current: the chosen one if it still has indices, else the latest with indices. */
  currentRunId(): number | null {
    const { activeRunId } = readSettings(this.db);
    const has = this.db.sql.prepare('SELECT 1 FROM indices WHERE run_id = ? LIMIT 1');
    if (activeRunId !== null && has.get(activeRunId)) return activeRunId;
    const row = this.db.sql.prepare('SELECT max(run_id) AS id FROM indices').get() as { id: number | null };
    return row.id;
  }

  /** Records the K indices a run chose, in chosen order, with default colours; call inside a transaction. */
  insertIndices(runId: number, tokens: number[]): KeypointIndex[] {
    const statement = this.db.sql.prepare(
      `INSERT INTO indices (run_id, position, token, name, colour, hidden, display_order)
       VALUES (?, ?, ?, NULL, ?, 0, ?)`,
    );
    tokens.forEach((token, k) => statement.run(runId, k, token, defaultIndexColour(k), k));
    return this.indices(runId);
  }

  indices(runId: number): KeypointIndex[] {
    const rows = this.db.sql
      .prepare('SELECT * FROM indices WHERE run_id = ? ORDER BY display_order, position')
      .all(runId) as IndexRow[];
    return rows.map(toIndex);
  }

  index(id: number): KeypointIndex | null {
    const row = this.db.sql.prepare('SELECT * FROM indices WHERE id = ?').get(id) as IndexRow | undefined;
    return row ? toIndex(row) : null;
  }

  updateIndex(id: number, patch: { name?: string | null; colour?: string; hidden?: boolean }): void {
    if (patch.name !== undefined) this.db.sql.prepare('UPDATE indices SET name = ? WHERE id = ?').run(patch.name, id);
    if (patch.colour !== undefined) {
      this.db.sql.prepare('UPDATE indices SET colour = ? WHERE id = ?').run(patch.colour, id);
    }
    if (patch.hidden !== undefined) {
      this.db.sql.prepare('UPDATE indices SET hidden = ? WHERE id = ?').run(patch.hidden ? 1 : 0, id);
    }
  }

  setOrder(indexIds: number[]): void {
    const statement = this.db.sql.prepare('UPDATE indices SET display_order = ? WHERE id = ?');
    indexIds.forEach((id, order) => statement.run(order, id));
  }

  skeleton(runId: number): SkeletonEdge[] {
    return this.db.sql
      .prepare(
        `SELECT e.from_index AS "from", e.to_index AS "to" FROM skeleton_edges e
         JOIN indices a ON a.id = e.from_index WHERE a.run_id = ? ORDER BY a.display_order, e.to_index`,
      )
      .all(runId) as SkeletonEdge[];
  }

  replaceSkeleton(runId: number, edges: SkeletonEdge[]): void {
    this.db.sql
      .prepare('DELETE FROM skeleton_edges WHERE from_index IN (SELECT id FROM indices WHERE run_id = ?)')
      .run(runId);
    const insert = this.db.sql.prepare('INSERT OR IGNORE INTO skeleton_edges (from_index, to_index) VALUES (?, ?)');
    for (const edge of edges) insert.run(edge.from, edge.to);
  }

  /** Every keypoint row of one image for the given indices (both sources). */
  forImage(imageId: number, runId: number): Keypoint[] {
    const rows = this.db.sql
      .prepare(
        `SELECT k.* FROM keypoints k JOIN indices x ON x.id = k.index_id
         WHERE k.image_id = ? AND x.run_id = ?`,
      )
      .all(imageId, runId) as KeypointRow[];
    return rows.map(toKeypoint);
  }

  /** Every keypoint row of a run's indices, image by image (exports). */
  forRun(runId: number): Keypoint[] {
    const rows = this.db.sql
      .prepare(
        `SELECT k.* FROM keypoints k JOIN indices x ON x.id = k.index_id
         WHERE x.run_id = ? ORDER BY k.image_id`,
      )
      .all(runId) as KeypointRow[];
    return rows.map(toKeypoint);
  }

  /** Writes hand corrections; call inside a transaction. */
  writeCorrected(imageId: number, points: CorrectedPointInput[]): void {
    const statement = this.db.sql.prepare(
      `INSERT INTO keypoints (image_id, index_id, source, x, y, visibility, score, run_id, updated_at)
       VALUES (@imageId, @indexId, 'corrected', @x, @y, @visibility, NULL, NULL, @now)
       ON CONFLICT (image_id, index_id, source) DO UPDATE SET
         x = excluded.x, y = excluded.y, visibility = excluded.visibility, updated_at = excluded.updated_at`,
    );
    const now = new Date().toISOString();
    for (const p of points)
      statement.run({ imageId, indexId: p.indexId, x: p.x, y: p.y, visibility: p.visibility, now });
  }

  deleteCorrected(imageId: number, indexIds: number[]): number {
    const statement = this.db.sql.prepare(
      "DELETE FROM keypoints WHERE image_id = ? AND index_id = ? AND source = 'corrected'",
    );
    let deleted = 0;
    for (const indexId of indexIds) deleted += statement.run(imageId, indexId).changes;
    return deleted;
  }

  /**
   * Writes predictions of a run; call inside a transaction. The statement names source
   * 'predicted' in both the insert and the conflict target, so a hand correction (a row
   * with another key) is out of its reach. Returns how many of the points have a correction.
   */
  writePredicted(runId: number, points: PredictedPointInput[]): number {
    const statement = this.db.sql.prepare(
      `INSERT INTO keypoints (image_id, index_id, source, x, y, visibility, score, run_id, updated_at)
       VALUES (@imageId, @indexId, 'predicted', @x, @y, @visibility, @score, @runId, @now)
       ON CONFLICT (image_id, index_id, source) DO UPDATE SET
         x = excluded.x, y = excluded.y, visibility = excluded.visibility, score = excluded.score,
         run_id = excluded.run_id, updated_at = excluded.updated_at`,
    );
    // Corrections are few next to predictions: one read of them beats a lookup per point.
    const corrected = new Set(
      (
        this.db.sql
          .prepare(
            `SELECT k.image_id, k.index_id FROM keypoints k JOIN indices x ON x.id = k.index_id
             WHERE k.source = 'corrected' AND x.run_id = ?`,
          )
          .raw()
          .all(runId) as Array<[number, number]>
      ).map(([image, index]) => `${image}:${index}`),
    );
    const now = new Date().toISOString();
    let shadowed = 0;
    for (const p of points) {
      statement.run({ ...p, runId, now });
      if (corrected.has(`${p.imageId}:${p.indexId}`)) shadowed++;
    }
    return shadowed;
  }

  counts(runId: number | null): { predicted: number; corrected: number; imagesWithCorrections: number } {
    return this.db.sql
      .prepare(
        `SELECT coalesce(sum(k.source = 'predicted'), 0) AS predicted,
           coalesce(sum(k.source = 'corrected'), 0) AS corrected,
           count(DISTINCT CASE WHEN k.source = 'corrected' THEN k.image_id END) AS imagesWithCorrections
         FROM keypoints k JOIN indices x ON x.id = k.index_id WHERE x.run_id = ?`,
      )
      .get(runId) as { predicted: number; corrected: number; imagesWithCorrections: number };
  }
}
