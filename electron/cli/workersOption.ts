// --workers redis://… or --local-workers N, shared by `skp keypoints` and `skp train`.
import type { WorkersChoice } from '../common/jobs.js';
import { UserError } from './command.js';

export const workersOptions = {
  workers: { type: 'string' },
  'local-workers': { type: 'string' },
} as const;

export const workersHelp =
  '  --workers <url>       spread the work over the `skp worker`s connected to this Redis server\n' +
  '                        (redis://[:password@]host:port, rediss:// for TLS); results are written here\n' +
  '  --local-workers N     N workers in this process instead (no Redis), each with its own backend\n';

export function workersOption(values: { workers?: string; 'local-workers'?: string }): WorkersChoice | undefined {
  const local = values['local-workers'];
  if (values.workers !== undefined && local !== undefined) {
    throw new UserError('give --workers or --local-workers, not both');
  }
  if (values.workers !== undefined) {
    if (!/^rediss?:\/\/./.test(values.workers)) {
      throw new UserError(`--workers must be a Redis URL such as redis://host:6379, not "${values.workers}"`);
    }
    return { redis: values.workers };
  }
  if (local === undefined) return undefined;
  const n = Number(local);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new UserError(`--local-workers must be a whole number from 1 to 64, not "${local}"`);
  }
  return { local: n };
}
