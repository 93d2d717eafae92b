// bin/skp.mjs as a user runs it, from a folder outside the repository: a kill of `skp` stops the
// training itself (nothing left running, the project free again), a plain kill stops it cleanly,
// and a backend asked for by name that cannot run is an error naming why, in every command.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../electron/db/runStore.js';
import { otherHolder } from '../../electron/services/projectLock.js';
import { selectBackend } from '../../native/runtime/select.js';
import { goldenCaseDir } from '../golden/paths.js';
import {
  removeTempDirs,
  repoRoot,
  tempDir,
  TINY,
  withProject,
  writeModel,
  writeProject,
} from '../support/jobFixtures.js';
import { alive, descendants, within } from '../support/processTree.js';

const launcher = path.join(repoRoot, 'bin', 'skp.mjs');
let dir: string;
let model: string;
let project: string;

beforeAll(async () => {
  dir = tempDir('skp-launcher-');
  process.env.SKP_CACHE_DIR = path.join(dir, 'graph-cache');
  model = writeModel(dir);
  project = await writeProject(dir, 4);
});
afterAll(removeTempDirs);

/** `skp train` on the project with TINY's settings, `steps` long, on the CPU unless `backend` says. */
const trainArgs = (steps: number, ...options: string[]) => [
  'train',
  project,
  '--model',
  model,
  ...Object.entries({ ...TINY, steps }).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]),
  ...options,
];

function skp(...args: string[]) {
  const r = spawnSync(process.execPath, [launcher, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * Starts `skp` with its output going to a file, as from a terminal or a log (a pipe would end a
 * process left behind at its next line, hiding it), and resolves once the output holds `text`.
 */
async function startUntil(args: string[], text: string): Promise<{ child: ChildProcess; output: () => string }> {
  const log = path.join(dir, `skp-${Date.now()}.log`);
  const fd = fs.openSync(log, 'w');
  const child = spawn(process.execPath, [launcher, ...args], { cwd: dir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const output = () => fs.readFileSync(log, 'utf8');
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (output().includes(text)) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`skp ${args[0]} ended (${code}) before printing "${text}":\n${output()}`));
    });
  });
  return { child, output };
}

const checkpointsOf = (runId: number) => withProject(project, (db) => new RunStore(db).checkpoints(runId).length);
const latestRun = () => withProject(project, (db) => new RunStore(db).runs()[0]?.id ?? 0);

describe.runIf(process.platform === 'linux')('skp stopped from outside', () => {
  it('kill -9 of skp during training leaves nothing running and the project free', async () => {
    const before = latestRun();
    const { child } = await startUntil(trainArgs(40, '--backend', 'cpu', '--checkpoint-every', '1'), 'step 1/40');
    const runId = latestRun();
    expect(runId).toBeGreaterThan(before);
    const below = descendants(child.pid!);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(await within(5, () => below.every((pid) => !alive(pid))), `still running: ${below.filter(alive)}`).toBe(
      true,
    );
    expect(await within(5, () => otherHolder(project) === null), 'the project is still held').toBe(true);
    // Steps of this run take a fraction of a second: a process still training would add checkpoints.
    const kept = checkpointsOf(runId);
    await new Promise((r) => setTimeout(r, 2000));
    expect(checkpointsOf(runId), 'checkpoints written after the kill').toBe(kept);
  });

  it('a plain kill of skp stops training after the current step, keeps a checkpoint and lets go of the project', async () => {
    const { child, output } = await startUntil(
      trainArgs(40, '--backend', 'cpu', '--checkpoint-every', '100'),
      'step 1/40',
    );
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
    expect(code, output()).toBe(130);
    const runId = Number(/Run (\d+) cancelled after step \d+; its checkpoint is kept/.exec(output())?.[1]);
    expect(runId, output()).toBeGreaterThan(0);
    expect(checkpointsOf(runId)).toBe(1);
    expect(fs.existsSync(`${project}.lock`), 'the lock of a process that ended').toBe(false);
  });
});

const cudaHere = await selectBackend({ prefer: 'cuda' }).then(
  () => true,
  () => false,
);

describe.skipIf(cudaHere)('--backend cuda where no CUDA backend can run', () => {
  const why = /cuda cannot run here: Native CUDA: .+; CUDA: .+/;

  it('train, keypoints, demo and parity stop with the reason; --backend cpu trains', () => {
    const trained = skp(...trainArgs(1, '--backend', 'cpu'));
    expect(trained.code, trained.err).toBe(0);
    expect(trained.out).toContain('Backend: ONNX Runtime (CPU)');
    const runs = latestRun();

    for (const args of [
      trainArgs(1, '--backend', 'cuda'),
      ['keypoints', project, '--backend', 'cuda'],
      ['demo', '--out', path.join(dir, 'demo'), '--images', '2', '--backend', 'cuda'],
      ['parity', goldenCaseDir('case_a'), '--backend', 'cuda'],
    ]) {
      const r = skp(...args);
      expect(r.code, `${args.join(' ')}\n${r.out}${r.err}`).toBe(2);
      expect(r.err).toMatch(new RegExp(`^skp ${args[0]}: `));
      expect(r.err).toMatch(why);
      expect(r.out).not.toContain('ONNX Runtime (CPU)');
    }
    expect(latestRun(), 'a run started on another backend').toBe(runs);
  });
});
