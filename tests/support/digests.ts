// Pinned SHA-256 digests of generated artefacts (CUDA programs, ONNX bytes): a refactor of the
// engine must reproduce them byte for byte. `SKP_WRITE_DIGESTS=1` rewrites the file, for a change
// that means to alter the output (review the diff of the JSON: only the intended entries may move).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const sha256 = (...parts: (Uint8Array | string)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

export const bytesOf = (a: Float64Array | Float32Array | BigInt64Array | Uint8Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The pinned digests, or the computed ones written as the new pin when SKP_WRITE_DIGESTS=1. */
export function pinnedDigests(file: string, computed: Record<string, string>): Record<string, string> {
  if (process.env.SKP_WRITE_DIGESTS === '1') {
    writeFileSync(file, `${JSON.stringify(computed, null, 2)}\n`);
    return computed;
  }
  if (!existsSync(file)) throw new Error(`${file} is missing: write it with SKP_WRITE_DIGESTS=1`);
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
}
