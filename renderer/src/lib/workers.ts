// The training panel's "where it computes" control: this machine, GPUs of this machine, or
// workers on a Redis server. Each choice's label lives in one typed table, so a choice cannot lack
// one; what the user types is checked here before it goes to the app, which checks it again.
import type { SavedWorkersChoice } from '../../../electron/common/jobs.js';
import { gpusOfText, savedRedisUrlProblem } from '../../../electron/common/workers.js';

export type WorkersMode = 'machine' | 'gpus' | 'redis';

export const workersModes: Record<WorkersMode, { label: string; explain: string }> = {
  machine: {
    label: 'This machine',
    explain: 'The job computes itself, one image after another, on the backend it finds.',
  },
  gpus: {
    label: 'GPUs of this machine',
    explain: 'One worker per GPU: "all", or GPU numbers as nvidia-smi lists them, such as 0,1.',
  },
  redis: {
    label: 'Workers on Redis',
    explain:
      'The skp workers connected to this Redis server (skp worker --redis <url>) compute; results are written here. ' +
      'Its password goes in SKP_REDIS_PASSWORD where the app runs, not in the URL.',
  },
};

export interface WorkersForm {
  mode: WorkersMode;
  gpus: string;
  redis: string;
}

export function formOf(choice: SavedWorkersChoice | null): WorkersForm {
  if (choice === null) return { mode: 'machine', gpus: 'all', redis: '' };
  if ('redis' in choice) return { mode: 'redis', gpus: 'all', redis: choice.redis };
  return { mode: 'gpus', gpus: choice.gpus === 'all' ? 'all' : choice.gpus.join(','), redis: '' };
}

/** The choice the form describes, or what is wrong with it. */
export function choiceOf(form: WorkersForm): { choice: SavedWorkersChoice | null } | { error: string } {
  if (form.mode === 'machine') return { choice: null };
  if (form.mode === 'gpus') {
    const read = gpusOfText(form.gpus);
    return 'error' in read ? read : { choice: { gpus: read.gpus } };
  }
  const url = form.redis.trim();
  const problem = savedRedisUrlProblem(url);
  return problem ? { error: problem } : { choice: { redis: url } };
}
