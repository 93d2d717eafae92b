import fs from 'node:fs';
import path from 'node:path';
import type { JsonObject, JsonValue } from '../../common/runs.js';
import { parseJsonFile } from '../../services/validation.js';
import { UserError, type CliCommand } from '../command.js';
import { duration, modelOption, runJobInCli } from '../jobRunner.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';
import { workersHelp, workersOption, workersOptions } from '../workersOption.js';

const usage =
  'Usage: skp train <project.skp> [--model <path>] [--unet-config <json>] [--vae-config <json>] ' +
  '[--settings <file.json>] [--set key=value ...] [--resume [--run <id>]] [--backend auto|cpu|cuda] [--name <name>] [--checkpoint-every <steps>] [--workers redis://host:6379 | --gpus all|0,1 | --local-workers N | --worker-processes N]';

/** `key=value`; the value is JSON where it parses (numbers, arrays, true), else text; dots nest. */
export function parseSetting(text: string, into: JsonObject): void {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${text}: expected key=value, e.g. --set steps=50`);
  const keys = text.slice(0, eq).split('.');
  const rawValue = text.slice(eq + 1);
  let value: JsonValue;
  try {
    value = JSON.parse(rawValue) as JsonValue;
  } catch {
    value = rawValue;
  }
  let node = into;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as JsonObject;
  }
  node[keys.at(-1)!] = value;
}

function readSettingsFile(file: string): JsonObject {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (e) {
    throw new UserError(
      `--settings ${absolute}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const parsed = parseJsonFile(text, absolute);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserError(`--settings ${absolute}: expected a JSON object of settings`);
  }
  return parsed as JsonObject;
}

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'Learn keypoint tokens on the project images (checkpointed, resumable, Ctrl-C cancels cleanly)',
  usage:
    `${usage}\n\n` +
    '  --model <path>        SDXL weights: a diffusers folder or a single .safetensors file; kept as the project model\n' +
    '  --unet-config <json>  UNet config.json for a single file or a folder without one (likewise --vae-config)\n' +
    '  --settings <file>     run settings as JSON (see native/keypoints/settings.ts); missing keys keep the reference defaults\n' +
    '  --set key=value       one setting, e.g. --set steps=50 --set augmentation.rotationDegrees=10 (after --settings)\n' +
    '  --resume              continue the latest interrupted, cancelled or failed run (or --run <id>) from its checkpoint;\n' +
    '                        only steps may change (--set steps=400 trains a finished run further)\n' +
    '  --backend <b>         auto (default: native CUDA, then ONNX Runtime providers, then CPU), or one of\n' +
    '                        cpu, cuda, dml, coreml, webgpu: that one or an error saying why it cannot run\n' +
    '  --checkpoint-every n  optimiser steps between checkpoints in the project (default 10)\n' +
    workersHelp.replace('the work', "each step's batch"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        model: { type: 'string' },
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        settings: { type: 'string' },
        set: { type: 'string', multiple: true },
        resume: { type: 'boolean' },
        run: { type: 'string' },
        backend: { type: 'string' },
        name: { type: 'string' },
        'checkpoint-every': { type: 'string' },
        ...workersOptions,
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    if (values.run !== undefined && !values.resume) throw usageError('--run goes with --resume', usage);
    const settings: JsonObject = values.settings ? readSettingsFile(values.settings) : {};
    for (const item of values.set ?? []) parseSetting(item, settings);
    const every = values['checkpoint-every'] === undefined ? undefined : Number(values['checkpoint-every']);
    if (every !== undefined && !(Number.isInteger(every) && every > 0)) {
      throw new UserError(
        `--checkpoint-every must be a positive whole number of steps, not "${values['checkpoint-every']}"`,
      );
    }
    const runArg = values.run === undefined ? undefined : Number(values.run);
    if (runArg !== undefined && !(Number.isInteger(runArg) && runArg > 0))
      throw new UserError(`--run must be a run id, not "${values.run}"`);
    const workers = workersOption(values);
    const project = positionals[0] as string;
    return withServices(async (services) => {
      await services.project.open(project);
      let resumeRunId = runArg;
      if (values.resume && resumeRunId === undefined) {
        const candidates = await services.jobs.resumable();
        if (candidates.length === 0) {
          throw new UserError(
            'no run to resume: every run finished or none was started (to train a finished run further: --resume --run <id> --set steps=<more>)',
          );
        }
        resumeRunId = candidates[0]!.runId;
      }
      const started = Date.now();
      const status = await runJobInCli(
        services,
        {
          kind: 'train',
          model: modelOption(values),
          settings: Object.keys(settings).length > 0 ? settings : undefined,
          resumeRunId,
          name: values.name,
          backend: values.backend,
          checkpointEvery: every,
          workers,
        },
        io,
      );
      const step = status.progress?.step ?? 0;
      const again = `skp train ${project} --resume --run ${status.runId}`;
      if (status.state === 'done') {
        io.out(
          `Run ${status.runId}: trained to step ${step} in ${duration((Date.now() - started) / 1000)}. Next: skp keypoints ${project}`,
        );
        return 0;
      }
      if (status.state === 'cancelled') {
        io.out(`Run ${status.runId} cancelled after step ${step}; its checkpoint is kept. Carry on with: ${again}`);
        return 130;
      }
      io.err(`Run ${status.runId} failed: ${status.error}`);
      if (status.runId !== null) io.err(`Carry on from its last checkpoint with: ${again}`);
      return 1;
    });
  },
};
