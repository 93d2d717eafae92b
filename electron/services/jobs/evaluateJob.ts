// `skp evaluate`: how well the run's K discovered keypoints explain the labelled parts
// (ALGORITHM.md, "Evaluation"): a linear regressor from the K points to the L parts is fitted
// on the train split and measured on the test split, overall, per part and per image (worst
// first, to find the images the method gets wrong). The method's own predictions are evaluated,
// not hand corrections. The result is stored in the run's progress JSON.

import { badInput } from '../../common/errors.js';
import type { EvaluateJobRequest, EvaluatedImage, EvaluationMetric, EvaluationResult } from '../../common/jobs.js';
import type { GroundTruthInstance } from '../../common/groundTruth.js';
import type { ImageRecord } from '../../common/images.js';
import type { JsonObject } from '../../common/runs.js';
import type { ProjectDatabase } from '../../db/database.js';
import { GroundTruthStore } from '../../db/groundTruthStore.js';
import { ImageStore } from '../../db/imageStore.js';
import { KeypointStore } from '../../db/keypointStore.js';
import { RunStore } from '../../db/runStore.js';
import {
  interOcularError,
  pck,
  visibleMeanError,
  type LabelledPoint,
  type MetricSummary,
  type PointYX,
} from '../../../native/keypoints/metrics.js';
import { coordinateVisibility, fitRegressor, predict } from '../../../native/keypoints/regressor.js';
import type { JobHooks, JobOutcome } from './hooks.js';
import { updateProgress } from './runRecord.js';

/** One image that has both the run's K predictions and labelled parts. */
interface Sample {
  image: ImageRecord;
  /** K points, normalised (y, x). */
  found: PointYX[];
  /** L parts, normalised; `visible` = labelled (COCO v > 0). */
  labelled: LabelledPoint[];
}

const PCK_ALPHA = 0.1;

function samplesOf(db: ProjectDatabase, runId: number, k: number, partCount: number): Sample[] {
  const images = new ImageStore(db);
  const predicted = new Map<number, Map<number, { x: number; y: number }>>();
  for (const p of new KeypointStore(db).forRun(runId)) {
    if (!predicted.has(p.imageId)) predicted.set(p.imageId, new Map());
    predicted.get(p.imageId)!.set(p.indexId, p);
  }
  const indexIds = new RunStore(db)
    .indices(runId)
    .sort((a, b) => a.position - b.position)
    .map((i) => i.id);
  const firstInstance = new Map<number, GroundTruthInstance>();
  for (const instance of new GroundTruthStore(db).all()) {
    if (!firstInstance.has(instance.imageId)) firstInstance.set(instance.imageId, instance);
  }
  const samples: Sample[] = [];
  for (const [imageId, instance] of firstInstance) {
    const points = predicted.get(imageId);
    if (!points || points.size < k) continue;
    const image = images.get(imageId)!;
    const labelled = Array.from({ length: partCount }, (): LabelledPoint => ({ y: 0, x: 0, visible: false }));
    for (const p of instance.points) {
      labelled[p.part] = { y: p.y / image.height, x: p.x / image.width, visible: p.visibility > 0 };
    }
    const found = indexIds.map((id) => {
      const p = points.get(id)!;
      return { y: p.y / image.height, x: p.x / image.width };
    });
    samples.push({ image, found, labelled });
  }
  return samples;
}

const flatten = (rows: PointYX[][]) => rows.flatMap((row) => row.flatMap((p) => [p.y, p.x]));

function metric(name: string, higherIsBetter: boolean, m: MetricSummary): EvaluationMetric {
  return { name, higherIsBetter, overall: m.overall, perPart: m.perIndex };
}

/** Four significant digits: finer than any difference worth reading, and a short JSON per image. */
const short = (v: number) => Number(v.toPrecision(4));

/** Each test image's error per labelled part and their mean, worst image first. */
export function imageErrors(
  imageIds: number[],
  estimated: readonly (readonly PointYX[])[],
  truth: readonly (readonly LabelledPoint[])[],
): EvaluatedImage[] {
  const rows = imageIds.map((imageId, r): EvaluatedImage => {
    const perPart = truth[r]!.map((t, j) => {
      const e = estimated[r]![j]!;
      return t.visible ? Math.hypot(e.y - t.y, e.x - t.x) : null;
    });
    const counted = perPart.filter((v): v is number => v !== null);
    const meanError = counted.length === 0 ? null : counted.reduce((a, b) => a + b, 0) / counted.length;
    return {
      imageId,
      meanError: meanError === null ? null : short(meanError),
      perPart: perPart.map((v) => (v === null ? null : short(v))),
    };
  });
  return rows.sort((a, b) => (b.meanError ?? -1) - (a.meanError ?? -1) || a.imageId - b.imageId);
}

/** Parts named like left/right eye, for the inter-ocular normalisation faces are reported with. */
function eyes(parts: string[]): [number, number] | null {
  const left = parts.findIndex((p) => /left.?eye/i.test(p));
  const right = parts.findIndex((p) => /right.?eye/i.test(p));
  return left >= 0 && right >= 0 ? [left, right] : null;
}

export function evaluateRun(db: ProjectDatabase, runId: number): EvaluationResult {
  const runs = new RunStore(db);
  const k = runs.indices(runId).length;
  if (k === 0) throw badInput(`run ${runId} has no keypoints yet; run skp keypoints <project> first`);
  const parts = new GroundTruthStore(db).schema().parts.map((p) => p.name);
  if (parts.length === 0) {
    throw badInput(
      'the project has no ground truth to evaluate against; import labelled keypoints (skp import --coco <file>)',
    );
  }
  const samples = samplesOf(db, runId, k, parts.length);
  if (samples.length === 0) {
    throw badInput(`no image has both ground truth and run ${runId}'s keypoints; run skp keypoints <project> first`);
  }
  let train = samples.filter((s) => s.image.split !== 'test');
  let test = samples.filter((s) => s.image.split === 'test');
  let protocol = `fitted on ${train.length} train images, measured on ${test.length} test images`;
  if (test.length === 0 || train.length === 0) {
    train = samples;
    test = samples;
    protocol = `no train/test split among the ${samples.length} labelled images: fitted and measured on all of them (optimistic)`;
  }
  const l = parts.length;
  const visibility = (rows: Sample[]) =>
    coordinateVisibility(
      rows.flatMap((s) => s.labelled.map((p) => (p.visible ? 1 : 0))),
      rows.length,
      l,
    );
  const regressor = fitRegressor(
    flatten(train.map((s) => s.found)),
    flatten(train.map((s) => s.labelled)),
    { rows: train.length, inputs: 2 * k, outputs: 2 * l },
    visibility(train),
  );
  const out = predict(regressor, flatten(test.map((s) => s.found)), test.length);
  const estimated = test.map((_, r) =>
    Array.from({ length: l }, (_, j) => ({ y: out[r * 2 * l + 2 * j]!, x: out[r * 2 * l + 2 * j + 1]! })),
  );
  const truth = test.map((s) => s.labelled);
  const metrics = [
    metric('mean error over labelled points (fraction of image side)', false, visibleMeanError(estimated, truth)),
    metric(
      `PCK@${PCK_ALPHA} (of the labelled points' box)`,
      true,
      pck(estimated, truth, { alpha: PCK_ALPHA, reference: 'bbox' }),
    ),
  ];
  const eyePair = eyes(parts);
  if (eyePair && truth.every((t) => t[eyePair[0]]!.visible && t[eyePair[1]]!.visible)) {
    metrics.push(metric('inter-ocular error', false, interOcularError(estimated, truth, ...eyePair)));
  }
  return {
    runId,
    trainImages: train.length,
    testImages: test.length,
    parts,
    metrics,
    images: imageErrors(
      test.map((s) => s.image.id),
      estimated,
      truth,
    ),
    evaluatedAt: new Date().toISOString(),
    protocol,
  };
}

export async function evaluateJob(
  db: ProjectDatabase,
  request: EvaluateJobRequest,
  hooks: JobHooks,
): Promise<JobOutcome> {
  const runs = new RunStore(db);
  const runId = request.runId ?? new KeypointStore(db).currentRunId();
  if (runId === null) throw badInput('the project has no run with keypoints yet; run skp keypoints <project> first');
  if (!runs.run(runId)) throw badInput(`run: the project has no run ${runId}`);
  const result = evaluateRun(db, runId);
  hooks.ready(runId, null);
  hooks.progress({
    runId,
    phase: 'evaluate',
    step: 1,
    steps: 1,
    loss: null,
    sharpening: null,
    equivariance: null,
    imagesPerSecond: 0,
    etaSeconds: 0,
  });
  const json = JSON.parse(JSON.stringify(result)) as JsonObject;
  updateProgress(runs, runId, { evaluation: json });
  return { state: 'done', runId, error: null, result: json };
}
