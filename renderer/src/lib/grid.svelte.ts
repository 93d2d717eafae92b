// The image grid's data: the filter and order, the total, and pages of rows fetched as they scroll
// into view. Only what is near the viewport is ever requested, so tens of thousands of images cost
// the same as a hundred. The same list is the review queue: the image view's Next and Prev walk it.
import { api } from '../api/index.js';
import type { ImageRow } from '../../../electron/common/api/types.js';
import { notices } from './notices.svelte.js';

export const pageSize = 120;

export type GridOrder = 'path' | 'worst-first';

export interface GridFilter {
  corrected: boolean;
  lowScore: boolean;
  hasGroundTruth: boolean;
  notReviewed: boolean;
  /** "Low score" means a predicted point scored below this. */
  scoreThreshold: number;
  /** 'worst-first': the image whose weakest prediction scored lowest comes first. */
  order: GridOrder;
}

class Grid {
  filter = $state<GridFilter>({
    corrected: false,
    lowScore: false,
    hasGroundTruth: false,
    notReviewed: false,
    scoreThreshold: 0.5,
    order: 'path',
  });
  total = $state(0);
  pages = $state<Record<number, ImageRow[]>>({});
  /** The grid cell the arrow keys move, as a place in the list. */
  cursor = $state(0);
  /** Images of the project marked reviewed (whatever the filter). */
  reviewedCount = $state(0);
  private requested = new Map<number, Promise<void>>();
  private generation = 0;
  private projectPath: string | null = null;
  /** The pages are the previous list's, shown (and clickable) until the new list's first page is
   * here: a click during a refresh opens what the user saw instead of landing on an empty cell. */
  private stale = false;

  rowAt(i: number): ImageRow | undefined {
    return this.pages[Math.floor(i / pageSize)]?.[i % pageSize];
  }

  /** Fetches the list again (filter or data changed); its rows replace the old ones as they
   * arrive. The cursor stays on its image where the new list still holds it near where it was;
   * another project's list starts at its first image, with nothing of the old one shown. */
  async reset(projectPath: string | null): Promise<void> {
    if (projectPath !== this.projectPath) {
      this.cursor = 0;
      this.pages = {};
    }
    this.projectPath = projectPath;
    const atCursor = this.rowAt(this.cursor)?.id;
    this.generation++;
    this.stale = true;
    this.requested.clear();
    // The cursor settles as soon as the rows are here, not after the reviewed count: keys
    // pressed in between move it from its new place (a CI run pressed one in that moment).
    const reviewed = this.countReviewed();
    // The first page (the total) and the cursor's own, not every page between: far down a list
    // of tens of thousands, that was a hundred requests at each edit.
    await Promise.all([this.ensure(0, 0), this.ensure(this.cursor, this.cursor)]);
    const at = atCursor === undefined ? null : this.positionOf(atCursor);
    if (at !== null) this.cursor = at;
    else this.cursor = Math.max(0, Math.min(this.cursor, this.total - 1));
    await reviewed;
  }

  /** Makes sure rows first..last are loaded or on their way. */
  async ensure(first: number, last: number): Promise<void> {
    const wanted: Promise<void>[] = [];
    for (let p = Math.floor(first / pageSize); p <= Math.floor(last / pageSize); p++) {
      const page = this.requested.get(p) ?? this.fetch(p);
      this.requested.set(p, page);
      wanted.push(page);
    }
    await Promise.all(wanted);
  }

  async countReviewed(): Promise<void> {
    try {
      this.reviewedCount = (await api.call('images.list', { reviewed: true, limit: 1 })).total;
    } catch (error) {
      notices.error(error);
    }
  }

  private async fetch(page: number): Promise<void> {
    const generation = this.generation;
    const f = this.filter;
    try {
      const result = await api.call('images.list', {
        offset: page * pageSize,
        limit: pageSize,
        ...(f.corrected ? { corrected: true } : {}),
        ...(f.lowScore ? { scoreBelow: f.scoreThreshold } : {}),
        ...(f.hasGroundTruth ? { hasGroundTruth: true } : {}),
        ...(f.notReviewed ? { reviewed: false } : {}),
        ...(f.order === 'worst-first' ? { sort: 'min-score' as const } : {}),
      });
      if (generation !== this.generation) return;
      this.total = result.total;
      this.pages = this.stale ? { [page]: result.items } : { ...this.pages, [page]: result.items };
      this.stale = false;
    } catch (error) {
      this.requested.delete(page);
      if (generation === this.generation) notices.error(error);
    }
  }

  /** The image's place in the list, among the rows loaded; null when it is not (or no longer) there. */
  positionOf(imageId: number): number | null {
    for (const [page, rows] of Object.entries(this.pages)) {
      const at = rows.findIndex((r) => r.id === imageId);
      if (at >= 0) return Number(page) * pageSize + at;
    }
    return null;
  }

  /** The image `step` places from `imageId` in the list's order, fetching its page if need be. */
  async neighbour(imageId: number, step: 1 | -1): Promise<number | null> {
    const at = this.positionOf(imageId);
    // An image that left the list (e.g. marked reviewed under "not yet reviewed") is followed
    // by the one now in its place.
    const i = at === null ? (step === 1 ? this.cursor : this.cursor - 1) : at + step;
    if (i < 0 || i >= this.total) return null;
    await this.ensure(i, i);
    const row = this.rowAt(i);
    if (row) this.cursor = i;
    return row?.id ?? null;
  }

  /** Marks an image reviewed or not; the row and the count follow at once. */
  async setReviewed(imageId: number, reviewed: boolean): Promise<void> {
    await api.call('images.setReviewed', { ids: [imageId], reviewed });
    const pages: Record<number, ImageRow[]> = {};
    for (const [page, rows] of Object.entries(this.pages)) {
      pages[Number(page)] = rows.map((r) => (r.id === imageId ? { ...r, reviewed } : r));
    }
    this.pages = pages;
    await this.countReviewed();
  }
}

export const grid = new Grid();
