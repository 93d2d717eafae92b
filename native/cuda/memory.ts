// Arena layout: every intermediate tensor gets a byte range in one device allocation;
// tensors whose lifetimes do not overlap share bytes. Greedy by size (largest first, lowest
// offset that fits beside every overlapping tensor already placed), a layout known to come
// close to the peak of live bytes on inference and training graphs.

/** One tensor's bytes and the steps it lives through: written at `first`, last read at `last`. */
export interface ArenaSlot {
  bytes: number;
  first: number;
  last: number;
  /** Byte offset in the arena, set by assignOffsets. */
  offset: number;
}

export const ARENA_ALIGN = 256;

export const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Sets each slot's offset; returns the arena size. */
export function assignOffsets(slots: readonly ArenaSlot[]): number {
  const bySize = [...slots].sort((a, b) => b.bytes - a.bytes || a.first - b.first);
  // Placed slots kept in offset order: the scan for a gap stops at the first one that fits.
  const placed: ArenaSlot[] = [];
  let total = 0;
  for (const s of bySize) {
    const size = alignUp(Math.max(s.bytes, 1), ARENA_ALIGN);
    let offset = 0;
    for (const p of placed) {
      if (p.first > s.last || s.first > p.last) continue;
      if (p.offset >= offset + size) break;
      offset = Math.max(offset, p.offset + alignUp(Math.max(p.bytes, 1), ARENA_ALIGN));
    }
    s.offset = offset;
    let lo = 0;
    let hi = placed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (placed[mid]!.offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    placed.splice(lo, 0, s);
    total = Math.max(total, offset + size);
  }
  return total;
}

/** The most bytes live at any one step: the floor no layout can go under. */
export function peakLiveBytes(slots: readonly ArenaSlot[]): number {
  const events: [number, number][] = [];
  for (const s of slots) {
    const size = alignUp(Math.max(s.bytes, 1), ARENA_ALIGN);
    events.push([s.first, size], [s.last + 0.5, -size]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let live = 0;
  let peak = 0;
  for (const [, d] of events) {
    live += d;
    peak = Math.max(peak, live);
  }
  return peak;
}
