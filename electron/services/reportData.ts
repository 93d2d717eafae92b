// Gathers what a run's HTML report shows from the project: the indices with the names and
// colours of the parts they stand for, the keypoints of each image (hand corrections win, as in exports), the losses and
// the stored evaluation.
import type { EvaluationResult } from '../common/jobs.js';
import { defaultIndexColour } from '../common/palette.js';
import type { ProjectDatabase } from '../db/database.js';
import { ImageStore } from '../db/imageStore.js';
import { KeypointStore } from '../db/keypointStore.js';
import { PartStore } from '../db/partStore.js';
import { RunStore } from '../db/runStore.js';
import type { ReportData, ReportPoint } from '../../resources/report/report.js';
import { runModel } from './jobs/runRecord.js';

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
  const partStore = new PartStore(db);
  const positionOfPart = new Map(indices.flatMap((i) => (i.partId === null ? [] : [[i.partId, i.position]])));
  const byImage = new Map<number, Map<number, ReportPoint & { visibility: number }>>();
  const put = (imageId: number, point: ReportPoint & { visibility: number }) => {
    const points = byImage.get(imageId) ?? new Map<number, ReportPoint & { visibility: number }>();
    points.set(point.position, point);
    byImage.set(imageId, points);
  };
  const positionOf = new Map(indices.map((i) => [i.id, i.position]));
  for (const p of new KeypointStore(db).forRun(runId)) {
    put(p.imageId, {
      position: positionOf.get(p.indexId)!,
      x: p.x,
      y: p.y,
      score: p.score,
      corrected: false,
      visibility: p.visibility,
    });
  }
  for (const c of partStore.corrections()) {
    const position = positionOfPart.get(c.partId);
    if (position === undefined) continue;
    put(c.imageId, { position, x: c.x, y: c.y, score: null, corrected: true, visibility: c.visibility });
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
      .map(({ visibility: _, ...point }): ReportPoint => point),
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
    indices: indices.map((i) => {
      const part = i.partId === null ? null : partStore.part(i.partId);
      return {
        position: i.position,
        name: part?.displayName ?? `index ${i.position + 1}`,
        colour: part?.colour ?? defaultIndexColour(i.position),
        token: i.token,
      };
    }),
    images,
    losses,
    weights: { sharpening: Number(settings.sharpeningWeight), equivariance: Number(settings.equivarianceWeight) },
    evaluation,
  };
}
