// The addon's kernels. Accuracy first: float32 arithmetic with the accurate libm functions
// (no fast-math), sums accumulated in double so long reductions stay close to the float64
// reference interpreter.
#include <math_constants.h>

#include <algorithm>

#include "kernels.h"
#include "ew_kernel.cuh"

namespace skp {

namespace {

constexpr int BLOCK = 256;

int gridFor(int64_t n, int perBlock = BLOCK) {
  int64_t blocks = (n + perBlock - 1) / perBlock;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 16)));
}

// Blocks for kernels with a warp per row: every row gets its warp (no grid-stride loop, no cap).
unsigned warpRowsGrid(int64_t rows) { return static_cast<unsigned>((rows + BLOCK / 32 - 1) / (BLOCK / 32)); }

__device__ inline void recordFault(DeviceFault *fault, int32_t code, int32_t step, int64_t value) {
  if (atomicCAS(&fault->code, 0, code) == 0) {
    fault->step = step;
    fault->value = value;
  }
}

// Elementwise ----------------------------------------------------------------------------

static_assert(BLOCK == EW_BLOCK, "the interpreter's shared register file is laid out for EW_BLOCK threads");

/** Shared memory a program's registers take: `fregs` float and `qregs` integer registers. */
constexpr size_t sharedRegBytes(int fregs, int qregs) {
  return (static_cast<size_t>(fregs) * sizeof(float) + static_cast<size_t>(qregs) * sizeof(long long)) * LANES * BLOCK;
}
/** At most the shared memory any block may take without opting in (every GPU since sm_70). */
constexpr size_t SHARED_REG_LIMIT = 48 * 1024;

template <typename Idx, typename Regs>
__global__ void __launch_bounds__(BLOCK) elementwiseKernel(const __grid_constant__ EwParams p) {
  elementwiseBody<Idx, Regs, InterpretedProgram>(p);
}

// Reductions -----------------------------------------------------------------------------

template <class P>
__device__ inline int64_t keptOffset(const P &p, int64_t o) {
  int64_t off = 0;
  for (int d = p.keepRank - 1; d >= 0; --d) {
    off += (o % p.keepDims[d]) * p.keepStrides[d];
    o /= p.keepDims[d];
  }
  return off;
}

__device__ inline int64_t reducedOffset(const ReduceParams &p, int64_t r) {
  if (p.redRank == 1) return r * p.redStrides[0];
  int64_t off = 0;
  for (int d = p.redRank - 1; d >= 0; --d) {
    off += (r % p.redDims[d]) * p.redStrides[d];
    r /= p.redDims[d];
  }
  return off;
}

__device__ inline double combine(int kind, double acc, double v) {
  if (kind != REDUCE_MAX) return acc + v;
  return (v > acc || v != v) ? v : acc;
}

// A reduced element as summed: itself, or (v − c)² rounded to float32 at each step, as the separate
// subtraction and product kernels it replaces rounded it.
__device__ inline float term(int kind, float v, float c) {
  if (kind != REDUCE_CENTRED_SQUARES) return v;
  const float d = v - c;
  return d * d;
}

__device__ inline double warpCombine(int kind, double v) {
  for (int o = 16; o > 0; o >>= 1) v = combine(kind, v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

/** A warp's total of `v`, in the same order on every lane (the sums in double of the row kernels). */
__device__ inline double warpSumD(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/** G threads reduce one output along the reduced dims (which are contiguous, or nearly). */
template <int G>
__global__ void __launch_bounds__(BLOCK) reduceRowKernel(const __grid_constant__ ReduceParams p) {
  constexpr int PER_BLOCK = BLOCK / G;
  const int lane = threadIdx.x % G;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * PER_BLOCK + threadIdx.x / G;
  const int s = blockIdx.y;
  const double init = p.kind == REDUCE_MAX ? -CUDART_INF : 0.0;
  double acc = init;
  if (o < p.nOut) {
    const int64_t base = keptOffset(p, o);
    const int k = p.kind;
    const float c = k == REDUCE_CENTRED_SQUARES ? p.center[o] : 0.f;
    const int64_t r0 = s * p.chunk;
    const int64_t r1 = min(p.nRed, r0 + p.chunk);
    // Four independent loads in flight per thread: a long row is latency-bound otherwise.
    double acc1 = init, acc2 = init, acc3 = init;
    int64_t r = r0 + lane;
    const float *start = p.in + base + r0;
    if (p.redRank == 1 && p.redStrides[0] == 1 && (reinterpret_cast<uintptr_t>(start) & 15) == 0) {
      // A contiguous row (group and layer norms' statistics): 16-byte loads, two in flight, so
      // that the few long rows of a norm read at the memory's speed. The tail goes below.
      const float4 *row = reinterpret_cast<const float4 *>(start);
      const int64_t quads = (r1 - r0) / 4;
      int64_t q = lane;
      for (; q + G < quads; q += 2 * G) {
        const float4 a = row[q], b = row[q + G];
        acc = combine(k, acc, term(k, a.x, c)), acc1 = combine(k, acc1, term(k, a.y, c));
        acc2 = combine(k, acc2, term(k, a.z, c)), acc3 = combine(k, acc3, term(k, a.w, c));
        acc = combine(k, acc, term(k, b.x, c)), acc1 = combine(k, acc1, term(k, b.y, c));
        acc2 = combine(k, acc2, term(k, b.z, c)), acc3 = combine(k, acc3, term(k, b.w, c));
      }
      for (; q < quads; q += G) {
        const float4 a = row[q];
        acc = combine(k, acc, term(k, a.x, c)), acc1 = combine(k, acc1, term(k, a.y, c));
        acc2 = combine(k, acc2, term(k, a.z, c)), acc3 = combine(k, acc3, term(k, a.w, c));
      }
      r = r0 + 4 * quads + lane;
    }
    for (; r + 3 * G < r1; r += 4 * G) {
      const float v0 = p.in[base + reducedOffset(p, r)];
      const float v1 = p.in[base + reducedOffset(p, r + G)];
      const float v2 = p.in[base + reducedOffset(p, r + 2 * G)];
      const float v3 = p.in[base + reducedOffset(p, r + 3 * G)];
      acc = combine(k, acc, term(k, v0, c));
      acc1 = combine(k, acc1, term(k, v1, c));
      acc2 = combine(k, acc2, term(k, v2, c));
      acc3 = combine(k, acc3, term(k, v3, c));
    }
    for (; r < r1; r += G) acc = combine(k, acc, term(k, p.in[base + reducedOffset(p, r)], c));
    acc = combine(k, combine(k, acc, acc1), combine(k, acc2, acc3));
  }
  acc = warpCombine(p.kind, acc);
  if (G > 32) {
    __shared__ double partial[BLOCK / 32];
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = threadIdx.x < G / 32 ? partial[threadIdx.x] : init;
      acc = warpCombine(p.kind, acc);
    }
  }
  if (lane == 0 && o < p.nOut) {
    const double v = p.kind != REDUCE_MAX ? acc * p.scale : acc;
    p.out[o * p.splits + s] = static_cast<float>(v);
  }
}

/** One thread per output, walking the reduced dims: coalesced when the kept dims are innermost. */
__global__ void __launch_bounds__(BLOCK) reduceColKernel(const __grid_constant__ ReduceParams p) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x;
  const int s = blockIdx.y;
  if (o >= p.nOut) return;
  const int64_t base = keptOffset(p, o);
  const int64_t r0 = s * p.chunk;
  const int64_t r1 = min(p.nRed, r0 + p.chunk);
  if (r0 >= r1) {
    p.out[o * p.splits + s] = p.kind == REDUCE_MAX ? -CUDART_INF_F : 0.f;
    return;
  }
  const float c = p.kind == REDUCE_CENTRED_SQUARES ? p.center[o] : 0.f;
  // Odometer over the reduced dims, started at r0: no division per element.
  int64_t coord[MAX_RANK];
  int64_t rem = r0;
  int64_t off = 0;
  for (int d = p.redRank - 1; d >= 0; --d) {
    coord[d] = rem % p.redDims[d];
    rem /= p.redDims[d];
    off += coord[d] * p.redStrides[d];
  }
  double acc = p.kind == REDUCE_MAX ? -CUDART_INF : 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    acc = combine(p.kind, acc, term(p.kind, p.in[base + off], c));
    for (int d = p.redRank - 1; d >= 0; --d) {
      off += p.redStrides[d];
      if (++coord[d] < p.redDims[d]) break;
      off -= coord[d] * p.redStrides[d];
      coord[d] = 0;
    }
  }
  const double v = p.kind != REDUCE_MAX ? acc * p.scale : acc;
  p.out[o * p.splits + s] = static_cast<float>(v);
}

// A norm's mean and variance in one read of x instead of two (the mean's, then the centred
// squares'): sums of d = x − K and d² in double, with K the run's first value, so that the
// variance Σd²/n − (Σd/n)² does not cancel away when the mean is large beside the spread.
// Each block sums one split of one output's run; with several splits, a second kernel adds the
// splits' sums in order. Every thread of a block sums in the same order on every run.
__device__ inline void finishMoments(const MomentsParams &p, int64_t o, double shift, double s1, double s2) {
  const double n = static_cast<double>(p.nRed);
  const double m = s1 / n;
  p.mean[o] = static_cast<float>(shift + m);
  p.variance[o] = static_cast<float>(fmax(s2 / n - m * m, 0.0));
}

__global__ void __launch_bounds__(BLOCK) momentsKernel(const __grid_constant__ MomentsParams p) {
  __shared__ double sums[2][BLOCK / 32];
  const int64_t o = blockIdx.x;
  const int s = blockIdx.y;
  const float *run = p.in + keptOffset(p, o);
  const double shift = run[0];
  const int64_t r0 = s * p.chunk;
  const int64_t r1 = min(p.nRed, r0 + p.chunk);
  double s1 = 0.0, s2 = 0.0, t1 = 0.0, t2 = 0.0;
  const auto add = [&](float v, double &a1, double &a2) {
    const double d = static_cast<double>(v) - shift;
    a1 += d;
    a2 += d * d;
  };
  int64_t r = r0 + threadIdx.x;
  if ((reinterpret_cast<uintptr_t>(run + r0) & 15) == 0) {
    // 16-byte loads, two in flight: a norm's few long runs read at the memory's speed.
    const float4 *quads = reinterpret_cast<const float4 *>(run + r0);
    const int64_t count = (r1 - r0) / 4;
    int64_t q = threadIdx.x;
    for (; q + BLOCK < count; q += 2 * BLOCK) {
      const float4 a = quads[q], b = quads[q + BLOCK];
      add(a.x, s1, s2), add(a.y, t1, t2), add(a.z, s1, s2), add(a.w, t1, t2);
      add(b.x, s1, s2), add(b.y, t1, t2), add(b.z, s1, s2), add(b.w, t1, t2);
    }
    for (; q < count; q += BLOCK) {
      const float4 a = quads[q];
      add(a.x, s1, s2), add(a.y, t1, t2), add(a.z, s1, s2), add(a.w, t1, t2);
    }
    r = r0 + 4 * count + threadIdx.x;
  }
  for (; r < r1; r += BLOCK) add(run[r], s1, s2);
  s1 = warpSumD(s1 + t1);
  s2 = warpSumD(s2 + t2);
  if (threadIdx.x % 32 == 0) sums[0][threadIdx.x / 32] = s1, sums[1][threadIdx.x / 32] = s2;
  __syncthreads();
  if (threadIdx.x != 0) return;
  s1 = 0.0, s2 = 0.0;
  for (int w = 0; w < BLOCK / 32; ++w) s1 += sums[0][w], s2 += sums[1][w];
  if (p.splits == 1) {
    finishMoments(p, o, shift, s1, s2);
  } else {
    p.partial[2 * (o * p.splits + s)] = s1;
    p.partial[2 * (o * p.splits + s) + 1] = s2;
  }
}

__global__ void __launch_bounds__(BLOCK) momentsCombineKernel(const __grid_constant__ MomentsParams p) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x;
  if (o >= p.nOut) return;
  double s1 = 0.0, s2 = 0.0;
  for (int s = 0; s < p.splits; ++s) s1 += p.partial[2 * (o * p.splits + s)], s2 += p.partial[2 * (o * p.splits + s) + 1];
  finishMoments(p, o, p.in[keptOffset(p, o)], s1, s2);
}

// Softmax, argMax, topK over one axis of [outer, size, inner] --------------------------------

__device__ inline float warpMaxF(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ inline float warpSumF(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/** Block-wide max / sum for G = BLOCK (every thread gets the result). */
template <bool IsMax>
__device__ inline float blockAll(float v, float *scratch) {
  v = IsMax ? warpMaxF(v) : warpSumF(v);
  const int warp = threadIdx.x / 32;
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[warp] = v;
  __syncthreads();
  float r = IsMax ? -CUDART_INF_F : 0.f;
  for (int w = 0; w < BLOCK / 32; ++w) r = IsMax ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

template <int G>
__global__ void __launch_bounds__(BLOCK) softmaxRowKernel(const __grid_constant__ AxisParams p) {
  constexpr int PER_BLOCK = BLOCK / G;
  __shared__ float scratch[BLOCK / 32];
  const int lane = threadIdx.x % G;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * PER_BLOCK + threadIdx.x / G;
  const bool active = row < p.outer;
  const float *x = p.in + (active ? row : 0) * p.size;
  float *y = static_cast<float *>(p.out) + (active ? row : 0) * p.size;
  float m = -CUDART_INF_F;
  if (active)
    for (int64_t k = lane; k < p.size; k += G) m = fmaxf(m, x[k]);
  m = G == 32 ? warpMaxF(m) : blockAll<true>(m, scratch);
  float s = 0.f;
  if (active)
    for (int64_t k = lane; k < p.size; k += G) s += expf(x[k] - m);
  s = G == 32 ? warpSumF(s) : blockAll<false>(s, scratch);
  if (active)
    for (int64_t k = lane; k < p.size; k += G) y[k] = expf(x[k] - m) / s;
}

__global__ void __launch_bounds__(BLOCK) softmaxColKernel(const __grid_constant__ AxisParams p) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x;
  if (t >= p.outer * p.inner) return;
  const int64_t o = t / p.inner, i = t % p.inner;
  const float *x = p.in + o * p.size * p.inner + i;
  float *y = static_cast<float *>(p.out) + o * p.size * p.inner + i;
  float m = -CUDART_INF_F;
  for (int64_t k = 0; k < p.size; ++k) m = fmaxf(m, x[k * p.inner]);
  float s = 0.f;
  for (int64_t k = 0; k < p.size; ++k) s += expf(x[k * p.inner] - m);
  for (int64_t k = 0; k < p.size; ++k) y[k * p.inner] = expf(x[k * p.inner] - m) / s;
}

// An attention chunk's softmax and its head-mean together: one warp per (batch element, query
// row) walks the heads in order, each head's row as softmaxRowKernel<32> computes it (same
// order, same bits), and sums the probabilities in double as reduceColKernel does over the heads.
// The probabilities are read once, not again by a reduction, and written back only when kept.
template <int PER>
__global__ void __launch_bounds__(BLOCK) softmaxHeadMeanKernel(const __grid_constant__ HeadMeanParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (BLOCK / 32) + threadIdx.x / 32;
  if (row >= p.nb * p.rows) return;
  const int64_t b = row / p.rows, r = row % p.rows;
  double acc[PER];
  for (int j = 0; j < PER; ++j) acc[j] = 0.0;
  for (int64_t h = 0; h < p.heads; ++h) {
    float *x = p.probs + ((b * p.heads + h) * p.rows + r) * p.size;
    float v[PER];
    float m = -CUDART_INF_F;
    for (int j = 0; j < PER; ++j) {
      const int64_t k = lane + 32 * j;
      v[j] = k < p.size ? x[k] : -CUDART_INF_F;
      if (k < p.size) m = fmaxf(m, v[j]);
    }
    m = warpMaxF(m);
    float s = 0.f;
    for (int j = 0; j < PER; ++j)
      if (lane + 32 * j < p.size) s += expf(v[j] - m);
    s = warpSumF(s);
    for (int j = 0; j < PER; ++j) {
      const int64_t k = lane + 32 * j;
      if (k >= p.size) continue;
      const float prob = expf(v[j] - m) / s;
      if (p.keepProbs) x[k] = prob;
      acc[j] += prob;
    }
  }
  float *out = p.maps + row * p.size;
  for (int j = 0; j < PER; ++j) {
    const int64_t k = lane + 32 * j;
    if (k < p.size) out[k] = static_cast<float>(acc[j] * p.scale);
  }
}

// Softmax's gradient along rows, in place of dP: dS = P ⊙ (dP − Σ P ⊙ dP), the row sum in double.

// Where row `row`'s share of the maps' gradient starts, or null without one.
__device__ inline const float *shareRow(const SoftmaxGradParams &p, int64_t row) {
  if (!p.share) return nullptr;
  return p.share + (row / (p.heads * p.rowsPerHead)) * p.shareBatchStride + (row % p.rowsPerHead) * p.size;
}

// Rows of at most 32·PER: a warp per row, which loads the row into registers before any
// arithmetic (the IEEE division of the share is a call that would otherwise stall each load).
// From the scores, it first makes the probabilities as softmaxRowKernel<32> does (same order,
// same bits) and writes them back for the GEMMs that read P: one pass over the row saved.
template <int PER>
__global__ void __launch_bounds__(BLOCK) softmaxGradWarpKernel(const __grid_constant__ SoftmaxGradParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (BLOCK / 32) + threadIdx.x / 32;
  if (row >= p.rows) return;
  float *prob = p.probs + row * p.size;
  float *grad = p.grad + row * p.size;
  const float *share = shareRow(p, row);
  const float heads = static_cast<float>(p.heads);
  float pv[PER], gv[PER];
  for (int j = 0; j < PER; ++j) {
    const int64_t k = lane + 32 * j;
    pv[j] = k < p.size ? prob[k] : 0.f;
    gv[j] = k < p.size && !p.shareOnly ? grad[k] : 0.f;
  }
  if (p.fromScores) {
    float m = -CUDART_INF_F;
    for (int j = 0; j < PER; ++j)
      if (lane + 32 * j < p.size) m = fmaxf(m, pv[j]);
    m = warpMaxF(m);
    float s = 0.f;
    for (int j = 0; j < PER; ++j)
      if (lane + 32 * j < p.size) s += expf(pv[j] - m);
    s = warpSumF(s);
    for (int j = 0; j < PER; ++j) {
      const int64_t k = lane + 32 * j;
      if (k >= p.size) continue;
      pv[j] = expf(pv[j] - m) / s;
      prob[k] = pv[j];
    }
  }
  if (share)
    for (int j = 0; j < PER; ++j) {
      const int64_t k = lane + 32 * j;
      if (k >= p.size) continue;
      const float part = __fdiv_rn(share[k], heads);
      gv[j] = p.shareOnly ? part : gv[j] + part;
    }
  double dot = 0.0;
  for (int j = 0; j < PER; ++j)
    if (lane + 32 * j < p.size) dot += static_cast<double>(pv[j]) * gv[j];
  const float d = static_cast<float>(warpSumD(dot));
  for (int j = 0; j < PER; ++j)
    if (lane + 32 * j < p.size) grad[lane + 32 * j] = pv[j] * (gv[j] - d);
}

// Longer rows (never from the scores): a block per row, the same sums in the same order per lane.
__global__ void __launch_bounds__(BLOCK) softmaxGradBlockKernel(const __grid_constant__ SoftmaxGradParams p) {
  __shared__ double scratch[BLOCK / 32];
  const int64_t row = blockIdx.x;
  const float *prob = p.probs + row * p.size;
  float *grad = p.grad + row * p.size;
  const float *share = shareRow(p, row);
  const float heads = static_cast<float>(p.heads);
  const auto dP = [&](int64_t k) {
    if (!share) return grad[k];
    const float part = __fdiv_rn(share[k], heads);
    return p.shareOnly ? part : grad[k] + part;
  };
  double dot = 0.0;
  for (int64_t k = threadIdx.x; k < p.size; k += BLOCK) dot += static_cast<double>(prob[k]) * dP(k);
  dot = warpSumD(dot);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = dot;
  __syncthreads();
  dot = 0.0;
  for (int w = 0; w < BLOCK / 32; ++w) dot += scratch[w];
  const float d = static_cast<float>(dot);
  for (int64_t k = threadIdx.x; k < p.size; k += BLOCK) grad[k] = prob[k] * (dP(k) - d);
}

// Layer norm: a block of NORM_THREADS per row, each thread holding PER of the row's values in
// registers (all loads issued at once), for rows of up to NORM_THREADS · NORM_MAX_PER values;
// longer rows loop over the row a warp at a time. The sums run in double; every float step is
// rounded alone (no contraction), as the composite's kernels computed them: d = x − μ,
// σ² = mean(d²), s = √(σ² + ε), n = d / s, then n · weight + bias.
constexpr int NORM_THREADS = 128;
constexpr int NORM_MAX_PER = 16;

__device__ inline float normParam(const void *p, DType type, int64_t k) {
  if (type == F32) return static_cast<const float *>(p)[k];
  return widenBits(static_cast<const uint16_t *>(p)[k], type);
}

// The block's total of each thread's `v`, in the same order for every thread. `slot` is a
// scratch row of its own for each sum of a kernel, so no sum waits for the one before it to be read.
__device__ inline double normBlockSum(double v, double *slot) {
  v = warpSumD(v);
  if (threadIdx.x % 32 == 0) slot[threadIdx.x / 32] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < NORM_THREADS / 32; ++w) total += slot[w];
  return total;
}

template <int PER>
__global__ void __launch_bounds__(NORM_THREADS) layerNormRowKernel(const __grid_constant__ LayerNormParams p) {
  __shared__ double scratch[4][NORM_THREADS / 32];
  const int64_t row = blockIdx.x;
  const float *x = p.x + row * p.size;
  const auto inRow = [&](int j) { return threadIdx.x + NORM_THREADS * j < p.size; };
  const auto at = [&](int j) { return static_cast<int64_t>(threadIdx.x) + NORM_THREADS * j; };
  // Every load the row needs is issued first, so that their latency overlaps the reductions'.
  const float *g = p.grad ? p.grad + row * p.size : nullptr;
  float v[PER], w[PER], other[PER];  // other: the bias forward, the output's gradient back
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    v[j] = inRow(j) ? x[at(j)] : 0.f;
    w[j] = inRow(j) ? normParam(p.weight, p.weightType, at(j)) : 0.f;
    other[j] = !inRow(j) ? 0.f : g ? g[at(j)] : normParam(p.bias, p.biasType, at(j));
  }
  double sum = 0.0;
#pragma unroll
  for (int j = 0; j < PER; ++j) sum += v[j];
  const float mean = static_cast<float>(normBlockSum(sum, scratch[0]) / static_cast<double>(p.size));
  double squares = 0.0;
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    const float d = __fsub_rn(v[j], mean);
    if (inRow(j)) squares += static_cast<double>(__fmul_rn(d, d));
  }
  const float variance = static_cast<float>(normBlockSum(squares, scratch[1]) / static_cast<double>(p.size));
  const float scale = __fsqrt_rn(__fadd_rn(variance, p.eps));
  float *out = p.out + row * p.size;
  if (!g) {
#pragma unroll
    for (int j = 0; j < PER; ++j) {
      if (!inRow(j)) continue;
      const float n = __fdiv_rn(__fsub_rn(v[j], mean), scale);
      out[at(j)] = __fadd_rn(__fmul_rn(n, w[j]), other[j]);
    }
    return;
  }
  // dx = (ĝ − mean(ĝ) − n · mean(ĝ ⊙ n)) / s with ĝ = g ⊙ weight.
  float n[PER], gw[PER];
  double total = 0.0, along = 0.0;
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    n[j] = __fdiv_rn(__fsub_rn(v[j], mean), scale);
    gw[j] = __fmul_rn(other[j], w[j]);
    total += gw[j];
    along += static_cast<double>(gw[j]) * n[j];
  }
  const float meanWeighted = static_cast<float>(normBlockSum(total, scratch[2]) / static_cast<double>(p.size));
  const float meanAlong = static_cast<float>(normBlockSum(along, scratch[3]) / static_cast<double>(p.size));
#pragma unroll
  for (int j = 0; j < PER; ++j)
    if (inRow(j)) out[at(j)] = __fdiv_rn(__fsub_rn(__fsub_rn(gw[j], meanWeighted), __fmul_rn(n[j], meanAlong)), scale);
}

// Longer rows: a warp per row, which reads the row again from L1/L2 for each pass.
struct RowStatistics {
  float mean, scale;  // μ and √(σ² + ε)
};

__device__ inline RowStatistics rowStatistics(const float *x, int64_t size, float eps, int lane) {
  double sum = 0.0;
  for (int64_t k = lane; k < size; k += 32) sum += x[k];
  const float mean = static_cast<float>(warpSumD(sum) / static_cast<double>(size));
  double squares = 0.0;
  for (int64_t k = lane; k < size; k += 32) {
    const float d = __fsub_rn(x[k], mean);
    squares += static_cast<double>(__fmul_rn(d, d));
  }
  const float variance = static_cast<float>(warpSumD(squares) / static_cast<double>(size));
  return {mean, __fsqrt_rn(__fadd_rn(variance, eps))};
}

__global__ void __launch_bounds__(BLOCK) layerNormLongKernel(const __grid_constant__ LayerNormParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (BLOCK / 32) + threadIdx.x / 32;
  if (row >= p.rows) return;
  const float *x = p.x + row * p.size;
  float *out = p.out + row * p.size;
  const RowStatistics st = rowStatistics(x, p.size, p.eps, lane);
  const auto normed = [&](int64_t k) { return __fdiv_rn(__fsub_rn(x[k], st.mean), st.scale); };
  if (!p.grad) {
    for (int64_t k = lane; k < p.size; k += 32)
      out[k] = __fadd_rn(__fmul_rn(normed(k), normParam(p.weight, p.weightType, k)), normParam(p.bias, p.biasType, k));
    return;
  }
  const float *g = p.grad + row * p.size;
  const auto weighted = [&](int64_t k) { return __fmul_rn(g[k], normParam(p.weight, p.weightType, k)); };
  double total = 0.0, along = 0.0;
  for (int64_t k = lane; k < p.size; k += 32) {
    total += weighted(k);
    along += static_cast<double>(weighted(k)) * normed(k);
  }
  const float meanWeighted = static_cast<float>(warpSumD(total) / static_cast<double>(p.size));
  const float meanAlong = static_cast<float>(warpSumD(along) / static_cast<double>(p.size));
  for (int64_t k = lane; k < p.size; k += 32)
    out[k] = __fdiv_rn(__fsub_rn(__fsub_rn(weighted(k), meanWeighted), __fmul_rn(normed(k), meanAlong)), st.scale);
}

// GEGLU: a thread per output column pair. GELU(z) as the composite computed it,
// (z · ½) · (1 + erf(z · √½)), each step rounded alone; its slope for the gradient is
// (1 + erf(z · √½)) / 2 + z · e^(−z²/2) / √(2π).
__global__ void __launch_bounds__(BLOCK) gegluKernel(const __grid_constant__ GegluParams p) {
  const int64_t n = p.rows * p.inner;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * BLOCK) {
    const int64_t r = i / p.inner, c = i - r * p.inner;
    const float *row = p.h + r * 2 * p.inner;
    const float a = __fadd_rn(row[c], normParam(p.bias, p.biasType, c));
    const float z = __fadd_rn(row[p.inner + c], normParam(p.bias, p.biasType, p.inner + c));
    const float onePlusErf = __fadd_rn(erff(__fmul_rn(z, 0.70710677f)), 1.f);
    const float gelu = __fmul_rn(__fmul_rn(z, 0.5f), onePlusErf);
    if (!p.grad) {
      p.out[i] = __fmul_rn(a, gelu);
      continue;
    }
    const float g = p.grad[i];
    const float density = __fmul_rn(expf(__fmul_rn(__fmul_rn(z, z), -0.5f)), 0.39894228f);
    const float slope = __fadd_rn(__fmul_rn(onePlusErf, 0.5f), __fmul_rn(z, density));
    float *out = p.out + r * 2 * p.inner;
    out[c] = __fmul_rn(g, gelu);
    out[p.inner + c] = __fmul_rn(__fmul_rn(g, a), slope);
  }
}

// First index of the maximum, as the reference; NaN never wins.
__device__ inline void better(float &v, int64_t &k, float v2, int64_t k2) {
  if (v2 > v || (v2 == v && k2 < k) || (k < 0 && k2 >= 0)) {
    v = v2;
    k = k2;
  }
}

__global__ void __launch_bounds__(BLOCK) argMaxRowKernel(const __grid_constant__ AxisParams p) {
  __shared__ float sv[BLOCK];
  __shared__ int64_t sk[BLOCK];
  const float *x = p.in + blockIdx.x * p.size;
  float v = -CUDART_INF_F;
  int64_t k = -1;
  for (int64_t j = threadIdx.x; j < p.size; j += BLOCK) better(v, k, x[j], j);
  sv[threadIdx.x] = v;
  sk[threadIdx.x] = k;
  __syncthreads();
  for (int w = BLOCK / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      better(v, k, sv[threadIdx.x + w], sk[threadIdx.x + w]);
      sv[threadIdx.x] = v;
      sk[threadIdx.x] = k;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) static_cast<long long *>(p.out)[blockIdx.x] = k < 0 ? 0 : k;
}

__global__ void __launch_bounds__(BLOCK) argMaxColKernel(const __grid_constant__ AxisParams p) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x;
  if (t >= p.outer * p.inner) return;
  const int64_t o = t / p.inner, i = t % p.inner;
  const float *x = p.in + o * p.size * p.inner + i;
  int64_t best = 0;
  for (int64_t k = 1; k < p.size; ++k)
    if (x[k * p.inner] > x[best * p.inner]) best = k;
  static_cast<long long *>(p.out)[t] = best;
}

/**
 * Each element's rank is the number of elements ahead of it (better value, or equal value at
 * a lower index); those ranked under k are written at their rank. Rows are short in this
 * project (tokens, candidates), so the quadratic count costs little.
 */
__global__ void __launch_bounds__(BLOCK) topKKernel(const __grid_constant__ AxisParams p, int useShared) {
  extern __shared__ float row[];
  const int64_t o = blockIdx.x / p.inner, i = blockIdx.x % p.inner;
  const float *x = p.in + o * p.size * p.inner + i;
  long long *y = static_cast<long long *>(p.out) + o * p.k * p.inner + i;
  if (useShared) {
    for (int64_t j = threadIdx.x; j < p.size; j += BLOCK) row[j] = x[j * p.inner];
    __syncthreads();
  }
  for (int64_t j = threadIdx.x; j < p.size; j += BLOCK) {
    const float v = useShared ? row[j] : x[j * p.inner];
    int64_t rank = 0;
    for (int64_t m = 0; m < p.size && rank < p.k; ++m) {
      const float u = useShared ? row[m] : x[m * p.inner];
      const bool ahead = p.largest ? (u > v) : (u < v);
      rank += ahead || (u == v && m < j);
    }
    if (rank < p.k) y[rank * p.inner] = j;
  }
}

// Gather / scatter along one axis ---------------------------------------------------------

__device__ inline int64_t indexedOffset(const GatherParams &p, int64_t t, DeviceFault *fault, bool &ok) {
  int64_t off = 0;
  int64_t rem = t;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t c = rem % p.idxDims[d];
    rem /= p.idxDims[d];
    if (d != p.axis) off += c * p.strides[d];
  }
  int64_t k = p.idx[t];
  if (k < 0) k += p.axisSize;
  ok = k >= 0 && k < p.axisSize;
  if (!ok) {
    recordFault(fault, 1, p.step, p.idx[t]);
    return 0;
  }
  return off + k * p.strides[p.axis];
}

__global__ void __launch_bounds__(BLOCK) gatherKernel(const __grid_constant__ GatherParams p, DeviceFault *fault) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x; t < p.n;
       t += static_cast<int64_t>(gridDim.x) * BLOCK) {
    bool ok;
    const int64_t src = indexedOffset(p, t, fault, ok);
    if (p.elemSize == 4) static_cast<float *>(p.out)[t] = ok ? static_cast<const float *>(p.data)[src] : 0.f;
    else if (p.elemSize == 8)
      static_cast<long long *>(p.out)[t] = ok ? static_cast<const long long *>(p.data)[src] : 0;
    else static_cast<uint8_t *>(p.out)[t] = ok ? static_cast<const uint8_t *>(p.data)[src] : 0;
  }
}

__global__ void __launch_bounds__(BLOCK) scatterAddKernel(const __grid_constant__ GatherParams p, DeviceFault *fault) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * BLOCK + threadIdx.x; t < p.n;
       t += static_cast<int64_t>(gridDim.x) * BLOCK) {
    bool ok;
    const int64_t dst = indexedOffset(p, t, fault, ok);
    if (ok) atomicAdd(static_cast<float *>(p.out) + dst, static_cast<const float *>(p.data)[t]);
  }
}

// Convolution helpers -------------------------------------------------------------------------

/**
 * col[b][(c·kh + ki)·kw + kj][oy·ow + ox] = x[b][c][(y0 + oy)·s − pad + ki][ox·s − pad + kj], zero
 * outside. One column row per grid row, so each element costs one division.
 */
__global__ void __launch_bounds__(BLOCK) im2colKernel(const __grid_constant__ ConvParams p) {
  const int rows = static_cast<int>(p.n * p.c * p.kh * p.kw);
  const int cols = static_cast<int>(p.oh * p.ow);
  const int kh = static_cast<int>(p.kh), kw = static_cast<int>(p.kw);
  const int h = static_cast<int>(p.h), w = static_cast<int>(p.w), ow = static_cast<int>(p.ow);
  const int stride = static_cast<int>(p.stride), pad = static_cast<int>(p.pad), y0 = static_cast<int>(p.y0);
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const int kj = r % kw;
    const int ki = (r / kw) % kh;
    const int plane = r / (kw * kh);  // b·c + channel
    const float *src = p.src + static_cast<int64_t>(plane) * h * w;
    float *dst = p.dst + static_cast<int64_t>(r) * cols;
    // Four adjacent columns per thread, stored as one vector where rows stay 16-byte aligned.
    const bool vec = cols % 4 == 0;
    for (int col = (blockIdx.x * BLOCK + threadIdx.x) * 4; col < cols; col += gridDim.x * BLOCK * 4) {
      int oy = col / ow;
      int ox = col - oy * ow;
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int y = (y0 + oy) * stride - pad + ki;
        const int x = ox * stride - pad + kj;
        v[j] = (col + j < cols && y >= 0 && y < h && x >= 0 && x < w) ? src[y * w + x] : 0.f;
        if (++ox == ow) ox = 0, ++oy;
      }
      if (vec) {
        *reinterpret_cast<float4 *>(dst + col) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
        for (int j = 0; j < 4 && col + j < cols; ++j) dst[col + j] = v[j];
      }
    }

  }
}

// Winograd F(M×M, 3×3) (Lavin and Gray) for M = 2, 4 and 6: U = G·g·Gᵀ, V = Bᵀ·d·B and
// Y = Aᵀ·(Σ_c U ⊙ V)·A over tiles of (M+2)² points, point ξ = (M+2)·row + column. F(4×4) takes
// 36 products for 16 outputs instead of 16 for 4, F(6×6) 64 for 36, each at some float32
// accuracy (their points are 0, ±1, ±2 and, for F(6×6), ±1/2; its G is rounded to float32).
template <int M>
struct WinogradMatrices;
template <>
struct WinogradMatrices<2> {
  static constexpr int A = 4;
  __device__ static float bt(int r, int k) {
    constexpr float m[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    return m[r][k];
  }
  __device__ static float g(int r, int k) {
    constexpr float m[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    return m[r][k];
  }
  __device__ static float at(int r, int k) {
    constexpr float m[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    return m[r][k];
  }
};
template <>
struct WinogradMatrices<4> {
  static constexpr int A = 6;
  __device__ static float bt(int r, int k) {
    constexpr float m[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                               {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    return m[r][k];
  }
  __device__ static float g(int r, int k) {
    constexpr float m[6][3] = {{1.f / 4, 0, 0},           {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                               {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
    return m[r][k];
  }
  __device__ static float at(int r, int k) {
    constexpr float m[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
    return m[r][k];
  }
};

template <>
struct WinogradMatrices<6> {
  static constexpr int A = 8;
  __device__ static float bt(int r, int k) {
    constexpr float m[8][8] = {{1, 0, -21.f / 4, 0, 21.f / 4, 0, -1, 0},     {0, 1, 1, -17.f / 4, -17.f / 4, 1, 1, 0},
                               {0, -1, 1, 17.f / 4, -17.f / 4, -1, 1, 0},    {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
                               {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},    {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
                               {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},            {0, -1, 0, 21.f / 4, 0, -21.f / 4, 0, 1}};
    return m[r][k];
  }
  __device__ static float g(int r, int k) {
    constexpr float m[8][3] = {{1, 0, 0},
                               {-2.f / 9, -2.f / 9, -2.f / 9},
                               {-2.f / 9, 2.f / 9, -2.f / 9},
                               {1.f / 90, 1.f / 45, 2.f / 45},
                               {1.f / 90, -1.f / 45, 2.f / 45},
                               {32.f / 45, 16.f / 45, 8.f / 45},
                               {32.f / 45, -16.f / 45, 8.f / 45},
                               {0, 0, 1}};
    return m[r][k];
  }
  __device__ static float at(int r, int k) {
    constexpr float m[6][8] = {{1, 1, 1, 1, 1, 1, 1, 0},        {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
                               {0, 1, 1, 4, 4, 0.25f, 0.25f, 0}, {0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
                               {0, 1, 1, 16, 16, 1.f / 16, 1.f / 16, 0}, {0, 1, -1, 32, -32, 1.f / 32, -1.f / 32, 1}};
    return m[r][k];
  }
};

/** out[r][q] = Σ_k coef(r, k)·in[k][q] (R×Q = (R×K)·(K×Q)), skipping the zero coefficients. */
template <int R, int K, int Q, typename Coef>
__device__ inline void leftMultiply(Coef coef, const float (&in)[K][Q], float (&out)[R][Q]) {
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      float acc = 0.f;
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (coef(r, k) != 0.f) acc += coef(r, k) * in[k][q];
      out[r][q] = acc;
    }
}

/** out[r][q] = Σ_k in[r][k]·coef(q, k) (in times the transposed coefficients). */
template <int R, int K, int Q, typename Coef>
__device__ inline void rightMultiplyT(Coef coef, const float (&in)[R][K], float (&out)[R][Q]) {
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      float acc = 0.f;
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (coef(q, k) != 0.f) acc += in[r][k] * coef(q, k);
      out[r][q] = acc;
    }
}

template <int M>
__global__ void __launch_bounds__(BLOCK) winogradFilterKernel(const __grid_constant__ WinogradParams p) {
  using W = WinogradMatrices<M>;
  constexpr int A = W::A;
  const int64_t total = p.k * p.c;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(BLOCK) + threadIdx.x; i < total; i += gridDim.x * static_cast<int64_t>(BLOCK)) {
    const int64_t kk = i / p.c, ch = i - kk * p.c;
    float g[3][3];
#pragma unroll
    for (int r = 0; r < 3; ++r)
#pragma unroll
      for (int q = 0; q < 3; ++q)
        g[r][q] = p.flip ? p.src[((ch * p.k + kk) * 3 + (2 - r)) * 3 + (2 - q)] : p.src[(i * 3 + r) * 3 + q];
    float gg[A][3], u[A][A];
    leftMultiply<A, 3, 3>(W::g, g, gg);
    rightMultiplyT<A, 3, A>(W::g, gg, u);
#pragma unroll
    for (int r = 0; r < A; ++r)
#pragma unroll
      for (int q = 0; q < A; ++q) p.dst[((A * r + q) * p.k + kk) * p.c + ch] = u[r][q];
  }
}

template <int M>
__global__ void __launch_bounds__(BLOCK) winogradInputKernel(const __grid_constant__ WinogradParams p) {
  using W = WinogradMatrices<M>;
  constexpr int A = W::A;
  const int64_t tw = (p.ow + M - 1) / M, perImage = p.tr * tw, T = p.n * perImage;
  const int64_t total = p.c * T;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(BLOCK) + threadIdx.x; i < total; i += gridDim.x * static_cast<int64_t>(BLOCK)) {
    const int64_t ch = i / T, t = i - ch * T;
    const int64_t b = t / perImage, rem = t - b * perImage;
    const int64_t ty = p.ty0 + rem / tw, tx = rem % tw;
    const int64_t y0 = M * ty - p.pad, x0 = M * tx - p.pad;
    const float *img = p.src + (b * p.c + ch) * p.h * p.w;
    float d[A][A], e[A][A], v[A][A];
#pragma unroll
    for (int r = 0; r < A; ++r)
#pragma unroll
      for (int q = 0; q < A; ++q) {
        const int64_t y = y0 + r, x = x0 + q;
        d[r][q] = (y >= 0 && y < p.h && x >= 0 && x < p.w) ? img[y * p.w + x] : 0.f;
      }
    leftMultiply<A, A, A>(W::bt, d, e);
    rightMultiplyT<A, A, A>(W::bt, e, v);
#pragma unroll
    for (int r = 0; r < A; ++r)
#pragma unroll
      for (int q = 0; q < A; ++q) p.dst[((A * r + q) * p.c + ch) * T + t] = v[r][q];
  }
}

template <int M>
__global__ void __launch_bounds__(BLOCK) winogradOutputKernel(const __grid_constant__ WinogradParams p) {
  using W = WinogradMatrices<M>;
  constexpr int A = W::A;
  const int64_t tw = (p.ow + M - 1) / M, perImage = p.tr * tw, T = p.n * perImage;
  const int64_t total = p.k * T;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(BLOCK) + threadIdx.x; i < total; i += gridDim.x * static_cast<int64_t>(BLOCK)) {
    const int64_t kk = i / T, t = i - kk * T;
    const int64_t b = t / perImage, rem = t - b * perImage;
    const int64_t ty = p.ty0 + rem / tw, tx = rem % tw;
    float m[A][A], f[M][A], y[M][M];
#pragma unroll
    for (int r = 0; r < A; ++r)
#pragma unroll
      for (int q = 0; q < A; ++q) m[r][q] = p.src[((A * r + q) * p.k + kk) * T + t];
    leftMultiply<M, A, A>(W::at, m, f);
    rightMultiplyT<M, A, M>(W::at, f, y);
    if (p.bias) {
      // A rounded add, never contracted into the transform's last product: the bits of a
      // separate bias add after the convolution.
      const float bias = p.bias[kk];
#pragma unroll
      for (int r = 0; r < M; ++r)
#pragma unroll
        for (int q = 0; q < M; ++q) y[r][q] = __fadd_rn(y[r][q], bias);
    }
    if (p.residual) {
      const float *res = p.residual + (b * p.k + kk) * p.oh * p.ow;
#pragma unroll
      for (int r = 0; r < M; ++r)
#pragma unroll
        for (int q = 0; q < M; ++q) {
          const int64_t oy = M * ty + r, ox = M * tx + q;
          if (oy < p.oh && ox < p.ow) y[r][q] = __fadd_rn(y[r][q], res[oy * p.ow + ox]);
        }
    }
    float *out = p.dst + (b * p.k + kk) * p.oh * p.ow;
    // Neighbouring threads write neighbouring tiles, M floats apart: pairs of floats halve the
    // store instructions (F(6×6)'s rows are 24 bytes, which float4 stores cannot take).
    const bool pairs = (p.ow % 2 == 0) && (reinterpret_cast<uintptr_t>(out) % 8 == 0) && M * tx + M <= p.ow;
#pragma unroll
    for (int r = 0; r < M; ++r) {
      const int64_t oy = M * ty + r;
      if (oy >= p.oh) continue;
      float *row = out + oy * p.ow + M * tx;
      if (pairs) {
#pragma unroll
        for (int q = 0; q < M; q += 2) *reinterpret_cast<float2 *>(row + q) = make_float2(y[r][q], y[r][q + 1]);
      } else {
#pragma unroll
        for (int q = 0; q < M; ++q)
          if (M * tx + q < p.ow) row[q] = y[r][q];
      }
    }
  }
}

/** Eight half-width floats a thread, as one 16-byte load where both pointers allow it. */
__global__ void __launch_bounds__(BLOCK) widenKernel(const __grid_constant__ WidenParams p) {
  const bool vec = (reinterpret_cast<uintptr_t>(p.src) % 16 == 0) && (reinterpret_cast<uintptr_t>(p.dst) % 16 == 0);
  auto widen = [&](uint16_t h) { return widenBits(h, p.type); };
  for (int64_t base = (blockIdx.x * static_cast<int64_t>(BLOCK) + threadIdx.x) * 8; base < p.n;
       base += gridDim.x * static_cast<int64_t>(BLOCK) * 8) {
    if (vec && base + 8 <= p.n) {
      const uint4 raw = *reinterpret_cast<const uint4 *>(p.src + base);
      const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
      float v[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[2 * j] = widen(static_cast<uint16_t>(words[j] & 0xffff));
        v[2 * j + 1] = widen(static_cast<uint16_t>(words[j] >> 16));
      }
      *reinterpret_cast<float4 *>(p.dst + base) = make_float4(v[0], v[1], v[2], v[3]);
      *reinterpret_cast<float4 *>(p.dst + base + 4) = make_float4(v[4], v[5], v[6], v[7]);
    } else {
      for (int64_t j = base; j < base + 8 && j < p.n; ++j) p.dst[j] = widen(p.src[j]);
    }
  }
}

/** The adjoint of im2col, as a gather: each output pixel sums the columns that land on it. */
__global__ void __launch_bounds__(BLOCK) col2imKernel(const __grid_constant__ ConvParams p) {
  const int planes = static_cast<int>(p.n * p.c);
  const int h = static_cast<int>(p.h), w = static_cast<int>(p.w);
  const int kh = static_cast<int>(p.kh), kw = static_cast<int>(p.kw);
  const int oh = static_cast<int>(p.oh), ow = static_cast<int>(p.ow);
  const int stride = static_cast<int>(p.stride), pad = static_cast<int>(p.pad);
  const int64_t colPlane = static_cast<int64_t>(oh) * ow;
  for (int plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float *src = p.src + static_cast<int64_t>(plane) * kh * kw * colPlane;
    float *dst = p.dst + static_cast<int64_t>(plane) * h * w;
    for (int pix = blockIdx.x * BLOCK + threadIdx.x; pix < h * w; pix += gridDim.x * BLOCK) {
      const int y = pix / w;
      const int x = pix - y * w;
      float acc = 0.f;
      for (int ki = 0; ki < kh; ++ki) {
        const int ty = y + pad - ki;
        if (ty < 0) break;
        if (ty % stride) continue;
        const int iy = ty / stride;
        if (iy >= oh) continue;
        for (int kj = 0; kj < kw; ++kj) {
          const int tx = x + pad - kj;
          if (tx < 0) break;
          if (tx % stride) continue;
          const int ix = tx / stride;
          if (ix >= ow) continue;
          acc += src[(ki * kw + kj) * colPlane + iy * ow + ix];
        }
      }
      dst[pix] = acc;
    }
  }
}

}  // namespace

bool ewSmallIndex(const EwParams &p) { return p.n < (int64_t{1} << 31) - BLOCK * LANES; }

cudaError_t launchCompiledElementwise(const EwParams &p, cudaKernel_t kernel, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  const int64_t threads = (p.n + LANES - 1) / LANES;
  void *args[] = {const_cast<EwParams *>(&p)};
  return cudaLaunchKernel(reinterpret_cast<const void *>(kernel), dim3(gridFor(threads)), dim3(BLOCK), args, 0, s);
}

cudaError_t launchElementwise(const EwParams &p, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  const int64_t threads = (p.n + LANES - 1) / LANES;
  const size_t shared = sharedRegBytes(p.fregs, p.qregs);
  const bool small = ewSmallIndex(p);
  if (shared <= SHARED_REG_LIMIT) {
    if (small) elementwiseKernel<int32_t, SharedRegs><<<gridFor(threads), BLOCK, shared, s>>>(p);
    else elementwiseKernel<int64_t, SharedRegs><<<gridFor(threads), BLOCK, shared, s>>>(p);
  } else {
    if (small) elementwiseKernel<int32_t, LocalRegs><<<gridFor(threads), BLOCK, 0, s>>>(p);
    else elementwiseKernel<int64_t, LocalRegs><<<gridFor(threads), BLOCK, 0, s>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launchReduce(const ReduceParams &p, bool rowMode, cudaStream_t s) {
  if (p.nOut == 0) return cudaSuccess;
  if (rowMode) {
    // Short rows: a warp per output; long rows: the whole block.
    if (p.chunk <= 1024) {
      const dim3 grid(warpRowsGrid(p.nOut), p.splits);
      reduceRowKernel<32><<<grid, BLOCK, 0, s>>>(p);
    } else {
      reduceRowKernel<BLOCK><<<dim3(static_cast<unsigned>(p.nOut), p.splits), BLOCK, 0, s>>>(p);
    }
  } else {
    reduceColKernel<<<dim3(static_cast<unsigned>((p.nOut + BLOCK - 1) / BLOCK), p.splits), BLOCK, 0, s>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launchSoftmax(const AxisParams &p, cudaStream_t s) {
  if (p.outer * p.inner == 0) return cudaSuccess;
  if (p.inner == 1) {
    if (p.size <= 1024) softmaxRowKernel<32><<<warpRowsGrid(p.outer), BLOCK, 0, s>>>(p);
    else softmaxRowKernel<BLOCK><<<static_cast<unsigned>(p.outer), BLOCK, 0, s>>>(p);
  } else {
    softmaxColKernel<<<static_cast<unsigned>((p.outer * p.inner + BLOCK - 1) / BLOCK), BLOCK, 0, s>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launchSoftmaxGrad(const SoftmaxGradParams &p, cudaStream_t s) {
  if (p.rows == 0) return cudaSuccess;
  const unsigned grid = warpRowsGrid(p.rows);
  if (p.size <= 32 * 4) softmaxGradWarpKernel<4><<<grid, BLOCK, 0, s>>>(p);
  else if (p.size <= 32 * 16) softmaxGradWarpKernel<16><<<grid, BLOCK, 0, s>>>(p);
  else if (p.size <= 32 * 32) softmaxGradWarpKernel<32><<<grid, BLOCK, 0, s>>>(p);
  else softmaxGradBlockKernel<<<static_cast<unsigned>(p.rows), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchArgMax(const AxisParams &p, cudaStream_t s) {
  if (p.outer * p.inner == 0) return cudaSuccess;
  if (p.inner == 1) argMaxRowKernel<<<static_cast<unsigned>(p.outer), BLOCK, 0, s>>>(p);
  else argMaxColKernel<<<static_cast<unsigned>((p.outer * p.inner + BLOCK - 1) / BLOCK), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchTopK(const AxisParams &p, cudaStream_t s) {
  if (p.outer * p.inner == 0) return cudaSuccess;
  const bool shared = p.size * sizeof(float) <= 48 * 1024;
  const size_t bytes = shared ? p.size * sizeof(float) : 0;
  topKKernel<<<static_cast<unsigned>(p.outer * p.inner), BLOCK, bytes, s>>>(p, shared ? 1 : 0);
  return cudaGetLastError();
}

cudaError_t launchGather(const GatherParams &p, DeviceFault *fault, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  gatherKernel<<<gridFor(p.n), BLOCK, 0, s>>>(p, fault);
  return cudaGetLastError();
}

cudaError_t launchScatterAdd(const GatherParams &p, DeviceFault *fault, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  scatterAddKernel<<<gridFor(p.n), BLOCK, 0, s>>>(p, fault);
  return cudaGetLastError();
}

cudaError_t launchIm2col(const ConvParams &p, cudaStream_t s) {
  const int64_t rows = p.n * p.c * p.kh * p.kw, cols = p.oh * p.ow;
  if (rows * cols == 0) return cudaSuccess;
  const dim3 grid(gridFor((cols + 3) / 4), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  im2colKernel<<<grid, BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchCol2im(const ConvParams &p, cudaStream_t s) {
  const int64_t planes = p.n * p.c, pixels = p.h * p.w;
  if (planes * pixels == 0) return cudaSuccess;
  const dim3 grid(gridFor(pixels), static_cast<unsigned>(std::min<int64_t>(planes, 65535)));
  col2imKernel<<<grid, BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

namespace {
using WinogradKernel = void (*)(WinogradParams);

/** One thread per `threads` item, by the kernel for the program's tile size (2, 4 or 6). */
cudaError_t launchWinograd(WinogradKernel two, WinogradKernel four, WinogradKernel six, int64_t threads,
                           const WinogradParams &p, cudaStream_t s) {
  if (threads == 0) return cudaSuccess;
  (p.tile == 6 ? six : p.tile == 4 ? four : two)<<<gridFor(threads), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}
}  // namespace

cudaError_t launchWinogradFilter(const WinogradParams &p, cudaStream_t s) {
  return launchWinograd(winogradFilterKernel<2>, winogradFilterKernel<4>, winogradFilterKernel<6>, p.k * p.c, p, s);
}

cudaError_t launchWinogradInput(const WinogradParams &p, cudaStream_t s) {
  const int64_t tiles = p.n * p.tr * ((p.ow + p.tile - 1) / p.tile);
  return launchWinograd(winogradInputKernel<2>, winogradInputKernel<4>, winogradInputKernel<6>, p.c * tiles, p, s);
}

cudaError_t launchWinogradOutput(const WinogradParams &p, cudaStream_t s) {
  const int64_t tiles = p.n * p.tr * ((p.ow + p.tile - 1) / p.tile);
  return launchWinograd(winogradOutputKernel<2>, winogradOutputKernel<4>, winogradOutputKernel<6>, p.k * tiles, p, s);
}

cudaError_t launchSoftmaxHeadMean(const HeadMeanParams &p, cudaStream_t s) {
  const int64_t rows = p.nb * p.rows;
  if (rows == 0 || p.size == 0) return cudaSuccess;
  const unsigned grid = warpRowsGrid(rows);
  if (p.size <= 32 * 16) softmaxHeadMeanKernel<16><<<grid, BLOCK, 0, s>>>(p);
  else softmaxHeadMeanKernel<SOFTMAX_HEAD_MEAN_MAX / 32><<<grid, BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchMoments(const MomentsParams &p, cudaStream_t s) {
  momentsKernel<<<dim3(static_cast<unsigned>(p.nOut), p.splits), BLOCK, 0, s>>>(p);
  if (p.splits > 1) momentsCombineKernel<<<static_cast<unsigned>((p.nOut + BLOCK - 1) / BLOCK), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchGeglu(const GegluParams &p, cudaStream_t s) {
  gegluKernel<<<gridFor(p.rows * p.inner), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchLayerNorm(const LayerNormParams &p, cudaStream_t s) {
  const unsigned rows = static_cast<unsigned>(p.rows);
  if (p.size <= NORM_THREADS * 4) layerNormRowKernel<4><<<rows, NORM_THREADS, 0, s>>>(p);
  else if (p.size <= NORM_THREADS * 8) layerNormRowKernel<8><<<rows, NORM_THREADS, 0, s>>>(p);
  else if (p.size <= NORM_THREADS * NORM_MAX_PER) layerNormRowKernel<NORM_MAX_PER><<<rows, NORM_THREADS, 0, s>>>(p);
  else layerNormLongKernel<<<warpRowsGrid(p.rows), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchWiden(const WidenParams &p, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  widenKernel<<<gridFor((p.n + 7) / 8), BLOCK, 0, s>>>(p);
  return cudaGetLastError();
}

namespace {
__global__ void holdKernel(uint64_t ns) {
  uint64_t start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}
}  // namespace

cudaError_t launchHold(uint64_t ns, cudaStream_t s) {
  holdKernel<<<1, 1, 0, s>>>(ns);
  return cudaGetLastError();
}

}  // namespace skp
