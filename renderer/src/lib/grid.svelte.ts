// The image grid's data: the filter, the total, and pages of rows fetched as they scroll into
// view. Only what is near the viewport is ever requested, so tens of thousands of images cost
// the same as a hundred.
import { api } from '../api/index.js';
import type { ImageRow } from '../../../electron/api/types.js';
import { notices } from './notices.svelte.js';

export const pageSize = 120;

export interface GridFilter {
  corrected: boolean;
  lowScore: boolean;
  hasGroundTruth: boolean;
  /** "Low score" means a predicted point scored below this. */
  scoreThreshold: number;
}

class Grid {
  filter = $state<GridFilter>({ corrected: false, lowScore: false, hasGroundTruth: false, scoreThreshold: 0.5 });
  total = $state(0);
  pages = $state<Record<number, ImageRow[]>>({});
  private requested = new Set<number>();
  private generation = 0;

  rowAt(i: number): ImageRow | undefined {
    return this.pages[Math.floor(i / pageSize)]?.[i % pageSize];
  }

  /** Drops what is cached (filter or data changed) and fetches the first page again. */
  async reset(): Promise<void> {
    this.generation++;
    this.pages = {};
    this.requested.clear();
    await this.ensure(0, 0);
  }

  /** Makes sure rows first..last are loaded or on their way. */
  async ensure(first: number, last: number): Promise<void> {
    const wanted: number[] = [];
    for (let p = Math.floor(first / pageSize); p <= Math.floor(last / pageSize); p++) {
      if (!this.requested.has(p)) wanted.push(p);
    }
    await Promise.all(wanted.map((p) => this.fetch(p)));
  }

  private async fetch(page: number): Promise<void> {
    this.requested.add(page);
    const generation = this.generation;
    const f = this.filter;
    try {
      const result = await api.call('images.list', {
        offset: page * pageSize,
        limit: pageSize,
        ...(f.corrected ? { corrected: true } : {}),
        ...(f.lowScore ? { scoreBelow: f.scoreThreshold, sort: 'min-score' as const } : {}),
        ...(f.hasGroundTruth ? { hasGroundTruth: true } : {}),
      });
      if (generation !== this.generation) return;
      this.total = result.total;
      this.pages = { ...this.pages, [page]: result.items };
    } catch (error) {
      this.requested.delete(page);
      if (generation === this.generation) notices.error(error);
    }
  }

  /** Ids in grid order around `index`, for next/previous in the image view. */
  neighbour(imageId: number, step: 1 | -1): number | null {
    for (const [page, rows] of Object.entries(this.pages)) {
      const at = rows.findIndex((r) => r.id === imageId);
      if (at < 0) continue;
      const i = Number(page) * pageSize + at + step;
      if (i < 0 || i >= this.total) return null;
      const row = this.rowAt(i);
      if (!row) void this.ensure(i, i);
      return row?.id ?? null;
    }
    return null;
  }
}

export const grid = new Grid();
