// The keypoint method end to end on a backend: learn the tokens, choose the K indices, find
// each image's keypoints (ALGORITHM.md). Pure inputs in, results and progress out: the
// services decide where images come from and where results and checkpoints go.
import { Graph, type Tensor } from '../graph/ir.js';
import type { Backend, CompiledGraph, HostTensor } from '../runtime/backend.js';
import type { SchedulerConfig } from '../sdxl/config.js';
import { lastTimestep } from '../sdxl/timeEmbedding.js';
import { AdamW, GradientAccumulator } from './adamw.js';
import type { MapEvaluationSettings, SdxlComponents } from './attentionMaps.js';
import { chooseIndices } from './fps.js';
import {
  augmentedDrawsOutputs,
  buildAugmentedDraws,
  buildLatentsGraph,
  buildSelectionGraph,
  type GraphShape,
} from './graphs.js';
import { LoadsAhead } from './loadsAhead.js';
import { LatentsCache } from './latentsCache.js';
import { Random } from './rng.js';
import {
  augmentationDraws,
  indexVoteNoise,
  indexVotePlan,
  iterationDraws,
  planIteration,
  type IterationPlan,
} from './schedule.js';
import type { RunSettings } from './settings.js';
import { buildLowMemoryTrainStep } from './lowMemoryStep.js';
import { buildTrainStep } from './trainStep.js';

/** DDIM inference steps whose last timestep the method evaluates at (the reference: 50). */
const INFERENCE_STEPS = 50;

export interface MethodModel extends SdxlComponents {
  scheduler: SchedulerConfig;
}

/** Images of the run, decoded on demand as [3, S, S] float32 in [0, 1]. */
export interface ImageSource {
  count: number;
  load(index: number): Promise<Float32Array>;
}

export class RunCancelled extends Error {
  constructor() {
    super('the run was cancelled');
    this.name = 'RunCancelled';
  }
}

/**
 * A training run cancelled between steps, with the state of its last finished step: the caller
 * keeps that step without the run handing its state over after every step (megabytes of copies).
 */
export class TrainingCancelled extends RunCancelled {
  constructor(readonly state: TrainingState) {
    super();
  }
}

const throwIfCancelled = (signal?: AbortSignal) => {
  if (signal?.aborted) throw new RunCancelled();
};

function geometry(model: MethodModel, s: RunSettings): GraphShape {
  const downscale = 2 ** (model.vae.config.blockOutChannels.length - 1);
  return { imageSize: s.imageSize, latentSize: s.imageSize / downscale, tokens: s.tokens };
}

/** How a run's settings evaluate the maps under a model's noise schedule. */
export function mapSettingsFor(schedule: SchedulerConfig, s: RunSettings): MapEvaluationSettings {
  return {
    upsampleRes: s.upsampleRes,
    layers: s.layers,
    maxQueryTokens: s.maxQueryTokens,
    latentScale: s.latentScale,
    schedule,
    timestep: lastTimestep(schedule, INFERENCE_STEPS),
  };
}

const mapSettings = (model: MethodModel, s: RunSettings) => mapSettingsFor(model.scheduler, s);

const f32 = (data: Float32Array, shape: number[]): HostTensor => ({ dtype: 'float32', shape, data });

/** What every method graph of a run is fed the same way: its image, its tokens, and latent noise of one shape. */
function runFeeds(model: MethodModel, s: RunSettings) {
  const shape = geometry(model, s);
  const latentShape = [1, model.vae.config.latentChannels, shape.latentSize, shape.latentSize];
  const width = model.unet.config.crossAttentionDim;
  return {
    shape,
    latentShape,
    noiseSize: latentShape.reduce((a, d) => a * d),
    image: (data: Float32Array) => f32(data, [1, 3, shape.imageSize, shape.imageSize]),
    tokens: (data: Float32Array) => f32(data, [1, s.tokens, width]),
  };
}

type RunFeeds = ReturnType<typeof runFeeds>;
const scalar = (t: HostTensor | undefined) => (t!.data as Float32Array)[0]!;

export interface TrainingState {
  /** Optimiser steps done. */
  step: number;
  tokens: Float32Array;
  /** AdamW moments and step count (AdamW.toBytes). */
  optimizer: Uint8Array;
}

export interface TrainingProgress {
  step: number;
  steps: number;
  loss: number;
  sharpening: number;
  equivariance: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** Steps between the states a training run hands over to be saved, unless told otherwise. */
export const DEFAULT_CHECKPOINT_EVERY = 10;

export interface TrainOptions {
  resume?: TrainingState;
  signal?: AbortSignal;
  onProgress?: (p: TrainingProgress) => void;
  /** Called every `checkpointEvery` steps and at the end, with a state to resume from. */
  onCheckpoint?: (state: TrainingState) => Promise<void> | void;
  checkpointEvery?: number;
  /**
   * Who computes a step's iterations: by default this backend, one after the other. Another
   * evaluator (workers) may compute them anywhere, as long as each result is what
   * IterationRunner.run gives for it: the step then sums them here, in iteration order.
   */
  evaluator?: BatchEvaluator;
}

/** One training iteration's losses and token gradient. */
export interface IterationResult {
  loss: number;
  sharpening: number;
  equivariance: number;
  gradient: Float32Array;
}

/** Computes the iterations of one optimiser step; one result per plan, in the order given. */
export interface BatchEvaluator {
  evaluate(plans: IterationPlan[], tokens: Float32Array, signal?: AbortSignal): Promise<IterationResult[]>;
  /** Starts what iterations on these images need first (decoding, encoding) while the current step runs. */
  ahead(imageIndexes: readonly number[]): void;
  release(): Promise<void>;
}

/** The initial tokens randn(1, N, D) of a run: the same for the same seed. */
export const initialTokens = (s: RunSettings, width: number): Float32Array =>
  new Random(s.seed, 'tokens').normals(s.tokens * width);

/** Host memory for the plain images' latents: 16k images at 512², 4k at 1024². */
const LATENTS_CACHE_BYTES = 2 ** 30;

/**
 * The draws of one key (an iteration, an image) made ahead, while the device runs the work
 * before: `take` gives them once, or makes them then where another key was made ahead.
 */
class DrawnAhead<D> {
  private held: { key: number; draws: D } | null = null;

  constructor(private readonly draw: (key: number) => D) {}

  prepare(key: number): void {
    if (this.held?.key !== key) this.held = { key, draws: this.draw(key) };
  }

  take(key: number): D {
    this.prepare(key);
    const { draws } = this.held!;
    this.held = null;
    return draws;
  }
}

/** The compiled training step of a run: one iteration on one image, wherever it runs. */
export class IterationRunner {
  private readonly draws = new DrawnAhead((i) =>
    iterationDraws(this.s.seed, i, this.s.augmentation, this.feeds.noiseSize),
  );

  private constructor(
    private readonly graph: CompiledGraph,
    private readonly encoder: CompiledGraph,
    readonly latents: LatentsCache,
    private readonly s: RunSettings,
    private readonly feeds: RunFeeds,
  ) {}

  static async create(model: MethodModel, backend: Backend, s: RunSettings): Promise<IterationRunner> {
    const feeds = runFeeds(model, s);
    const build = s.lowMemory ? buildLowMemoryTrainStep : buildTrainStep;
    const step = build(new Graph(), model, feeds.shape, mapSettings(model, s), s);
    const graph = await backend.compile([step.loss, step.sharpening, step.equivariance, step.gradient], {
      name: s.lowMemory ? 'train-step-low-memory' : 'train-step',
      fast: s.fastPrecision,
    });
    const encoder = await backend
      .compile([buildLatentsGraph(new Graph(), model, feeds.shape, s)], {
        name: 'image-latents',
        fast: s.fastPrecision,
      })
      .catch(async (e: unknown) => {
        await graph.release();
        throw e;
      });
    const latents = new LatentsCache(async (image) => {
      const [out] = await encoder.run({ image: feeds.image(image) });
      return new Float32Array(out!.data as Float32Array);
    }, LATENTS_CACHE_BYTES);
    return new IterationRunner(graph, encoder, latents, s, feeds);
  }

  /**
   * Starts encoding `image` unless its latents are kept: the backend runs it after the work it
   * has already been given (the current step), while the host takes the optimiser step. A
   * failure surfaces in the iteration that reads the image, which encodes it again.
   */
  ahead(image: Float32Array): void {
    this.latents.of(image).catch(() => undefined);
  }

  /** Iteration `iteration` of the run's schedule (its draws are a function of it) on `image`. */
  async run(image: Float32Array, iteration: number, tokens: Float32Array): Promise<IterationResult> {
    const { feeds } = this;
    const draws = this.draws.take(iteration);
    const running = this.graph.run({
      image: feeds.image(image),
      latents: f32(await this.latents.of(image), feeds.latentShape),
      theta: f32(draws.theta, [2, 3]),
      noise: f32(draws.noise, feeds.latentShape),
      warpedNoise: f32(draws.warpedNoise, feeds.latentShape),
      tokens: feeds.tokens(tokens),
    });
    // Iterations mostly come in order: the next one's draws (milliseconds of normals on the host)
    // are made while this one runs on the device, once the backend has started it (it does so
    // in a queued callback; setImmediate comes after every one). Handled here so a run that
    // fails meanwhile is not an unhandled rejection; the await below still throws its error.
    running.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    this.draws.prepare(iteration + 1);
    const [l, sh, eq, gradient] = await running;
    return {
      loss: scalar(l),
      sharpening: scalar(sh),
      equivariance: scalar(eq),
      // The run's own array (CompiledGraph.run): kept as it is until the batch is summed.
      gradient: gradient!.data as Float32Array,
    };
  }

  async release(): Promise<void> {
    await Promise.all([this.graph.release(), this.encoder.release()]);
  }
}

/**
 * Iterations on this backend, one after the other (one evaluation's memory at a time). The next
 * step's images are decoded, and those not yet encoded are encoded, while this step runs.
 */
async function localEvaluator(
  model: MethodModel,
  backend: Backend,
  images: ImageSource,
  s: RunSettings,
): Promise<BatchEvaluator> {
  const runner = await IterationRunner.create(model, backend, s);
  const loads = new LoadsAhead((i) =>
    images.load(i).then((image) => {
      runner.ahead(image);
      return image;
    }),
  );
  return {
    async evaluate(plans, tokens, signal) {
      const results: IterationResult[] = [];
      for (const plan of plans) {
        throwIfCancelled(signal);
        results.push(await runner.run(await loads.take(plan.imageIndex), plan.iteration, tokens));
      }
      return results;
    },
    ahead: (imageIndexes) => loads.ahead(imageIndexes),
    release: () => runner.release(),
  };
}

export async function trainTokens(
  model: MethodModel,
  backend: Backend,
  images: ImageSource,
  s: RunSettings,
  opts: TrainOptions = {},
): Promise<TrainingState> {
  if (images.count === 0) throw new Error('the project has no images to train on');
  const width = model.unet.config.crossAttentionDim;
  const adamOptions = {
    lr: s.learningRate,
    weightDecay: s.weightDecay,
    betas: [0.9, 0.999] as [number, number],
    eps: 1e-8,
  };
  const start = opts.resume ? opts.resume.tokens : initialTokens(s, width);
  const adam = opts.resume
    ? AdamW.fromBytes(opts.resume.optimizer, start.length, adamOptions)
    : new AdamW(start.length, adamOptions);
  // The tokens live in AdamW's memory: each step updates them in place.
  const tokens = adam.params;
  tokens.set(start);
  const state = (): TrainingState => ({
    step: adam.stepCount,
    tokens: new Float32Array(tokens),
    optimizer: adam.toBytes(),
  });

  const evaluator = opts.evaluator ?? (await localEvaluator(model, backend, images, s));
  const plan = { imageCount: images.count, batchSize: s.batchSize, steps: s.steps };
  const plansOf = (step: number) =>
    Array.from({ length: s.batchSize }, (_, b) => planIteration(s.seed, plan, step * s.batchSize + b));
  const acc = new GradientAccumulator(tokens.length, s.batchSize);
  const started = Date.now();
  const firstStep = adam.stepCount;
  const imagesOf = (step: number) => (step < s.steps ? plansOf(step).map((p) => p.imageIndex) : []);
  // Asked for in the order the steps read them: each load takes the oldest of its image's.
  evaluator.ahead(imagesOf(adam.stepCount));
  try {
    while (adam.stepCount < s.steps) {
      throwIfCancelled(opts.signal);
      const plans = plansOf(adam.stepCount);
      evaluator.ahead(imagesOf(adam.stepCount + 1));
      const results = await evaluator.evaluate(plans, tokens, opts.signal);
      // Summed in iteration order whoever computed them: float32 addition is not associative.
      let loss = 0;
      let sharpening = 0;
      let equivariance = 0;
      for (const result of results) {
        acc.add(result.gradient);
        loss += result.loss / s.batchSize;
        sharpening += result.sharpening / s.batchSize;
        equivariance += result.equivariance / s.batchSize;
      }
      adam.step(tokens, acc.take());
      const done = adam.stepCount - firstStep;
      const seconds = (Date.now() - started) / 1000;
      opts.onProgress?.({
        step: adam.stepCount,
        steps: s.steps,
        loss,
        sharpening,
        equivariance,
        imagesPerSecond: (done * s.batchSize * 2) / seconds,
        etaSeconds: (seconds / done) * (s.steps - adam.stepCount),
      });
      const every = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
      if (adam.stepCount % every === 0 || adam.stepCount === s.steps) await opts.onCheckpoint?.(state());
    }
  } catch (e) {
    // A cancel comes before a step's update or after it, never inside: tokens and moments are
    // those of the last finished step.
    if (e instanceof RunCancelled && !(e instanceof TrainingCancelled)) throw new TrainingCancelled(state());
    throw e;
  } finally {
    await evaluator.release();
  }
  return state();
}

export interface IndexChoiceResult {
  /** Token index of each keypoint, keypoint order. */
  indices: number[];
  /** How often each chosen token was among an image's K selections. */
  counts: number[];
  imagesUsed: number;
}

/** The compiled selection graph of a run: one image's K selected tokens, wherever it runs. */
export class IndexVoter {
  private constructor(
    private readonly graph: CompiledGraph,
    private readonly s: RunSettings,
    private readonly feeds: RunFeeds,
  ) {}

  static async create(model: MethodModel, backend: Backend, s: RunSettings): Promise<IndexVoter> {
    const feeds = runFeeds(model, s);
    const g = new Graph();
    const sel = buildSelectionGraph(g, model, feeds.shape, mapSettings(model, s), s);
    const graph = await backend.compile([sel.selected], { name: 'index-choice', fast: s.fastPrecision });
    return new IndexVoter(graph, s, feeds);
  }

  /** The tokens image number `vote` of the vote selects (its noise is a function of `vote`). */
  async vote(image: Float32Array, vote: number, tokens: Float32Array): Promise<number[]> {
    const { s, feeds } = this;
    const [selected] = await this.graph.run({
      image: feeds.image(image),
      noise: f32(indexVoteNoise(s.seed, vote, feeds.noiseSize), feeds.latentShape),
      tokens: feeds.tokens(tokens),
    });
    return Array.from(selected!.data as BigInt64Array, Number);
  }

  release(): Promise<void> {
    return this.graph.release();
  }
}

/** Computes the votes; one selection per plan, in the order given. */
export interface VoteEvaluator {
  votes(
    plans: Array<{ imageIndex: number; vote: number }>,
    tokens: Float32Array,
    opts: { signal?: AbortSignal; onVoted?: (done: number) => void },
  ): Promise<number[][]>;
  release(): Promise<void>;
}

/** Votes on this backend, one after the other. */
async function localVotes(model: MethodModel, backend: Backend, images: ImageSource, s: RunSettings) {
  const voter = await IndexVoter.create(model, backend, s);
  const ahead = new LoadsAhead((i) => images.load(i));
  const evaluator: VoteEvaluator = {
    async votes(plans, tokens, opts) {
      const selections: number[][] = [];
      ahead.ahead(plans.slice(0, 1).map((p) => p.imageIndex));
      for (const [i, plan] of plans.entries()) {
        throwIfCancelled(opts.signal);
        const image = await ahead.take(plan.imageIndex);
        // The next vote's image is decoded while this one runs.
        ahead.ahead(plans.slice(i + 1, i + 2).map((p) => p.imageIndex));
        selections.push(await voter.vote(image, plan.vote, tokens));
        opts.onVoted?.(selections.length);
      }
      return selections;
    },
    release: () => voter.release(),
  };
  return evaluator;
}

/** Votes the K keypoint indices over up to `indexImages` images (ALGORITHM.md, "Choosing the K indices"). */
export async function chooseKeypointIndices(
  model: MethodModel,
  backend: Backend,
  images: ImageSource,
  tokens: Float32Array,
  s: RunSettings,
  opts: {
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
    /** Who computes the votes (workers); by default this backend. */
    evaluator?: VoteEvaluator;
  } = {},
): Promise<IndexChoiceResult> {
  const plans = indexVotePlan(s.seed, s.indexImages, images.count, runFeeds(model, s).noiseSize).map((plan, vote) => ({
    imageIndex: plan.imageIndex,
    vote,
  }));
  const evaluator = opts.evaluator ?? (await localVotes(model, backend, images, s));
  let perImage: number[][];
  try {
    perImage = await evaluator.votes(plans, tokens, {
      signal: opts.signal,
      onVoted: (done) => opts.onProgress?.(done, plans.length),
    });
  } finally {
    await evaluator.release();
  }
  const choice = chooseIndices(perImage, s.keypoints);
  return {
    indices: choice.indices,
    counts: choice.indices.map((k) => choice.counts.get(k) ?? 0),
    imagesUsed: plans.length,
  };
}

export interface ImageKeypoints {
  /** Normalised (y, x) per keypoint, in [0, 1]: pixel centre of the averaged map's peak. */
  points: Array<{ y: number; x: number; score: number }>;
  /** The averaged, warped-back maps [K, S, S] (S = image size), for heat-map overlays. */
  maps: Float32Array;
}

/** Sum of warped-back maps and of their coverage over an image's draws, carried from pass to pass. */
export class AugmentedAverage {
  private sum: Float32Array;
  private coverage: Float32Array;
  private averaged: { maps: Float32Array; peaks: BigInt64Array } | null = null;

  constructor(
    readonly keypoints: number,
    readonly size: number,
  ) {
    this.sum = new Float32Array(keypoints * size * size);
    this.coverage = new Float32Array(size * size);
  }

  /** The sums so far, as the augmented-draws graph's inputs. */
  feeds(): { unwarpedSoFar: HostTensor; coverageSoFar: HostTensor } {
    return {
      unwarpedSoFar: f32(this.sum, [this.keypoints, this.size, this.size]),
      coverageSoFar: f32(this.coverage, [this.size, this.size]),
    };
  }

  /** Takes a pass's outputs (augmentedDrawsOutputs): the sums with its draws added, and what they average to. */
  update([unwarpedSum, coverageSum, averaged, peaks]: HostTensor[]): void {
    this.sum = unwarpedSum!.data as Float32Array;
    this.coverage = coverageSum!.data as Float32Array;
    this.averaged = { maps: averaged!.data as Float32Array, peaks: peaks!.data as BigInt64Array };
  }

  /** The averaged maps [K, S, S] and each one's peak: the normalised (y, x) of its pixel centre, the value there as score. */
  result(): ImageKeypoints {
    if (!this.averaged) throw new Error('AugmentedAverage.result: no pass has run');
    const { maps, peaks } = this.averaged;
    const { size } = this;
    const points = Array.from(peaks, (peak, k) => {
      const j = Number(peak);
      return {
        y: (Math.floor(j / size) + 0.5) / size,
        x: ((j % size) + 0.5) / size,
        score: maps[k * size * size + j]!,
      };
    });
    return { points, maps };
  }
}

/** Warps per pass where the setting says "choose" and the backend cannot tell what fits. */
const CHOSEN_WITHOUT_MEMORY = 2;
/** Share of the device's memory the automatic choice lets one pass's graph take. */
const CHOSEN_SHARE = 0.5;

/**
 * Draws evaluated per graph call: the "warps per pass" setting (CHOSEN_WITHOUT_MEMORY where it
 * says "choose"), lowered to a divisor of the draw count so that one compiled graph serves every
 * pass.
 */
export function warpsPerPass(s: RunSettings): number {
  let n = Math.min(s.warpsPerPass || CHOSEN_WITHOUT_MEMORY, s.augmentationIterations);
  while (s.augmentationIterations % n !== 0) n--;
  return n;
}

/**
 * The pass of augmented inference on `backend` and its graph: the setting's warps per pass, or
 * where it says "choose" (0) and the backend knows its device's memory, the most (a divisor of
 * the draw count) whose graph takes at most CHOSEN_SHARE of it, else 1; fewer passes cost fewer
 * launches.
 */
function passOf(
  backend: Backend,
  s: RunSettings,
  graphOf: (warps: number) => Tensor[],
): { warps: number; outputs: Tensor[] } {
  const fits = backend.fits?.bind(backend);
  const pass = (warps: number) => ({ warps, outputs: graphOf(warps) });
  if (s.warpsPerPass > 0 || !fits) return pass(warpsPerPass(s));
  const draws = s.augmentationIterations;
  for (let warps = draws; warps > 1; warps--) {
    if (draws % warps !== 0) continue;
    const candidate = pass(warps);
    if (fits(candidate.outputs, CHOSEN_SHARE)) return candidate;
  }
  return pass(1);
}

/** Augmented inference of many images with one compiled graph (ALGORITHM.md, "Keypoints of one image"). */
export class KeypointFinder {
  private readonly draws = new DrawnAhead((imageKey) => {
    const { s, feeds } = this;
    return augmentationDraws(s.seed, imageKey, s.augmentationIterations, s.augmentation, feeds.noiseSize);
  });

  private constructor(
    private readonly graph: CompiledGraph,
    private readonly s: RunSettings,
    private readonly feeds: RunFeeds,
    private readonly tokens: Float32Array,
    private readonly indices: number[],
    /** Warps evaluated together in one pass. */
    readonly batch: number,
  ) {}

  static async create(model: MethodModel, backend: Backend, tokens: Float32Array, indices: number[], s: RunSettings) {
    const feeds = runFeeds(model, s);
    const graphOf = (warps: number) => {
      const g = new Graph();
      const sums = buildAugmentedDraws(
        g,
        model,
        feeds.shape,
        mapSettings(model, s),
        indices.length,
        s.imageSize,
        warps,
      );
      return augmentedDrawsOutputs(sums);
    };
    const pass = passOf(backend, s, graphOf);
    const graph = await backend.compile(pass.outputs, { name: 'augmented-draws', fast: s.fastPrecision });
    return new KeypointFinder(graph, s, feeds, tokens, indices, pass.warps);
  }

  /** Keypoints of one image; `imageKey` seeds its draws so a re-run gives the same points. */
  async find(image: Float32Array, imageKey: number, signal?: AbortSignal): Promise<ImageKeypoints> {
    return (await this.sums(image, imageKey, signal)).result();
  }

  /** Makes the draws of image `imageKey` now, for its `sums` to come (findEach: while the device works). */
  prepare(imageKey: number): void {
    this.draws.prepare(imageKey);
  }

  /** The device's part of `find`: every pass over the image's draws, summed. */
  async sums(image: Float32Array, imageKey: number, signal?: AbortSignal): Promise<AugmentedAverage> {
    const { s, feeds, batch } = this;
    const size = s.imageSize;
    const k = this.indices.length;
    const draws = this.draws.take(imageKey);
    const average = new AugmentedAverage(k, size);
    for (let first = 0; first < draws.length; first += batch) {
      throwIfCancelled(signal);
      const chunk = draws.slice(first, first + batch);
      const outputs = await this.graph.run({
        image: feeds.image(image),
        thetas: f32(concatFloats(chunk.map((d) => d.theta)), [batch, 2, 3]),
        noises: f32(concatFloats(chunk.map((d) => d.noise)), [batch, ...feeds.latentShape.slice(1)]),
        tokens: feeds.tokens(this.tokens),
        indices: { dtype: 'int64', shape: [k], data: BigInt64Array.from(this.indices.map((i) => BigInt(i))) },
        ...average.feeds(),
      });
      average.update(outputs);
    }
    return average;
  }

  release(): Promise<void> {
    return this.graph.release();
  }
}

/**
 * Keypoints of `items` in order, as `finder.find` one after another gives them, with the device
 * kept busy: an image's passes start as soon as the previous image's end, and meanwhile the host
 * does that previous image's part (`found`: maps, peaks, saving), the next image's draws, and
 * the loading of the one after (decoding runs off this thread). `load` gives null for an item to
 * skip (an unreadable file, say); `keyOf` is the item's image key (find's `imageKey`).
 */
export async function findEach<T>(
  finder: KeypointFinder,
  items: readonly T[],
  io: {
    keyOf: (item: T) => number;
    load: (item: T) => Promise<Float32Array | null>;
    found: (item: T, keypoints: ImageKeypoints) => void | Promise<void>;
  },
  signal?: AbortSignal,
): Promise<void> {
  const loads = new LoadsAhead((i) => io.load(items[i]!));
  /** The device passes of the first item from `i` on that loads, started. */
  const start = async (i: number) => {
    for (; i < items.length; i++) {
      throwIfCancelled(signal);
      const pixels = await loads.take(i);
      if (!pixels) continue;
      const sums = finder.sums(pixels, io.keyOf(items[i]!), signal);
      sums.catch(() => undefined);
      return { i, sums };
    }
    return null;
  };
  let current = await start(0);
  while (current) {
    if (current.i + 1 < items.length) {
      loads.ahead([current.i + 1]);
      finder.prepare(io.keyOf(items[current.i + 1]!));
    }
    const sums = await current.sums;
    // The next image's passes start before this image's host part; a failure to start them (a
    // cancel, a file that cannot be read) still lets this image's keypoints be kept first.
    const next = await start(current.i + 1).then(
      (started) => ({ started }),
      (error: unknown) => ({ error }),
    );
    await io.found(items[current.i]!, sums.result());
    if ('error' in next) throw next.error;
    current = next.started;
  }
}

function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
