// Model weights on the GPU: read from their files once and kept, at the width they are stored
// in (SDXL's float16 weights take 2.6 GiB instead of 5.3 in float32), for every graph compiled
// against the same model; reading them again per graph would dominate start-up. Plans convert
// them to float32 as they read them (lower/context.ts), so the numbers are those of float32.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Tensor, WeightRef } from '../graph/ir.js';
import { numel } from '../graph/ir.js';
import type { CudaAddon } from './addon.js';

const WIDTH = { float32: 4, float16: 2, bfloat16: 2 } as const;

/** Bytes weight `t` takes on the GPU: its file's width (float16 and bfloat16 stay 2 bytes). */
export const storedBytesOf = (t: Tensor): number => numel(t.shape) * WIDTH[refOf(t).storedAs];

const refOf = (t: Tensor): WeightRef => {
  if (t.spec.op !== 'weight') throw new Error(`not a weight: ${t.spec.op}`);
  return t.spec.ref;
};

/** A file's identity for the cache: a file rewritten in place (a new download) is read again. */
const fileStamp = (file: string): string => {
  try {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
};

const keyOf = (t: Tensor, stamps: Map<string, string>): string => {
  const r = refOf(t);
  let stamp = stamps.get(r.file);
  if (stamp === undefined) stamps.set(r.file, (stamp = fileStamp(r.file)));
  return `${r.file}\0${stamp}\0${r.byteOffset}\0${r.storedAs}\0${numel(t.shape)}`;
};

/** Device bytes of the weights among `ts`, each stored tensor counted once (graphs may share them). */
export function distinctStoredBytes(ts: readonly Tensor[]): number {
  const seen = new Set<string>();
  const stamps = new Map<string, string>();
  let total = 0;
  for (const t of ts) {
    const k = keyOf(t, stamps);
    if (seen.has(k)) continue;
    seen.add(k);
    total += storedBytesOf(t);
  }
  return total;
}

/** Weight `t`'s bytes as its file stores them (what the GPU holds), read from `fd`, the open file. */
export function readStoredBytes(fd: number, t: Tensor): Buffer {
  const r = refOf(t);
  const bytes = Buffer.allocUnsafe(storedBytesOf(t));
  const got = bytes.length ? readSync(fd, bytes, 0, bytes.length, r.byteOffset) : 0;
  if (got !== bytes.length) {
    throw new Error(
      `weight '${r.name}': ${r.file} ends after ${got} of ${bytes.length} bytes at offset ${r.byteOffset}`,
    );
  }
  return bytes;
}

export class WeightCache {
  private readonly entries = new Map<string, { alloc: number; bytes: number }>();

  constructor(private readonly addon: CudaAddon) {}

  /** Device bytes the weights among `ts` not yet on the GPU will take. */
  missingBytes(ts: readonly Tensor[]): number {
    const stamps = new Map<string, string>();
    return distinctStoredBytes(ts.filter((t) => !this.entries.has(keyOf(t, stamps))));
  }

  /** Uploads every weight of `ts` not yet on the GPU (one file read per tensor); returns each one's allocation. */
  ensure(ts: readonly Tensor[]): Map<Tensor, number> {
    const fds = new Map<string, number>();
    const stamps = new Map<string, string>();
    const allocs = new Map<Tensor, number>();
    try {
      for (const t of ts) {
        const k = keyOf(t, stamps);
        const have = this.entries.get(k);
        if (have) {
          allocs.set(t, have.alloc);
          continue;
        }
        const r = refOf(t);
        let fd = fds.get(r.file);
        if (fd === undefined) {
          try {
            fd = openSync(r.file, 'r');
          } catch (e) {
            throw new Error(`weight '${r.name}': cannot open ${r.file}: ${(e as Error).message}`);
          }
          fds.set(r.file, fd);
        }
        const bytes = readStoredBytes(fd, t);
        const alloc = this.addon.alloc(bytes.length);
        try {
          this.addon.upload(alloc, 0, bytes);
        } catch (e) {
          this.addon.free(alloc);
          throw e;
        }
        this.entries.set(k, { alloc, bytes: bytes.length });
        allocs.set(t, alloc);
      }
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
    return allocs;
  }

  get residentBytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    return total;
  }

  /** Frees every weight; graphs compiled earlier must not run afterwards. */
  clear(): void {
    for (const e of this.entries.values()) this.addon.free(e.alloc);
    this.entries.clear();
  }
}
