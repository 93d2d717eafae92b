import path from 'node:path';
import { parseArgs } from 'node:util';
import { runParity, type ParityLine, type ParityOutcome } from '../../../native/parity/run.js';
import { BackendUnavailableError, selectBackend } from '../../../native/runtime/select.js';
import type { BackendPreference } from '../../../native/runtime/providers.js';
import { UserError, type CliCommand } from '../command.js';

const backends = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;

const outcomeLabel: Record<ParityOutcome, string> = { pass: 'pass', tie: 'tie ', fail: 'FAIL' };

function format(l: ParityLine): string {
  const relation = l.measure === 'cosine' ? '>=' : '<=';
  const error = Number.isInteger(l.error) ? String(l.error) : l.error.toExponential(2);
  const row = `${outcomeLabel[l.outcome]}  ${l.quantity.padEnd(44)} ${l.measure.padEnd(10)} ${error.padStart(9)} ${relation} ${l.tolerance}`;
  return l.detail ? `${row}\n      ${l.detail}` : row;
}

export const parityCommand: CliCommand = {
  name: 'parity',
  summary: 'Check the engine against a reference case: the golden numbers of the PyTorch original',
  usage: [
    'Usage: skp parity <case-dir> [--single-file F] [--unet-config C] [--vae-config C] [--backend auto|cpu|cuda|...]',
    '',
    'Recomputes every quantity of a case laid out like shared/golden/case_a (model/, golden/meta.json,',
    'golden/tensors.safetensors) with the pinned draws and prints one line per quantity.',
    'With --single-file, the weights come from an original-layout .safetensors (configs default to the case).',
    "A discrete result that differs from the reference is a tie only where the reference's own scores,",
    'recomputed in float64 from its recorded maps, are within 1e-6 relative (1e-4 from a float16 file);',
    "the line then shows those scores, and later iterations follow the reference's choice.",
    'Exit code 0 only if every quantity passes (ties count as passed).',
  ].join('\n'),
  async run(args, io) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        options: {
          'single-file': { type: 'string' },
          'unet-config': { type: 'string' },
          'vae-config': { type: 'string' },
          backend: { type: 'string', default: 'auto' },
        },
      });
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    const { positionals, values } = parsed;
    if (positionals.length !== 1) throw new UserError('give exactly one case directory (see --help)');
    const prefer = values.backend as BackendPreference;
    if (!backends.includes(prefer)) throw new UserError(`--backend must be one of ${backends.join(', ')}`);
    const backend = await selectBackend({ prefer }).catch((e: unknown) => {
      throw e instanceof BackendUnavailableError ? new UserError(`--backend ${e.message}`) : e;
    });
    io.out(`backend: ${backend.info.label}`);
    const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
    let lines: ParityLine[];
    try {
      lines = await runParity(path.resolve(positionals[0]!), {
        backend,
        singleFile: resolve(values['single-file']),
        unetConfig: resolve(values['unet-config']),
        vaeConfig: resolve(values['vae-config']),
        onLine: (l) => io.out(format(l)),
      });
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    const count = (o: ParityOutcome) => lines.filter((l) => l.outcome === o).length;
    const failed = count('fail');
    io.out(`${lines.length - failed} passed (${count('tie')} at ties), ${failed} failed`);
    return failed === 0 ? 0 : 1;
  },
};
