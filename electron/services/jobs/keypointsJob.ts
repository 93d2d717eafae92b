// `skp keypoints`: choose the run's K indices (once), then find and store the keypoints of
// every image with its attention maps (for the heat-map overlay), one image per transaction as
// they come, so an interrupted job keeps what it finished and a new one carries on with the
// images that have none yet. Predictions are written through RunStore.writePredictions, which
// cannot reach hand corrections. The project's first run makes its parts; a later run's indices
// stand for no part, and feed nothing, until the user accepts a match (KeypointService.adoptRun).

import { badInput } from '../../common/errors.js';
import type { ImageRecord } from '../../common/images.js';
import type { KeypointsJobRequest } from '../../common/jobs.js';
import type { KeypointIndex } from '../../common/keypoints.js';
import type { TrainingRun } from '../../common/runs.js';
import { AttentionMapStore, type StoredAttentionMaps } from '../../db/attentionMapStore.js';
import type { ProjectDatabase } from '../../db/database.js';
import { ImageStore } from '../../db/imageStore.js';
import { RunStore } from '../../db/runStore.js';
import { KeypointStore } from '../../db/keypointStore.js';
import { decodeImage, ImageDecodeError, toImagePixels } from '../../../native/images/decode.js';
import {
  chooseKeypointIndices,
  findEach,
  KeypointFinder,
  RunCancelled,
  type ImageKeypoints,
} from '../../../native/keypoints/method.js';
import { findKeypointsOnWorkers } from '../distributed/keypointsOnWorkers.js';
import { votesOnWorkers } from '../distributed/votesOnWorkers.js';
import { openWorkforce, type Workforce } from '../distributed/workforce.js';
import { failureText } from './failures.js';
import type { JobHooks, JobOutcome } from './hooks.js';
import { projectImageSource } from './imageSource.js';
import {
  checkImages,
  checkPrecision,
  precisionLine,
  runsOn,
  chooseBackend,
  modelSourceFor,
  openModel,
  settingsForModel,
  trainingImages,
} from './preflight.js';
import { runModel, updateProgress } from './runRecord.js';
import { storedMaps } from './shrinkMaps.js';

/** The run asked for, or the newest finished run, or the newest with any learned tokens. */
export function runWithTokens(runs: RunStore, runId: number | undefined): TrainingRun {
  if (runId !== undefined) {
    const run = runs.run(runId);
    if (!run) throw badInput(`run: the project has no run ${runId}`);
    if (runs.checkpoints(runId).length === 0) throw badInput(`run ${runId} has no learned tokens yet; train it first`);
    return run;
  }
  const withTokens = runs.runs().filter((run) => runs.checkpoints(run.id).length > 0);
  const run = withTokens.find((r) => r.status === 'done') ?? withTokens[0];
  if (!run) throw badInput('the project has no trained run yet; run skp train <project> first');
  return run;
}

/** Images that already have a prediction of this run for each of its K indices. */
function imagesPredicted(db: ProjectDatabase, runId: number, k: number): Set<number> {
  const rows = db.sql
    .prepare(
      `SELECT p.image_id AS id FROM predictions p JOIN indices x ON x.id = p.index_id
       WHERE x.run_id = ? GROUP BY p.image_id HAVING count(*) = ?`,
    )
    .all(runId, k) as Array<{ id: number }>;
  return new Set(rows.map((r) => r.id));
}

/** Images per task sent to a worker: small enough to spread a run evenly, large enough to keep a GPU busy. */
const DEFAULT_CHUNK = 4;

const byPosition = (indices: KeypointIndex[]) => [...indices].sort((a, b) => a.position - b.position);

export async function keypointsJob(
  db: ProjectDatabase,
  request: KeypointsJobRequest,
  hooks: JobHooks,
): Promise<JobOutcome> {
  const runs = new RunStore(db);
  const run = runWithTokens(runs, request.runId);
  const source = modelSourceFor(db, request.model, runModel(run));
  const model = openModel(source);
  const settings = settingsForModel(run.settings, model, `settings of run ${run.id}`);
  const checkpoint = runs.checkpoint(run.id)!;
  const images = new ImageStore(db).all();
  checkImages(images, 'to find keypoints on');
  const voters = trainingImages(db);
  if (runs.indices(run.id).length === 0 && voters.length === 0) {
    throw badInput('every image is in the test split; the indices are voted on training images (split train or none)');
  }
  const backend = await chooseBackend(request.backend);
  checkPrecision(backend, settings);
  hooks.ready(run.id, runsOn(backend, settings));
  hooks.log(precisionLine(backend, settings));
  if (checkpoint.step < settings.steps) {
    hooks.log(
      `run ${run.id} stopped at step ${checkpoint.step} of ${settings.steps}; using its tokens of step ${checkpoint.step}`,
    );
  }
  const started = Date.now();
  let workforce: Workforce | null = null;
  try {
    workforce = request.workers
      ? await openWorkforce(request.workers, source, model, request.backend, hooks.log)
      : null;
    let indices = byPosition(runs.indices(run.id));
    if (indices.length > 0) {
      hooks.log(`run ${run.id} has chosen its indices already: tokens ${indices.map((i) => i.token).join(', ')}`);
    } else {
      const choice = await chooseKeypointIndices(
        model,
        backend,
        projectImageSource(voters, settings.imageSize),
        checkpoint.tokens,
        settings,
        {
          evaluator: workforce
            ? await votesOnWorkers(
                workforce.queue,
                { modelHash: workforce.modelHash, settings, tokens: checkpoint.tokens, images: voters },
                hooks.log,
              )
            : undefined,
          signal: hooks.signal,
          onProgress: (done, total) => {
            const seconds = (Date.now() - started) / 1000;
            hooks.progress({
              runId: run.id,
              phase: 'choose',
              step: done,
              steps: total,
              loss: null,
              sharpening: null,
              equivariance: null,
              imagesPerSecond: done / seconds,
              etaSeconds: (seconds / done) * (total - done),
            });
          },
        },
      );
      indices = byPosition(runs.chooseIndices(run.id, choice.indices));
      updateProgress(runs, run.id, {
        indexChoice: { tokens: choice.indices, counts: choice.counts, imagesUsed: choice.imagesUsed },
      });
      hooks.log(
        `chose ${indices.length} indices on ${choice.imagesUsed} images: tokens ${choice.indices.map((t, k) => `${t} (${choice.counts[k]}×)`).join(', ')}`,
      );
    }
    const workers = workforce && { workforce, chunkSize: request.chunkSize ?? DEFAULT_CHUNK };
    return await findKeypoints(
      db,
      runs,
      run,
      indices,
      images,
      model,
      backend,
      settings,
      checkpoint.tokens,
      hooks,
      workers,
    );
  } catch (e) {
    if (e instanceof RunCancelled) return { state: 'cancelled', runId: run.id, error: null, result: null };
    return { state: 'failed', runId: run.id, error: failureText(e), result: null };
  } finally {
    await workforce?.stop();
  }
}

async function findKeypoints(
  db: ProjectDatabase,
  runs: RunStore,
  run: TrainingRun,
  indices: KeypointIndex[],
  images: ReturnType<ImageStore['all']>,
  model: ReturnType<typeof openModel>,
  backend: Awaited<ReturnType<typeof chooseBackend>>,
  settings: ReturnType<typeof settingsForModel>,
  tokens: Float32Array,
  hooks: JobHooks,
  workers: { workforce: Workforce; chunkSize: number } | null,
): Promise<JobOutcome> {
  const mapStore = new AttentionMapStore(db);
  const predicted = imagesPredicted(db, run.id, indices.length);
  const mapped = mapStore.imagesWithMaps(run.id);
  const done = new Set([...predicted].filter((id) => mapped.has(id)));
  const todo = images.filter((image) => !done.has(image.id));
  if (done.size > 0) {
    hooks.log(`${done.size} images already have run ${run.id}'s keypoints; finding them on the other ${todo.length}`);
  }
  const mapsOnly = todo.filter((image) => predicted.has(image.id)).length;
  if (mapsOnly > 0) {
    hooks.log(
      `${mapsOnly} of them have keypoints but no attention maps (found before maps were kept): their maps are added, their keypoints stay as they are`,
    );
  }
  const unreadable: Array<{ path: string; reason: string }> = [];
  let shadowed = 0;
  const started = Date.now();
  const write = (image: ImageRecord, points: ImageKeypoints['points'], maps: StoredAttentionMaps) =>
    db.write(() => {
      if (!predicted.has(image.id)) {
        const written = runs.writePredictions(
          run.id,
          points.map((p, k) => ({
            imageId: image.id,
            indexId: indices[k]!.id,
            ...toImagePixels(p, image.width, image.height),
            visibility: 2 as const,
            score: p.score,
          })),
        );
        shadowed += written.shadowedByCorrections;
      }
      mapStore.write(run.id, image.id, maps);
    });
  const progress = (n: number) => {
    const seconds = (Date.now() - started) / 1000;
    hooks.progress({
      runId: run.id,
      phase: 'keypoints',
      step: done.size + n,
      steps: images.length,
      loss: null,
      sharpening: null,
      equivariance: null,
      imagesPerSecond: n / seconds,
      etaSeconds: (seconds / n) * (todo.length - n),
    });
  };
  if (workers) {
    const { workforce } = workers;
    await findKeypointsOnWorkers(
      workforce.queue,
      {
        modelHash: workforce.modelHash,
        settings,
        tokens,
        indices: indices.map((i) => i.token),
        images,
        todo: new Set(todo.map((image) => image.id)),
        chunkSize: workers.chunkSize,
      },
      {
        write: (found) => write(found.image, found.points, found.maps),
        unreadable: (image, reason) => {
          unreadable.push({ path: image.absolutePath, reason });
          hooks.log(`no keypoints for ${reason}`);
        },
        progress,
        log: hooks.log,
        signal: hooks.signal,
      },
    );
  } else {
    const finder = await KeypointFinder.create(
      model,
      backend,
      tokens,
      indices.map((i) => i.token),
      settings,
    );
    hooks.log(
      `${finder.batch} of ${settings.augmentationIterations} augmentations a pass${settings.warpsPerPass === 0 ? ' (chosen for this device)' : ''}`,
    );
    try {
      let n = 0;
      await findEach(
        finder,
        todo,
        {
          keyOf: (image) => image.id,
          load: async (image) => {
            try {
              return (await decodeImage(image.absolutePath, settings.imageSize)).pixels;
            } catch (e) {
              if (!(e instanceof ImageDecodeError)) throw e;
              unreadable.push({ path: image.absolutePath, reason: e.message });
              hooks.log(`no keypoints for ${e.message}`);
              return null;
            }
          },
          found: (image, found) => {
            write(image, found.points, storedMaps(found.maps, indices.length, settings.imageSize));
            progress(++n);
          },
        },
        hooks.signal,
      );
    } finally {
      await finder.release();
    }
  }
  const summary = {
    images: images.length,
    predicted: imagesPredicted(db, run.id, indices.length).size,
    withAttentionMaps: mapStore.imagesWithMaps(run.id).size,
    unreadable,
    keptCorrections: shadowed,
  };
  updateProgress(runs, run.id, { keypoints: summary });
  if (shadowed > 0) hooks.log(`${shadowed} predicted points sit under hand corrections, which stay as they are`);
  if (!new KeypointStore(db).isMatched(run.id)) {
    hooks.log(
      `run ${run.id}'s indices are not matched to your parts yet: the app proposes a match to accept, ` +
        `or skp keypoints <project> --run ${run.id} --accept-match takes the proposal as it is`,
    );
  }
  return { state: 'done', runId: run.id, error: null, result: summary };
}
