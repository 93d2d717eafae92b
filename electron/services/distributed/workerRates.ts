// Images per second of each worker and of all of them, since the coordinator started the work.
export class WorkerRates {
  private readonly images = new Map<string, number>();
  private readonly started = Date.now();

  add(worker: string, images: number): void {
    this.images.set(worker, (this.images.get(worker) ?? 0) + images);
  }

  get total(): number {
    return [...this.images.values()].reduce((a, b) => a + b, 0);
  }

  /** e.g. "host:12 4 images 0.80/s, host:13 5 images 1.00/s; total 1.80 images/s". */
  text(now = Date.now()): string {
    const seconds = Math.max((now - this.started) / 1000, 1e-3);
    const each = [...this.images.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([worker, n]) => `${worker} ${n} image${n === 1 ? '' : 's'} ${(n / seconds).toFixed(2)}/s`);
    return `${each.join(', ')}; total ${(this.total / seconds).toFixed(2)} images/s`;
  }
}
