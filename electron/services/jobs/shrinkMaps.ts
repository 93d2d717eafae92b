// The keypoint finder's K maps [K, S, S] as the project keeps them for the heat-map overlay:
// each averaged down to at most 64×64 (a box filter, so a peak's mass stays where it was) and
// scaled to bytes relative to its own peak, whose value is kept to show absolute attention.

import type { StoredAttentionMaps } from '../../db/attentionMapStore.js';

/** The largest side a stored map has. */
export const STORED_MAP_SIDE = 64;

/**
 * For each output cell along one axis, the input cells it covers and the share of each, in
 * whole numbers (lengths in units of 1/to of an input cell) so the ends meet exactly.
 */
function coverage(from: number, to: number): Array<Array<{ cell: number; weight: number }>> {
  return Array.from({ length: to }, (_, o) => {
    const start = o * from;
    const end = (o + 1) * from;
    const cells: Array<{ cell: number; weight: number }> = [];
    for (let i = Math.floor(start / to); i * to < end; i++) {
      const overlap = Math.min(end, (i + 1) * to) - Math.max(start, i * to);
      if (overlap > 0) cells.push({ cell: i, weight: overlap / from });
    }
    return cells;
  });
}

/** Box-filters each of the `count` square maps of side `size` down to `side`. */
export function boxShrink(maps: Float32Array, count: number, size: number, side: number): Float32Array {
  if (maps.length !== count * size * size) {
    throw new RangeError(`attention maps: ${maps.length} values are not ${count} maps of ${size}×${size}`);
  }
  if (!Number.isInteger(side) || side < 1 || side > size) {
    throw new RangeError(`attention maps: cannot shrink ${size}×${size} maps to ${side}×${side}`);
  }
  const cover = coverage(size, side);
  const rows = new Float64Array(size * side);
  const out = new Float32Array(count * side * side);
  for (let k = 0; k < count; k++) {
    const map = maps.subarray(k * size * size, (k + 1) * size * size);
    for (let y = 0; y < size; y++)
      for (let ox = 0; ox < side; ox++) {
        let sum = 0;
        for (const { cell, weight } of cover[ox]!) sum += map[y * size + cell]! * weight;
        rows[y * side + ox] = sum;
      }
    for (let oy = 0; oy < side; oy++)
      for (let ox = 0; ox < side; ox++) {
        let sum = 0;
        for (const { cell, weight } of cover[oy]!) sum += rows[cell * side + ox]! * weight;
        out[(k * side + oy) * side + ox] = sum;
      }
  }
  return out;
}

/** The finder's maps [count, size, size] as stored: shrunk to at most 64×64, one byte a value. */
export function storedMaps(maps: Float32Array, count: number, size: number): StoredAttentionMaps {
  const side = Math.min(size, STORED_MAP_SIDE);
  const small = boxShrink(maps, count, size, side);
  const area = side * side;
  const peaks = new Float32Array(count);
  const values = new Uint8Array(count * area);
  for (let k = 0; k < count; k++) {
    const map = small.subarray(k * area, (k + 1) * area);
    const peak = map.reduce((a, b) => Math.max(a, b), 0);
    peaks[k] = peak;
    if (peak > 0) for (let j = 0; j < area; j++) values[k * area + j] = Math.round((255 * Math.max(0, map[j]!)) / peak);
  }
  return { side, peaks, values };
}
