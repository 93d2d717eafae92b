// `skp train`: learn a run's tokens, checkpointing tokens and optimiser state into the project
// every few steps, so a killed process loses at most that much and `--resume` carries on
// exactly where the last checkpoint left off (the method's draws are functions of the step).

import path from 'node:path';
import { badInput } from '../../common/errors.js';
import type { ModelSource, TrainJobRequest, WorkersChoice } from '../../common/jobs.js';
import type { JsonObject, TrainingRun } from '../../common/runs.js';
import type { ProjectDatabase } from '../../db/database.js';
import { RunStore } from '../../db/runStore.js';
import { writeSettings } from '../../db/settingsStore.js';
import {
  DEFAULT_CHECKPOINT_EVERY,
  RunCancelled,
  TrainingCancelled,
  trainTokens,
  type TrainingState,
} from '../../../native/keypoints/method.js';
import type { RunSettings } from '../../../native/keypoints/settings.js';
import { workersEvaluator } from '../distributed/trainOnWorkers.js';
import { checkWorkers } from '../distributed/gpus.js';
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
import { heartbeat, interruption, ownerText, runModel, thisProcess, updateProgress } from './runRecord.js';

/** Checkpoints kept per run: the newest few, so one damaged write never leaves none. */
export const CHECKPOINTS_KEPT = 3;
const HEARTBEAT_MS = 15_000;

/** The project's reference to the model at `file`, added the first time a run uses it. */
function modelReference(db: ProjectDatabase, runs: RunStore, file: string): number {
  const known = db.sql.prepare('SELECT id FROM models WHERE path = ? ORDER BY id DESC LIMIT 1').get(file) as
    { id: number } | undefined;
  return known?.id ?? runs.addModel({ name: path.basename(file), path: file }).id;
}

/** The run to resume, checked to be resumable, and the settings it continues with. */
function resumeTarget(runs: RunStore, request: TrainJobRequest): { run: TrainingRun; raw: JsonObject } | null {
  if (request.resumeRunId === undefined) return null;
  const id = request.resumeRunId;
  const run = runs.run(id);
  if (!run) throw badInput(`resume: the project has no run ${id}`);
  if (run.status === 'running' && interruption(run, false) === null) {
    throw badInput(`resume: run ${id} is being trained right now by ${ownerText(run)}`);
  }
  const changed = Object.entries(request.settings ?? {}).filter(
    ([key, value]) => key !== 'steps' && JSON.stringify(run.settings[key]) !== JSON.stringify(value),
  );
  if (changed.length > 0) {
    throw badInput(
      `resume: the settings of run ${id} are fixed once it started; only steps can change (asked to change ${changed.map(([k]) => k).join(', ')}). Start a new run instead.`,
    );
  }
  const steps = request.settings?.steps;
  return { run, raw: steps === undefined ? run.settings : { ...run.settings, steps } };
}

function checkSameModel(run: TrainingRun, asked: ModelSource | undefined): void {
  const own = runModel(run);
  if (asked && own && path.resolve(asked.path) !== own.path) {
    throw badInput(`resume: run ${run.id} was trained with ${own.path}; resume it with that model, not ${asked.path}`);
  }
}

export async function trainJob(db: ProjectDatabase, request: TrainJobRequest, hooks: JobHooks): Promise<JobOutcome> {
  const runs = new RunStore(db);
  const target = resumeTarget(runs, request);
  if (target) checkSameModel(target.run, request.model);
  const source = modelSourceFor(db, request.model, target ? runModel(target.run) : null);
  const model = openModel(source);
  const settings = settingsForModel(target?.raw ?? request.settings ?? {}, model);
  const checkpoint = target ? runs.checkpoint(target.run.id) : null;
  if (checkpoint && !checkpoint.optimizerState) {
    throw badInput(
      `resume: the checkpoint of run ${checkpoint.runId} at step ${checkpoint.step} has no optimiser state`,
    );
  }
  if (target && checkpoint && checkpoint.step >= settings.steps) {
    throw badInput(
      `resume: run ${target.run.id} has done all ${checkpoint.step} of its steps; give more steps (--set steps=${checkpoint.step * 2}) to train on`,
    );
  }
  const images = trainingImages(db);
  checkImages(images, 'to train on');
  const backend = await chooseBackend(request.backend);
  checkPrecision(backend, settings);
  if (request.workers) checkWorkers(request.workers);

  const runId = db.write(() => {
    const modelId = request.model ? modelReference(db, runs, source.path) : (target?.run.modelId ?? null);
    if (request.model) writeSettings(db, { modelId });
    const id =
      target?.run.id ?? runs.createRun({ settings: settings as unknown as JsonObject, modelId, name: request.name }).id;
    if (target && target.run.settings.steps !== settings.steps) {
      // A resumed run trained further keeps its new length, so the UI and a later resume see it.
      db.sql.prepare('UPDATE runs SET settings = ? WHERE id = ?').run(JSON.stringify(settings), id);
    }
    runs.setStatus(id, 'running');
    return id;
  });
  updateProgress(runs, runId, {
    phase: 'train',
    steps: settings.steps,
    model: source,
    backend: backend.info.label,
    owner: thisProcess(),
  });
  hooks.ready(runId, runsOn(backend, settings));
  hooks.log(precisionLine(backend, settings));
  if (target) {
    hooks.log(
      checkpoint
        ? `resuming run ${runId} from its checkpoint at step ${checkpoint.step} of ${settings.steps}`
        : `run ${runId} has no checkpoint; training it from step 0`,
    );
  }
  const resume: TrainingState | undefined = checkpoint
    ? { step: checkpoint.step, tokens: checkpoint.tokens, optimizer: new Uint8Array(checkpoint.optimizerState!) }
    : undefined;
  const workers = request.workers ? { choice: request.workers, source, backend: request.backend } : null;
  return train(db, runs, runId, model, backend, images, settings, resume, request.checkpointEvery, hooks, workers);
}

async function train(
  db: ProjectDatabase,
  runs: RunStore,
  runId: number,
  model: ReturnType<typeof openModel>,
  backend: Awaited<ReturnType<typeof chooseBackend>>,
  images: ReturnType<typeof trainingImages>,
  settings: RunSettings,
  resume: TrainingState | undefined,
  checkpointEvery = DEFAULT_CHECKPOINT_EVERY,
  hooks: JobHooks,
  workers: { choice: WorkersChoice; source: ModelSource; backend: string | undefined } | null,
): Promise<JobOutcome> {
  let saved = resume?.step ?? 0;
  const save = (state: TrainingState) => {
    db.write(() => {
      runs.saveCheckpoint(runId, state.step, state.tokens, state.optimizer);
      runs.pruneCheckpoints(runId, CHECKPOINTS_KEPT);
    });
    saved = state.step;
  };
  const beat = setInterval(() => heartbeat(runs, runId), HEARTBEAT_MS);
  beat.unref();
  let workforce: Workforce | null = null;
  try {
    workforce = workers && (await openWorkforce(workers.choice, workers.source, model, workers.backend, hooks.log));
    const evaluator =
      workforce &&
      (await workersEvaluator(workforce.queue, { runId, modelHash: workforce.modelHash, settings, images }, hooks.log));
    const final = await trainTokens(model, backend, projectImageSource(images, settings.imageSize), settings, {
      evaluator: evaluator ?? undefined,
      resume,
      signal: hooks.signal,
      checkpointEvery,
      onCheckpoint: (state) => {
        save(state);
        hooks.log(`checkpoint at step ${state.step} saved in the project`);
      },
      onProgress: (p) => {
        runs.appendLosses(runId, [
          { step: p.step, loss: p.loss, sharpening: p.sharpening, equivariance: p.equivariance },
        ]);
        updateProgress(runs, runId, { ...p, phase: 'train', owner: thisProcess() });
        hooks.progress({ ...p, runId, phase: 'train' });
      },
    });
    runs.setStatus(runId, 'done');
    return { state: 'done', runId, error: null, result: { step: final.step } };
  } catch (thrown) {
    let e = thrown;
    if (e instanceof RunCancelled) {
      // The cancelled run's last finished step (none where it was cancelled before training began).
      const last = e instanceof TrainingCancelled ? e.state : null;
      try {
        if (last && last.step > saved) save(last);
        runs.setStatus(runId, 'cancelled');
        return { state: 'cancelled', runId, error: null, result: { step: saved } };
      } catch (saving) {
        e = saving;
      }
    }
    const error = `${failureText(e)}; the checkpoint at step ${saved} is kept, resume the run to carry on from there`;
    try {
      runs.setStatus(runId, 'failed', error);
    } catch {
      // The project cannot take even the status (a full disk): the run stays 'running' with a
      // heartbeat that goes stale, which --resume treats as interrupted.
    }
    return { state: 'failed', runId, error, result: { step: saved } };
  } finally {
    clearInterval(beat);
    await workforce?.stop();
  }
}
