import type { CliCommand } from '../command.js';
import type { LabelledImportResult } from '../../common/transfer.js';
import { parseCommandArgs, usageError, printSkipped, rate, withServices } from '../serviceCommand.js';

const usage =
  'Usage: skp import <project.skp> (--coco <file.json> [--images <folder>] | --cub <CUB_200_2011 folder> | --folder <folder>)';

export const importCommand: CliCommand = {
  name: 'import',
  summary: 'Add images and ground truth: a COCO keypoints JSON, a CUB-200-2011 folder, or a folder of images',
  usage:
    `${usage}\n\n` +
    '  --coco <file>    COCO keypoints JSON; labels become ground truth (kept apart from predictions)\n' +
    "  --images <dir>   folder the COCO file_name entries are relative to (default: the JSON's folder)\n" +
    '  --cub <dir>      CUB-200-2011 layout: images.txt, parts/part_locs.txt, train_test_split.txt, bounding_boxes.txt\n' +
    '  --folder <dir>   more images, without labels',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { coco: { type: 'string' }, cub: { type: 'string' }, folder: { type: 'string' }, images: { type: 'string' } },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    const sources = [values.coco, values.cub, values.folder].filter((s) => s !== undefined);
    if (sources.length !== 1) throw usageError('give exactly one of --coco, --cub, --folder', usage);
    if (values.images !== undefined && values.coco === undefined) {
      throw usageError("--images goes with --coco (it is where the COCO file's images are)", usage);
    }
    return withServices(async (services) => {
      await services.project.open(positionals[0] as string);
      if (values.folder !== undefined) {
        const result = await services.images.importFolder(values.folder);
        io.out(
          `Imported ${result.imported} of ${result.found} files from ${result.folder} ` +
            `(${rate(result.imported, result.seconds)}); ${result.alreadyPresent} were already in the project`,
        );
        printSkipped(io, result.skipped);
        if (result.imported > 0 || result.alreadyPresent > 0) return 0;
        io.err(
          `skp import: no image was imported from ${result.folder}: ` +
            (result.found === 0 ? 'it holds no files' : `all ${result.found} files were skipped (reasons above)`),
        );
        return 1;
      }
      const result =
        values.coco !== undefined
          ? await services.imports.importCoco({ file: values.coco, imagesRoot: values.images })
          : await services.imports.importCub({ folder: values.cub as string });
      report(io.out, result);
      printSkipped(io, result.skipped);
      if (result.imagesAdded + result.imagesMatched > 0 || result.skipped.length === 0) return 0;
      io.err(
        `skp import: no image of ${result.source} was imported: all ${result.skipped.length} were skipped ` +
          '(reasons above); the project was not changed',
      );
      return 1;
    });
  },
};

function report(out: (line: string) => void, r: LabelledImportResult): void {
  out(`Imported ${r.source} (${rate(r.imagesAdded, r.seconds)})`);
  out(`  images: ${r.imagesAdded} added, ${r.imagesMatched} already in the project, ${r.skipped.length} skipped`);
  out(
    `  ground truth: ${r.instances} instances of ${r.parts.length} parts (${r.parts.join(', ')})` +
      (r.imagesReplaced ? `; replaced the earlier ground truth of ${r.imagesReplaced} images` : ''),
  );
  if (r.instancesDropped) out(`  ${r.instancesDropped} annotations left out because their image was skipped`);
  if (r.splitsSet) out(`  train/test split set on ${r.splitsSet} images`);
}
