import { UserError, type CliCommand } from '../command.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';

const usage =
  'Usage: skp export <project.skp> --coco <out.json> [--only-corrected] [--split train|test] [--with-scores] [--ground-truth]';

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Write the keypoints (hand corrections win over predictions) as a COCO keypoints JSON',
  usage:
    `${usage}\n\n` +
    '  --only-corrected  only images with at least one hand-corrected keypoint\n' +
    '  --split <s>       only images of the train or test split\n' +
    '  --with-scores     add keypoint_scores and keypoint_sources to each annotation\n' +
    '  --ground-truth    export the imported ground truth instead of the keypoints',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        coco: { type: 'string' },
        'only-corrected': { type: 'boolean' },
        split: { type: 'string' },
        'with-scores': { type: 'boolean' },
        'ground-truth': { type: 'boolean' },
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    if (values.coco === undefined) throw usageError('give the output file with --coco <out.json>', usage);
    const split = values.split;
    if (split !== undefined && split !== 'train' && split !== 'test') {
      throw new UserError(`--split must be train or test, not "${split}"`);
    }
    return withServices(async (services) => {
      // Reading only: a project another process has open is exported as it is saved.
      await services.project.open(positionals[0] as string, { readOnly: 'if-locked' });
      const result = await services.exports.exportCoco({
        file: values.coco as string,
        onlyCorrected: values['only-corrected'],
        split,
        withScores: values['with-scores'],
        groundTruth: values['ground-truth'],
      });
      io.out(
        `Wrote ${result.file}: ${result.images} images, ${result.annotations} annotations, ` +
          `${result.keypointNames.length} keypoints (${result.keypointNames.join(', ')}) in ${result.seconds.toFixed(2)} s`,
      );
      return 0;
    });
  },
};
