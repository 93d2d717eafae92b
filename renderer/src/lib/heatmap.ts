// An attention map as a colour overlay: low attention transparent, high attention bright, with
// a perceptual ramp so the blob's centre reads at a glance.
import type { HeatMap } from '../../../electron/common/api/types.js';

/** Viridis-like stops: value → [r, g, b]. */
const stops: [number, number, number, number][] = [
  [0, 68, 1, 84],
  [0.25, 59, 82, 139],
  [0.5, 33, 145, 140],
  [0.75, 94, 201, 98],
  [1, 253, 231, 37],
];

function colourAt(v: number): [number, number, number] {
  for (let i = 1; i < stops.length; i++) {
    const [b, ...hi] = stops[i] as [number, number, number, number];
    const [a, ...lo] = stops[i - 1] as [number, number, number, number];
    if (v <= b) {
      const t = (v - a) / (b - a);
      return [lo[0] + (hi[0] - lo[0]) * t, lo[1] + (hi[1] - lo[1]) * t, lo[2] + (hi[2] - lo[2]) * t];
    }
  }
  return [253, 231, 37];
}

export function heatMapCanvas(map: HeatMap): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = map.width;
  canvas.height = map.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const pixels = ctx.createImageData(map.width, map.height);
  map.values.forEach((value, i) => {
    const v = Math.min(1, Math.max(0, value));
    const [r, g, b] = colourAt(v);
    pixels.data.set([r, g, b, Math.round(255 * Math.min(1, v * 1.5))], i * 4);
  });
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}
