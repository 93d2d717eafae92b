// Decoding a training image (a JPEG read and resized to S×S) takes tens of milliseconds, and
// an iteration cannot start its run without it. The run's schedule says which images the next
// step reads, so they are decoded while this step runs on the device (sharp decodes off the
// main thread).
import type { ImageSource } from './method.js';

/** An image source whose loads asked for ahead start at once; each is taken by a later load of its image. */
export class ImagesAhead implements ImageSource {
  /** Loads started ahead, by image: one per time it was asked for (a step may read an image twice). */
  private readonly pending = new Map<number, Promise<Float32Array>[]>();

  constructor(private readonly images: ImageSource) {}

  get count(): number {
    return this.images.count;
  }

  /** Starts loading `indices` (a failure surfaces at their load, as it would have). */
  ahead(indices: readonly number[]): void {
    for (const i of indices) {
      const loading = this.images.load(i);
      loading.catch(() => undefined);
      this.pending.set(i, [...(this.pending.get(i) ?? []), loading]);
    }
  }

  load(index: number): Promise<Float32Array> {
    const [loading, ...rest] = this.pending.get(index) ?? [];
    if (!loading) return this.images.load(index);
    if (rest.length > 0) this.pending.set(index, rest);
    else this.pending.delete(index);
    return loading;
  }
}
