// The label checks over the project's keypoints as an export would write them (hand corrections
// winning over the current run's predictions, hidden parts left out): which images to look at
// first, and why, in the parts' own names.
import type { QualityReport } from '../common/api/types.js';
import { badInput } from '../common/errors.js';
import { ImageStore } from '../db/imageStore.js';
import { PartStore } from '../db/partStore.js';
import { effectivePoints } from './export/cocoDocument.js';
import { checkShapes, MIN_IMAGES } from './quality/shapeChecks.js';
import type { ProjectContext } from './projectContext.js';

/** Issues listed at most: the worst ones, enough for a session of fixing. */
export const ISSUES_LISTED = 200;

export class QualityService {
  constructor(private readonly context: ProjectContext) {}

  async check(): Promise<QualityReport> {
    const db = this.context.db;
    const { parts, byImage } = effectivePoints(db);
    if (parts.length === 0) throw badInput('no parts to check yet: train a run and find the keypoints first');
    const column = new Map(parts.map((part, k) => [part.id, k]));
    const edges = new PartStore(db)
      .skeleton()
      .flatMap((e) =>
        column.has(e.from) && column.has(e.to) ? [[column.get(e.from)!, column.get(e.to)!] as [number, number]] : [],
      );
    const instances = [...byImage].map(([imageId, points]) => ({
      imageId,
      points: points.map((p) => (p && p.visibility > 0 ? { x: p.x, y: p.y } : null)),
    }));
    const result = checkShapes(instances, edges);
    const paths = new Map(new ImageStore(db).all().map((image) => [image.id, image.path]));
    return {
      checkedImages: result.checkedImages,
      minImages: MIN_IMAGES,
      tooFew: result.tooFew,
      totalIssues: result.issues.length,
      issues: result.issues.slice(0, ISSUES_LISTED).map((issue) => ({
        imageId: issue.imageId,
        path: paths.get(issue.imageId) ?? String(issue.imageId),
        kind: issue.kind,
        partIds: issue.parts.map((k) => parts[k]!.id),
        partNames: issue.parts.map((k) => parts[k]!.displayName),
        measure: issue.measure,
        usual: issue.usual,
      })),
    };
  }
}
