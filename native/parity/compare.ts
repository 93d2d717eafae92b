// Error measures used against the golden data (golden/README.md, "Tolerances").

type Values = ArrayLike<number>;

function checkLengths(a: Values, b: Values): void {
  if (a.length !== b.length) throw new Error(`compared arrays differ in length: ${a.length} vs ${b.length}`);
}

export function maxAbsError(a: Values, b: Values): number {
  checkLengths(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** ‖a − b‖ / ‖b‖, with b the reference. */
export function relativeL2Error(a: Values, b: Values): number {
  checkLengths(a, b);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  const r = Math.sqrt(num) / Math.sqrt(den);
  return Number.isNaN(r) ? Infinity : r;
}

export function cosineSimilarity(a: Values, b: Values): number {
  checkLengths(a, b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  const c = ab / Math.sqrt(aa * bb);
  return Number.isNaN(c) ? -Infinity : c;
}

export const relativeError = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

export const sameList = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);
