import fs from 'node:fs';
import path from 'node:path';
import type { EvaluationResult } from '../../common/jobs.js';
import type { JsonObject } from '../../common/runs.js';
import { DEMO_SIZES, writeRandomSdxlModel } from '../../../native/sdxl/randomModel.js';
import { writeDemoDataset } from '../../../resources/demo/writeDataset.js';
import { UserError, type CliCommand, type CliIO } from '../command.js';
import { duration, modelOption, runJobInCli } from '../jobRunner.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';
import { printEvaluation } from './evaluate.js';

const usage =
  'Usage: skp demo [--out <folder>] [--model <path> [--unet-config <json>] [--vae-config <json>]] [--steps <n>] [--images <n>] [--backend auto|cpu|cuda]';

/** Marks a folder as the demo's own, so a later demo may clear it and nothing else is ever cleared. */
const MARKER = '.skp-demo';
const OWN_ENTRIES = [
  'demo.skp',
  'demo.skp-wal',
  'demo.skp-shm',
  'model',
  'images',
  'keypoints.coco.json',
  'report.html',
];

/** Small enough that a training step of the random model takes a fraction of a second on a CPU. */
const RANDOM_MODEL_SETTINGS: JsonObject = {
  tokens: 16,
  batchSize: 2,
  keypoints: 4,
  candidates: 8,
  imageSize: 64,
  upsampleRes: 16,
  indexImages: 12,
  augmentationIterations: 4,
  seed: 0,
};

export const RANDOM_WEIGHTS_WARNING =
  'The model has RANDOM weights: the pipeline runs end to end, but the keypoints it finds are meaningless. ' +
  'For real keypoints point the demo at SDXL weights on your disk: skp demo --model <stable-diffusion-xl-base-1.0 folder or sd_xl_base_1.0.safetensors> ' +
  '(npm run demo -- --model <path>); expect hours per run on a CPU, minutes on a GPU.';

function prepareFolder(folder: string): void {
  if (fs.existsSync(folder)) {
    if (!fs.statSync(folder).isDirectory()) throw new UserError(`--out ${folder} is a file, not a folder`);
    const entries = fs.readdirSync(folder);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new UserError(`--out ${folder} is not empty and was not made by skp demo; give an empty or new folder`);
    }
    for (const entry of OWN_ENTRIES) fs.rmSync(path.join(folder, entry), { recursive: true, force: true });
  }
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, MARKER), 'Made by skp demo; running it again replaces what it made here.\n');
}

function positiveOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(Number.isInteger(n) && n > 0)) throw new UserError(`--${name} must be a positive whole number, not "${value}"`);
  return n;
}

function phase(io: CliIO, title: string): void {
  io.out('');
  io.out(`== ${title}`);
}

export const demoCommand: CliCommand = {
  name: 'demo',
  summary:
    'The whole workflow on drawn birds with known keypoints: train, choose indices, keypoints, evaluate, COCO, report',
  usage:
    `${usage}\n\n` +
    'With no --model it makes a small SDXL-architecture model with random weights (nothing is downloaded),\n' +
    'draws birds with known keypoints, creates a project, trains briefly, chooses the indices, finds the\n' +
    'keypoints, evaluates them against the drawn ones, exports COCO keypoints and writes an HTML report.\n' +
    '  --out <folder>  where everything goes (default ./skp-demo)\n' +
    '  --model <path>  real SDXL weights (diffusers folder or single .safetensors) instead of the random model\n' +
    '  --steps <n>     optimiser steps (default 20 with the random model, 10 with --model)\n' +
    '  --images <n>    how many birds to draw (default 24)',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        out: { type: 'string' },
        model: { type: 'string' },
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        steps: { type: 'string' },
        images: { type: 'string' },
        backend: { type: 'string' },
      },
      usage,
    );
    if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`, usage);
    const started = Date.now();
    const folder = path.resolve(values.out ?? 'skp-demo');
    const given = modelOption(values);
    const steps = positiveOption('steps', values.steps, given ? 10 : 20);
    const imageCount = positiveOption('images', values.images, 24);
    prepareFolder(folder);
    io.out(`Keypoint Workstation demo in ${folder}`);

    phase(io, given ? 'Model' : 'Model: small SDXL architecture, random weights');
    let model = given;
    if (!model) {
      const modelFolder = path.join(folder, 'model');
      writeRandomSdxlModel(modelFolder, DEMO_SIZES, 0);
      model = { path: modelFolder };
      io.out(`Wrote ${modelFolder} (UNet channels ${DEMO_SIZES.blockOutChannels.join('/')}, random weights)`);
    } else io.out(`Using ${path.resolve(given!.path)}`);

    phase(io, 'Images: drawn birds with known keypoints');
    const dataset = await writeDemoDataset(path.join(folder, 'images'), imageCount, { size: 128, seed: 0 });
    io.out(
      `Drew ${dataset.images.length} birds into ${path.dirname(dataset.annotations)} with their keypoints in ${dataset.annotations}`,
    );

    return withServices(async (services) => {
      const projectFile = path.join(folder, 'demo.skp');
      await services.project.create({ path: projectFile, name: 'Demo birds' });
      const imported = await services.imports.importCoco({ file: dataset.annotations });
      const ids = (await services.images.list({ limit: 1000, sort: 'path' })).items.map((i) => i.id);
      const trainCount = Math.max(1, Math.ceil((ids.length * 2) / 3));
      await services.images.setSplit(ids.slice(0, trainCount), 'train');
      if (ids.length > trainCount) await services.images.setSplit(ids.slice(trainCount), 'test');
      io.out(
        `Created ${projectFile}: ${imported.imagesAdded} images with ground truth (${imported.parts.join(', ')}); ` +
          `${trainCount} train, ${ids.length - trainCount} test`,
      );

      phase(io, `Training ${steps} steps`);
      const settings: JsonObject = given
        ? { steps, indexImages: Math.min(100, imageCount) }
        : { ...RANDOM_MODEL_SETTINGS, steps };
      const trained = await runJobInCli(
        services,
        { kind: 'train', model, settings, backend: values.backend, name: 'demo' },
        io,
      );
      if (trained.state !== 'done')
        throw new UserError(`training ${trained.state}: ${trained.error ?? 'stopped'}; the demo stops here`);

      phase(io, 'Choosing the indices and finding the keypoints');
      const found = await runJobInCli(
        services,
        { kind: 'keypoints', runId: trained.runId!, backend: values.backend },
        io,
      );
      if (found.state !== 'done')
        throw new UserError(`keypoints ${found.state}: ${found.error ?? 'stopped'}; the demo stops here`);

      phase(io, 'Evaluating against the drawn keypoints');
      const evaluated = await runJobInCli(services, { kind: 'evaluate', runId: trained.runId! }, io, { quiet: true });
      if (evaluated.state !== 'done') throw new UserError(`evaluation failed: ${evaluated.error}`);
      printEvaluation(io, evaluated.result as unknown as EvaluationResult);

      phase(io, 'Export and report');
      const coco = await services.exports.exportCoco({
        file: path.join(folder, 'keypoints.coco.json'),
        withScores: true,
      });
      io.out(
        `COCO keypoints: ${coco.images} images, ${coco.annotations} annotations, keypoints ${coco.keypointNames.join(', ')}`,
      );
      const notes = given ? [] : [RANDOM_WEIGHTS_WARNING];
      const report = await services.reports.write(path.join(folder, 'report.html'), trained.runId!, {
        title: 'Keypoint Workstation demo: drawn birds',
        notes,
      });

      io.out('');
      if (!given) io.out(`NOTE: ${RANDOM_WEIGHTS_WARNING}`);
      io.out(`Demo finished in ${duration((Date.now() - started) / 1000)}.`);
      io.out(`COCO keypoints: ${coco.file}`);
      io.out(`Report:         ${report}`);
      return 0;
    });
  },
};
