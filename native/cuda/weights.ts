// Model weights on the GPU: read from their files once and kept for every graph compiled against
// the same model; reading them again per graph would dominate start-up. A plan reads them either
// at the width they are stored in (SDXL's float16 weights take 2.6 GiB instead of 5.3 in
// float32), converting to float32 at each use (lower/context.ts), or as float32 copies this cache
// widens once on the GPU (PlanOptions.weightsInFloat32). The numbers are those of float32 either way.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Tensor, WeightRef } from '../graph/ir.js';
import { numel } from '../graph/ir.js';
import type { CudaAddon } from './addon.js';
import { storedType } from './lower/context.js';
import { ElemType, ProgramWriter } from './program.js';

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
  return distinctBytes(ts, storedBytesOf);
}

/** The same held as float32 (PlanOptions.weightsInFloat32). */
export function distinctFloat32Bytes(ts: readonly Tensor[]): number {
  return distinctBytes(ts, (t) => numel(t.shape) * 4);
}

function distinctBytes(ts: readonly Tensor[], bytesOf: (t: Tensor) => number): number {
  const seen = new Set<string>();
  const stamps = new Map<string, string>();
  let total = 0;
  for (const t of ts) {
    const k = keyOf(t, stamps);
    if (seen.has(k)) continue;
    seen.add(k);
    total += bytesOf(t);
  }
  return total;
}

/** Whether any of `ts` is stored narrower than float32 (a float32 plan of them differs). */
export const anyNarrower = (ts: readonly Tensor[]): boolean => ts.some((t) => refOf(t).storedAs !== 'float32');

/**
 * Share of the card a graph may take, weights included, with float32 copies of its weights
 * (CudaBackend's choice): they save every widening launch (about 6 ms of a 512² SDXL training
 * step on an H200) at 2 bytes a weight more, so a card keeps them only with room to spare (a
 * 24 GB card at 512², not a 12 GB one).
 */
export const FLOAT32_WEIGHTS_SHARE = 0.5;

/** Whether what needs `bytesWithCopies` with float32 copies of its weights keeps them on a card of `cardBytes`. */
export const float32CopiesFit = (bytesWithCopies: number, cardBytes: number): boolean =>
  bytesWithCopies <= FLOAT32_WEIGHTS_SHARE * cardBytes;

/** Stored bytes uploaded at most at once to be widened: the conversion's extra memory. */
const WIDEN_BATCH_BYTES = 128 * 2 ** 20;

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

/** What the cache asks of the addon: memory, uploads, and programs to widen with. */
export type WeightDevice = Pick<CudaAddon, 'alloc' | 'free' | 'upload' | 'createProgram' | 'run' | 'destroyProgram'>;

export class WeightCache {
  private readonly entries = new Map<string, { alloc: number; bytes: number }>();

  constructor(private readonly addon: WeightDevice) {}

  /** A weight's entry: its stored copy, or (`float32`, stored narrower) its float32 copy. */
  private keyFor(t: Tensor, stamps: Map<string, string>, float32: boolean): string {
    const k = keyOf(t, stamps);
    return float32 && refOf(t).storedAs !== 'float32' ? `${k}\0as float32` : k;
  }

  /** Device bytes the weights among `ts` not yet on the GPU will take (as float32 with `float32`). */
  missingBytes(ts: readonly Tensor[], float32 = false): number {
    const stamps = new Map<string, string>();
    const missing = ts.filter((t) => !this.entries.has(this.keyFor(t, stamps, float32)));
    return float32 ? distinctFloat32Bytes(missing) : distinctStoredBytes(missing);
  }

  /**
   * Puts every weight of `ts` on the GPU (one file read per tensor not there yet); returns each
   * one's allocation. With `float32`, those stored narrower get float32 copies, widened on the
   * GPU from their stored copy (already there, or uploaded for the purpose and then freed).
   */
  async ensure(ts: readonly Tensor[], float32 = false): Promise<Map<Tensor, number>> {
    const fds = new Map<string, number>();
    const stamps = new Map<string, string>();
    const allocs = new Map<Tensor, number>();
    let widen = new ProgramWriter(() => false);
    let uploaded: number[] = []; // stored copies made only to be widened
    let uploadedBytes = 0;
    // Float32 copies being made in this batch, by cache key, with every tensor that reads each.
    let widened = new Map<string, { alloc: number; bytes: number; tensors: Tensor[] }>();
    const upload = (t: Tensor): number => {
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
      return alloc;
    };
    // The widening launches so far, run; their copies then join the cache.
    const flush = async () => {
      if (widened.size === 0) return;
      const program = this.addon.createProgram(widen.finish(), false);
      try {
        await this.addon.run(program, [], [], false);
      } finally {
        this.addon.destroyProgram(program);
      }
      for (const [key, w] of widened) {
        this.entries.set(key, { alloc: w.alloc, bytes: w.bytes });
        for (const t of w.tensors) allocs.set(t, w.alloc);
      }
      for (const id of uploaded) this.addon.free(id);
      widen = new ProgramWriter(() => false);
      uploaded = [];
      uploadedBytes = 0;
      widened = new Map();
    };
    try {
      for (const t of ts) {
        const k = this.keyFor(t, stamps, float32);
        const have = this.entries.get(k);
        if (have) {
          allocs.set(t, have.alloc);
          continue;
        }
        const type = storedType(t);
        if (!float32 || type === ElemType.F32) {
          const alloc = upload(t);
          this.entries.set(k, { alloc, bytes: storedBytesOf(t) });
          allocs.set(t, alloc);
          continue;
        }
        const queued = widened.get(k);
        if (queued) {
          queued.tensors.push(t);
          continue;
        }
        const stored = this.entries.get(keyOf(t, stamps));
        let source = stored?.alloc;
        if (source === undefined) {
          source = upload(t);
          uploaded.push(source);
          uploadedBytes += storedBytesOf(t);
        }
        const n = numel(t.shape);
        const alloc = this.addon.alloc(n * 4);
        widened.set(k, { alloc, bytes: n * 4, tensors: [t] });
        widen.widen({ alloc: source, offset: 0 }, { alloc, offset: 0 }, n, type);
        if (uploadedBytes >= WIDEN_BATCH_BYTES) await flush();
      }
      await flush();
    } catch (e) {
      for (const w of widened.values()) this.addon.free(w.alloc);
      for (const id of uploaded) this.addon.free(id);
      throw e;
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
