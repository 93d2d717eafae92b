import os from 'node:os';
import { isServiceError } from '../../common/errors.js';
import { defaultCacheDir } from '../../../native/runtime/cache.js';
import { IpcTaskSource } from '../../services/distributed/ipcSource.js';
import { modelHash } from '../../services/distributed/modelHash.js';
import { RedisTaskSource } from '../../services/distributed/redisQueue.js';
import { connectRedis, redisTarget, RedisUnanswered } from '../../services/distributed/redisTarget.js';
import { TaskHandler } from '../../services/distributed/taskHandler.js';
import type { TaskSource } from '../../services/distributed/workQueue.js';
import { describeWorker, serveTasks, workerInfoText } from '../../services/distributed/workforce.js';
import { chooseBackend, openModel } from '../../services/jobs/preflight.js';
import { UserError, type CliCommand } from '../command.js';
import { modelOption } from '../jobRunner.js';
import { parseCommandArgs, usageError } from '../serviceCommand.js';

const usage =
  'Usage: skp worker --redis redis://host:6379 | --ipc --model <path> [--unet-config <json>] [--vae-config <json>] ' +
  '[--gpu N] [--backend auto|cpu|cuda] [--lock-seconds S]';

function wholeNumber(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be a whole number ≥ ${min}, not "${value}"`);
  return n;
}

export const workerCommand: CliCommand = {
  name: 'worker',
  summary: 'Compute keypoints and training gradients for coordinators on a Redis server (one per GPU)',
  usage:
    `${usage}\n\n` +
    '  --redis <url>       redis://[user:password@]host:port[/db], or rediss:// for TLS; the password may\n' +
    '                      instead be in SKP_REDIS_PASSWORD, a private CA in SKP_REDIS_CA (PEM file)\n' +
    "  --model <path>      the SDXL weights; must be the project's model (compared by content hash)\n" +
    '  --gpu N             use only GPU N, numbered as nvidia-smi -L lists them (sets CUDA_VISIBLE_DEVICES)\n' +
    '  --backend <b>       auto (default) or a named backend, which must run here\n' +
    '  --lock-seconds S    a worker silent this long (killed, hung) loses its task to another (default 30)\n' +
    '  --ipc               instead of --redis: take work from the skp process that started this one\n' +
    '                      (how skp keypoints/train --gpus run one worker per GPU; it ends with that process)\n' +
    'The worker writes only its cache folder (SKP_CACHE_DIR); images arrive as bytes. Ctrl-C stops it after its task.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        redis: { type: 'string' },
        ipc: { type: 'boolean' },
        model: { type: 'string' },
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        gpu: { type: 'string' },
        backend: { type: 'string' },
        'lock-seconds': { type: 'string' },
      },
      usage,
    );
    const ipc = values.ipc === true;
    // First of all: a coordinator that dies while this worker starts up must not leave it behind.
    if (ipc) IpcTaskSource.exitWithCoordinator();
    if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, usage);
    if (ipc === (values.redis !== undefined)) {
      throw usageError('give the Redis server with --redis redis://host:6379 (or --ipc, for skp --gpus)', usage);
    }
    const source = modelOption(values);
    if (!source) throw usageError("give the project's model with --model <folder or .safetensors>", usage);
    const gpu = wholeNumber(values.gpu, '--gpu', 0) ?? null;
    const lockSeconds = wholeNumber(values['lock-seconds'], '--lock-seconds', 1) ?? 30;
    // Before any backend starts: CUDA reads them once, when it initialises. PCI bus order is
    // nvidia-smi's, so --gpu N is the GPU nvidia-smi calls N (CUDA's own order puts the fastest first).
    if (gpu !== null) {
      process.env.CUDA_DEVICE_ORDER = 'PCI_BUS_ID';
      process.env.CUDA_VISIBLE_DEVICES = String(gpu);
    }
    // ONNX Runtime otherwise keeps a telemetry database under ~/.cache/Microsoft: a worker
    // writes nothing outside its cache folder. Read when the first session starts.
    process.env.ORT_DISABLE_TELEMETRY = '1';
    try {
      let tasks: TaskSource;
      if (values.redis !== undefined) {
        const target = redisTarget(values.redis);
        // Says now, before minutes of hashing, when the server cannot be reached or the password is wrong.
        (await connectRedis(target)).disconnect();
        tasks = new RedisTaskSource(target, { lockSeconds });
      } else {
        tasks = new IpcTaskSource();
      }
      const model = openModel(source);
      io.out(`Hashing the model's weights (once; cached in ${defaultCacheDir()})…`);
      const hash = modelHash(model, defaultCacheDir());
      const backend = await chooseBackend(values.backend);
      const id = `${os.hostname()}:${process.pid}`;
      const info = describeWorker(id, backend, model, hash, gpu);
      const handler = new TaskHandler(id, model, hash, backend, tasks);
      if (ipc) {
        // Ctrl-C in the terminal reaches the whole process group: the coordinator decides, and stops this worker.
        for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);
      } else {
        const stop = () => {
          io.err('Stopping after the current task (Ctrl-C again to stop at once)…');
          process.once('SIGINT', () => process.exit(130));
          void tasks.stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      io.out(`worker ${workerInfoText(info)} (${model.path}), taking work from ${tasks.where}`);
      await serveTasks(tasks, info, handler, (line) => io.out(line));
      return 0;
    } catch (e) {
      if (isServiceError(e)) throw new UserError(e.message);
      if (e instanceof RedisUnanswered) {
        io.err(`skp worker: ${e.message}; stopping`);
        return 1;
      }
      throw e;
    }
  },
};
