// --workers redis://…, --local-workers N, --gpus all|0,1 or --worker-processes N, shared by
// `skp keypoints` and `skp train`.
import type { WorkersChoice } from '../common/jobs.js';
import { isServiceError } from '../common/errors.js';
import { parseGpuChoice, resolveGpus } from '../services/distributed/gpus.js';
import { UserError } from './command.js';

export const workersOptions = {
  workers: { type: 'string' },
  'local-workers': { type: 'string' },
  gpus: { type: 'string' },
  'worker-processes': { type: 'string' },
} as const;

export const workersHelp =
  '  --workers <url>       spread the work over the `skp worker`s connected to this Redis server\n' +
  '                        (redis://[:password@]host:port, rediss:// for TLS); results are written here\n' +
  '  --gpus all|0,1        one worker process per GPU of this machine (numbered as nvidia-smi -L lists\n' +
  '                        them), no Redis needed\n' +
  '  --local-workers N     N workers in this process instead (no Redis), each with its own backend\n' +
  '  --worker-processes N  N worker processes of this machine pinned to no GPU (what --gpus runs)\n';

type WorkersValues = { [K in keyof typeof workersOptions]?: string };

function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new UserError(`--${flag} must be a whole number from 1 to 64, not "${text}"`);
  }
  return n;
}

export function workersOption(values: WorkersValues): WorkersChoice | undefined {
  const given = (Object.keys(workersOptions) as Array<keyof WorkersValues>).filter((k) => values[k] !== undefined);
  if (given.length > 1) throw new UserError(`give one of --${given.join(', --')}, not several`);
  if (values.workers !== undefined) {
    if (!/^rediss?:\/\/./.test(values.workers)) {
      throw new UserError(`--workers must be a Redis URL such as redis://host:6379, not "${values.workers}"`);
    }
    return { redis: values.workers };
  }
  if (values.gpus !== undefined) {
    try {
      const gpus = parseGpuChoice(values.gpus);
      // Here, before a job starts: a GPU that is not there is the user's mistake, said at once.
      resolveGpus(gpus);
      return { gpus };
    } catch (e) {
      if (isServiceError(e)) throw new UserError(`--gpus: ${e.message}`);
      throw e;
    }
  }
  if (values['local-workers'] !== undefined) return { local: count('local-workers', values['local-workers']) };
  if (values['worker-processes'] !== undefined) {
    return { processes: count('worker-processes', values['worker-processes']) };
  }
  return undefined;
}
