import { describeQualityIssue, qualitySummary } from '../../common/quality.js';
import type { CliCommand } from '../command.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';

const usage = 'Usage: skp check <project.skp> [--all]';

/** Findings printed without --all: the worst, a screenful. */
const SHOWN = 20;

export const checkCommand: CliCommand = {
  name: 'check',
  summary: 'Label checks: points far from where their part usually sits, skeleton edges of odd length',
  usage:
    `${usage}\n\n` +
    'Checks the keypoints an export would write (hand corrections over the predictions), each image fitted to\n' +
    "the data set's usual shape whatever its position, angle, size and facing, and lists what stands out, worst\n" +
    `first (the first ${SHOWN}; --all for every one the app lists). Distances are in units of that shape's size.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { all: { type: 'boolean' } }, usage);
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    return withServices(async (services) => {
      // Reading only: a project another process has open is checked as it is saved.
      await services.project.open(positionals[0] as string, { readOnly: 'if-locked' });
      const report = await services.quality.check();
      if (report.tooFew) {
        io.out(
          `Only ${report.checkedImages} images have three or more points; the checks need ${report.minImages} to know what is usual.`,
        );
        return 0;
      }
      io.out(`${qualitySummary(report.totalIssues, report.checkedImages)}.`);
      const shown = values.all ? report.issues : report.issues.slice(0, SHOWN);
      const width = Math.max(...shown.map((i) => i.path.length), 0);
      for (const issue of shown) io.out(`  ${issue.path.padEnd(width)}  ${describeQualityIssue(issue)}`);
      if (shown.length < report.totalIssues)
        io.out(`  … ${report.totalIssues - shown.length} more (--all lists ${report.issues.length})`);
      return 0;
    });
  },
};
