// Zoom and pan of the image view as plain arithmetic on a Placement (image pixels → canvas pixels),
// so every click, drag and wheel goes through the same few functions.
import { fitInside, type Placement } from './draw.js';

/** Zooming stops here: far enough out to see the whole image small, in to single pixels as blocks. */
export const maxScale = 32;

export interface Size {
  width: number;
  height: number;
}

/** The whole image, centred in the box with `margin` canvas pixels around it. */
export function fit(image: Size, box: Size, margin: number): Placement {
  const p = fitInside(
    image.width,
    image.height,
    Math.max(1, box.width - 2 * margin),
    Math.max(1, box.height - 2 * margin),
  );
  return { ...p, offsetX: p.offsetX + margin, offsetY: p.offsetY + margin };
}

function minScale(image: Size, box: Size): number {
  return Math.min(1, fit(image, box, 0).scale) / 2;
}

/** Scales by `factor` keeping the image pixel under canvas point (cx, cy) where it is. */
export function zoomAt(p: Placement, factor: number, cx: number, cy: number, image: Size, box: Size): Placement {
  const scale = Math.min(maxScale, Math.max(minScale(image, box), p.scale * factor));
  const k = scale / p.scale;
  return { scale, offsetX: cx - (cx - p.offsetX) * k, offsetY: cy - (cy - p.offsetY) * k };
}

/** One image pixel per canvas pixel, keeping the image pixel under (cx, cy) there. The offsets are
 * whole pixels so that each image pixel lands on exactly one canvas pixel. */
export function oneToOne(p: Placement, cx: number, cy: number): Placement {
  const x = (cx - p.offsetX) / p.scale;
  const y = (cy - p.offsetY) / p.scale;
  return { scale: 1, offsetX: Math.round(cx - x), offsetY: Math.round(cy - y) };
}

export function panBy(p: Placement, dx: number, dy: number): Placement {
  return { ...p, offsetX: p.offsetX + dx, offsetY: p.offsetY + dy };
}

/** The nearest point of the image: a point can sit on its edge, never beyond it. */
export function clampToImage(x: number, y: number, image: Size): [number, number] {
  return [Math.min(image.width, Math.max(0, x)), Math.min(image.height, Math.max(0, y))];
}

export function insideImage(x: number, y: number, image: Size): boolean {
  return x >= 0 && y >= 0 && x <= image.width && y <= image.height;
}
