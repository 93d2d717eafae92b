// The Engine the UI uses, on top of the job service (training, keypoints and evaluation run in
// worker threads) and the model loader (checking a model reads only headers and configs).
import path from 'node:path';
import { isServiceError } from '../common/errors.js';
import type { EvaluationResult, JobStatus } from '../common/jobs.js';
import { AttentionMapStore } from '../db/attentionMapStore.js';
import { ImageStore } from '../db/imageStore.js';
import { RunStore } from '../db/runStore.js';
import type { ServiceHost } from '../services/container.js';
import { JobServiceImpl } from '../services/jobs/jobService.js';
import { runSettingsSchema } from '../../native/keypoints/settings.js';
import { selectBackend } from '../../native/runtime/select.js';
import { detectModel } from '../../native/sdxl/detect.js';
import { loadSdxlModel } from '../../native/sdxl/load.js';
import { hasRandomWeights } from '../../native/sdxl/randomModel.js';
import { estimateTrainingMemory, TRAINING_DEFAULTS } from '../../native/sdxl/memoryEstimate.js';
import type { Engine } from './engine.js';
import { ApiError } from '../common/api/errors.js';
import type { EvaluationReport, ExecutionProvider, HeatMap, ModelCheck } from '../common/api/types.js';

const providerOfBackend: Record<string, ExecutionProvider> = {
  cuda: 'cuda',
  'ort-cuda': 'cuda',
  'ort-dml': 'directml',
  'ort-coreml': 'coreml',
  'ort-webgpu': 'webgpu',
  'ort-cpu': 'cpu',
};

/** Which backend would run a job here, and why; probed once (it loads ONNX Runtime sessions). */
let backendChoice: Promise<{ provider: ExecutionProvider; reason: string }> | null = null;
function chooseBackend(): Promise<{ provider: ExecutionProvider; reason: string }> {
  backendChoice ??= selectBackend().then((backend) => ({
    provider: providerOfBackend[backend.info.id] ?? 'cpu',
    reason: `${backend.info.label}. ${backend.info.reasons.join('; ')}`,
  }));
  return backendChoice;
}

/** Model loading fails with plain Errors that name the file and what is wrong: the user's input. */
function asBadInput(error: unknown): never {
  if (error instanceof ApiError || isServiceError(error)) throw error;
  throw new ApiError('bad-input', (error as Error).message);
}

export function jobEngine(host: ServiceHost): Engine {
  const jobs = new JobServiceImpl(host.context);
  const runs = () => new RunStore(host.context.db);

  async function currentRunId(): Promise<number> {
    const info = await host.project.info();
    if (info.currentRunId === null)
      throw new ApiError('conflict', 'No run has chosen keypoint indices yet: train first.');
    return info.currentRunId;
  }

  /** The run's stored evaluation with the paths of its images (the stored JSON keeps ids only). */
  function storedEvaluation(runId: number): EvaluationReport | null {
    const stored = (runs().run(runId)?.progress?.evaluation ?? null) as EvaluationResult | null;
    if (!stored) return null;
    const images = new ImageStore(host.context.db);
    return {
      ...stored,
      images: (stored.images ?? []).map((row) => ({
        ...row,
        path: images.get(row.imageId)?.path ?? `image ${row.imageId} (no longer in the project)`,
      })),
    };
  }

  return {
    unavailable: () => [],

    async checkModel(modelPath): Promise<ModelCheck> {
      const detection = (() => {
        try {
          return detectModel(modelPath);
        } catch (error) {
          return asBadInput(error);
        }
      })();
      const { provider, reason } = await chooseBackend();
      const base = { path: modelPath, provider, providerReason: reason, randomWeights: hasRandomWeights(modelPath) };
      if (!detection.usable) {
        return {
          ...base,
          ok: false,
          architecture: detection.description,
          dtype: '—',
          parameterCount: 0,
          memoryNeededBytes: 0,
          problems: [detection.problem ?? detection.description],
        };
      }
      let model;
      try {
        model = loadSdxlModel(modelPath);
      } catch (error) {
        asBadInput(error);
      }
      const memory = estimateTrainingMemory(
        model.unet.config,
        model.vae.config,
        model.parameterCount,
        TRAINING_DEFAULTS,
      );
      return {
        ...base,
        ok: true,
        architecture: `${detection.description} (${model.format === 'diffusers' ? 'diffusers folder' : 'single file'}, ${path.basename(modelPath)})`,
        dtype: model.dtype,
        parameterCount: model.parameterCount,
        memoryNeededBytes: memory.totalBytes,
        problems: [],
      };
    },

    async currentTraining() {
      const store = runs();
      const run = store
        .runs()
        .reduce<ReturnType<typeof store.runs>[number] | null>((a, b) => (a === null || b.id > a.id ? b : a), null);
      if (!run) return null;
      const steps = Number(run.settings.steps);
      const job = (await jobs.list()).filter((j) => j.runId === run.id).at(-1) ?? null;
      return {
        run,
        totalSteps: Number.isInteger(steps) && steps > 0 ? steps : runSettingsSchema.parse({}).steps,
        history: store.losses(run.id),
        job,
      };
    },

    startTraining: (settings) => jobs.start({ kind: 'train', settings }),
    resumeTraining: (runId) => jobs.start({ kind: 'train', resumeRunId: runId }),
    findKeypoints: (runId) => jobs.start(runId === undefined ? { kind: 'keypoints' } : { kind: 'keypoints', runId }),
    jobs: () => jobs.list(),
    cancelJob: (jobId) => jobs.cancel(jobId),

    async evaluate() {
      const runId = await currentRunId();
      const started = await jobs.start({ kind: 'evaluate', runId });
      const ended: JobStatus = await jobs.wait(started.jobId);
      if (ended.state !== 'done')
        throw new ApiError('conflict', `The evaluation ${ended.state}: ${ended.error ?? 'no reason given'}`);
      const result = storedEvaluation(runId);
      if (!result) throw new ApiError('internal', 'The evaluation finished but stored no result.');
      return result;
    },

    async lastEvaluation() {
      const info = await host.project.info();
      return info.currentRunId === null ? null : storedEvaluation(info.currentRunId);
    },

    async indexConsistency() {
      const info = await host.project.info();
      if (info.currentRunId === null) return [];
      const choice = runs().run(info.currentRunId)?.progress?.indexChoice as
        { tokens?: number[]; counts?: number[]; imagesUsed?: number } | undefined;
      if (!choice?.tokens || !choice.counts || !choice.imagesUsed) return [];
      const { tokens, counts, imagesUsed } = choice;
      return info.indices.flatMap((index) => {
        const at = tokens.indexOf(index.token);
        if (at < 0 || index.partId === null) return [];
        return [{ partId: index.partId, consistency: (counts[at] ?? 0) / imagesUsed }];
      });
    },

    async attentionMap(imageId, partId): Promise<HeatMap> {
      const db = host.context.db;
      const info = await host.project.info();
      const index = info.indices.find((i) => i.partId === partId);
      if (!index) {
        const part = info.parts.find((p) => p.id === partId);
        if (!part) throw new ApiError('not-found', `The project has no part ${partId}.`);
        throw new ApiError(
          'not-found',
          `Run ${info.currentRunId ?? '(none)'} has no index for ${part.displayName}, so there is no attention map to show.`,
        );
      }
      const image = await host.images.get(imageId);
      const stored = new AttentionMapStore(db).read(index.runId, imageId);
      const peak = stored?.peaks[index.position];
      if (!stored || peak === undefined) {
        throw new ApiError(
          'not-found',
          `${image.path} has no attention maps of run ${index.runId} yet: Find keypoints keeps them for every image it works on.`,
        );
      }
      const area = stored.side * stored.side;
      const bytes = stored.values.subarray(index.position * area, (index.position + 1) * area);
      return {
        width: stored.side,
        height: stored.side,
        // Four decimals are finer than the 1/255 steps stored, and keep the JSON short.
        values: Array.from(bytes, (b) => Math.round((b / 255) * 1e4) / 1e4),
        peak,
      };
    },

    forwardEvents(events) {
      return [
        jobs.onProgress((progress) => events.emit('job.progress', progress)),
        jobs.onStateChange((change) => {
          events.emit('job.state', change);
          // A finished job changed what the project holds (runs, indices, keypoints): show it.
          if (change.state === 'done' || change.state === 'failed' || change.state === 'cancelled') {
            host.project
              .current()
              .then((project) => {
                events.emit('project.changed', { project });
                if (change.kind === 'keypoints') events.emit('project.edited', { part: 'keypoints' });
              })
              // A refresh that fails (e.g. the project was closed meanwhile) is not worth the process.
              .catch((error: unknown) => console.error(error));
          }
        }),
      ];
    },
  };
}
