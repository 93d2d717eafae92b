import type { Split } from '../../common/images.js';
import { UserError, type CliCommand } from '../command.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';

const usage =
  'Usage: skp export <project.skp> (--coco <out.json> | --csv <out.csv>) [--only-corrected] [--split train|test] [--with-scores] [--ground-truth]';

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Write the keypoints (hand corrections win over predictions) as a COCO keypoints JSON or a CSV table',
  usage:
    `${usage}\n\n` +
    '  --coco <file>     a COCO keypoints JSON\n' +
    '  --csv <file>      the same keypoints as a CSV table, a row per image and part, with their\n' +
    '                    sources and scores (x and y empty where a point is not labelled)\n' +
    '  --only-corrected  only images with at least one hand-corrected keypoint\n' +
    '  --split <s>       only images of the train or test split\n' +
    '  --with-scores     add keypoint_scores and keypoint_sources to each COCO annotation\n' +
    '  --ground-truth    export the imported ground truth instead of the keypoints',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        coco: { type: 'string' },
        csv: { type: 'string' },
        'only-corrected': { type: 'boolean' },
        split: { type: 'string' },
        'with-scores': { type: 'boolean' },
        'ground-truth': { type: 'boolean' },
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    if ((values.coco === undefined) === (values.csv === undefined)) {
      throw usageError('give one output file, with --coco <out.json> or --csv <out.csv>', usage);
    }
    if (values.csv !== undefined && values['with-scores']) {
      throw usageError('--with-scores is for --coco: the CSV always has the sources and scores', usage);
    }
    const split = values.split;
    if (split !== undefined && split !== 'train' && split !== 'test') {
      throw new UserError(`--split must be train or test, not "${split}"`);
    }
    const selection = {
      onlyCorrected: values['only-corrected'],
      split: split as Split | undefined,
      groundTruth: values['ground-truth'],
    };
    return withServices(async (services) => {
      // Reading only: a project another process has open is exported as it is saved.
      await services.project.open(positionals[0] as string, { readOnly: 'if-locked' });
      const keypoints = (names: string[]) => `${names.length} keypoints (${names.join(', ')})`;
      if (values.csv !== undefined) {
        const result = await services.exports.exportCsv({ file: values.csv, ...selection });
        io.out(
          `Wrote ${result.file}: ${result.rows} rows for ${result.images} images, ` +
            `${keypoints(result.keypointNames)} in ${result.seconds.toFixed(2)} s`,
        );
        return 0;
      }
      const result = await services.exports.exportCoco({
        file: values.coco as string,
        ...selection,
        withScores: values['with-scores'],
      });
      io.out(
        `Wrote ${result.file}: ${result.images} images, ${result.annotations} annotations, ` +
          `${keypoints(result.keypointNames)} in ${result.seconds.toFixed(2)} s`,
      );
      return 0;
    });
  },
};
