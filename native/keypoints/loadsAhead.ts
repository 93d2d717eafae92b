// Decoding an image (a JPEG read and resized to S×S) takes tens of milliseconds, and no run on it
// can start without it. The loops that know which image comes next (training steps, index votes,
// keypoints jobs) start its load while the device works on the current one (sharp decodes off the
// main thread).

/** Loads by key started ahead; each is taken by a later `take` of its key, or made by it. */
export class LoadsAhead<V> {
  /** Loads started ahead, by key: one per time it was asked for (a step may read an image twice). */
  private readonly pending = new Map<number, Promise<V>[]>();

  constructor(private readonly load: (key: number) => Promise<V>) {}

  /** Starts loading `keys` (a failure surfaces at their `take`, as it would have). */
  ahead(keys: readonly number[]): void {
    for (const key of keys) {
      const loading = this.load(key);
      loading.catch(() => undefined);
      this.pending.set(key, [...(this.pending.get(key) ?? []), loading]);
    }
  }

  /** The earliest load of `key` started ahead, else one started now. */
  take(key: number): Promise<V> {
    const [loading, ...rest] = this.pending.get(key) ?? [];
    if (!loading) return this.load(key);
    if (rest.length > 0) this.pending.set(key, rest);
    else this.pending.delete(key);
    return loading;
  }
}
