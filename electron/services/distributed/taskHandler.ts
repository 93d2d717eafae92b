// What a worker computes for a task, with the very engine calls a single process makes
// (KeypointFinder.find, IterationRunner.run), so its results are those of a single process on the
// same backend. A worker keeps one run's compiled graph and tokens at a time. It refuses a run
// whose model hash is not its own model's. It writes nothing but its cache folder (graphs,
// model hash): images arrive as bytes and results leave as the task's answer.
import { ImageDecodeError, decodeImageBytes } from '../../../native/images/decode.js';
import { IndexVoter, IterationRunner, KeypointFinder } from '../../../native/keypoints/method.js';
import type { RunSettings } from '../../../native/keypoints/settings.js';
import type { Backend } from '../../../native/runtime/backend.js';
import type { LoadedModel } from '../../../native/sdxl/load.js';
import { isServiceError } from '../../common/errors.js';
import { settingsForModel } from '../jobs/preflight.js';
import { storedMaps } from '../jobs/shrinkMaps.js';
import {
  bytesOf,
  floatsOf,
  runSpecSchema,
  toBase64,
  type GradientResult,
  type KeypointsResult,
  type RunSpec,
  type Task,
  type TaskResult,
} from './tasks.js';
import { TaskRefused, TaskUnworkable, type TaskSource } from './workQueue.js';

interface RunState {
  run: string;
  spec: RunSpec;
  settings: RunSettings;
  finder: KeypointFinder | null;
  runner: IterationRunner | null;
  voter: IndexVoter | null;
  tokens: { field: string; values: Float32Array } | null;
}

export class TaskHandler {
  private current: RunState | null = null;

  constructor(
    readonly workerId: string,
    private readonly model: LoadedModel,
    private readonly modelHash: string,
    private readonly backend: Backend,
    private readonly source: TaskSource,
  ) {}

  async handle(task: Task): Promise<TaskResult> {
    const started = Date.now();
    const state = await this.runState(task.run);
    if (task.kind === 'keypoints') {
      const images = await this.keypoints(state, task);
      return { kind: 'keypoints', worker: this.workerId, seconds: (Date.now() - started) / 1000, images };
    }
    if (task.kind === 'vote') {
      const selected = await this.vote(state, task);
      return { kind: 'vote', worker: this.workerId, seconds: (Date.now() - started) / 1000, selected };
    }
    const result = await this.gradient(state, task);
    return { ...result, seconds: (Date.now() - started) / 1000 };
  }

  async release(): Promise<void> {
    await this.current?.finder?.release();
    await this.current?.runner?.release();
    await this.current?.voter?.release();
    this.current = null;
  }

  private async fetch(run: string, field: string): Promise<Uint8Array> {
    const bytes = await this.source.fetch(run, field);
    if (!bytes) {
      throw new TaskUnworkable(`run ${run}: its ${field} are gone from ${this.source.where} (the coordinator quit)`);
    }
    return bytes;
  }

  private async runState(run: string): Promise<RunState> {
    if (this.current?.run === run) return this.current;
    const text = new TextDecoder().decode(await this.fetch(run, 'spec'));
    let spec: RunSpec;
    try {
      spec = runSpecSchema.parse(JSON.parse(text));
    } catch (e) {
      throw new TaskUnworkable(`run ${run}: its description is not valid (${(e as Error).message.slice(0, 300)})`);
    }
    if (spec.modelHash !== this.modelHash) {
      throw new TaskRefused(
        `the run's model has content hash ${spec.modelHash.slice(0, 16)}…, but this worker's model ${this.model.path} has ${this.modelHash.slice(0, 16)}…; start the worker with --model pointing at the project's model`,
      );
    }
    let settings: RunSettings;
    try {
      settings = settingsForModel(spec.settings, this.model, `run ${run} settings`);
    } catch (e) {
      if (isServiceError(e)) throw new TaskUnworkable(e.message);
      throw e;
    }
    await this.release();
    this.current = { run, spec, settings, finder: null, runner: null, voter: null, tokens: null };
    return this.current;
  }

  private async tokens(state: RunState, field: string): Promise<Float32Array> {
    if (state.tokens?.field === field) return state.tokens.values;
    const width = this.model.unet.config.crossAttentionDim;
    let values: Float32Array;
    try {
      values = floatsOf(await this.fetch(state.run, field), `run ${state.run} ${field}`, state.settings.tokens * width);
    } catch (e) {
      if (e instanceof RangeError) throw new TaskUnworkable(e.message);
      throw e;
    }
    state.tokens = { field, values };
    return values;
  }

  private async keypoints(state: RunState, task: Extract<Task, { kind: 'keypoints' }>) {
    const indices = state.spec.indices;
    if (!indices || indices.length === 0) throw new TaskUnworkable(`run ${state.run} has no keypoint indices`);
    const tokens = await this.tokens(state, 'tokens');
    state.finder ??= await KeypointFinder.create(this.model, this.backend, tokens, indices, state.settings);
    const size = state.settings.imageSize;
    const out: KeypointsResult['images'] = [];
    for (const image of task.images) {
      let pixels: Float32Array;
      try {
        pixels = (await decodeImageBytes(bytesOf(image.bytes), image.name, size)).pixels;
      } catch (e) {
        if (!(e instanceof ImageDecodeError)) throw e;
        out.push({ id: image.id, unreadable: e.message });
        continue;
      }
      const found = await state.finder.find(pixels, image.id);
      const maps = storedMaps(found.maps, indices.length, size);
      out.push({
        id: image.id,
        points: found.points,
        side: maps.side,
        peaks: toBase64(maps.peaks),
        values: toBase64(maps.values),
      });
    }
    return out;
  }

  /** Pixels of a task's image; an image that cannot be decoded fails the task for good. */
  private async pixels(image: { bytes: string; name: string }, size: number, what: string): Promise<Float32Array> {
    try {
      return (await decodeImageBytes(bytesOf(image.bytes), image.name, size)).pixels;
    } catch (e) {
      if (e instanceof ImageDecodeError) throw new TaskUnworkable(`no ${what} for ${e.message}`);
      throw e;
    }
  }

  private async vote(state: RunState, task: Extract<Task, { kind: 'vote' }>): Promise<number[]> {
    const tokens = await this.tokens(state, 'tokens');
    state.voter ??= await IndexVoter.create(this.model, this.backend, state.settings);
    const pixels = await this.pixels(task.image, state.settings.imageSize, 'vote');
    return state.voter.vote(pixels, task.vote, tokens);
  }

  private async gradient(
    state: RunState,
    task: Extract<Task, { kind: 'gradient' }>,
  ): Promise<Omit<GradientResult, 'seconds'>> {
    const tokens = await this.tokens(state, `tokens.${task.step}`);
    state.runner ??= await IterationRunner.create(this.model, this.backend, state.settings);
    const pixels = await this.pixels(task.image, state.settings.imageSize, 'gradient');
    const result = await state.runner.run(pixels, task.iteration, tokens);
    return {
      kind: 'gradient',
      worker: this.workerId,
      loss: result.loss,
      sharpening: result.sharpening,
      equivariance: result.equivariance,
      gradient: toBase64(result.gradient),
    };
  }
}
