// The NVIDIA GPUs of this machine, for `--gpus all|0,1`: one worker process per GPU. They are
// counted by `nvidia-smi -L`, which needs no CUDA context and works whether or not the CUDA addon
// is built; its numbering (PCI bus order) is the one workers pin with CUDA_DEVICE_ORDER=PCI_BUS_ID.
import { spawnSync } from 'node:child_process';
import { badInput } from '../../common/errors.js';
import type { WorkersChoice } from '../../common/jobs.js';
import { gpusOfText } from '../../common/workers.js';

/** `all`, or GPU numbers as nvidia-smi lists them. */
export type GpuChoice = 'all' | number[];

export interface Gpu {
  index: number;
  /** nvidia-smi's line: "GPU 0: NVIDIA H200 (UUID: GPU-…)". */
  description: string;
}

/** The GPUs nvidia-smi lists; throws saying why when there is none (no driver, no tool, no device). */
export function listGpus(): Gpu[] {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw badInput(
      code === 'ENOENT'
        ? 'no NVIDIA GPU was found: nvidia-smi is not installed or not on the PATH (it comes with the NVIDIA driver)'
        : `no NVIDIA GPU was found: nvidia-smi -L did not run (${r.error.message})`,
    );
  }
  const output = `${r.stdout}${r.stderr}`.trim();
  if (r.status !== 0) {
    throw badInput(
      `no NVIDIA GPU was found: nvidia-smi -L failed (exit code ${r.status}): ${output.split('\n')[0] || 'no output'}`,
    );
  }
  const gpus = gpusListed(r.stdout);
  if (gpus.length === 0) throw badInput('no NVIDIA GPU was found: nvidia-smi -L lists none');
  return gpus;
}

/** The GPUs in nvidia-smi -L's output: a line "GPU <n>: <name> (UUID: …)" each (MIG devices are indented below). */
export function gpusListed(output: string): Gpu[] {
  return output.split('\n').flatMap((line) => {
    const match = /^GPU (\d+): /.exec(line);
    return match ? [{ index: Number(match[1]), description: line.trim() }] : [];
  });
}

/** The GPU numbers a choice names on this machine; a number nvidia-smi does not list is an error naming it. */
export function resolveGpus(choice: GpuChoice, gpus: Gpu[] = listGpus()): number[] {
  if (choice === 'all') return gpus.map((gpu) => gpu.index);
  const known = new Set(gpus.map((gpu) => gpu.index));
  const missing = choice.filter((n) => !known.has(n));
  if (missing.length > 0) {
    throw badInput(
      `GPU ${missing.join(', ')} does not exist on this machine; it has ${gpus.length === 1 ? 'GPU' : 'GPUs'} ${[...known].join(', ')} (nvidia-smi -L)`,
    );
  }
  return [...new Set(choice)];
}

/**
 * Checks what can be checked before a job writes anything: the GPUs named exist on this machine.
 * Throws a bad-input error saying which does not, or why no GPU was found.
 */
export function checkWorkers(choice: WorkersChoice): void {
  if ('gpus' in choice) resolveGpus(choice.gpus);
}

/** Parses "all" or "0,1" (from the command line); says what is wrong otherwise. */
export function parseGpuChoice(text: string): GpuChoice {
  const read = gpusOfText(text);
  if ('error' in read) throw badInput(read.error);
  return read.gpus;
}
