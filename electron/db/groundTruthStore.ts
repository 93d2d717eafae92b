// SQL for imported ground truth: one labelled-part list per project, instances per image.

import type { BoundingBox, GroundTruthInstance, GroundTruthPart, GroundTruthPoint } from '../common/groundTruth.js';
import type { GroundTruthSchema, GroundTruthSummary } from '../common/groundTruth.js';
import type { ProjectDatabase } from './database.js';

/** An instance to store; the database gives it its id. */
export type NewInstance = Omit<GroundTruthInstance, 'id'>;

interface InstanceRow {
  id: number;
  image_id: number;
  category: string;
  bbox_x: number | null;
  bbox_y: number | null;
  bbox_w: number | null;
  bbox_h: number | null;
  area: number | null;
  iscrowd: number;
  origin: string;
}

export class GroundTruthStore {
  constructor(private readonly db: ProjectDatabase) {}

  schema(): GroundTruthSchema {
    const parts = this.db.sql
      .prepare('SELECT position, name FROM gt_parts ORDER BY position')
      .all() as GroundTruthPart[];
    const edges = this.db.sql
      .prepare('SELECT from_part AS a, to_part AS b FROM gt_skeleton ORDER BY from_part, to_part')
      .all() as Array<{ a: number; b: number }>;
    return { parts, skeleton: edges.map((e) => [e.a, e.b]) };
  }

  /** Sets the part list and skeleton; call inside a transaction, only when the project has none yet. */
  setSchema(schema: GroundTruthSchema): void {
    const part = this.db.sql.prepare('INSERT INTO gt_parts (position, name) VALUES (?, ?)');
    for (const p of schema.parts) part.run(p.position, p.name);
    this.addSkeletonEdges(schema.skeleton);
  }

  addSkeletonEdges(edges: Array<[number, number]>): void {
    const edge = this.db.sql.prepare('INSERT OR IGNORE INTO gt_skeleton (from_part, to_part) VALUES (?, ?)');
    for (const [a, b] of edges) edge.run(a, b);
  }

  /** Deletes the ground truth of these images (a re-import replaces it); returns how many had some. */
  clearImages(imageIds: number[]): number {
    const has = this.db.sql.prepare('SELECT 1 FROM gt_instances WHERE image_id = ? LIMIT 1');
    const clear = this.db.sql.prepare('DELETE FROM gt_instances WHERE image_id = ?');
    let replaced = 0;
    for (const id of imageIds) {
      if (has.get(id)) {
        replaced++;
        clear.run(id);
      }
    }
    return replaced;
  }

  insert(instances: NewInstance[]): void {
    const instance = this.db.sql.prepare(
      `INSERT INTO gt_instances (image_id, category, bbox_x, bbox_y, bbox_w, bbox_h, area, iscrowd, origin)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const point = this.db.sql.prepare(
      'INSERT INTO gt_keypoints (instance_id, part, x, y, visibility) VALUES (?, ?, ?, ?, ?)',
    );
    for (const i of instances) {
      const b = i.bbox;
      const id = instance.run(
        i.imageId,
        i.category,
        b?.x ?? null,
        b?.y ?? null,
        b?.width ?? null,
        b?.height ?? null,
        i.area,
        i.iscrowd ? 1 : 0,
        i.origin,
      ).lastInsertRowid;
      for (const p of i.points) point.run(id, p.part, p.x, p.y, p.visibility);
    }
  }

  private instances(where: string, ...params: unknown[]): GroundTruthInstance[] {
    const rows = this.db.sql
      .prepare(`SELECT * FROM gt_instances ${where} ORDER BY image_id, id`)
      .all(...params) as InstanceRow[];
    const pointsOf = this.db.sql.prepare(
      'SELECT part, x, y, visibility FROM gt_keypoints WHERE instance_id = ? ORDER BY part',
    );
    return rows.map((row) => ({
      id: row.id,
      imageId: row.image_id,
      category: row.category,
      bbox:
        row.bbox_x === null
          ? null
          : { x: row.bbox_x, y: row.bbox_y as number, width: row.bbox_w as number, height: row.bbox_h as number },
      area: row.area,
      iscrowd: row.iscrowd === 1,
      origin: row.origin,
      points: pointsOf.all(row.id) as GroundTruthPoint[],
    }));
  }

  /** The object box of every image that has exactly one ground-truth instance with a box. */
  singleObjectBoxes(): Map<number, BoundingBox> {
    const rows = this.db.sql
      .prepare(
        `SELECT image_id, bbox_x, bbox_y, bbox_w, bbox_h FROM gt_instances
         GROUP BY image_id HAVING count(*) = 1 AND bbox_x IS NOT NULL`,
      )
      .all() as Array<{ image_id: number; bbox_x: number; bbox_y: number; bbox_w: number; bbox_h: number }>;
    return new Map(rows.map((r) => [r.image_id, { x: r.bbox_x, y: r.bbox_y, width: r.bbox_w, height: r.bbox_h }]));
  }

  forImage(imageId: number): GroundTruthInstance[] {
    return this.instances('WHERE image_id = ?', imageId);
  }

  all(): GroundTruthInstance[] {
    return this.instances('');
  }

  summary(): GroundTruthSummary {
    const counts = this.db.sql
      .prepare('SELECT count(*) AS instances, count(DISTINCT image_id) AS images FROM gt_instances')
      .get() as { instances: number; images: number };
    return { parts: this.schema().parts, ...counts };
  }
}
