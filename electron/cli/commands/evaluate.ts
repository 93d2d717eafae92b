import type { EvaluationResult } from '../../common/jobs.js';
import type { CliCommand, CliIO } from '../command.js';
import { runJobInCli } from '../jobRunner.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';
import { idOption } from './keypoints.js';

const usage = 'Usage: skp evaluate <project.skp> [--run <id>]';

const cell = (v: number | null) => (v === null ? '—' : v.toFixed(4));

/** Images the command lists after the table; the app lists them all. */
const WORST_SHOWN = 5;

export function printEvaluation(io: CliIO, result: EvaluationResult): void {
  io.out(`Run ${result.runId}: ${result.protocol}`);
  const width = Math.max(8, ...result.parts.map((p) => p.length));
  io.out(`  ${'part'.padEnd(width)}  ${result.metrics.map((m, i) => `[${i + 1}]`.padStart(8)).join('')}`);
  result.parts.forEach((part, j) => {
    io.out(`  ${part.padEnd(width)}  ${result.metrics.map((m) => cell(m.perPart[j] ?? null).padStart(8)).join('')}`);
  });
  io.out(`  ${'overall'.padEnd(width)}  ${result.metrics.map((m) => cell(m.overall).padStart(8)).join('')}`);
  result.metrics.forEach((m, i) =>
    io.out(`  [${i + 1}] ${m.name} (${m.higherIsBetter ? 'higher' : 'lower'} is better)`),
  );
}

export const evaluateCommand: CliCommand = {
  name: 'evaluate',
  summary: 'Measure the keypoints against imported ground truth (linear regressor, mean error and PCK per part)',
  usage:
    `${usage}\n\n` +
    "Fits a linear map from the run's K keypoints to the labelled parts on the train split and measures it on\n" +
    'the test split (all labelled images when there is no split). Needs ground truth: skp import --coco <file>.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { run: { type: 'string' } }, usage);
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    const runId = idOption('run', values.run);
    return withServices(async (services) => {
      await services.project.open(positionals[0] as string);
      const status = await runJobInCli(services, { kind: 'evaluate', runId }, io, { quiet: true });
      if (status.state !== 'done') {
        io.err(`Evaluation failed: ${status.error}`);
        return 1;
      }
      const result = status.result as unknown as EvaluationResult;
      printEvaluation(io, result);
      const worst = result.images.filter((i) => i.meanError !== null).slice(0, WORST_SHOWN);
      if (worst.length > 0) io.out('Worst images (mean error over their labelled parts):');
      for (const image of worst) {
        io.out(`  ${cell(image.meanError).padStart(8)}  ${(await services.images.get(image.imageId)).path}`);
      }
      return 0;
    });
  },
};
