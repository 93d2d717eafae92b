// Entry point of the `skp` command line.
import { commands } from './commands/index.js';
import { UserError, type CliIO } from './command.js';

// `skp info | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const io: CliIO = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return ['Usage: skp <command> [options]', '', ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)].join(
    '\n',
  );
}

async function main(argv: string[]): Promise<number> {
  // Longest match first so "model check" wins over a hypothetical "model".
  const sorted = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  const command = sorted.find((c) => {
    const words = c.name.split(' ');
    return words.every((w, i) => argv[i] === w);
  });
  if (!command || argv[0] === '--help' || argv[0] === '-h') {
    io.out(usage());
    return command || argv.length === 0 || argv[0]?.startsWith('-') ? 0 : 2;
  }
  const args = argv.slice(command.name.split(' ').length);
  if (args.includes('--help')) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.err(`skp ${command.name}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
