// A CPU model of the addon's instruction set, for testing the planner without a GPU: it
// decodes a program exactly as src/device.cu does and applies each instruction with the
// kernels' semantics (float32 rounding, cuBLAS's column-major GEMM with transposes).
// Agreement with the float64 interpreter then shows that layouts, strides, fusion and
// GEMM arguments are right; the GPU check (gpuCheck.ts) covers the kernels themselves.
import { lowered, opDef, opNames } from '../../../native/graph/opset.js';
import { erf } from '../../../native/graph/reference.js';
import {
  ElemType,
  EwOp,
  FORMAT_VERSION,
  Opcode,
  SOFTMAX_GRAD_FROM_SCORES_MAX,
  type WinogradShape,
} from '../../../native/cuda/program.js';

const f32 = Math.fround;

// The arithmetic instructions compute their op's scalar function (the op table's), rounded to
// float32 as the kernel's float math is; loads, stores, compares and conversions are below.
const unaryCodes = new Map<EwOp, (x: number) => number>();
const binaryCodes = new Map<EwOp, (x: number, y: number) => number>();
for (const op of opNames) {
  const cuda = opDef(op).cuda;
  if (cuda === lowered) continue;
  if (cuda.kind === 'unary') unaryCodes.set(EwOp[cuda.code], cuda.scalar);
  if (cuda.kind === 'binary') binaryCodes.set(EwOp[cuda.code], cuda.scalar);
}

export class DeviceMemory {
  private readonly allocs = new Map<number, DataView>();
  private next = 1;
  alloc(bytes: number): number {
    const id = this.next++;
    this.allocs.set(id, new DataView(new ArrayBuffer(Math.max(bytes, 1))));
    return id;
  }
  view(id: number): DataView {
    const v = this.allocs.get(id);
    if (!v) throw new Error(`unknown allocation ${id}`);
    return v;
  }
  write(id: number, offset: number, data: ArrayBufferView): void {
    new Uint8Array(this.view(id).buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  }
  read(id: number, offset: number, bytes: number): ArrayBuffer {
    return this.view(id).buffer.slice(offset, offset + bytes) as ArrayBuffer;
  }
}

interface Ptr {
  v: DataView;
  at: number;
}
const f32At = (p: Ptr, i: number) => p.v.getFloat32(p.at + 4 * i, true);
const setF32 = (p: Ptr, i: number, x: number) => p.v.setFloat32(p.at + 4 * i, x, true);
const i64At = (p: Ptr, i: number) => p.v.getBigInt64(p.at + 8 * i, true);

/** IEEE half bits → number (exact). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** LD_F: float32, or a weight kept at its stored width (ElemType F16 = 3, BF16 = 4). */
function loadFloat(x: { p: Ptr; type: number }, i: number): number {
  if (x.type === ElemType.F16) return halfToFloat(x.p.v.getUint16(x.p.at + 2 * i, true));
  if (x.type === ElemType.BF16) {
    const bits = new DataView(new ArrayBuffer(4));
    bits.setUint32(0, x.p.v.getUint16(x.p.at + 2 * i, true) << 16, true);
    return bits.getFloat32(0, true);
  }
  return f32At(x.p, i);
}

export function emulate(mem: DeviceMemory, code: Float64Array): void {
  let at = 0;
  const num = () => {
    if (at >= code.length) throw new Error('program ends early');
    return code[at++]!;
  };
  const loc = (): Ptr => {
    const id = num();
    const off = num();
    const v = mem.view(id);
    if (off > v.byteLength) throw new Error(`offset ${off} beyond allocation ${id}`);
    return { v, at: off };
  };
  const list = <N extends number>(n: N) => Array.from({ length: n }, num) as Numbers<N>;
  if (num() !== FORMAT_VERSION) throw new Error('format version');
  const count = num();
  for (let s = 0; s < count; s++) {
    const op = num() as Opcode;
    switch (op) {
      case Opcode.Elementwise: {
        const out = loc();
        const n = num();
        const rank = num();
        const dims = list(rank);
        const nin = num();
        const ins = Array.from({ length: nin }, () => ({ p: loc(), type: num(), access: num(), strides: list(rank) }));
        const ncode = num();
        const prog = Array.from({ length: ncode }, () => list(5));
        const imm = list(num());
        const f = new Array<number>(16).fill(0);
        const q = new Array<bigint>(16).fill(0n);
        for (let i = 0; i < n; i++) {
          const coord = new Array<number>(rank);
          let rem = i;
          for (let d = rank - 1; d >= 0; d--) {
            coord[d] = rem % dims[d]!;
            rem = Math.floor(rem / dims[d]!);
          }
          const off = (k: number) => {
            const x = ins[k]!;
            if (x.access === 1) return i;
            if (x.access === 2) return 0;
            return coord.reduce((acc, c, d) => acc + c * x.strides[d]!, 0);
          };
          for (const [o, dst, a, b, c] of prog as [EwOp, number, number, number, number][]) {
            switch (o) {
              case EwOp.LD_F:
                f[dst] = loadFloat(ins[a]!, off(a));
                break;
              case EwOp.LD_I:
                q[dst] = i64At(ins[a]!.p, off(a));
                break;
              case EwOp.LD_B:
                q[dst] = ins[a]!.p.v.getUint8(ins[a]!.p.at + off(a)) ? 1n : 0n;
                break;
              case EwOp.IMM_F:
                f[dst] = imm[a]!;
                break;
              case EwOp.EQ_F:
                q[dst] = f[a] === f[b] ? 1n : 0n;
                break;
              case EwOp.LT_F:
                q[dst] = f[a]! < f[b]! ? 1n : 0n;
                break;
              case EwOp.GT_F:
                q[dst] = f[a]! > f[b]! ? 1n : 0n;
                break;
              case EwOp.EQ_I:
                q[dst] = q[a] === q[b] ? 1n : 0n;
                break;
              case EwOp.WHERE_F:
                f[dst] = q[a] ? f[b]! : f[c]!;
                break;
              case EwOp.WHERE_I:
                q[dst] = q[a] ? q[b]! : q[c]!;
                break;
              case EwOp.F2I:
                q[dst] = BigInt(Math.trunc(f[a]!));
                break;
              case EwOp.I2F:
                f[dst] = f32(Number(q[a]));
                break;
              case EwOp.F2B:
                q[dst] = f[a] !== 0 ? 1n : 0n;
                break;
              case EwOp.I2B:
                q[dst] = q[a] !== 0n ? 1n : 0n;
                break;
              case EwOp.ST_F:
                setF32(out, i, f[a]!);
                break;
              case EwOp.ST_I:
                out.v.setBigInt64(out.at + 8 * i, q[a]!, true);
                break;
              case EwOp.ST_B:
                out.v.setUint8(out.at + i, q[a] ? 1 : 0);
                break;
              case EwOp.MOV_F:
                f[dst] = f[a]!;
                break;
              case EwOp.MOV_I:
                q[dst] = q[a]!;
                break;
              default: {
                const un = unaryCodes.get(o);
                const bin = binaryCodes.get(o);
                if (un) f[dst] = f32(un(f[a]!));
                else if (bin) f[dst] = f32(bin(f[a]!, f[b]!));
                else throw new Error(`elementwise op ${o}`);
              }
            }
          }
        }
        break;
      }
      case Opcode.Reduce: {
        const input = loc();
        const out = loc();
        const kind = num();
        const center = kind === 2 ? loc() : null;
        num(); // row or column mode: a scheduling choice, same result
        const splits = num();
        const chunk = num();
        const scale = num();
        const kr = num();
        const keepDims = list(kr);
        const keepStrides = list(kr);
        const rr = num();
        const redDims = list(rr);
        const redStrides = list(rr);
        const offsetOf = (i: number, dims: number[], st: number[]) => {
          let off = 0;
          for (let d = dims.length - 1; d >= 0; d--) {
            off += (i % dims[d]!) * st[d]!;
            i = Math.floor(i / dims[d]!);
          }
          return off;
        };
        const nOut = keepDims.reduce((a, b) => a * b, 1);
        const nRed = redDims.reduce((a, b) => a * b, 1);
        for (let o = 0; o < nOut; o++) {
          const base = offsetOf(o, keepDims, keepStrides);
          // Centred squares: (x − c)², each step rounded to float32 as the kernel does.
          const c = center ? f32At(center, o) : 0;
          for (let sp = 0; sp < splits; sp++) {
            let acc = kind === 1 ? -Infinity : 0;
            for (let r = sp * chunk; r < Math.min(nRed, (sp + 1) * chunk); r++) {
              const x = f32At(input, base + offsetOf(r, redDims, redStrides));
              const v = center ? f32(f32(x - c) * f32(x - c)) : x;
              acc = kind === 1 ? (v > acc || Number.isNaN(v) ? v : acc) : acc + v;
            }
            setF32(out, o * splits + sp, kind === 1 ? acc : acc * scale);
          }
        }
        break;
      }
      case Opcode.Softmax:
      case Opcode.ArgMax:
      case Opcode.TopK: {
        const input = loc();
        const out = loc();
        const [outer, size, inner] = list(3);
        const topk = op === Opcode.TopK ? { k: num(), largest: num() } : null;
        for (let o = 0; o < outer; o++)
          for (let i = 0; i < inner; i++) {
            const x = (k: number) => f32At(input, (o * size + k) * inner + i);
            if (op === Opcode.Softmax) {
              softmaxRow(size, x, (k, prob) => setF32(out, (o * size + k) * inner + i, prob));
            } else if (op === Opcode.ArgMax) {
              let best = 0;
              for (let k = 1; k < size; k++) if (x(k) > x(best)) best = k;
              out.v.setBigInt64(out.at + 8 * (o * inner + i), BigInt(best), true);
            } else {
              for (let j = 0; j < size; j++) {
                let rank = 0;
                for (let m = 0; m < size; m++) {
                  const ahead = topk!.largest ? x(m) > x(j) : x(m) < x(j);
                  if (ahead || (x(m) === x(j) && m < j)) rank++;
                }
                if (rank < topk!.k) out.v.setBigInt64(out.at + 8 * ((o * topk!.k + rank) * inner + i), BigInt(j), true);
              }
            }
          }
        break;
      }
      case Opcode.SoftmaxHeadMean: {
        const probs = loc();
        const maps = loc();
        const [nb, heads, rows, size, scale, keepProbs] = list(6);
        const scale32 = f32(scale);
        for (let b = 0; b < nb; b++)
          for (let r = 0; r < rows; r++) {
            const acc = new Float64Array(size);
            for (let h = 0; h < heads; h++) {
              const at = ((b * heads + h) * rows + r) * size;
              softmaxRow(
                size,
                (k) => f32At(probs, at + k),
                (k, prob) => {
                  setF32(probs, at + k, prob);
                  acc[k]! += f32At(probs, at + k);
                },
              );
            }
            for (let k = 0; k < size; k++) setF32(maps, (b * rows + r) * size + k, acc[k]! * scale32);
          }
        // Probabilities not kept: poisoned, so that a program reading them shows NaN.
        if (!keepProbs) for (let i = 0; i < nb * heads * rows * size; i++) setF32(probs, i, NaN);
        break;
      }
      case Opcode.SoftmaxGrad: {
        const probs = loc();
        const grad = loc();
        // Flags: 1 a share, 2 the share alone, 4 from the scores (program.ts softmaxGrad).
        const [rows, size, flags] = list(3);
        const share = flags & 1 ? { at: loc(), heads: num(), rowsPerHead: num(), batchStride: num() } : null;
        if (flags & 2 && !share) throw new Error('softmaxGrad: the share alone, without a share');
        if (flags & 4 && size > SOFTMAX_GRAD_FROM_SCORES_MAX)
          throw new Error('softmaxGrad from the scores: row too long');
        for (let o = 0; o < rows; o++) {
          if (flags & 4) {
            // The probabilities as Softmax makes them, in place of the scores.
            softmaxRow(
              size,
              (k) => f32At(probs, o * size + k),
              (k, prob) => setF32(probs, o * size + k, prob),
            );
          }
          const shareRow = share
            ? Math.floor(o / (share.heads * share.rowsPerHead)) * share.batchStride + (o % share.rowsPerHead) * size
            : 0;
          const part = (k: number) => f32(f32At(share!.at, shareRow + k) / share!.heads);
          const dP = (k: number) =>
            !share ? f32At(grad, o * size + k) : flags & 2 ? part(k) : f32(f32At(grad, o * size + k) + part(k));
          let dot = 0;
          for (let k = 0; k < size; k++) dot += f32At(probs, o * size + k) * dP(k);
          const d = f32(dot);
          for (let k = 0; k < size; k++) setF32(grad, o * size + k, f32(f32At(probs, o * size + k) * f32(dP(k) - d)));
        }
        break;
      }
      case Opcode.Gather:
      case Opcode.ScatterAdd: {
        const data = loc();
        const idx = loc();
        const out = loc();
        const elemSize = num();
        const axis = num();
        const axisSize = num();
        const rank = num();
        const idxDims = list(rank);
        const strides = list(rank);
        const n = idxDims.reduce((a, b) => a * b, 1);
        for (let t = 0; t < n; t++) {
          let off = 0;
          let rem = t;
          for (let d = rank - 1; d >= 0; d--) {
            if (d !== axis) off += (rem % idxDims[d]!) * strides[d]!;
            rem = Math.floor(rem / idxDims[d]!);
          }
          let k = Number(i64At(idx, t));
          if (k < 0) k += axisSize;
          if (k < 0 || k >= axisSize) throw new Error(`index ${k} out of range`);
          off += k * strides[axis]!;
          if (op === Opcode.ScatterAdd) setF32(out, off, f32(f32At(out, off) + f32At(data, t)));
          else if (elemSize === 4) setF32(out, t, f32At(data, off));
          else if (elemSize === 8) out.v.setBigInt64(out.at + 8 * t, i64At(data, off), true);
          else out.v.setUint8(out.at + t, data.v.getUint8(data.at + off));
        }
        break;
      }
      case Opcode.Copy: {
        const dst = loc();
        const src = loc();
        const [dpitch, spitch, width, height] = list(4);
        const d = new Uint8Array(dst.v.buffer);
        const sv = new Uint8Array(src.v.buffer);
        for (let r = 0; r < height; r++)
          d.set(sv.slice(src.at + r * spitch, src.at + r * spitch + width), dst.at + r * dpitch);
        break;
      }
      case Opcode.Gemm: {
        num(); // TF32: the emulator computes every product in float64 then rounds
        const [transA, transB, m, n, k, lda, ldb, ldc] = list(8);
        const A = loc();
        const B = loc();
        const C = loc();
        const [batch, sA, sB, sC, alpha, beta] = list(6);
        const ptrMode = num();
        const offs = ptrMode ? list(3 * batch) : null;
        for (let b = 0; b < batch; b++) {
          const oa = offs ? offs[b]! : b * sA;
          const ob = offs ? offs[batch + b]! : b * sB;
          const oc = offs ? offs[2 * batch + b]! : b * sC;
          // Column-major: op(A) is m×k, op(B) is k×n, C is m×n with leading dimension ldc.
          const a = (i: number, p: number) => f32At(A, oa + (transA ? p + i * lda : i + p * lda));
          const bb = (p: number, j: number) => f32At(B, ob + (transB ? j + p * ldb : p + j * ldb));
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let acc = 0;
              for (let p = 0; p < k; p++) acc += a(i, p) * bb(p, j);
              const prev = beta ? beta * f32At(C, oc + i + j * ldc) : 0;
              setF32(C, oc + i + j * ldc, alpha * acc + prev);
            }
        }
        break;
      }
      case Opcode.Im2col:
      case Opcode.Col2im: {
        const src = loc();
        const dst = loc();
        const [n, c, h, w, kh, kw, stride, pad, oh, ow, y0] = list(11);
        if (op === Opcode.Im2col) {
          let t = 0;
          for (let b = 0; b < n; b++)
            for (let ch = 0; ch < c; ch++)
              for (let ki = 0; ki < kh; ki++)
                for (let kj = 0; kj < kw; kj++)
                  for (let oy = 0; oy < oh; oy++)
                    for (let ox = 0; ox < ow; ox++, t++) {
                      const y = (y0 + oy) * stride - pad + ki;
                      const x = ox * stride - pad + kj;
                      const inside = y >= 0 && y < h && x >= 0 && x < w;
                      setF32(dst, t, inside ? f32At(src, ((b * c + ch) * h + y) * w + x) : 0);
                    }
        } else {
          let t = 0;
          for (let b = 0; b < n; b++)
            for (let ch = 0; ch < c; ch++)
              for (let y = 0; y < h; y++)
                for (let x = 0; x < w; x++, t++) {
                  let acc = 0;
                  for (let ki = 0; ki < kh; ki++) {
                    const ty = y + pad - ki;
                    if (ty < 0 || ty % stride) continue;
                    const iy = ty / stride;
                    if (iy >= oh) continue;
                    for (let kj = 0; kj < kw; kj++) {
                      const tx = x + pad - kj;
                      if (tx < 0 || tx % stride) continue;
                      const ix = tx / stride;
                      if (ix >= ow) continue;
                      acc += f32At(src, ((b * c + ch) * kh * kw + ki * kw + kj) * oh * ow + iy * ow + ix);
                    }
                  }
                  setF32(dst, t, acc);
                }
        }
        break;
      }
      case Opcode.WinogradFilter:
      case Opcode.WinogradInput:
      case Opcode.WinogradOutput: {
        const src = loc();
        const dst = loc();
        const [n, c, k, h, w, pad, oh, ow, ty0, tr, tile, flip, adds] = list(13);
        // Flags: 1 a bias, 2 a residual (program.ts winograd).
        const bias = adds & 1 ? loc() : undefined;
        const residual = adds & 2 ? loc() : undefined;
        if (adds && op !== Opcode.WinogradOutput) throw new Error('winograd: only the output transform adds');
        winograd(op, src, dst, { n, c, k, h, w, pad, oh, ow, ty0, tr, tile, flip: flip !== 0 }, { bias, residual });
        break;
      }
      case Opcode.Widen: {
        const src = loc();
        const dst = loc();
        const n = num();
        const type = num();
        if (type !== ElemType.F16 && type !== ElemType.BF16)
          throw new Error('widen: the source must be float16 or bfloat16');
        for (let i = 0; i < n; i++) setF32(dst, i, loadFloat({ p: src, type }, i));
        break;
      }
      case Opcode.Geglu:
      case Opcode.GegluGrad: {
        // As src/kernels.cu's gegluKernel: every float step rounded alone.
        const h = loc();
        const bias = { p: loc(), type: num() };
        const grad = op === Opcode.GegluGrad ? loc() : null;
        const out = loc();
        const [rows, inner] = list(2);
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < inner; c++) {
            const a = f32(f32At(h, r * 2 * inner + c) + loadFloat(bias, c));
            const z = f32(f32At(h, r * 2 * inner + inner + c) + loadFloat(bias, inner + c));
            const onePlusErf = f32(f32(erf(f32(z * f32(Math.SQRT1_2)))) + 1);
            const gelu = f32(f32(z * 0.5) * onePlusErf);
            if (!grad) {
              setF32(out, r * inner + c, f32(a * gelu));
              continue;
            }
            const g = f32At(grad, r * inner + c);
            const density = f32(f32(Math.exp(f32(f32(z * z) * -0.5))) * f32(1 / Math.sqrt(2 * Math.PI)));
            const slope = f32(f32(onePlusErf * 0.5) + f32(z * density));
            setF32(out, r * 2 * inner + c, f32(g * gelu));
            setF32(out, r * 2 * inner + inner + c, f32(f32(g * a) * slope));
          }
        break;
      }
      case Opcode.Moments: {
        // As src/kernels.cu's momentsKernel: sums of d = x − K and d² in double (K the run's
        // first value), a split at a time, the splits added in order.
        const x = loc();
        const mean = loc();
        const variance = loc();
        const [runLength, splits, chunk, rank] = list(4);
        const keepDims = list(rank);
        const keepStrides = list(rank);
        if (splits > 1) loc(); // the GPU's partial sums: the emulator keeps them in locals
        const nOut = keepDims.reduce((a, b) => a * b, 1);
        for (let o = 0; o < nOut; o++) {
          let start = 0;
          let rem = o;
          for (let d = rank - 1; d >= 0; d--) {
            start += (rem % keepDims[d]!) * keepStrides[d]!;
            rem = Math.floor(rem / keepDims[d]!);
          }
          const shift = f32At(x, start);
          let s1 = 0;
          let s2 = 0;
          for (let s = 0; s < splits; s++) {
            let p1 = 0;
            let p2 = 0;
            for (let r = s * chunk; r < Math.min(runLength, (s + 1) * chunk); r++) {
              const d = f32At(x, start + r) - shift;
              p1 += d;
              p2 += d * d;
            }
            s1 += p1;
            s2 += p2;
          }
          const m = s1 / runLength;
          setF32(mean, o, shift + m);
          setF32(variance, o, Math.max(s2 / runLength - m * m, 0));
        }
        break;
      }
      case Opcode.LayerNorm:
      case Opcode.LayerNormGrad: {
        // As src/kernels.cu's layerNormKernel: sums in double, each float step rounded alone.
        const x = loc();
        const weight = { p: loc(), type: num() };
        const gradient = op === Opcode.LayerNormGrad;
        const bias = gradient ? null : { p: loc(), type: num() };
        const grad = gradient ? loc() : null;
        const out = loc();
        const [rows, size, eps] = list(3);
        for (let r = 0; r < rows; r++) {
          const xk = (k: number) => f32At(x, r * size + k);
          let sum = 0;
          for (let k = 0; k < size; k++) sum += xk(k);
          const mean = f32(sum / size);
          let squares = 0;
          for (let k = 0; k < size; k++) squares += f32(f32(xk(k) - mean) ** 2);
          const scale = f32(Math.sqrt(f32(f32(squares / size) + f32(eps))));
          const normed = (k: number) => f32(f32(xk(k) - mean) / scale);
          if (!gradient) {
            for (let k = 0; k < size; k++)
              setF32(out, r * size + k, f32(f32(normed(k) * loadFloat(weight, k)) + loadFloat(bias!, k)));
            continue;
          }
          const weighted = (k: number) => f32(f32At(grad!, r * size + k) * loadFloat(weight, k));
          let total = 0;
          let along = 0;
          for (let k = 0; k < size; k++) {
            total += weighted(k);
            along += weighted(k) * normed(k);
          }
          const meanWeighted = f32(total / size);
          const meanAlong = f32(along / size);
          for (let k = 0; k < size; k++)
            setF32(out, r * size + k, f32(f32(f32(weighted(k) - meanWeighted) - f32(normed(k) * meanAlong)) / scale));
        }
        break;
      }
      default:
        throw new Error(`unknown opcode ${op}`);
    }
  }
  if (at !== code.length) throw new Error('trailing numbers after the last instruction');
}

/**
 * The softmax of `size` values read by `x`, as every softmax kernel computes a row: the maximum,
 * the float32 exponentials' sum, then each probability handed to `write` (which may overwrite the
 * value it was computed from: each is read before its own write).
 */
function softmaxRow(size: number, x: (k: number) => number, write: (k: number, prob: number) => void): void {
  let m = -Infinity;
  for (let k = 0; k < size; k++) m = Math.max(m, x(k));
  let sum = 0;
  for (let k = 0; k < size; k++) sum += f32(Math.exp(x(k) - m));
  for (let k = 0; k < size; k++) write(k, f32(Math.exp(x(k) - m)) / sum);
}

/** `N` numbers as a tuple of that length where `N` is a literal (destructuring types each one), else an array. */
type Numbers<N extends number, T extends number[] = []> = number extends N
  ? number[]
  : T['length'] extends N
    ? T
    : Numbers<N, [...T, number]>;

/** Winograd's transform matrices for F(2×2, 3×3) and F(4×4, 3×3): Bᵀ, G and Aᵀ. */
const WINOGRAD: Record<2 | 4 | 6, { bt: number[][]; g: number[][]; at: number[][] }> = {
  2: {
    bt: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    g: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    at: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    bt: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    g: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    at: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
  6: {
    bt: [
      [1, 0, -21 / 4, 0, 21 / 4, 0, -1, 0],
      [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
      [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
      [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
      [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
      [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
      [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
      [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1],
    ],
    g: [
      [1, 0, 0],
      [-2 / 9, -2 / 9, -2 / 9],
      [-2 / 9, 2 / 9, -2 / 9],
      [1 / 90, 1 / 45, 2 / 45],
      [1 / 90, -1 / 45, 2 / 45],
      [32 / 45, 16 / 45, 8 / 45],
      [32 / 45, -16 / 45, 8 / 45],
      [0, 0, 1],
    ],
    at: [
      [1, 1, 1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
      [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
      [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
      [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0],
      [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1],
    ],
  },
};

/** coef·x·coefᵀ in float32, skipping zero coefficients as the kernels do (their products may fuse: close, not bit-exact). */
function sandwich(coef: number[][], x: number[][]): number[][] {
  const c = coef.map((row) => row.map(f32));
  const left = c.map((row) =>
    x[0]!.map((_, q) => row.reduce((acc, v, k) => (v ? f32(acc + f32(v * x[k]![q]!)) : acc), 0)),
  );
  return left.map((row) => c.map((crow) => crow.reduce((acc, v, k) => (v ? f32(acc + f32(row[k]! * v)) : acc), 0)));
}

/** The three transforms of Winograd F(m×m, 3×3), as the kernels compute them. */
function winograd(
  op: Opcode.WinogradFilter | Opcode.WinogradInput | Opcode.WinogradOutput,
  src: Ptr,
  dst: Ptr,
  p: Omit<WinogradShape, 'tile'> & { tile: number },
  adds: { bias?: Ptr; residual?: Ptr } = {},
): void {
  const m = WINOGRAD[p.tile as keyof typeof WINOGRAD];
  if (!m) throw new Error('winograd: tiles of 2, 4 or 6 output pixels');
  const a = p.tile + 2;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  if (op === Opcode.WinogradFilter) {
    for (let kk = 0; kk < p.k; kk++)
      for (let ch = 0; ch < p.c; ch++) {
        const g = range(3).map((r) =>
          range(3).map((q) =>
            f32At(src, p.flip ? ((ch * p.k + kk) * 3 + (2 - r)) * 3 + (2 - q) : ((kk * p.c + ch) * 3 + r) * 3 + q),
          ),
        );
        sandwich(m.g, g).forEach((u, r) => u.forEach((x, q) => setF32(dst, ((a * r + q) * p.k + kk) * p.c + ch, x)));
      }
    return;
  }
  const tw = Math.ceil(p.ow / p.tile);
  const perImage = p.tr * tw;
  const T = p.n * perImage;
  const tileAt = (t: number) => {
    const b = Math.floor(t / perImage);
    const rem = t - b * perImage;
    return { b, ty: p.ty0 + Math.floor(rem / tw), tx: rem % tw };
  };
  if (op === Opcode.WinogradInput) {
    for (let ch = 0; ch < p.c; ch++)
      for (let t = 0; t < T; t++) {
        const { b, ty, tx } = tileAt(t);
        const d = range(a).map((r) =>
          range(a).map((q) => {
            const y = p.tile * ty - p.pad + r;
            const x = p.tile * tx - p.pad + q;
            return y >= 0 && y < p.h && x >= 0 && x < p.w ? f32At(src, ((b * p.c + ch) * p.h + y) * p.w + x) : 0;
          }),
        );
        sandwich(m.bt, d).forEach((v, r) => v.forEach((x, q) => setF32(dst, ((a * r + q) * p.c + ch) * T + t, x)));
      }
    return;
  }
  for (let kk = 0; kk < p.k; kk++)
    for (let t = 0; t < T; t++) {
      const { b, ty, tx } = tileAt(t);
      const prods = range(a).map((r) => range(a).map((q) => f32At(src, ((a * r + q) * p.k + kk) * T + t)));
      sandwich(m.at, prods).forEach((row, r) =>
        row.forEach((x, q) => {
          const oy = p.tile * ty + r;
          const ox = p.tile * tx + q;
          if (oy >= p.oh || ox >= p.ow) return;
          const at = ((b * p.k + kk) * p.oh + oy) * p.ow + ox;
          const biased = adds.bias ? f32(f32(x) + f32At(adds.bias, kk)) : x;
          setF32(dst, at, adds.residual ? f32(biased) + f32At(adds.residual, at) : biased);
        }),
      );
    }
}
