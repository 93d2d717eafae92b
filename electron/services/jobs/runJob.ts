// One job, start to end, in whichever thread calls it: checks first (thrown as bad input),
// then the work, which ends in a JobOutcome and leaves the run's status and data in the project.
import type { JobRequest } from '../../common/jobs.js';
import type { ProjectDatabase } from '../../db/database.js';
import { evaluateJob } from './evaluateJob.js';
import type { JobHooks, JobOutcome } from './hooks.js';
import { keypointsJob } from './keypointsJob.js';
import { trainJob } from './trainJob.js';

export function runJob(db: ProjectDatabase, request: JobRequest, hooks: JobHooks): Promise<JobOutcome> {
  switch (request.kind) {
    case 'train':
      return trainJob(db, request, hooks);
    case 'keypoints':
      return keypointsJob(db, request, hooks);
    case 'evaluate':
      return evaluateJob(db, request, hooks);
  }
}
