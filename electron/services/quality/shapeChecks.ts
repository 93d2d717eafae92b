// Label quality checks, as SLEAP's label QC: which points to look at first among thousands. Each
// image's points are fitted to the data set's mean shape by a similarity transform (shift,
// rotation, scale, and a mirror where that fits better: birds face both ways). A point is flagged
// when it lies far from where its part usually sits, a skeleton edge when its length is far from
// its usual length. A point's distance is measured with that point left out of the fit, so that a
// misplaced point cannot pull the fit toward itself and hide.

export interface Point {
  x: number;
  y: number;
}

/** One image: a point per part column, null where the part is not labelled (v = 0). */
export interface ShapeInstance {
  imageId: number;
  points: Array<Point | null>;
}

export type QualityIssueKind = 'far-from-usual' | 'odd-edge-length';

export interface QualityIssue {
  imageId: number;
  kind: QualityIssueKind;
  /** The part column (far-from-usual), or the edge's two columns. */
  parts: number[];
  /** How far the point is from its usual place, or the edge's length, in units of the mean shape's size. */
  measure: number;
  /** The same for a typical image (the median). */
  usual: number;
}

export interface ShapeCheckResult {
  /** Images with at least MIN_POINTS labelled points, the ones the checks look at. */
  checkedImages: number;
  /** Too few such images to know what is usual: nothing is flagged. */
  tooFew: boolean;
  /** Worst first. */
  issues: QualityIssue[];
}

/** Fewer images than this say nothing about what is usual. */
export const MIN_IMAGES = 5;
/** A shape needs this many points for a fit that can be wrong. */
const MIN_POINTS = 3;
/** A point is far when it is this many times the part's median distance away… */
const FAR_RATIO = 3;
/** …and at least this far, as a fraction of the mean shape's size (its RMS radius). */
const FAR_FLOOR = 0.35;
/** An edge is odd when it is this many times longer, or shorter, than its median length. */
const EDGE_RATIO = 2;
const FIT_ROUNDS = 4;

interface Fit {
  /** Maps a point of the image into the mean shape's frame. */
  apply(p: Point): Point;
  scale: number;
}

/** The similarity transform (with a mirror if that fits better) taking `from` onto `to`, least squares. */
function fit(from: Point[], to: Point[]): Fit {
  const centre = (ps: Point[]) => ({
    x: ps.reduce((s, p) => s + p.x, 0) / ps.length,
    y: ps.reduce((s, p) => s + p.y, 0) / ps.length,
  });
  const cf = centre(from);
  const ct = centre(to);
  let best: { residual: number; mirror: boolean; cos: number; sin: number; scale: number } | null = null;
  for (const mirror of [false, true]) {
    const xs = from.map((p) => ({ x: (mirror ? -1 : 1) * (p.x - cf.x), y: p.y - cf.y }));
    const ys = to.map((p) => ({ x: p.x - ct.x, y: p.y - ct.y }));
    let a = 0;
    let b = 0;
    let xx = 0;
    let yy = 0;
    xs.forEach((p, i) => {
      const q = ys[i]!;
      a += p.x * q.x + p.y * q.y;
      b += p.x * q.y - p.y * q.x;
      xx += p.x * p.x + p.y * p.y;
      yy += q.x * q.x + q.y * q.y;
    });
    const norm = Math.hypot(a, b);
    const scale = xx > 0 ? norm / xx : 0;
    const residual = yy - (xx > 0 ? (norm * norm) / xx : 0);
    const cos = norm > 0 ? a / norm : 1;
    const sin = norm > 0 ? b / norm : 0;
    if (!best || residual < best.residual - 1e-12) best = { residual, mirror, cos, sin, scale };
  }
  const { mirror, cos, sin, scale } = best!;
  return {
    scale,
    apply: (p) => {
      const x = (mirror ? -1 : 1) * (p.x - cf.x);
      const y = p.y - cf.y;
      return { x: scale * (cos * x - sin * y) + ct.x, y: scale * (sin * x + cos * y) + ct.y };
    },
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The instance fitted to the mean on the given columns. */
const fitOn = (instance: ShapeInstance, mean: Array<Point | null>, columns: number[]): Fit =>
  fit(
    columns.map((k) => instance.points[k]!),
    columns.map((k) => mean[k]!),
  );

/** How far point k of the instance lands from its part's place in the mean, under `f`. */
const offset = (f: Fit, instance: ShapeInstance, mean: Array<Point | null>, k: number): number => {
  const q = f.apply(instance.points[k]!);
  return Math.hypot(q.x - mean[k]!.x, q.y - mean[k]!.y);
};

/** The columns both the instance and the mean have. */
const common = (points: Array<Point | null>, mean: Array<Point | null>, except = -1): number[] =>
  points.flatMap((p, k) => (p && mean[k] && k !== except ? [k] : []));

/** The mean of the instances fitted to `mean`, centred and scaled to an RMS radius of 1. */
function meanShape(instances: ShapeInstance[], mean: Array<Point | null>, parts: number): Array<Point | null> {
  const sum = Array.from({ length: parts }, () => ({ x: 0, y: 0, n: 0 }));
  for (const instance of instances) {
    const columns = common(instance.points, mean);
    if (columns.length < 2) continue;
    const f = fitOn(instance, mean, columns);
    instance.points.forEach((p, k) => {
      if (!p) return;
      const q = f.apply(p);
      sum[k]!.x += q.x;
      sum[k]!.y += q.y;
      sum[k]!.n++;
    });
  }
  const next = sum.map((s) => (s.n > 0 ? { x: s.x / s.n, y: s.y / s.n } : null));
  const present = next.filter((p): p is Point => p !== null);
  const cx = present.reduce((s, p) => s + p.x, 0) / present.length;
  const cy = present.reduce((s, p) => s + p.y, 0) / present.length;
  const radius = Math.sqrt(present.reduce((s, p) => s + (p.x - cx) ** 2 + (p.y - cy) ** 2, 0) / present.length) || 1;
  return next.map((p) => p && { x: (p.x - cx) / radius, y: (p.y - cy) / radius });
}

/** Each labelled point's distance from its part's place in the mean shape, the image fitted on its
 * other points; points with fewer than two others are skipped. */
function distancesOf(instance: ShapeInstance, mean: Array<Point | null>): Map<number, number> {
  const out = new Map<number, number>();
  for (const k of common(instance.points, mean)) {
    const others = common(instance.points, mean, k);
    if (others.length >= 2) out.set(k, offset(fitOn(instance, mean, others), instance, mean, k));
  }
  return out;
}

/**
 * The point whose leaving out lets the image's other points fit the mean shape best (a misplaced
 * point spoils the fit of every other; a good one left out changes little), with its distance
 * from its place under that fit; null once too few points are left to tell.
 */
function mostSuspect(
  instance: ShapeInstance,
  mean: Array<Point | null>,
  setAside: Set<number>,
): { part: number; distance: number } | null {
  const kept = common(instance.points, mean).filter((k) => !setAside.has(k));
  if (kept.length <= MIN_POINTS) return null;
  let best: { part: number; distance: number; residual: number } | null = null;
  for (const k of kept) {
    const others = kept.filter((j) => j !== k);
    const f = fitOn(instance, mean, others);
    const residual = others.reduce((sum, j) => sum + offset(f, instance, mean, j) ** 2, 0);
    if (best && residual >= best.residual) continue;
    best = { part: k, distance: offset(f, instance, mean, k), residual };
  }
  return best && { part: best.part, distance: best.distance };
}

export function checkShapes(all: ShapeInstance[], edges: Array<[number, number]>): ShapeCheckResult {
  const instances = all.filter((i) => i.points.filter(Boolean).length >= MIN_POINTS);
  if (instances.length < MIN_IMAGES) return { checkedImages: instances.length, tooFew: true, issues: [] };
  const parts = Math.max(...instances.map((i) => i.points.length));

  // The first instance as the starting frame, then refined: each round fits every image to the mean.
  let mean: Array<Point | null> = Array.from({ length: parts }, (_, k) => instances[0]!.points[k] ?? null);
  const seeded = instances.filter((i) => common(i.points, mean).length >= 2);
  mean = meanShape(seeded, mean, parts);
  for (let round = 1; round < FIT_ROUNDS; round++) mean = meanShape(instances, mean, parts);

  // How far each point is from its part's place, fitted without it: first over every image, for
  // what is usual; then image by image, setting aside the worst point while it is too far, so that
  // one misplaced point does not make its neighbours look misplaced too.
  const byPart = Array.from({ length: parts }, () => [] as number[]);
  for (const instance of instances) for (const [k, d] of distancesOf(instance, mean)) byPart[k]!.push(d);
  const usual = byPart.map((distances) => (distances.length >= MIN_IMAGES ? median(distances) : null));
  const limit = (k: number) => Math.max(FAR_RATIO * usual[k]!, FAR_FLOOR);
  const issues: QualityIssue[] = [];
  const lengths: Array<{ imageId: number; edge: [number, number]; length: number }> = [];
  for (const instance of instances) {
    const misplaced = new Set<number>();
    for (;;) {
      const suspect = mostSuspect(instance, mean, misplaced);
      if (!suspect || usual[suspect.part] === null || suspect.distance <= limit(suspect.part)) break;
      misplaced.add(suspect.part);
      issues.push({
        imageId: instance.imageId,
        kind: 'far-from-usual',
        parts: [suspect.part],
        measure: suspect.distance,
        usual: usual[suspect.part]!,
      });
    }
    const f = fitOn(
      instance,
      mean,
      common(instance.points, mean).filter((k) => !misplaced.has(k)),
    );
    for (const edge of edges) {
      const [a, b] = [instance.points[edge[0]], instance.points[edge[1]]];
      if (a && b) lengths.push({ imageId: instance.imageId, edge, length: f.scale * Math.hypot(a.x - b.x, a.y - b.y) });
    }
  }
  for (const edge of edges) {
    const ofEdge = lengths.filter((l) => l.edge === edge);
    if (ofEdge.length < MIN_IMAGES) continue;
    const typical = median(ofEdge.map((l) => l.length));
    if (typical <= 0) continue;
    for (const l of ofEdge) {
      if (l.length > EDGE_RATIO * typical || l.length < typical / EDGE_RATIO) {
        issues.push({
          imageId: l.imageId,
          kind: 'odd-edge-length',
          parts: [...edge],
          measure: l.length,
          usual: typical,
        });
      }
    }
  }
  const severity = (i: QualityIssue) =>
    i.kind === 'far-from-usual'
      ? i.measure / Math.max(i.usual, 1e-9)
      : Math.max(i.measure / i.usual, i.usual / i.measure);
  issues.sort((a, b) => severity(b) - severity(a));
  return { checkedImages: instances.length, tooFew: false, issues };
}
