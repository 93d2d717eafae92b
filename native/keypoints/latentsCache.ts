// The training step's plain-image latents, encoded once per image: the VAE's mean does not change
// between iterations, and encoding is about a sixth of a training iteration's GPU time at 512².
// Keyed by the image's pixels, so whoever passes the same image (a worker too) gets the same
// latents, whether they were cached or not. An encoding is shared while it runs, so the next
// iteration's image can be encoded ahead (IterationRunner.ahead) and its iteration waits for
// that run instead of starting another.
import { createHash } from 'node:crypto';

interface Entry {
  latents: Promise<Float32Array>;
  /** Counted once the encoding has finished. */
  bytes: number;
}

export class LatentsCache {
  private readonly entries = new Map<string, Entry>();
  /** Each array's key: hashing 3 MB of pixels takes about 2 ms, so an array asked for twice is hashed once. */
  private readonly keys = new WeakMap<Float32Array, string>();
  private bytes = 0;

  constructor(
    private readonly encode: (image: Float32Array) => Promise<Float32Array>,
    /** Host memory the cache may keep; the images encoded longest ago are dropped first. */
    private readonly limitBytes: number,
  ) {}

  /** `image`'s latents; its pixels must not change once asked for (an array is hashed once). */
  of(image: Float32Array): Promise<Float32Array> {
    const key = this.keyOf(image);
    const have = this.entries.get(key);
    if (have) return have.latents;
    const entry: Entry = { latents: this.encode(image), bytes: 0 };
    this.entries.set(key, entry);
    entry.latents.then(
      (latents) => {
        if (this.entries.get(key) !== entry) return;
        entry.bytes = latents.byteLength;
        this.bytes += entry.bytes;
        this.dropOldest();
      },
      // A failed encoding is not kept: the next call for the image tries again.
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.latents;
  }

  get size(): number {
    return this.entries.size;
  }

  private keyOf(image: Float32Array): string {
    let key = this.keys.get(image);
    if (key === undefined) {
      key = createHash('sha1')
        .update(new Uint8Array(image.buffer, image.byteOffset, image.byteLength))
        .digest('hex');
      this.keys.set(image, key);
    }
    return key;
  }

  private dropOldest(): void {
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.limitBytes) break;
      // Encodings still running are the newest, and someone waits for them.
      if (e.bytes === 0) continue;
      this.entries.delete(k);
      this.bytes -= e.bytes;
    }
  }
}
