// The elementwise instruction set exists in TypeScript (program.ts, EwOp) and in the addon's C++
// (src/ew_ops.h, generated; src/ew_kernel.cuh, one case per instruction). These checks keep the two
// in step without a GPU: the committed header is what the generator writes now, and the kernel
// has a case for every instruction (the op table can only name instructions of EwOp).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EW_OPS_HEADER, ewOpNames, ewOpsHeader } from '../../../native/cuda/ewOpsHeader.js';

const kernels = readFileSync(new URL('../../../native/cuda/src/ew_kernel.cuh', import.meta.url), 'utf8');

describe('elementwise instruction set, TypeScript and C++', () => {
  it('the committed src/ew_ops.h is the one generated from EwOp (run native/cuda/ewOpsHeader.ts)', () => {
    expect(readFileSync(EW_OPS_HEADER, 'utf8')).toBe(ewOpsHeader());
  });

  it('the header gives every instruction its TypeScript number, in order', () => {
    const parsed = [...readFileSync(EW_OPS_HEADER, 'utf8').matchAll(/^ {2}(\w+) = (\d+),$/gm)];
    expect(parsed.map((m) => m[1])).toEqual(ewOpNames());
    expect(parsed.map((m) => Number(m[2]))).toEqual(ewOpNames().map((_, i) => i));
  });

  it('the elementwise kernel has a case for every instruction', () => {
    const cases = new Set([...kernels.matchAll(/case (\w+):/g)].map((m) => m[1]));
    expect(ewOpNames().filter((name) => !cases.has(name))).toEqual([]);
  });
});
