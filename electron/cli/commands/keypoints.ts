import type { IndexMatch, Part } from '../../common/keypoints.js';
import type { Services } from '../../common/services.js';
import { UserError, type CliCommand, type CliIO } from '../command.js';
import { modelOption, runJobInCli } from '../jobRunner.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';
import { workersHelp, workersOption, workersOptions } from '../workersOption.js';

const usage =
  'Usage: skp keypoints <project.skp> [--run <id>] [--model <path>] [--unet-config <json>] [--vae-config <json>] [--backend auto|cpu|cuda] [--accept-match] [--workers redis://host:6379 | --gpus all|0,1 | --local-workers N | --worker-processes N] [--chunk N]';

const describeMatch = (m: IndexMatch, parts: Part[]): string => {
  const part = parts.find((p) => p.id === m.partId);
  const where =
    m.distance === null ? '' : ` (${(m.distance * 100).toFixed(1)} % of the diagonal on ${m.images} images)`;
  const what = part ? `${part.displayName}${where}` : 'a new part';
  return `  index ${m.position + 1} (token ${m.token}) → ${what}${m.verdict === 'check' ? ' — check this match' : ''}`;
};

/**
 * A run's indices stand for parts before its keypoints count; the first run of a project gets
 * its own parts, a later one a proposal the user accepts. True when the run is matched now.
 */
async function matchParts(services: Services, runId: number, accept: boolean, io: CliIO): Promise<boolean> {
  const info = await services.project.info();
  if (info.runs.find((r) => r.id === runId)?.matched) return true;
  const proposal = await services.keypoints.proposeMatch(runId);
  io.out(`Matching run ${runId}'s indices to your parts by where their keypoints land:`);
  for (const m of proposal.matches) io.out(describeMatch(m, info.parts));
  if (!accept) {
    io.out(
      `Nothing changed: your parts still show run ${info.currentRunId ?? 'none'}. ` +
        `To accept: skp keypoints <project> --run ${runId} --accept-match`,
    );
    return false;
  }
  await services.keypoints.adoptRun(
    runId,
    proposal.matches.map((m) => ({ indexId: m.indexId, partId: m.partId })),
  );
  io.out(`Run ${runId} now feeds the predictions of your parts.`);
  return true;
}

/** A positive whole number from an option, or undefined when not given. */
export function idOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const id = Number(value);
  if (!(Number.isInteger(id) && id > 0)) throw new UserError(`--${name} must be a run id, not "${value}"`);
  return id;
}

export const keypointsCommand: CliCommand = {
  name: 'keypoints',
  summary: "Choose a trained run's K keypoint indices and find the keypoints of every image (hand corrections stay)",
  usage:
    `${usage}\n\n` +
    '  --run <id>      the trained run (default: the newest finished run)\n' +
    '  --model <path>  the SDXL weights, if not those the run was trained with\n' +
    "  --accept-match  let the run's indices stand for the parts the matching proposes (a new run's\n" +
    '                  indices feed nothing until matched; without this flag the proposal is printed)\n' +
    workersHelp +
    '  --chunk N       images per task sent to a worker (default 4)\n' +
    "Images that already have this run's keypoints are kept as they are; an interrupted job carries on with the rest.",
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        run: { type: 'string' },
        model: { type: 'string' },
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        backend: { type: 'string' },
        'accept-match': { type: 'boolean' },
        chunk: { type: 'string' },
        ...workersOptions,
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    const runId = idOption('run', values.run);
    const workers = workersOption(values);
    const chunkSize = values.chunk === undefined ? undefined : Number(values.chunk);
    if (chunkSize !== undefined && !(Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= 1000)) {
      throw new UserError(`--chunk must be a number of images from 1 to 1000, not "${values.chunk}"`);
    }
    const project = positionals[0] as string;
    return withServices(async (services) => {
      await services.project.open(project);
      const status = await runJobInCli(
        services,
        { kind: 'keypoints', runId, model: modelOption(values), backend: values.backend, workers, chunkSize },
        io,
      );
      if (status.state === 'done') {
        const matched = await matchParts(services, status.runId as number, values['accept-match'] === true, io);
        if (!matched) return 0;
        io.out(
          `Keypoints of run ${status.runId} are in the project. Next: skp evaluate ${project} or skp export ${project} --coco <file>`,
        );
        return 0;
      }
      if (status.state === 'cancelled') {
        io.out(`Cancelled; the images done so far keep their keypoints. Run skp keypoints ${project} again to finish.`);
        return 130;
      }
      io.err(`Keypoints of run ${status.runId} failed: ${status.error}`);
      return 1;
    });
  },
};
