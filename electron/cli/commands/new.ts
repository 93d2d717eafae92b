import type { CliCommand } from '../command.js';
import { parseCommandArgs, usageError, printSkipped, rate, withServices } from '../serviceCommand.js';

const usage = 'Usage: skp new <project.skp> [--images <folder>] [--name <name>]';

export const newCommand: CliCommand = {
  name: 'new',
  summary: 'Create a project (one .skp file), optionally from a folder of images',
  usage:
    `${usage}\n\n` +
    'Creates the project file and imports every JPEG, PNG and WebP image under <folder> (subfolders too).\n' +
    'Files that cannot be read are listed with the reason and skipped.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { images: { type: 'string' }, name: { type: 'string' } },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one project file', usage);
    return withServices(async (services) => {
      const { info, imported } = await services.project.create({
        path: positionals[0] as string,
        images: values.images,
        name: values.name,
      });
      io.out(`Created ${info.path}`);
      if (imported) {
        io.out(
          `Imported ${imported.imported} of ${imported.found} files from ${imported.folder} ` +
            `(${rate(imported.imported, imported.seconds)})`,
        );
        printSkipped(io, imported.skipped);
        if (imported.imported === 0 && imported.found > 0) {
          io.err(`skp new: no image was imported: all ${imported.found} files were skipped (reasons above)`);
          return 1;
        }
      }
      return 0;
    });
  },
};
