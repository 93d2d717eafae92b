import type { CliCommand } from '../command.js';
import type { ProjectInfo } from '../../common/project.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';

const usage = 'Usage: skp info <project.skp> [--json]';

export const infoCommand: CliCommand = {
  name: 'info',
  summary: 'Show what a project holds: images, ground truth, model, runs, parts and the run that predicts them',
  usage: `${usage}\n\n  --json   print everything as JSON (for scripts)`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, usage);
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    return withServices(async (services) => {
      // Reading only: a project another process has open is shown read-only.
      const info = await services.project.open(positionals[0] as string, { readOnly: 'if-locked' });
      const groundTruth = await services.groundTruth.summary();
      if (values.json) io.out(JSON.stringify({ ...info, groundTruthParts: groundTruth.parts }, null, 2));
      else
        describe(
          info,
          groundTruth.parts.map((p) => p.name),
        ).forEach((line) => io.out(line));
      return 0;
    });
  },
};

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function describe(info: ProjectInfo, parts: string[]): string[] {
  const c = info.counts;
  const lines = [
    `Project       ${info.settings.name} — ${info.path} (${megabytes(info.fileBytes)}, schema ${info.schemaVersion})`,
  ];
  if (info.readOnlyReason) lines.push(`Read-only     ${info.readOnlyReason}`);
  lines.push(`Images        ${c.images} (train ${c.train}, test ${c.test}, no split ${c.unassigned})`);
  lines.push(
    c.imagesWithGroundTruth > 0
      ? `Ground truth  ${c.imagesWithGroundTruth} images, ${parts.length} parts: ${parts.join(', ')}`
      : 'Ground truth  none',
  );
  lines.push(`Model         ${info.model ? `${info.model.name} (${info.model.path})` : 'none'}`);
  if (info.runs.length === 0) lines.push('Runs          none');
  for (const run of info.runs) {
    const step = run.lastStep === null ? 'no checkpoint' : `step ${run.lastStep}`;
    const loss = run.finalLoss === null ? '' : `, loss ${run.finalLoss.toPrecision(4)}`;
    const role =
      run.id === info.currentRunId
        ? ', feeds the predictions'
        : run.indexCount > 0 && !run.matched
          ? ', indices not matched to parts yet'
          : '';
    lines.push(
      `Run ${String(run.id).padEnd(9)} ${run.name ?? ''}${run.name ? ' ' : ''}${run.status}, ${step}${loss}, ` +
        `${run.indexCount} indices, created ${run.createdAt}${role}`,
    );
  }
  if (info.parts.length === 0) lines.push('Parts         none (no run has found keypoints yet)');
  else {
    const indexOf = new Map(info.indices.map((index) => [index.partId, index]));
    lines.push(`Parts         ${info.parts.length}, predicted by run ${info.currentRunId ?? 'none'}:`);
    for (const part of info.parts) {
      const hidden = part.hidden ? ' (hidden from export)' : '';
      const unnamed = part.name === null ? ' (unnamed)' : '';
      const index = indexOf.get(part.id);
      const source = index ? `index ${index.position + 1}, token ${index.token}` : 'no index in this run';
      lines.push(
        `  ${String(part.order + 1).padStart(3)}. ${part.displayName}${unnamed} — ${source}, ${part.colour}${hidden}`,
      );
    }
  }
  lines.push(
    `Keypoints     ${c.predictedKeypoints} predicted, ${c.correctedKeypoints} corrected by hand ` +
      `on ${c.imagesWithCorrections} images`,
  );
  return lines;
}
