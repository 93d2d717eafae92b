// Accuracy of predicted keypoints against labelled ones, by the conventions of the
// benchmarks the method is reported on: inter-ocular-normalised error (faces), mean
// error over visible points (birds), PCK at a threshold (fashion, animals). Points are
// normalised (y, x) in [0, 1]; every measure is given overall and per keypoint index.

export interface PointYX {
  y: number;
  x: number;
}

export interface LabelledPoint extends PointYX {
  visible: boolean;
}

export interface MetricSummary {
  /** Mean over every counted (image, index) pair. */
  overall: number;
  /** Mean per keypoint index; null where no image counts that index. */
  perIndex: Array<number | null>;
  /** How many images count towards each index. */
  counted: number[];
}

const distance = (a: PointYX, b: PointYX) => Math.hypot(a.y - b.y, a.x - b.x);

function checkShapes(pred: readonly (readonly PointYX[])[], truth: readonly (readonly PointYX[])[]): number {
  if (pred.length !== truth.length)
    throw new RangeError(`metrics: ${pred.length} predicted images but ${truth.length} labelled`);
  if (truth.length === 0) throw new RangeError('metrics: no images to evaluate');
  const points = truth[0]!.length;
  pred.forEach((p, i) => {
    if (p.length !== points || truth[i]!.length !== points) {
      throw new RangeError(
        `metrics: image ${i} has ${p.length} predicted and ${truth[i]!.length} labelled points, expected ${points}`,
      );
    }
  });
  return points;
}

/** Averages per-(image, index) values; `value` returns null for pairs that do not count. */
function summarise(
  images: number,
  points: number,
  value: (image: number, index: number) => number | null,
): MetricSummary {
  const sums = new Array<number>(points).fill(0);
  const counted = new Array<number>(points).fill(0);
  for (let i = 0; i < images; i++)
    for (let k = 0; k < points; k++) {
      const v = value(i, k);
      if (v === null) continue;
      sums[k]! += v;
      counted[k]! += 1;
    }
  const total = counted.reduce((a, b) => a + b, 0);
  if (total === 0) throw new RangeError('metrics: no labelled point counts (all invisible?)');
  return {
    overall: sums.reduce((a, b) => a + b, 0) / total,
    perIndex: sums.map((s, k) => (counted[k]! > 0 ? s / counted[k]! : null)),
    counted,
  };
}

/** Error divided by the distance between the labelled eyes (indices `leftEye`, `rightEye`). */
export function interOcularError(
  pred: readonly (readonly PointYX[])[],
  truth: readonly (readonly PointYX[])[],
  leftEye: number,
  rightEye: number,
): MetricSummary {
  const points = checkShapes(pred, truth);
  for (const [name, idx] of [
    ['leftEye', leftEye],
    ['rightEye', rightEye],
  ] as const) {
    if (!Number.isInteger(idx) || idx < 0 || idx >= points)
      throw new RangeError(`interOcularError: ${name} ${idx} is not a point index (0..${points - 1})`);
  }
  const ocular = truth.map((t, i) => {
    const d = distance(t[leftEye]!, t[rightEye]!);
    if (d === 0) throw new RangeError(`interOcularError: image ${i} has both eyes at the same place`);
    return d;
  });
  return summarise(truth.length, points, (i, k) => distance(pred[i]![k]!, truth[i]![k]!) / ocular[i]!);
}

/** Mean distance over the visible labelled points, in normalised units (fraction of the image size). */
export function visibleMeanError(
  pred: readonly (readonly PointYX[])[],
  truth: readonly (readonly LabelledPoint[])[],
): MetricSummary {
  const points = checkShapes(pred, truth);
  return summarise(truth.length, points, (i, k) =>
    truth[i]![k]!.visible ? distance(pred[i]![k]!, truth[i]![k]!) : null,
  );
}

export interface PckOptions {
  /** A point is correct within alpha × the reference length. */
  alpha: number;
  /** 'bbox': the longer side of the box around the visible labelled points; 'image': the image side (1). */
  reference: 'bbox' | 'image';
}

/** Fraction of visible labelled points predicted within alpha × the reference length. */
export function pck(
  pred: readonly (readonly PointYX[])[],
  truth: readonly (readonly LabelledPoint[])[],
  opts: PckOptions,
): MetricSummary {
  const points = checkShapes(pred, truth);
  if (!(opts.alpha > 0)) throw new RangeError(`pck: alpha must be positive, got ${opts.alpha}`);
  const lengths = truth.map((t) => {
    if (opts.reference === 'image') return 1;
    const visible = t.filter((p) => p.visible);
    if (visible.length === 0) return 0;
    const ys = visible.map((p) => p.y);
    const xs = visible.map((p) => p.x);
    return Math.max(Math.max(...ys) - Math.min(...ys), Math.max(...xs) - Math.min(...xs));
  });
  return summarise(truth.length, points, (i, k) => {
    const t = truth[i]![k]!;
    if (!t.visible) return null;
    return distance(pred[i]![k]!, t) <= opts.alpha * lengths[i]! ? 1 : 0;
  });
}
