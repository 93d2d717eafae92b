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

// 1 / (1 + e^−x) for x ≥ 0, e^x / (1 + e^x) below: the same bits as those two branches, with one
// exp and one division and no branch (a warp of mixed signs used to run both).
__device__ inline float sigmoidf(float x) {
  const float e = expf(-fabsf(x));
  return (x >= 0.f ? 1.f : e) / (1.f + e);
}

// NaN wins, as in the reference (Math.min / Math.max).
__device__ inline float minNan(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fffffff) : fminf(a, b); }
__device__ inline float maxNan(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fffffff) : fmaxf(a, b); }

// Each thread runs the program on LANES consecutive elements at once: the interpreter's dispatch
// of every instruction is paid once per LANES elements, and contiguous operands move as 16-byte vectors.
constexpr int LANES = 4;
static_assert(LANES % 4 == 0, "contiguous operands move as 16-byte vectors of 4 lanes");
struct __align__(16) F4 {
  float v[LANES];
};
struct __align__(16) Q4 {
  long long v[LANES];
};

/**
 * The shape a launch runs over and its inputs' strides. The interpreter reads them from the
 * parameter block; a program compiled at run time for a shape has them as constants (ew_jit.cpp),
 * so its coordinates and offsets cost multiplications by constants instead of integer divisions
 * (Nsight Compute on an H200: a group norm's broadcast chain was ALU-bound, 82% of issue slots
 * busy for 22% of the memory's bandwidth).
 */
struct RuntimeGeometry {
  __device__ static int rank(const EwParams &p) { return p.rank; }
  __device__ static int64_t dim(const EwParams &p, int d) { return p.dims[d]; }
  __device__ static int64_t stride(const EwParams &p, int input, int d) { return p.in[input].strides[d]; }
};

/** Element offsets in input `input` of LANES consecutive outputs starting at `base` (whose coordinates are given). */
template <typename Geom, typename Idx>
__device__ inline void laneOffsets(const EwParams &p, int input, int access, Idx base, const Idx *coord, Idx *off) {
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
  const int rank = Geom::rank(p);
  // Loops over every possible axis, unrolled, skipping those past the rank: the coordinates then
  // live in registers (a loop bounded by the rank would put them in local memory).
  Idx c[MAX_RANK];
  Idx o = 0;
  Idx innerAt = 0, innerDim = 1, innerStride = 0;
#pragma unroll
  for (int d = 0; d < MAX_RANK; ++d) {
    c[d] = d < rank ? coord[d] : 0;
    if (d < rank) o += c[d] * static_cast<Idx>(Geom::stride(p, input, d));
    if (d == rank - 1) innerAt = c[d], innerDim = static_cast<Idx>(Geom::dim(p, d)), innerStride = static_cast<Idx>(Geom::stride(p, input, d));
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
      if (!carry || d >= rank) continue;
      o += static_cast<Idx>(Geom::stride(p, input, d));
      if (++c[d] < static_cast<Idx>(Geom::dim(p, d))) {
        carry = false;
      } else {
        o -= c[d] * static_cast<Idx>(Geom::stride(p, input, d));
        c[d] = 0;
      }
    }
    off[j] = o;
  }
}

/**
 * A program's registers: LANES values each. In a compiled program every index is a constant, so
 * these arrays become registers. The interpreter indexes them at run time, which would put them
 * in local memory, whose traffic reaches L2 and made its kernels L2-bound (Nsight Compute on an
 * H200: L2 96% busy, DRAM 49%); it keeps them in shared memory instead (SharedRegs), laid out
 * [register][lane][thread] so a warp's accesses fall in distinct banks, and uses these arrays
 * only for programs with more registers than fit.
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

/** Where a thread's group of LANES elements is: its first element, that element's coordinates, whether all LANES exist. */
template <typename Idx>
struct Lanes {
  Idx base;
  const Idx *coord;
  bool full;
  Idx n;
};

/**
 * One instruction `c` (whose op is OP) on a group of lanes; `dtype` and `access` describe the input
 * a load reads. Only OP's code is compiled into each instantiation, so a program compiled at run
 * time (ew_jit.cpp), a list of these calls with constant arguments, compiles quickly into
 * straight-line code with its registers in registers.
 */
template <int OP, typename Geom, typename Idx, typename Regs>
__device__ __forceinline__ void execOp(const EwParams &p, Regs &R, const EwInstr c, int dtype, int access, const Lanes<Idx> &at) {
  const Idx base = at.base, n = at.n;
  const Idx *coord = at.coord;
  const bool full = at.full;
  if constexpr (OP == LD_F) {
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
        laneOffsets<Geom>(p, c.a, access, base, coord, off);
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
      laneOffsets<Geom>(p, c.a, access, base, coord, off);
#pragma unroll
      for (int j = 0; j < LANES; ++j) r.v[j] = (full || base + j < n) ? ptr[off[j]] : 0.f;
    }
    R.setF(c.dst, r);
  }
  else if constexpr (OP == LD_I || OP == LD_B) {
    const EwInput &in = p.in[c.a];
    Idx off[LANES];
    laneOffsets<Geom>(p, c.a, access, base, coord, off);
    Q4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j) {
      const bool ok = full || base + j < n;
      r.v[j] = !ok ? 0
               : OP == LD_I ? static_cast<const long long *>(in.ptr)[off[j]]
                              : static_cast<long long>(static_cast<const uint8_t *>(in.ptr)[off[j]] != 0);
    }
    R.setQ(c.dst, r);
  }
  else if constexpr (OP == IMM_F) {
    F4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j) r.v[j] = p.imm[c.a];
    R.setF(c.dst, r);
  }
  else if constexpr (OP == NEG) EW_UNARY(-x)
  else if constexpr (OP == EXP) EW_UNARY(expf(x))
  else if constexpr (OP == LOG) EW_UNARY(logf(x))
  else if constexpr (OP == SQRT) EW_UNARY(sqrtf(x))
  else if constexpr (OP == ERF) EW_UNARY(erff(x))
  else if constexpr (OP == SIGMOID) EW_UNARY(sigmoidf(x))
  else if constexpr (OP == TANH) EW_UNARY(tanhf(x))
  else if constexpr (OP == FLOOR) EW_UNARY(floorf(x))
  else if constexpr (OP == ABS) EW_UNARY(fabsf(x))
  else if constexpr (OP == SOFTPLUS) EW_UNARY(fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))))
  else if constexpr (OP == MOV_F) EW_UNARY(x)
  else if constexpr (OP == ADD) EW_BINARY(x + y)
  else if constexpr (OP == SUB) EW_BINARY(x - y)
  else if constexpr (OP == MUL) EW_BINARY(x * y)
  else if constexpr (OP == DIV) EW_BINARY(x / y)
  else if constexpr (OP == POW) EW_BINARY(powf(x, y))
  else if constexpr (OP == MIN) EW_BINARY(minNan(x, y))
  else if constexpr (OP == MAX) EW_BINARY(maxNan(x, y))
  else if constexpr (OP == EQ_F) EW_COMPARE(x == y)
  else if constexpr (OP == LT_F) EW_COMPARE(x < y)
  else if constexpr (OP == GT_F) EW_COMPARE(x > y)
  else if constexpr (OP == EQ_I || OP == WHERE_I || OP == I2B || OP == MOV_I) {
    const Q4 a = R.getQ(c.a), b = R.getQ(c.b), d = R.getQ(c.c);
    Q4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j)
      r.v[j] = OP == EQ_I ? (a.v[j] == b.v[j]) : OP == WHERE_I ? (a.v[j] ? b.v[j] : d.v[j]) : OP == I2B ? (a.v[j] != 0) : a.v[j];
    R.setQ(c.dst, r);
  }
  else if constexpr (OP == WHERE_F) {
    const Q4 a = R.getQ(c.a);
    const F4 b = R.getF(c.b), d = R.getF(c.c);
    F4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j) r.v[j] = a.v[j] ? b.v[j] : d.v[j];
    R.setF(c.dst, r);
  }
  else if constexpr (OP == F2I || OP == F2B) {
    const F4 a = R.getF(c.a);
    Q4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j)
      r.v[j] = OP == F2I ? static_cast<long long>(truncf(a.v[j])) : static_cast<long long>(a.v[j] != 0.f);
    R.setQ(c.dst, r);
  }
  else if constexpr (OP == I2F) {
    const Q4 a = R.getQ(c.a);
    F4 r;
#pragma unroll
    for (int j = 0; j < LANES; ++j) r.v[j] = static_cast<float>(a.v[j]);
    R.setF(c.dst, r);
  }
  else if constexpr (OP == ST_F) {
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
  }
  else if constexpr (OP == ST_I || OP == ST_B) {
    const Q4 a = R.getQ(c.a);
#pragma unroll
    for (int j = 0; j < LANES; ++j) {
      if (!full && base + j >= n) continue;
      if (OP == ST_I) static_cast<long long *>(p.out)[base + j] = a.v[j];
      else static_cast<uint8_t *>(p.out)[base + j] = a.v[j] != 0;
    }
  }
}

/** The interpreter: the program read from the parameter block, one instruction at a time. */
struct InterpretedProgram {
  using Geom = RuntimeGeometry;
  __device__ static bool needCoords(const EwParams &p) { return p.needCoords != 0; }
  template <typename Idx, typename Regs>
  __device__ __forceinline__ static void run(const EwParams &p, Regs &R, const Lanes<Idx> &at) {
    for (int pc = 0; pc < p.ncode; ++pc) {
      const EwInstr c = p.code[pc];
      const bool load = c.op == LD_F || c.op == LD_I || c.op == LD_B;
      const int dtype = load ? p.in[c.a].dtype : F32;
      const int access = load ? p.in[c.a].access : ACCESS_CONTIGUOUS;
      execAny(p, R, c, dtype, access, at);
    }
  }
  template <typename Idx, typename Regs>
  __device__ __forceinline__ static void execAny(const EwParams &p, Regs &R, const EwInstr c, int dtype, int access, const Lanes<Idx> &at) {
    switch (c.op) {
    case LD_F: return execOp<LD_F, Geom>(p, R, c, dtype, access, at);
    case LD_I: return execOp<LD_I, Geom>(p, R, c, dtype, access, at);
    case LD_B: return execOp<LD_B, Geom>(p, R, c, dtype, access, at);
    case IMM_F: return execOp<IMM_F, Geom>(p, R, c, dtype, access, at);
    case NEG: return execOp<NEG, Geom>(p, R, c, dtype, access, at);
    case EXP: return execOp<EXP, Geom>(p, R, c, dtype, access, at);
    case LOG: return execOp<LOG, Geom>(p, R, c, dtype, access, at);
    case SQRT: return execOp<SQRT, Geom>(p, R, c, dtype, access, at);
    case ERF: return execOp<ERF, Geom>(p, R, c, dtype, access, at);
    case SIGMOID: return execOp<SIGMOID, Geom>(p, R, c, dtype, access, at);
    case TANH: return execOp<TANH, Geom>(p, R, c, dtype, access, at);
    case FLOOR: return execOp<FLOOR, Geom>(p, R, c, dtype, access, at);
    case ABS: return execOp<ABS, Geom>(p, R, c, dtype, access, at);
    case SOFTPLUS: return execOp<SOFTPLUS, Geom>(p, R, c, dtype, access, at);
    case MOV_F: return execOp<MOV_F, Geom>(p, R, c, dtype, access, at);
    case ADD: return execOp<ADD, Geom>(p, R, c, dtype, access, at);
    case SUB: return execOp<SUB, Geom>(p, R, c, dtype, access, at);
    case MUL: return execOp<MUL, Geom>(p, R, c, dtype, access, at);
    case DIV: return execOp<DIV, Geom>(p, R, c, dtype, access, at);
    case POW: return execOp<POW, Geom>(p, R, c, dtype, access, at);
    case MIN: return execOp<MIN, Geom>(p, R, c, dtype, access, at);
    case MAX: return execOp<MAX, Geom>(p, R, c, dtype, access, at);
    case EQ_F: return execOp<EQ_F, Geom>(p, R, c, dtype, access, at);
    case LT_F: return execOp<LT_F, Geom>(p, R, c, dtype, access, at);
    case GT_F: return execOp<GT_F, Geom>(p, R, c, dtype, access, at);
    case EQ_I: return execOp<EQ_I, Geom>(p, R, c, dtype, access, at);
    case WHERE_I: return execOp<WHERE_I, Geom>(p, R, c, dtype, access, at);
    case I2B: return execOp<I2B, Geom>(p, R, c, dtype, access, at);
    case MOV_I: return execOp<MOV_I, Geom>(p, R, c, dtype, access, at);
    case WHERE_F: return execOp<WHERE_F, Geom>(p, R, c, dtype, access, at);
    case F2I: return execOp<F2I, Geom>(p, R, c, dtype, access, at);
    case F2B: return execOp<F2B, Geom>(p, R, c, dtype, access, at);
    case I2F: return execOp<I2F, Geom>(p, R, c, dtype, access, at);
    case ST_F: return execOp<ST_F, Geom>(p, R, c, dtype, access, at);
    case ST_I: return execOp<ST_I, Geom>(p, R, c, dtype, access, at);
    case ST_B: return execOp<ST_B, Geom>(p, R, c, dtype, access, at);
      default: return;
    }
  }
};

/** Runs `Program` on this thread's groups of LANES elements. */
template <typename Idx, typename Regs, typename Program>
__device__ __forceinline__ void elementwiseBody(const EwParams &p) {
  const Idx n = static_cast<Idx>(p.n);
  for (Idx base = (static_cast<Idx>(blockIdx.x) * EW_BLOCK + threadIdx.x) * LANES; base < n;
       base += static_cast<Idx>(gridDim.x) * EW_BLOCK * LANES) {
    Idx coord[MAX_RANK];
    if (Program::needCoords(p)) {
      Idx rem = base;
#pragma unroll
      for (int d = MAX_RANK - 1; d >= 0; --d) {
        if (d >= Program::Geom::rank(p)) continue;
        const Idx dim = static_cast<Idx>(Program::Geom::dim(p, d));
        coord[d] = rem % dim;
        rem /= dim;
      }
    }
    Regs R = makeRegs<Regs>(p);
    Program::run(p, R, Lanes<Idx>{base, coord, base + LANES <= n, n});
  }
}

}  // namespace skp
