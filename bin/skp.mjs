#!/usr/bin/env node
// `skp`: runs the command line in this very process, so Ctrl-C or a kill of `skp` reaches the
// job itself and nothing is left running behind it. The compiled build (dist/, `npm run build`)
// starts in a fraction of the time; it runs only when it was built from exactly the sources here
// (compiled.mjs). Otherwise the TypeScript sources run through tsx, which is found beside this
// file, not in the current folder, so `skp` works from anywhere.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COMPILED_CLI, compiledIsCurrent } from './compiled.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

if (compiledIsCurrent(root)) {
  process.setSourceMapsEnabled(true);
  // The CUDA addon is built into the source tree (native/cuda/build), not into dist/.
  process.env.SKP_CUDA_ADDON ??= path.join(root, 'native', 'cuda', 'build', 'skp_cuda.node');
  await import(pathToFileURL(path.join(root, COMPILED_CLI)).href);
} else {
  const tsx = await import('tsx/esm/api').catch((e) => {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    console.error(
      `skp: ${path.join(root, 'dist')} is missing or was built from other sources, and tsx is not installed ` +
        `to run the sources instead: run \`npm run build\` (or \`npm ci\`) in ${root}`,
    );
    process.exit(1);
  });
  tsx.register();
  await import(pathToFileURL(path.join(root, 'electron', 'cli', 'main.ts')).href);
}
