// The fused elementwise kernel's body: device code only, compiled into the addon (the
// interpreter, kernels.cu) and, as text, by NVRTC for each program at run time (ew_jit.cpp),
// so both run the same arithmetic. No headers: NVRTC compiles it without the C++ library.
#pragma once
#include "ew_ops.h"
#include "ew_params.h"

namespace skp {

/** Threads per block of every elementwise launch (the shared register file's layout assumes it). */
constexpr int EW_BLOCK = 256;

/** A float16 or bfloat16 weight's bits to float32, exactly (as __half2float; cvt needs no header). */
__device__ inline float widenBits(uint16_t h, int dtype) {
  if (dtype == BF16) return __uint_as_float(static_cast<uint32_t>(h) << 16);
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}

__device__ inline float sigmoidf(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}

// NaN wins, as in the reference (Math.min / Math.max).
__device__ inline float minNan(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fffffff) : fminf(a, b); }
__device__ inline float maxNan(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fffffff) : fmaxf(a, b); }

// Each thread runs the program on LANES consecutive elements at once: the dispatch of every
// instruction is paid once per LANES elements, and contiguous operands move as 16-byte vectors.
#ifndef SKP_EW_LANES
#define SKP_EW_LANES 4
#endif
constexpr int LANES = SKP_EW_LANES;
static_assert(LANES % 4 == 0, "contiguous operands move as 16-byte vectors of 4 lanes");
struct __align__(16) F4 {
  float v[LANES];
};
struct __align__(16) Q4 {
  long long v[LANES];
};

/** Element offsets of LANES consecutive outputs starting at `base` (whose coordinates are given). */
template <typename Idx>
__device__ inline void laneOffsets(const EwParams &p, const EwInput &in, int access, Idx base, const Idx *coord, Idx *off) {
  if (access == ACCESS_CONTIGUOUS) {
#pragma unroll
    for (int j = 0; j < LANES; ++j) off[j] = base + j;
    return;
  }
  if (access == ACCESS_SCALAR) {
#pragma unroll
    for (int j = 0; j < LANES; ++j) off[j] = 0;
    return;
  }
  // Loops over every possible axis, unrolled, skipping those past the rank: the coordinates then
  // live in registers (a loop bounded by the rank would put them in local memory).
  Idx c[MAX_RANK];
  Idx o = 0;
  Idx innerAt = 0, innerDim = 1, innerStride = 0;
#pragma unroll
  for (int d = 0; d < MAX_RANK; ++d) {
    c[d] = d < p.rank ? coord[d] : 0;
    if (d < p.rank) o += c[d] * static_cast<Idx>(in.strides[d]);
    if (d == p.rank - 1) innerAt = c[d], innerDim = static_cast<Idx>(p.dims[d]), innerStride = static_cast<Idx>(in.strides[d]);
  }
  off[0] = o;
  // The usual case: the group's lanes stay within one row of the innermost axis.
  if (innerAt + LANES <= innerDim) {
#pragma unroll
    for (int j = 1; j < LANES; ++j) off[j] = o + j * innerStride;
    return;
  }
#pragma unroll
  for (int j = 1; j < LANES; ++j) {
    bool carry = true;
#pragma unroll
    for (int d = MAX_RANK - 1; d >= 0; --d) {
      if (!carry || d >= p.rank) continue;
      o += static_cast<Idx>(in.strides[d]);
      if (++c[d] < static_cast<Idx>(p.dims[d])) {
        carry = false;
      } else {
        o -= c[d] * static_cast<Idx>(in.strides[d]);
        c[d] = 0;
      }
    }
    off[j] = o;
  }
}

/**
 * A program's registers: LANES values each. Indexed by the program, they would sit in local
 * memory, whose traffic reaches L2 and made these kernels L2-bound (Nsight Compute on an H200:
 * L2 96% busy, DRAM 49%). In shared memory, laid out [register][lane][thread] so a warp's
 * accesses fall in distinct banks, they cost no L2 traffic; programs with more registers than
 * fit use the local arrays.
 */
struct LocalRegs {
  F4 f[EW_MAX_REG];
  Q4 q[EW_MAX_REG];
  __device__ F4 getF(int r) const { return f[r]; }
  __device__ Q4 getQ(int r) const { return q[r]; }
  __device__ void setF(int r, const F4 &v) { f[r] = v; }
  __device__ void setQ(int r, const Q4 &v) { q[r] = v; }
};

extern __shared__ __align__(16) unsigned char ewShared[];

struct SharedRegs {
  float *f;
  long long *q;
  __device__ SharedRegs(int fregs)
      : f(reinterpret_cast<float *>(ewShared)),
        q(reinterpret_cast<long long *>(ewShared + static_cast<size_t>(fregs) * LANES * EW_BLOCK * sizeof(float))) {}
  __device__ static int at(int r, int j) { return (r * LANES + j) * EW_BLOCK + threadIdx.x; }
  __device__ F4 getF(int r) const {
    F4 v;
#pragma unroll
    for (int j = 0; j < LANES; ++j) v.v[j] = f[at(r, j)];
    return v;
  }
  __device__ Q4 getQ(int r) const {
    Q4 v;
#pragma unroll
    for (int j = 0; j < LANES; ++j) v.v[j] = q[at(r, j)];
    return v;
  }
  __device__ void setF(int r, const F4 &v) {
#pragma unroll
    for (int j = 0; j < LANES; ++j) f[at(r, j)] = v.v[j];
  }
  __device__ void setQ(int r, const Q4 &v) {
#pragma unroll
    for (int j = 0; j < LANES; ++j) q[at(r, j)] = v.v[j];
  }
};

#define EW_UNARY(EXPR)                                \
  {                                                   \
    const F4 a = R.getF(c.a);                              \
    F4 r;                                             \
    _Pragma("unroll") for (int j = 0; j < LANES; ++j) { \
      const float x = a.v[j];                         \
      r.v[j] = (EXPR);                                \
    }                                                 \
    R.setF(c.dst, r);                                     \
    break;                                            \
  }
#define EW_BINARY(EXPR)                               \
  {                                                   \
    const F4 a = R.getF(c.a), b = R.getF(c.b);                  \
    F4 r;                                             \
    _Pragma("unroll") for (int j = 0; j < LANES; ++j) { \
      const float x = a.v[j], y = b.v[j];             \
      r.v[j] = (EXPR);                                \
    }                                                 \
    R.setF(c.dst, r);                                     \
    break;                                            \
  }
#define EW_COMPARE(EXPR)                              \
  {                                                   \
    const F4 a = R.getF(c.a), b = R.getF(c.b);                  \
    Q4 r;                                             \
    _Pragma("unroll") for (int j = 0; j < LANES; ++j) { \
      const float x = a.v[j], y = b.v[j];             \
      r.v[j] = (EXPR);                                \
    }                                                 \
    R.setQ(c.dst, r);                                     \
    break;                                            \
  }

template <typename Regs>
__device__ inline Regs makeRegs(const EwParams &p);
template <>
__device__ inline LocalRegs makeRegs<LocalRegs>(const EwParams &) {
  return LocalRegs{};
}
template <>
__device__ inline SharedRegs makeRegs<SharedRegs>(const EwParams &p) {
  return SharedRegs(p.fregs);
}

/**
 * The program as the interpreter reads it: from the parameter block, at run time. A compiled
 * program (ew_jit.cpp) answers the same questions with constants, so that the same body below
 * unrolls into straight-line code with its registers in registers.
 */
struct InterpretedProgram {
  static constexpr bool unrolled = false;
  __device__ static int count(const EwParams &p) { return p.ncode; }
  __device__ static EwInstr at(const EwParams &p, int pc) { return p.code[pc]; }
  __device__ static int dtype(const EwParams &p, int i) { return p.in[i].dtype; }
  __device__ static int access(const EwParams &p, int i) { return p.in[i].access; }
  __device__ static bool needCoords(const EwParams &p) { return p.needCoords != 0; }
};

/** Runs `Prog` on this thread's groups of LANES elements. */
template <typename Idx, typename Regs, typename Prog>
__device__ __forceinline__ void elementwiseBody(const EwParams &p) {
  const Idx n = static_cast<Idx>(p.n);
  for (Idx base = (static_cast<Idx>(blockIdx.x) * EW_BLOCK + threadIdx.x) * LANES; base < n;
       base += static_cast<Idx>(gridDim.x) * EW_BLOCK * LANES) {
    const bool full = base + LANES <= n;
    Idx coord[MAX_RANK];
    if (Prog::needCoords(p)) {
      Idx rem = base;
#pragma unroll
      for (int d = MAX_RANK - 1; d >= 0; --d) {
        if (d >= p.rank) continue;
        const Idx dim = static_cast<Idx>(p.dims[d]);
        coord[d] = rem % dim;
        rem /= dim;
      }
    }
    Regs R = makeRegs<Regs>(p);
#pragma unroll (Prog::unrolled ? EW_MAX_CODE : 1)
    for (int pc = 0; pc < Prog::count(p); ++pc) {
      const EwInstr c = Prog::at(p, pc);
      const bool load = c.op == LD_F || c.op == LD_I || c.op == LD_B;
      const int dtype = load ? Prog::dtype(p, c.a) : F32;
      const int access = load ? Prog::access(p, c.a) : ACCESS_CONTIGUOUS;
      switch (c.op) {
        case LD_F: {
          const EwInput &in = p.in[c.a];
          const float *ptr = static_cast<const float *>(in.ptr);
          F4 r;
          if (dtype == F16 || dtype == BF16) {
            // Weights kept at their stored width: converted here, exactly, as they are loaded.
            const uint16_t *half = static_cast<const uint16_t *>(in.ptr);
            uint16_t v[LANES];
            if (access == ACCESS_CONTIGUOUS && full && in.aligned) {
#pragma unroll
              for (int j = 0; j < LANES; j += 4) {
                const uint2 w = *reinterpret_cast<const uint2 *>(half + base + j);  // 4 halves in one load
                v[j] = w.x & 0xffff, v[j + 1] = w.x >> 16, v[j + 2] = w.y & 0xffff, v[j + 3] = w.y >> 16;
              }
            } else {
              Idx off[LANES];
              laneOffsets(p, in, access, base, coord, off);
#pragma unroll
              for (int j = 0; j < LANES; ++j) v[j] = (full || base + j < n) ? half[off[j]] : 0;
            }
#pragma unroll
            for (int j = 0; j < LANES; ++j)
              r.v[j] = widenBits(v[j], dtype);
          } else if (access == ACCESS_CONTIGUOUS && full && in.aligned) {
#pragma unroll
            for (int j = 0; j < LANES; j += 4) {
              const float4 v = *reinterpret_cast<const float4 *>(ptr + base + j);
              r.v[j] = v.x, r.v[j + 1] = v.y, r.v[j + 2] = v.z, r.v[j + 3] = v.w;
            }
          } else {
            Idx off[LANES];
            laneOffsets(p, in, access, base, coord, off);
#pragma unroll
            for (int j = 0; j < LANES; ++j) r.v[j] = (full || base + j < n) ? ptr[off[j]] : 0.f;
          }
          R.setF(c.dst, r);
          break;
        }
        case LD_I:
        case LD_B: {
          const EwInput &in = p.in[c.a];
          Idx off[LANES];
          laneOffsets(p, in, access, base, coord, off);
          Q4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j) {
            const bool ok = full || base + j < n;
            r.v[j] = !ok ? 0
                     : c.op == LD_I ? static_cast<const long long *>(in.ptr)[off[j]]
                                    : static_cast<long long>(static_cast<const uint8_t *>(in.ptr)[off[j]] != 0);
          }
          R.setQ(c.dst, r);
          break;
        }
        case IMM_F: {
          F4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j) r.v[j] = p.imm[c.a];
          R.setF(c.dst, r);
          break;
        }
        case NEG: EW_UNARY(-x)
        case EXP: EW_UNARY(expf(x))
        case LOG: EW_UNARY(logf(x))
        case SQRT: EW_UNARY(sqrtf(x))
        case ERF: EW_UNARY(erff(x))
        case SIGMOID: EW_UNARY(sigmoidf(x))
        case TANH: EW_UNARY(tanhf(x))
        case FLOOR: EW_UNARY(floorf(x))
        case ABS: EW_UNARY(fabsf(x))
        case SOFTPLUS: EW_UNARY(fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))))
        case MOV_F: EW_UNARY(x)
        case ADD: EW_BINARY(x + y)
        case SUB: EW_BINARY(x - y)
        case MUL: EW_BINARY(x * y)
        case DIV: EW_BINARY(x / y)
        case POW: EW_BINARY(powf(x, y))
        case MIN: EW_BINARY(minNan(x, y))
        case MAX: EW_BINARY(maxNan(x, y))
        case EQ_F: EW_COMPARE(x == y)
        case LT_F: EW_COMPARE(x < y)
        case GT_F: EW_COMPARE(x > y)
        case EQ_I:
        case WHERE_I:
        case I2B:
        case MOV_I: {
          const Q4 a = R.getQ(c.a), b = R.getQ(c.b), d = R.getQ(c.c);
          Q4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j)
            r.v[j] = c.op == EQ_I ? (a.v[j] == b.v[j]) : c.op == WHERE_I ? (a.v[j] ? b.v[j] : d.v[j]) : c.op == I2B ? (a.v[j] != 0) : a.v[j];
          R.setQ(c.dst, r);
          break;
        }
        case WHERE_F: {
          const Q4 a = R.getQ(c.a);
          const F4 b = R.getF(c.b), d = R.getF(c.c);
          F4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j) r.v[j] = a.v[j] ? b.v[j] : d.v[j];
          R.setF(c.dst, r);
          break;
        }
        case F2I:
        case F2B: {
          const F4 a = R.getF(c.a);
          Q4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j)
            r.v[j] = c.op == F2I ? static_cast<long long>(truncf(a.v[j])) : static_cast<long long>(a.v[j] != 0.f);
          R.setQ(c.dst, r);
          break;
        }
        case I2F: {
          const Q4 a = R.getQ(c.a);
          F4 r;
#pragma unroll
          for (int j = 0; j < LANES; ++j) r.v[j] = static_cast<float>(a.v[j]);
          R.setF(c.dst, r);
          break;
        }
        case ST_F: {
          float *out = static_cast<float *>(p.out);
          const F4 a = R.getF(c.a);
          if (full && p.outAligned) {
#pragma unroll
            for (int j = 0; j < LANES; j += 4)
              *reinterpret_cast<float4 *>(out + base + j) = make_float4(a.v[j], a.v[j + 1], a.v[j + 2], a.v[j + 3]);
          } else {
#pragma unroll
            for (int j = 0; j < LANES; ++j)
              if (full || base + j < n) out[base + j] = a.v[j];
          }
          break;
        }
        case ST_I:
        case ST_B: {
          const Q4 a = R.getQ(c.a);
#pragma unroll
          for (int j = 0; j < LANES; ++j) {
            if (!full && base + j >= n) continue;
            if (c.op == ST_I) static_cast<long long *>(p.out)[base + j] = a.v[j];
            else static_cast<uint8_t *>(p.out)[base + j] = a.v[j] != 0;
          }
          break;
        }
        default: break;
      }
    }
  }
}

}  // namespace skp
