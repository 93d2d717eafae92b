// Entry of a job's worker thread: opens the project on its own connection, runs the job, and
// reports to the main thread. A 'cancel' message aborts the job's signal; the job then stops
// after the current step, keeping its last checkpoint.
import { parentPort, workerData } from 'node:worker_threads';
import { isServiceError } from '../../common/errors.js';
import { openProjectDatabase, type ProjectDatabase } from '../../db/database.js';
import type { WorkerCommand, WorkerInput, WorkerMessage } from './messages.js';
import { runJob } from './runJob.js';

const port = parentPort!;
const input = workerData as WorkerInput;
const controller = new AbortController();
port.on('message', (command: WorkerCommand) => {
  if (command.type === 'cancel') controller.abort();
});
const post = (message: WorkerMessage) => port.postMessage(message);

let db: ProjectDatabase | null = null;
try {
  db = openProjectDatabase(input.projectPath);
  const outcome = await runJob(db, input.request, {
    signal: controller.signal,
    ready: (runId, backend) =>
      post({ type: 'ready', runId, backend: backend && { label: backend.label, reasons: [...backend.reasons] } }),
    progress: (progress) => post({ type: 'progress', progress }),
    log: (message) => post({ type: 'log', message }),
  });
  post({ type: 'end', ...outcome, errorCode: null });
} catch (e) {
  post({
    type: 'end',
    state: 'failed',
    runId: null,
    error: (e as Error).message,
    errorCode: isServiceError(e) ? e.code : null,
    result: null,
  });
} finally {
  db?.close();
}
