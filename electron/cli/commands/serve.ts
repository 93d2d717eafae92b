import fs from 'node:fs';
import path from 'node:path';
import { UserError, type CliCommand } from '../command.js';
import { parseCommandArgs, usageError } from '../serviceCommand.js';
import { isLoopback } from '../../server/addresses.js';
import { builtUiFolder, startAppServer } from '../../server/appServer.js';

const usage =
  'Usage: skp serve [--host 127.0.0.1] [--port 4870] [--allow <folder>]... [--open <project.skp>] [--token <token>]';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Serve the workstation UI and its API to a browser (e.g. on a GPU box)',
  usage:
    `${usage}\n\n` +
    '  --host H        address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every\n' +
    '                  interface, over unencrypted HTTP)\n' +
    '  --port P        port (default 4870; 0 picks a free one)\n' +
    '  --allow DIR     a folder the browser may open projects, images and exports in (repeatable;\n' +
    '                  default: the current folder). Nothing outside these folders is reachable.\n' +
    '  --open FILE     open this project at start\n' +
    '  --token T       use this access token instead of a random one (keeps browser tabs working across restarts)\n\n' +
    'Prints the address to open, with the access token every API request needs.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '4870' },
        allow: { type: 'string', multiple: true },
        open: { type: 'string' },
        token: { type: 'string' },
      },
      usage,
    );
    if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, usage);
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UserError(`--port must be 0..65535, not "${values.port}"`);
    if (values.token !== undefined && !/^[\w-]{16,}$/.test(values.token)) {
      throw new UserError('--token must be at least 16 letters, digits, "-" or "_"');
    }
    const allow = (values.allow ?? [process.cwd()]).map((f) => path.resolve(f));
    if (!fs.existsSync(path.join(builtUiFolder, 'index.html'))) {
      io.err(
        `The UI is not built (${builtUiFolder} has no index.html): run \`npm run build\`; the API works without it.`,
      );
    }
    let server;
    try {
      server = await startAppServer({
        host: values.host,
        port,
        allow,
        token: values.token,
        open: values.open && path.resolve(values.open),
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new UserError(`port ${port} is in use: pick another with --port`);
      throw new UserError((e as Error).message);
    }
    io.out(`Keypoint Workstation is serving at ${server.url}`);
    if (server.urls.length > 1) io.out(`Also reachable at: ${server.urls.slice(1).join(', ')}`);
    io.out(`Open: ${server.openUrl}`);
    io.out(`Access token: ${server.token}`);
    io.out(`Allowed folders: ${server.allowedFolders.join(', ')}`);
    if (!isLoopback(values.host)) {
      const serverPort = new URL(server.url).port;
      io.err(
        `Listening on ${values.host}: anyone who can reach this machine and has the token can use these folders.\n` +
          'The traffic is NOT encrypted (plain HTTP): anyone on the network path can read the access token, ' +
          'your images and keypoints, and then use the server. Use it only on a network you trust, or keep ' +
          `--host 127.0.0.1 and reach it through an SSH tunnel (ssh -L ${serverPort}:127.0.0.1:${serverPort} <this machine>).`,
      );
    }
    // The last resort behind each request's own error boundary: a promise some code forgot to await
    // is a bug to log, not a reason to stop serving (and to stop a training run with it).
    process.on('unhandledRejection', (reason) =>
      io.err(`Internal error (kept serving): ${reason instanceof Error ? reason.stack : String(reason)}`),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  },
};
