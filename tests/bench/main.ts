// `npm run bench`: the engine, foundation and method benchmarks, with the machine they ran on.
// Absolute numbers only; nothing here is a test.
import os from 'node:os';
import { benchDistributed } from './distributed.js';
import { benchEngine } from './engine.js';
import { benchFoundation } from './foundation.js';
import { benchMethod } from './method.js';

console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.arch()}, Node ${process.version}`,
);
await benchEngine();
await benchFoundation();
await benchMethod();
await benchDistributed();
