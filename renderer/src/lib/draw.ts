// Drawing keypoints on a canvas: one look for the thumbnails and the image view. Canvas rather than
// DOM elements because a grid page holds hundreds of images × K points.
import type { Keypoint, Part, SkeletonEdge } from '../../../electron/common/api/types.js';

/** Image pixels → canvas pixels. */
export interface Placement {
  scale: number;
  offsetX: number;
  offsetY: number;
}

export function fitInside(width: number, height: number, boxWidth: number, boxHeight: number): Placement {
  const scale = Math.min(boxWidth / width, boxHeight / height);
  return { scale, offsetX: (boxWidth - width * scale) / 2, offsetY: (boxHeight - height * scale) / 2 };
}

export function toCanvas(p: Placement, x: number, y: number): [number, number] {
  return [p.offsetX + x * p.scale, p.offsetY + y * p.scale];
}

export function toImage(p: Placement, cx: number, cy: number): [number, number] {
  return [(cx - p.offsetX) / p.scale, (cy - p.offsetY) / p.scale];
}

export interface PointStyle {
  radius: number;
  selected?: boolean;
  label?: string;
  /** A prediction scored below the user's "low score" line: it gets a dashed warning ring. */
  doubtful?: boolean;
}

/** The warning ring's colour; its dashes, not the colour alone, tell it from an index's own. */
export const doubtfulColour = '#ff3030';

/** A prediction the user should look at: scored below `lowScore` (corrections have no score). */
export const isDoubtful = (point: Keypoint, lowScore: number): boolean =>
  point.source === 'predicted' && point.score !== null && point.score < lowScore;

/** Visible points are filled, occluded ones hollow; corrected ones get a white ring. */
export function drawPoint(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  colour: string,
  point: Keypoint,
  style: PointStyle,
): void {
  ctx.beginPath();
  ctx.arc(x, y, style.radius, 0, Math.PI * 2);
  if (point.visibility === 2) {
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.lineWidth = Math.max(1, style.radius / 3);
    ctx.strokeStyle = point.source === 'corrected' ? '#ffffff' : '#000000b0';
    ctx.stroke();
  } else {
    ctx.lineWidth = Math.max(1.5, style.radius / 2.5);
    ctx.setLineDash([3, 2]);
    ctx.strokeStyle = colour;
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (style.doubtful) {
    ctx.beginPath();
    ctx.arc(x, y, style.radius + 3, 0, Math.PI * 2);
    ctx.lineWidth = Math.max(1.5, style.radius / 3);
    ctx.setLineDash([3, 2]);
    ctx.strokeStyle = doubtfulColour;
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (style.selected) {
    ctx.beginPath();
    ctx.arc(x, y, style.radius + 5, 0, Math.PI * 2);
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
  if (style.label) drawLabel(ctx, style.label, x + style.radius + 3, y - style.radius - 2, '#ffffff');
}

function drawLabel(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, colour: string): void {
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.lineWidth = 3;
  ctx.strokeStyle = '#000000c0';
  ctx.strokeText(text, x, y);
  ctx.fillStyle = colour;
  ctx.fillText(text, x, y);
}

/** How ground truth looks: hollow diamonds in one colour no index palette uses, so a labelled point
 * is never taken for a prediction or a correction. */
export const groundTruthColour = '#00e5ff';

/** A labelled (imported) point: a hollow diamond, dashed when labelled occluded. */
export function drawGroundTruthPoint(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  visibility: 1 | 2,
  radius: number,
  label?: string,
): void {
  ctx.beginPath();
  ctx.moveTo(x, y - radius);
  ctx.lineTo(x + radius, y);
  ctx.lineTo(x, y + radius);
  ctx.lineTo(x - radius, y);
  ctx.closePath();
  ctx.lineWidth = 4;
  ctx.strokeStyle = '#000000a0';
  ctx.stroke();
  if (visibility === 1) ctx.setLineDash([3, 2]);
  ctx.lineWidth = 2;
  ctx.strokeStyle = groundTruthColour;
  ctx.stroke();
  ctx.setLineDash([]);
  if (label) drawLabel(ctx, label, x + radius + 3, y + radius + 10, groundTruthColour);
}

export function drawSkeleton(
  ctx: CanvasRenderingContext2D,
  p: Placement,
  edges: SkeletonEdge[],
  pointOf: (indexId: number) => Keypoint | undefined,
): void {
  ctx.lineWidth = 2;
  ctx.strokeStyle = '#ffffffa0';
  for (const edge of edges) {
    const a = pointOf(edge.from);
    const b = pointOf(edge.to);
    if (!a || !b || a.visibility === 0 || b.visibility === 0) continue;
    ctx.beginPath();
    ctx.moveTo(...toCanvas(p, a.x, a.y));
    ctx.lineTo(...toCanvas(p, b.x, b.y));
    ctx.stroke();
  }
}

export function indexById(indices: Part[]): Map<number, Part> {
  return new Map(indices.map((i) => [i.id, i]));
}
