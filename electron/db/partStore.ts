// SQL for parts (what the user means by a keypoint), the skeleton between them and the hand
// corrections, which are keyed by part so that they hold whatever run comes next.

import { defaultPartName } from '../common/keypoints.js';
import type { CorrectedPointInput, Keypoint, Part, SkeletonEdge, Visibility } from '../common/keypoints.js';
import { defaultIndexColour } from '../common/palette.js';
import type { ProjectDatabase } from './database.js';

interface PartRow {
  id: number;
  name: string | null;
  colour: string;
  hidden: number;
  display_order: number;
}

interface CorrectionRow {
  image_id: number;
  part_id: number;
  x: number;
  y: number;
  visibility: Visibility;
  updated_at: string;
}

function toPart(row: PartRow): Part {
  return {
    id: row.id,
    name: row.name,
    displayName: row.name ?? defaultPartName(row.id),
    colour: row.colour,
    hidden: row.hidden === 1,
    order: row.display_order,
  };
}

function toCorrection(row: CorrectionRow): Keypoint {
  return {
    imageId: row.image_id,
    partId: row.part_id,
    source: 'corrected',
    x: row.x,
    y: row.y,
    visibility: row.visibility,
    score: null,
    runId: null,
    updatedAt: row.updated_at,
  };
}

export class PartStore {
  constructor(private readonly db: ProjectDatabase) {}

  /** In display order. */
  parts(): Part[] {
    const rows = this.db.sql.prepare('SELECT * FROM parts ORDER BY display_order, id').all() as PartRow[];
    return rows.map(toPart);
  }

  part(id: number): Part | null {
    const row = this.db.sql.prepare('SELECT * FROM parts WHERE id = ?').get(id) as PartRow | undefined;
    return row ? toPart(row) : null;
  }

  /** Adds an unnamed part at the end of the list, in the next default colour; call inside a transaction. */
  addPart(): Part {
    const { n } = this.db.sql.prepare('SELECT count(*) AS n FROM parts').get() as { n: number };
    const info = this.db.sql
      .prepare('INSERT INTO parts (name, colour, hidden, display_order) VALUES (NULL, ?, 0, ?)')
      .run(defaultIndexColour(n), n);
    return this.part(Number(info.lastInsertRowid)) as Part;
  }

  updatePart(id: number, patch: { name?: string | null; colour?: string; hidden?: boolean }): void {
    if (patch.name !== undefined) this.db.sql.prepare('UPDATE parts SET name = ? WHERE id = ?').run(patch.name, id);
    if (patch.colour !== undefined)
      this.db.sql.prepare('UPDATE parts SET colour = ? WHERE id = ?').run(patch.colour, id);
    if (patch.hidden !== undefined) {
      this.db.sql.prepare('UPDATE parts SET hidden = ? WHERE id = ?').run(patch.hidden ? 1 : 0, id);
    }
  }

  setOrder(partIds: number[]): void {
    const statement = this.db.sql.prepare('UPDATE parts SET display_order = ? WHERE id = ?');
    partIds.forEach((id, order) => statement.run(order, id));
  }

  /**
   * Removes parts nothing refers to and the user never named (left over when a run's indices
   * were matched to other parts), then closes the gaps in the order; call inside a transaction.
   */
  removeUnused(): number {
    const removed = this.db.sql
      .prepare(
        `DELETE FROM parts WHERE name IS NULL
           AND NOT EXISTS (SELECT 1 FROM indices x WHERE x.part_id = parts.id)
           AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.part_id = parts.id)
           AND NOT EXISTS (SELECT 1 FROM part_edges e WHERE e.from_part = parts.id OR e.to_part = parts.id)`,
      )
      .run().changes;
    if (removed > 0) this.setOrder(this.parts().map((p) => p.id));
    return removed;
  }

  skeleton(): SkeletonEdge[] {
    return this.db.sql
      .prepare(
        `SELECT e.from_part AS "from", e.to_part AS "to" FROM part_edges e
         JOIN parts a ON a.id = e.from_part ORDER BY a.display_order, e.to_part`,
      )
      .all() as SkeletonEdge[];
  }

  replaceSkeleton(edges: SkeletonEdge[]): void {
    this.db.sql.prepare('DELETE FROM part_edges').run();
    const insert = this.db.sql.prepare('INSERT OR IGNORE INTO part_edges (from_part, to_part) VALUES (?, ?)');
    for (const edge of edges) insert.run(edge.from, edge.to);
  }

  correctionsForImage(imageId: number): Keypoint[] {
    const rows = this.db.sql.prepare('SELECT * FROM corrections WHERE image_id = ?').all(imageId) as CorrectionRow[];
    return rows.map(toCorrection);
  }

  /** Every correction, image by image (exports). */
  corrections(): Keypoint[] {
    const rows = this.db.sql.prepare('SELECT * FROM corrections ORDER BY image_id, part_id').all() as CorrectionRow[];
    return rows.map(toCorrection);
  }

  /** Writes hand corrections; call inside a transaction. */
  writeCorrected(imageId: number, points: CorrectedPointInput[]): void {
    const statement = this.db.sql.prepare(
      `INSERT INTO corrections (image_id, part_id, x, y, visibility, updated_at)
       VALUES (@imageId, @partId, @x, @y, @visibility, @now)
       ON CONFLICT (image_id, part_id) DO UPDATE SET
         x = excluded.x, y = excluded.y, visibility = excluded.visibility, updated_at = excluded.updated_at`,
    );
    const now = new Date().toISOString();
    for (const p of points) statement.run({ imageId, partId: p.partId, x: p.x, y: p.y, visibility: p.visibility, now });
  }

  deleteCorrected(imageId: number, partIds: number[]): number {
    const statement = this.db.sql.prepare('DELETE FROM corrections WHERE image_id = ? AND part_id = ?');
    let deleted = 0;
    for (const partId of partIds) deleted += statement.run(imageId, partId).changes;
    return deleted;
  }

  counts(): { corrected: number; imagesWithCorrections: number } {
    return this.db.sql
      .prepare('SELECT count(*) AS corrected, count(DISTINCT image_id) AS imagesWithCorrections FROM corrections')
      .get() as { corrected: number; imagesWithCorrections: number };
  }
}
