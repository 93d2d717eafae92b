// Float16 / bfloat16 <-> float32 conversions. Rounding is to nearest, ties to even, which is what
// PyTorch's `.half()` / `.bfloat16()` do, so files we write match files the reference writes.

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

// Every float16 bit pattern decoded once: 256 KiB buys a table lookup per element instead of bit fiddling.
let halfTable: Float32Array | undefined;

function decodeHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = decodeHalfBits(h);
  }
  return halfTable;
}

export function halfToFloat32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]!]!;
  return dst;
}

export function bfloat16ToFloat32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return dst;
}

/** Float32 value -> float16 bits, round to nearest even; overflow goes to infinity, NaN stays NaN. */
export function float32ToHalfBits(x: number): number {
  scratch[0] = x;
  const b = scratchBits[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // re-biased exponent (127 -> 15)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal (or zero): the unit is 2^-24; below 2^-25 everything rounds to zero.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, possibly to infinity: both are the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Float32 value -> bfloat16 bits, round to nearest even. */
export function float32ToBfloat16Bits(x: number): number {
  scratch[0] = x;
  const b = scratchBits[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function float32ToHalf(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = float32ToHalfBits(src[i]!);
  return dst;
}

export function float32ToBfloat16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = float32ToBfloat16Bits(src[i]!);
  return dst;
}
