// Demo data: small pictures of a simple articulated "bird" (body, head, beak, eye, wing,
// tail, legs) in varied poses, places, sizes and backgrounds, with the exact positions of
// its parts. Lets a user (and the tests) run the whole workflow, and check the keypoints
// the method finds, without downloading a dataset. Deterministic from a seed.
import { Random } from '../../native/keypoints/rng.js';

/** Keypoint names in COCO order. */
export const BIRD_KEYPOINTS = [
  'beak',
  'eye',
  'crown',
  'breast',
  'wing_tip',
  'tail',
  'left_foot',
  'right_foot',
] as const;
export type BirdKeypointName = (typeof BIRD_KEYPOINTS)[number];

/** COCO skeleton, 1-based indices into BIRD_KEYPOINTS. */
export const BIRD_SKELETON: ReadonlyArray<readonly [number, number]> = [
  [1, 2],
  [2, 3],
  [2, 4],
  [4, 5],
  [5, 6],
  [4, 7],
  [4, 8],
];

export interface PixelPoint {
  x: number;
  y: number;
}

export interface DemoBird {
  /** Image side in pixels (images are square). */
  size: number;
  /** The picture as an SVG document, rasterised by the writer. */
  svg: string;
  /** Keypoints in pixel coordinates (0..size, top-left corner of the image at 0,0), in BIRD_KEYPOINTS order. */
  keypoints: Record<BirdKeypointName, PixelPoint>;
  /** Tight box around the drawn bird: [x, y, width, height] in pixels. */
  bbox: [number, number, number, number];
}

interface Pose {
  headAngle: number;
  beakAngle: number;
  tailAngle: number;
  wingAngle: number;
  footShift: [number, number];
}

const deg = (d: number) => (d * Math.PI) / 180;
const polar = (r: number, a: number): PixelPoint => ({ x: r * Math.cos(a), y: r * Math.sin(a) });
const plus = (a: PixelPoint, b: PixelPoint): PixelPoint => ({ x: a.x + b.x, y: a.y + b.y });

/** The bird in its own frame: body half-length 1, facing +x, y down. */
function birdParts(p: Pose) {
  const head = polar(1.05, p.headAngle);
  const headRadius = 0.38;
  const beakBaseHalf = 0.13;
  const beakDir = p.beakAngle;
  const beakTip = plus(head, polar(headRadius + 0.5, beakDir));
  const beakBase = [
    plus(head, polar(headRadius * 0.8, beakDir - deg(25))),
    plus(head, polar(headRadius * 0.8, beakDir + deg(25))),
  ];
  const eye = plus(head, polar(headRadius * 0.45, beakDir - deg(40)));
  const crown = plus(head, polar(headRadius, deg(-85)));
  const tailBase = { x: -0.85, y: -0.05 };
  const tailTip = plus(tailBase, polar(0.95, p.tailAngle));
  const tailSide = polar(0.22, p.tailAngle + Math.PI / 2);
  const wingCentre = { x: -0.1, y: -0.12 };
  const wingRx = 0.7;
  const wingTip = plus(wingCentre, polar(wingRx, Math.PI + p.wingAngle));
  const hips = [
    { x: 0.2, y: 0.5 },
    { x: -0.2, y: 0.52 },
  ] as const;
  const feet = [
    { x: hips[0].x + p.footShift[0], y: 1.35 },
    { x: hips[1].x + p.footShift[1], y: 1.35 },
  ] as const;
  const breast = { x: Math.cos(deg(35)), y: 0.6 * Math.sin(deg(35)) };
  return {
    head,
    headRadius,
    beakTip,
    beakBase,
    beakBaseHalf,
    eye,
    crown,
    tailBase,
    tailTip,
    tailSide,
    wingCentre,
    wingRx,
    wingTip,
    hips,
    feet,
    breast,
  };
}

/** Points on the outline of every part, to place the bird inside the image. */
function outline(parts: ReturnType<typeof birdParts>): PixelPoint[] {
  const pts: PixelPoint[] = [];
  for (let k = 0; k < 24; k++) {
    const a = (2 * Math.PI * k) / 24;
    pts.push({ x: Math.cos(a), y: 0.6 * Math.sin(a) });
    pts.push(plus(parts.head, polar(parts.headRadius, a)));
  }
  pts.push(parts.beakTip, parts.tailTip, plus(parts.tailBase, parts.tailSide), parts.wingTip, ...parts.feet);
  return pts;
}

const hsl = (h: number, s: number, l: number) => `hsl(${h.toFixed(1)},${s.toFixed(1)}%,${l.toFixed(1)}%)`;
const fmt = (v: number) => v.toFixed(3);
const pointList = (pts: PixelPoint[]) => pts.map((p) => `${fmt(p.x)},${fmt(p.y)}`).join(' ');

export interface DemoOptions {
  /** Image side in pixels. */
  size: number;
  seed: number;
}

/** The i-th demo bird of a seed (each image has its own random stream). */
export function demoBird(index: number, opts: DemoOptions): DemoBird {
  const { size } = opts;
  if (!Number.isInteger(size) || size < 32)
    throw new RangeError(`demo birds: image size must be an integer >= 32, got ${size}`);
  const rng = new Random(opts.seed, 'demo-bird', index);
  const u = (lo: number, hi: number) => rng.uniformIn(lo, hi);
  const pose: Pose = {
    headAngle: deg(u(-45, -15)),
    beakAngle: deg(u(-20, 25)),
    tailAngle: deg(u(160, 205)),
    wingAngle: deg(u(-25, 10)),
    footShift: [u(-0.25, 0.25), u(-0.25, 0.25)],
  };
  const parts = birdParts(pose);
  const mirror = rng.uniform() < 0.5 ? -1 : 1;
  const rotation = deg(u(-20, 20));
  const margin = 0.04 * size;
  // Place the bird: scale first, then any translation that keeps its outline inside the margins.
  const local = outline(parts);
  const turn = (p: PixelPoint, s: number): PixelPoint => {
    const x = mirror * s * p.x;
    const y = s * p.y;
    return { x: x * Math.cos(rotation) - y * Math.sin(rotation), y: x * Math.sin(rotation) + y * Math.cos(rotation) };
  };
  let scale = size * u(0.15, 0.22);
  let turned = local.map((p) => turn(p, scale));
  const extent = () => {
    const xs = turned.map((p) => p.x);
    const ys = turned.map((p) => p.y);
    return { minX: Math.min(...xs), maxX: Math.max(...xs), minY: Math.min(...ys), maxY: Math.max(...ys) };
  };
  let e = extent();
  const room = size - 2 * margin;
  const fit = Math.min(room / (e.maxX - e.minX), room / (e.maxY - e.minY), 1);
  if (fit < 1) {
    scale *= fit;
    turned = local.map((p) => turn(p, scale));
    e = extent();
  }
  const tx = u(margin - e.minX, size - margin - e.maxX);
  const ty = u(margin - e.minY, size - margin - e.maxY);
  const place = (p: PixelPoint) => plus(turn(p, scale), { x: tx, y: ty });

  const hue = u(0, 360);
  const bodyColour = hsl(hue, u(45, 80), u(40, 60));
  const wingColour = hsl(hue + u(-30, 30), u(40, 70), u(22, 35));
  const beakColour = hsl(u(25, 50), 90, 55);
  const bgHue = (hue + u(90, 270)) % 360;
  const clutter = Array.from({ length: 6 }, () => {
    const r = size * u(0.05, 0.2);
    return `<ellipse cx="${fmt(u(0, size))}" cy="${fmt(u(0, size))}" rx="${fmt(r)}" ry="${fmt(r * u(0.4, 1))}" fill="${hsl(bgHue + u(-40, 40), u(10, 40), u(55, 85))}" opacity="0.5"/>`;
  }).join('');
  const legs = parts.hips
    .map((h, i) => {
      const f = parts.feet[i]!;
      return `<polyline points="${pointList([h, f, plus(f, { x: 0.22, y: 0 })])}" fill="none" stroke="${beakColour}" stroke-width="0.07" stroke-linejoin="round" stroke-linecap="round"/>`;
    })
    .join('');
  const transform = `translate(${fmt(tx)} ${fmt(ty)}) rotate(${fmt((rotation * 180) / Math.PI)}) scale(${fmt(mirror * scale)} ${fmt(scale)})`;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">`,
    `<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${hsl(bgHue, u(20, 50), u(70, 90))}"/><stop offset="1" stop-color="${hsl(bgHue + 30, u(20, 50), u(45, 70))}"/></linearGradient></defs>`,
    `<rect width="${size}" height="${size}" fill="url(#sky)"/>`,
    clutter,
    `<g transform="${transform}">`,
    legs,
    `<polygon points="${pointList([plus(parts.tailBase, parts.tailSide), parts.tailTip, plus(parts.tailBase, { x: -parts.tailSide.x, y: -parts.tailSide.y })])}" fill="${wingColour}"/>`,
    `<ellipse cx="0" cy="0" rx="1" ry="0.6" fill="${bodyColour}"/>`,
    `<ellipse cx="${fmt(parts.wingCentre.x)}" cy="${fmt(parts.wingCentre.y)}" rx="${parts.wingRx}" ry="0.3" transform="rotate(${fmt((pose.wingAngle * 180) / Math.PI)} ${fmt(parts.wingCentre.x)} ${fmt(parts.wingCentre.y)})" fill="${wingColour}"/>`,
    `<circle cx="${fmt(parts.head.x)}" cy="${fmt(parts.head.y)}" r="${parts.headRadius}" fill="${bodyColour}"/>`,
    `<polygon points="${pointList([parts.beakBase[0]!, parts.beakTip, parts.beakBase[1]!])}" fill="${beakColour}"/>`,
    `<circle cx="${fmt(parts.eye.x)}" cy="${fmt(parts.eye.y)}" r="0.09" fill="white"/>`,
    `<circle cx="${fmt(parts.eye.x)}" cy="${fmt(parts.eye.y)}" r="0.055" fill="#111"/>`,
    `</g></svg>`,
  ].join('');

  const keypoints: Record<BirdKeypointName, PixelPoint> = {
    beak: place(parts.beakTip),
    eye: place(parts.eye),
    crown: place(parts.crown),
    breast: place(parts.breast),
    wing_tip: place(parts.wingTip),
    tail: place(parts.tailTip),
    left_foot: place(parts.feet[0]),
    right_foot: place(parts.feet[1]),
  };
  const drawn = local.map(place);
  const xs = drawn.map((p) => p.x);
  const ys = drawn.map((p) => p.y);
  const x0 = Math.min(...xs);
  const y0 = Math.min(...ys);
  return { size, svg, keypoints, bbox: [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0] };
}
