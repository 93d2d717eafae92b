// `npm run bench`: the engine, foundation and method benchmarks, with the machine they ran on, and
// on an NVIDIA GPU the method on full-size SDXL beside the PyTorch reference (gpu.ts).
// Absolute numbers only; nothing here is a test.
import os from 'node:os';
import { benchGpu } from './gpu.js';

console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.arch()}, Node ${process.version}`,
);
// `npm run bench -- --gpu`: the GPU rows alone (on the lent GPU, where the CPU rows mean little).
// Imported only when they run: the GPU machine carries none of their dependencies (Redis, BullMQ).
if (!process.argv.includes('--gpu')) {
  await (await import('./engine.js')).benchEngine();
  await (await import('./foundation.js')).benchFoundation();
  await (await import('./method.js')).benchMethod();
  await (await import('./distributed.js')).benchDistributed();
}
await benchGpu();
