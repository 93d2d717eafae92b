// A model's content hash: what a worker and the project's coordinator compare before the worker
// computes anything for the run. SHA-256 over exactly what the engine reads: the UNet, VAE and
// noise-schedule configs as the engine parsed them, then for each tensor of each component
// (by diffusers name, sorted) its name, stored dtype, diffusers shape and stored bytes. So a
// diffusers folder and a single file with the same weights in the same dtype hash the same,
// and any difference in a weight the engine uses changes it. Reading 7 GB takes a while, so the
// hash is cached under the cache folder, keyed by every file's path, size and mtime.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedModel, WeightSource } from '../../../native/sdxl/load.js';

const VERSION = 1;
const READ_BYTES = 16 * 1024 * 1024;

function filesRead(model: LoadedModel): string[] {
  const files = new Set<string>();
  for (const weights of [model.unet.weights, model.vae.weights]) {
    for (const name of weights.names()) files.add(weights.info(name).file);
  }
  return [...files].sort();
}

/** Identifies the files as they are now: a changed file (size or mtime) gets a new key. */
function cacheKey(model: LoadedModel): string {
  const hash = createHash('sha256').update(`model-hash v${VERSION}\n`);
  hash.update(JSON.stringify([model.unet.config, model.vae.config, model.scheduler]));
  for (const file of filesRead(model)) {
    const stat = fs.statSync(file);
    hash.update(`${path.resolve(file)}\0${stat.size}\0${stat.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

function hashComponent(hash: ReturnType<typeof createHash>, label: string, weights: WeightSource): void {
  const buffer = Buffer.alloc(READ_BYTES);
  const open = new Map<string, number>();
  try {
    for (const name of weights.names().sort()) {
      const info = weights.info(name);
      hash.update(`${label}/${name}\0${info.dtype}\0${info.shape.join('x')}\0`);
      let fd = open.get(info.file);
      if (fd === undefined) {
        fd = fs.openSync(info.file, 'r');
        open.set(info.file, fd);
      }
      for (let done = 0; done < info.byteLength;) {
        const want = Math.min(READ_BYTES, info.byteLength - done);
        const got = fs.readSync(fd, buffer, 0, want, info.byteOffset + done);
        if (got === 0) throw new Error(`${info.file}: ends inside tensor '${info.storedName}'`);
        hash.update(buffer.subarray(0, got));
        done += got;
      }
    }
  } finally {
    for (const fd of open.values()) fs.closeSync(fd);
  }
}

export function computeModelHash(model: LoadedModel): string {
  const hash = createHash('sha256').update(`model v${VERSION}\n`);
  hash.update(JSON.stringify([model.unet.config, model.vae.config, model.scheduler]));
  hashComponent(hash, 'unet', model.unet.weights);
  hashComponent(hash, 'vae', model.vae.weights);
  return hash.digest('hex');
}

/** The model's hash, from `cacheDir` when its files have not changed since it was computed. */
export function modelHash(model: LoadedModel, cacheDir: string): string {
  const file = path.join(cacheDir, 'model-hashes', `${cacheKey(model)}.txt`);
  try {
    const cached = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(cached)) return cached;
  } catch {
    // Not computed yet for these files.
  }
  const hash = computeModelHash(model);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, hash + '\n');
  return hash;
}
