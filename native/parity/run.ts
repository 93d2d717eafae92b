// `skp parity`: recomputes every quantity of a reference case with our engine, using the
// case's pinned draws, and compares with the reference's numbers (golden/README.md).
import { Graph } from '../graph/ir.js';
import type { Backend, CompiledGraph, HostTensor } from '../runtime/backend.js';
import { loadSdxlModel } from '../sdxl/load.js';
import { augmentedDrawsOutputs, buildAugmentedDraws, buildSelectionGraph } from '../keypoints/graphs.js';
import { buildTrainStep } from '../keypoints/trainStep.js';
import { AugmentedAverage } from '../keypoints/method.js';
import { AdamW, GradientAccumulator } from '../keypoints/adamw.js';
import { chooseIndices, gaussianScores, lowestScores, type TokenMaps } from '../keypoints/fps.js';
import { cosineSimilarity, maxAbsError, relativeError, relativeL2Error, sameList } from './compare.js';
import { judgeFarthestPoints, judgePeaks, judgeRanking, type Judgement } from './ties.js';
import { caseSettings } from './caseSettings.js';
import { openGoldenCase, type GoldenCase } from './goldenCase.js';

export type ParityOutcome = 'pass' | 'tie' | 'fail';

export interface ParityLine {
  quantity: string;
  /** e.g. "max abs", "rel L2", "identical". */
  measure: string;
  error: number;
  tolerance: number;
  /** `tie`: a discrete result that differs only where the reference's own numbers are a tie. */
  outcome: ParityOutcome;
  detail?: string;
}

export interface ParityOptions {
  backend: Backend;
  /** Check the case's weights from this single original-layout file instead of model/. */
  singleFile?: string;
  unetConfig?: string;
  vaeConfig?: string;
  onLine?: (line: ParityLine) => void;
}

const f32 = (data: Float32Array, shape: number[]): HostTensor => ({ dtype: 'float32', shape, data });
const i64 = (values: readonly number[]): HostTensor => ({
  dtype: 'int64',
  shape: [values.length],
  data: BigInt64Array.from(values.map((v) => BigInt(v))),
});
const ints = (t: HostTensor): number[] => Array.from(t.data as BigInt64Array, Number);
const floats = (t: HostTensor): Float32Array => t.data as Float32Array;

/** Slice i of a golden tensor along its first axis. */
function item(c: GoldenCase, name: string, i: number): Float32Array {
  const { data, shape } = c.tensor(name);
  const size = data.length / shape[0]!;
  return data.subarray(i * size, (i + 1) * size);
}

class Report {
  readonly lines: ParityLine[] = [];
  constructor(private readonly onLine?: (l: ParityLine) => void) {}

  private add(line: ParityLine): void {
    this.lines.push(line);
    this.onLine?.(line);
  }

  atMost(quantity: string, measure: string, error: number, tolerance: number): void {
    this.add({ quantity, measure, error, tolerance, outcome: error <= tolerance ? 'pass' : 'fail' });
  }

  atLeast(quantity: string, measure: string, value: number, bound: number): void {
    this.add({ quantity, measure, error: value, tolerance: bound, outcome: value >= bound ? 'pass' : 'fail' });
  }

  /** A discrete result judged against the reference's own numbers; the tolerance is the largest tie gap allowed. */
  judged(quantity: string, j: Judgement, tieTolerance: number): Judgement {
    const error = j.kind === 'identical' ? 0 : j.gap;
    const outcome = j.kind === 'identical' ? 'pass' : j.kind;
    const measure = j.kind === 'identical' ? 'identical' : 'tie gap';
    this.add({
      quantity,
      measure,
      error,
      tolerance: tieTolerance,
      outcome,
      detail: j.kind === 'identical' ? undefined : j.detail,
    });
    return j;
  }

  /** Exact results with no scores behind them (a vote's counts): identical or a failure. */
  same(quantity: string, ours: readonly number[], theirs: readonly number[]): void {
    const pass = sameList(ours, theirs);
    this.add({
      quantity,
      measure: 'identical',
      error: pass ? 0 : 1,
      tolerance: 0,
      outcome: pass ? 'pass' : 'fail',
      detail: pass ? undefined : `ours [${ours.join(',')}] reference [${theirs.join(',')}]`,
    });
  }
}

export async function runParity(caseDir: string, opts: ParityOptions): Promise<ParityLine[]> {
  const c = openGoldenCase(caseDir);
  const p = c.meta.params;
  const fp16 = opts.singleFile !== undefined;
  const model = loadSdxlModel(opts.singleFile ?? c.modelDir, {
    unetConfig: opts.unetConfig ?? (fp16 ? `${c.modelDir}/unet/config.json` : undefined),
    vaeConfig: opts.vaeConfig ?? (fp16 ? `${c.modelDir}/vae/config.json` : undefined),
  });
  // A single file carries no noise schedule: the case's model folder has the one the reference used.
  const scheduler = fp16 ? loadSdxlModel(c.modelDir).scheduler : model.scheduler;
  const report = new Report(opts.onLine);
  const valueTol = fp16 ? 2e-3 : 1e-4;
  // float16 weights move maps by up to 2e-5, so ties are wider there (golden/README.md).
  const tieTol = fp16 ? 1e-4 : 1e-6;

  const { shape, maps: mapSettings, loss: lossSettings } = caseSettings(p, scheduler);
  const imageShape = [1, 3, p.image_size, p.image_size];
  const latentShape = [1, model.vae.config.latentChannels, p.latent_size, p.latent_size];
  const tokenShape = [1, p.num_tokens, p.embedding_dim];
  const R = p.feature_upsample_res;
  const referenceMaps = (name: string): TokenMaps => ({ data: c.tensor(name).data, tokens: p.num_tokens, size: R });
  const kl = (maps: TokenMaps) => gaussianScores(maps, { sigma: p.sigma, subjects: p.num_subjects });
  const compiled: CompiledGraph[] = [];
  const compile = async (outputs: Parameters<Backend['compile']>[0], name: string) => {
    const g = await opts.backend.compile(outputs, { name });
    compiled.push(g);
    return g;
  };
  // A training step whose losses and gradient follow the reference's candidates and selection,
  // compiled once, on first need: every optimisation iteration, and the golden step after a tie.
  let givenStep: CompiledGraph | undefined;
  const stepFollowingReference = async () => {
    if (!givenStep) {
      const g = new Graph();
      const t = buildTrainStep(g, model, shape, mapSettings, lossSettings, 'given');
      givenStep = await compile(
        [t.loss, t.sharpening, t.equivariance, t.gradient, t.candidates, t.selected, t.maps, t.warpedMaps],
        'train-step-given-choice',
      );
    }
    return givenStep;
  };
  const compareMaps = (quantity: string, ours: HostTensor, reference: string) =>
    report.atMost(quantity, 'max abs', maxAbsError(floats(ours), c.tensor(reference).data), valueTol);

  try {
    // Latents and maps of every image with context0.
    const sg = new Graph();
    const sel = buildSelectionGraph(sg, model, shape, mapSettings, { ...lossSettings });
    const selection = await compile([sel.latents, sel.maps, sel.candidates, sel.selected], 'selection');
    const images = c.tensor('images').shape[0]!;
    const latents: Float32Array[] = [];
    const maps: Float32Array[] = [];
    for (let i = 0; i < images; i++) {
      const [lat, m] = await selection.run({
        image: f32(item(c, 'images', i), imageShape),
        noise: f32(item(c, 'noise_maps', i), latentShape),
        tokens: f32(c.tensor('context0').data, tokenShape),
      });
      latents.push(floats(lat!));
      maps.push(floats(m!));
    }
    const concat = (parts: Float32Array[]) => Float32Array.from(parts.flatMap((a) => Array.from(a)));
    report.atMost('latents', 'max abs', maxAbsError(concat(latents), c.tensor('latents').data), valueTol);
    report.atMost('attn_maps', 'max abs', maxAbsError(concat(maps), c.tensor('attn_maps').data), valueTol);

    // The training iteration of the reference, with its pinned warp and noises, as training runs it.
    const tg = new Graph();
    const step = buildTrainStep(tg, model, shape, mapSettings, lossSettings);
    const train = await compile(
      [
        step.loss,
        step.sharpening,
        step.equivariance,
        step.gradient,
        step.candidates,
        step.selected,
        step.maps,
        step.warpedMaps,
        step.warpedImage,
      ],
      'train-step',
    );
    const stepImage = c.meta.step.image_index;
    const stepInputs = {
      image: f32(item(c, 'images', stepImage), imageShape),
      // The image's latents as the selection graph encoded them, as training's runner does.
      latents: f32(latents[stepImage]!, latentShape),
      theta: f32(c.tensor('step_theta').data, [2, 3]),
      noise: f32(c.tensor('step_noise_1').data, latentShape),
      warpedNoise: f32(c.tensor('step_noise_2').data, latentShape),
      tokens: f32(c.tensor('context0').data, tokenShape),
    };
    let [loss, sharp, equi, gradient, candidates, selected, stepMaps, warpedMaps, warpedImage] =
      await train.run(stepInputs);
    report.atMost(
      'step_transformed_image',
      'max abs',
      maxAbsError(floats(warpedImage!), c.tensor('step_transformed_image').data),
      1e-4,
    );
    compareMaps('step_maps', stepMaps!, 'step_maps');
    compareMaps('step_maps_transformed', warpedMaps!, 'step_maps_transformed');
    const stepCandidates = report.judged(
      'step candidates',
      judgeRanking(ints(candidates!), c.meta.step.top_initial_candidates, kl(referenceMaps('step_maps')), tieTol),
      tieTol,
    );
    const stepSelection = report.judged(
      'step selected indices',
      judgeFarthestPoints(
        ints(selected!),
        c.meta.step.selected_indices,
        ints(candidates!),
        referenceMaps('step_maps_transformed'),
        tieTol,
      ),
      tieTol,
    );
    if (stepCandidates.kind !== 'identical' || stepSelection.kind !== 'identical') {
      [loss, sharp, equi, gradient] = await (
        await stepFollowingReference()
      ).run({
        ...stepInputs,
        givenCandidates: i64(c.meta.step.top_initial_candidates),
        givenSelected: i64(c.meta.step.selected_indices),
      });
    }
    if (!fp16) {
      report.atMost('step loss', 'relative', relativeError(floats(loss!)[0]!, c.meta.step.loss), 1e-4);
      report.atMost(
        'step sharpening loss',
        'relative',
        relativeError(floats(sharp!)[0]!, c.meta.step.sharpening),
        1e-4,
      );
      report.atMost(
        'step equivariance loss',
        'relative',
        relativeError(floats(equi!)[0]!, c.meta.step.equivariance),
        1e-4,
      );
      const g = floats(gradient!);
      const gold = c.tensor('step_grad').data;
      report.atMost('step_grad', 'rel L2', relativeL2Error(g, gold), 1e-3);
      report.atLeast('step_grad', 'cosine', cosineSimilarity(g, gold), 0.9999);

      // Optimisation: AdamW over the recorded schedule, accumulating gradients. Each iteration's
      // losses and gradient follow the reference's choice, so a tie in one iteration leaves every
      // later number comparable; our own choices are judged on the reference's maps.
      const { iterations, accumulation, schedule } = c.meta.optimize;
      const context0 = c.tensor('context0').data;
      const tokens = Float32Array.from(context0);
      const adam = new AdamW(tokens.length, { lr: p.lr, weightDecay: p.weight_decay, betas: [0.9, 0.999], eps: 1e-8 });
      const acc = new GradientAccumulator(tokens.length, accumulation);
      const iterate = await stepFollowingReference();
      for (let it = 0; it < iterations; it++) {
        const s = schedule[it]!;
        const [itLoss, , , itGrad, itCandidates, itSelected, itMaps, itWarpedMaps] = await iterate.run({
          image: f32(item(c, 'images', s.image_index), imageShape),
          latents: f32(latents[s.image_index]!, latentShape),
          theta: f32(Float32Array.from(s.theta.flat()), [2, 3]),
          noise: f32(c.tensor(`opt_noise_${it}_1`).data, latentShape),
          warpedNoise: f32(c.tensor(`opt_noise_${it}_2`).data, latentShape),
          tokens: f32(tokens, tokenShape),
          givenCandidates: i64(s.top_initial_candidates),
          givenSelected: i64(s.selected_indices),
        });
        const at = `optimisation iteration ${it}`;
        compareMaps(`${at} maps`, itMaps!, `opt_maps_${it}`);
        compareMaps(`${at} warped maps`, itWarpedMaps!, `opt_maps_transformed_${it}`);
        report.judged(
          `${at} candidates`,
          judgeRanking(ints(itCandidates!), s.top_initial_candidates, kl(referenceMaps(`opt_maps_${it}`)), tieTol),
          tieTol,
        );
        report.judged(
          `${at} selected indices`,
          judgeFarthestPoints(
            ints(itSelected!),
            s.selected_indices,
            s.top_initial_candidates,
            referenceMaps(`opt_maps_transformed_${it}`),
            tieTol,
          ),
          tieTol,
        );
        report.atMost(`${at} loss`, 'relative', relativeError(floats(itLoss!)[0]!, s.loss), 1e-4);
        acc.add(floats(itGrad!));
        if (acc.full) {
          adam.step(tokens, acc.take());
          const k = adam.stepCount - 1;
          const after = item(c, 'opt_context_after', k);
          const ours = tokens.map((v, i) => v - context0[i]!);
          const theirs = after.map((v, i) => v - context0[i]!);
          report.atMost(`tokens after step ${k + 1} (displacement)`, 'rel L2', relativeL2Error(ours, theirs), 1e-3);
          report.atMost(`tokens after step ${k + 1} (displacement)`, 'max abs', maxAbsError(ours, theirs), 5e-4);
        }
      }
    }

    // Index choice with the reference's final tokens. The vote counts the reference's list of an
    // image whose selection differs at a tie, so a tie cannot move the vote.
    const finalTokens = item(c, 'opt_context_after', c.tensor('opt_context_after').shape[0]! - 1);
    const { per_image: referencePerImage } = c.meta.find_best_indices;
    const perImage: number[][] = [];
    for (let i = 0; i < referencePerImage.length; i++) {
      const [, findMaps, findCandidates, findSelected] = await selection.run({
        image: f32(item(c, 'images', i), imageShape),
        noise: f32(c.tensor(`find_noise_${i}`).data, latentShape),
        tokens: f32(finalTokens, tokenShape),
      });
      const reference = referenceMaps(`find_maps_${i}`);
      const scores = kl(reference);
      // The search's candidate lists are not stored: rank the reference's maps as it does.
      const referenceCandidates = lowestScores(scores, p.furthest_point_num_samples);
      compareMaps(`best-index search, image ${i}, maps`, findMaps!, `find_maps_${i}`);
      report.judged(
        `best-index search, image ${i}, candidates`,
        judgeRanking(ints(findCandidates!), referenceCandidates, scores, tieTol),
        tieTol,
      );
      const ours = ints(findSelected!);
      const j = report.judged(
        `best-index selection, image ${i}`,
        judgeFarthestPoints(ours, referencePerImage[i]!, ints(findCandidates!), reference, tieTol),
        tieTol,
      );
      perImage.push(j.kind === 'tie' ? referencePerImage[i]! : ours);
    }
    const vote = chooseIndices(perImage, p.top_k);
    report.same('best indices', vote.indices, c.meta.find_best_indices.best_by_count_then_index);
    const countsOf = (entries: Iterable<[number, number]>) =>
      [...entries].sort((a, b) => a[0] - b[0]).flatMap(([token, count]) => [token, count]);
    report.same(
      'best-index counts (token, count)',
      countsOf(vote.counts),
      countsOf(Object.entries(c.meta.find_best_indices.counts).map(([t, n]) => [Number(t), n])),
    );

    // Augmented inference of one image with the chosen indices.
    const aug = c.meta.augmented;
    const ag = new Graph();
    const draws = aug.iterations;
    const sums = buildAugmentedDraws(ag, model, shape, mapSettings, aug.indices.length, aug.upscale_size, draws);
    const augmented = await compile(augmentedDrawsOutputs(sums), 'augmented-draws');
    const average = new AugmentedAverage(aug.indices.length, aug.upscale_size);
    const outputs = await augmented.run({
      image: f32(item(c, 'images', aug.image_index), imageShape),
      thetas: f32(c.tensor('aug_thetas').data.subarray(0, draws * 6), [draws, 2, 3]),
      noises: f32(c.tensor('aug_noises').data.subarray(0, draws * latentShape.slice(1).reduce((x, y) => x * y)), [
        draws,
        ...latentShape.slice(1),
      ]),
      tokens: f32(finalTokens, tokenShape),
      indices: i64(aug.indices),
      ...average.feeds(),
    });
    average.update(outputs);
    const { maps: finalMaps, points } = average.result();
    report.atMost('aug_maps', 'max abs', maxAbsError(finalMaps, c.tensor('aug_maps').data), valueTol);
    report.judged(
      'augmented keypoints (y, x)',
      judgePeaks(
        points,
        aug.keypoints_yx_normalized.map(([y, x]) => ({ y: y!, x: x! })),
        { data: c.tensor('aug_maps').data, tokens: aug.indices.length, size: aug.upscale_size },
        tieTol,
      ),
      tieTol,
    );
  } finally {
    await Promise.all(compiled.map((g) => g.release()));
  }
  return report.lines;
}
