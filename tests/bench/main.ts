// `npm run bench`: the engine, foundation and method benchmarks, with the machine they ran on, and
// on an NVIDIA GPU the method on full-size SDXL beside the PyTorch reference (gpu.ts).
// Absolute numbers only; nothing here is a test.
import os from 'node:os';
import { benchDistributed } from './distributed.js';
import { benchEngine } from './engine.js';
import { benchFoundation } from './foundation.js';
import { benchGpu } from './gpu.js';
import { benchMethod } from './method.js';

console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.arch()}, Node ${process.version}`,
);
// `npm run bench -- --gpu`: the GPU rows alone (on the lent GPU, where the CPU rows mean little).
if (!process.argv.includes('--gpu')) {
  await benchEngine();
  await benchFoundation();
  await benchMethod();
  await benchDistributed();
}
await benchGpu();
