// Gathers what a run's HTML report shows from the project: the indices with their names and
// colours, the keypoints of each image (hand corrections win, as in exports), the losses and
// the stored evaluation.
import type { EvaluationResult } from '../../common/jobs.js';
import type { Keypoint } from '../../common/keypoints.js';
import type { ProjectDatabase } from '../../db/database.js';
import { ImageStore } from '../../db/imageStore.js';
import { KeypointStore } from '../../db/keypointStore.js';
import { RunStore } from '../../db/runStore.js';
import type { ReportData, ReportPoint } from '../../../resources/report/report.js';
import { runModel } from './runRecord.js';

export interface ReportOptions {
  title: string;
  notes: string[];
  /** A report of a big project shows the first images only. */
  maxImages?: number;
}

export function reportDataFor(db: ProjectDatabase, runId: number, opts: ReportOptions): ReportData {
  const runs = new RunStore(db);
  const run = runs.run(runId);
  if (!run) throw new Error(`report: the project has no run ${runId}`);
  const indices = runs.indices(runId);
  const positionOf = new Map(indices.map((i) => [i.id, i.position]));
  const byImage = new Map<number, Map<number, Keypoint>>();
  for (const point of new KeypointStore(db).forRun(runId)) {
    const points = byImage.get(point.imageId) ?? new Map<number, Keypoint>();
    const held = points.get(point.indexId);
    if (!held || point.source === 'corrected') points.set(point.indexId, point);
    byImage.set(point.imageId, points);
  }
  const all = new ImageStore(db).all();
  const shown = all.slice(0, opts.maxImages ?? 48);
  const images = shown.map((image) => ({
    name: image.path,
    file: image.absolutePath,
    width: image.width,
    height: image.height,
    points: [...(byImage.get(image.id)?.values() ?? [])]
      .filter((p) => p.visibility > 0)
      .map((p): ReportPoint => ({
        position: positionOf.get(p.indexId)!,
        x: p.x,
        y: p.y,
        score: p.score,
        corrected: p.source === 'corrected',
      })),
  }));
  const settings = run.settings;
  const losses = runs.losses(runId);
  const evaluation = (run.progress?.evaluation ?? null) as EvaluationResult | null;
  const facts: Array<[string, string]> = [
    ['Run', `${run.id}${run.name ? ` (${run.name})` : ''}, ${run.status}`],
    ['Model', runModel(run)?.path ?? 'unknown'],
    ['Backend', String(run.progress?.backend ?? 'unknown')],
    ['Steps trained', `${losses.at(-1)?.step ?? 0} of ${String(settings.steps)}`],
    ['Images', shown.length < all.length ? `${shown.length} shown of ${all.length}` : String(all.length)],
    [
      'Settings',
      Object.entries(settings)
        .map(([key, value]) => `${key} ${JSON.stringify(value)}`)
        .join(', '),
    ],
  ];
  return {
    title: opts.title,
    notes: opts.notes,
    facts,
    indices: indices.map((i) => ({ position: i.position, name: i.displayName, colour: i.colour, token: i.token })),
    images,
    losses,
    weights: { sharpening: Number(settings.sharpeningWeight), equivariance: Number(settings.equivarianceWeight) },
    evaluation,
  };
}
