// Kernel parameter blocks and launchers. Shapes and strides are worked out in TypeScript
// (native/cuda/plan.ts); the kernels only follow them.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

#include "ew_ops.h"  // EwOp, generated from native/cuda/program.ts
#include "ew_params.h"

namespace skp {

// Reductions: the input is seen as kept dims × reduced dims, each with its own strides.
// `splits` > 1 makes each output a row of partial results: out[o * splits + s].
// REDUCE_CENTRED_SQUARES sums (x − c)² with c one value per output (a norm's variance without
// materialising its deviations); its partial sums are summed by REDUCE_SUM.
enum ReduceKind : int32_t { REDUCE_SUM = 0, REDUCE_MAX = 1, REDUCE_CENTRED_SQUARES = 2 };

struct ReduceParams {
  const float *in;
  float *out;
  const float *center;  // REDUCE_CENTRED_SQUARES: one value per output, in output order
  int32_t kind;
  int32_t keepRank;
  int32_t redRank;
  int32_t splits;
  int64_t nOut;
  int64_t nRed;
  int64_t chunk;  // reduced elements per split
  float scale;
  int64_t keepDims[MAX_RANK];
  int64_t keepStrides[MAX_RANK];
  int64_t redDims[MAX_RANK];
  int64_t redStrides[MAX_RANK];
};

struct AxisParams {  // softmax, argMax, topK, softmax gradient: input seen as [outer, size, inner]
  const float *in;
  void *out;
  int64_t outer, size, inner;
  int32_t k;
  int32_t largest;
};

struct GatherParams {  // gatherElements and scatterAddElements
  const void *data;  // gather: source; scatter: updates
  const int64_t *idx;
  void *out;
  int32_t elemSize;
  int32_t rank;
  int32_t axis;
  int32_t step;  // instruction index, reported on a bad index
  int64_t axisSize;
  int64_t n;
  int64_t idxDims[MAX_RANK];
  int64_t strides[MAX_RANK];  // of the indexed tensor (gather: data; scatter: out)
};

struct ConvParams {  // im2col / col2im for NCHW
  const float *src;
  float *dst;
  int64_t n, c, h, w;  // im2col: input image; col2im: output image
  int64_t kh, kw, stride, pad;
  int64_t oh, ow;  // im2col: output spatial; col2im: the columns' spatial (the convTranspose input)
  int64_t y0;  // im2col: first output row (large images are lowered a band of rows at a time)
};

struct WinogradParams {  // one transform of a Winograd F(M×M, 3×3) convolution (program.ts, winograd)
  const float *src;
  float *dst;
  int64_t n, c, k;  // images, input channels, output channels
  int64_t h, w;  // input spatial
  int64_t pad;  // input row M·ty − pad + i feeds tile row ty
  int64_t oh, ow;  // output spatial
  int64_t ty0, tr;  // the band: first tile row and tile rows
  int64_t tile;  // M: output pixels to a tile's side, 2, 4 or 6
  int64_t flip;  // filter: a transposed convolution's [c, k, 3, 3] kernel, turned 180°
  const float *bias;      // output: [k] added to each output channel's values, or null
  const float *residual;  // output: a tensor of the output's shape added after the bias, or null
};

struct SoftmaxGradParams {  // dS = P ⊙ (dP − Σ P ⊙ dP) along rows, into grad
  float *probs;
  float *grad;
  int64_t rows, size;
  // When set, each row's dP adds share / heads first: the maps' gradient [nb, rowsPerHead, size]
  // (batch element b at b·shareBatchStride) that every head of row (b, h, r) reads alike.
  const float *share;
  int64_t heads, rowsPerHead, shareBatchStride;
  int32_t shareOnly;   // dP is the share alone: grad is only written
  int32_t fromScores;  // probs holds the scores: P = softmax(rows) first, written in their place (rows of at most SOFTMAX_GRAD_FROM_SCORES_MAX)
};

struct HeadMeanParams {  // softmax of [nb, heads, rows, size] rows in place, their mean over heads into [nb, rows, size]
  float *probs;
  float *maps;
  int64_t nb, heads, rows, size;
  float scale;  // 1 / heads
  int32_t keepProbs;  // whether the probabilities replace the scores (read after), or are dropped
};

struct MomentsParams {  // each output's mean and variance over a contiguous run of the input, in one pass
  const float *in;
  float *mean;
  float *variance;
  double *partial;  // splits > 1: [nOut, splits, 2] sums, combined by a second kernel
  int32_t keepRank;
  int32_t splits;
  int64_t nOut;
  int64_t nRed;   // the run's length (adjacent values)
  int64_t chunk;  // values per split
  int64_t keepDims[MAX_RANK];
  int64_t keepStrides[MAX_RANK];
};

struct GegluParams {  // rows of h [rows, 2·inner] + bias as halves [a, z]: a · GELU(z), or the gradient where grad is set
  const float *h;
  const void *bias;  // [2·inner], of biasType (a weight may stay at half width)
  DType biasType;
  const float *grad;  // gradient: the output's gradient [rows, inner]
  float *out;
  int64_t rows, inner;
};

struct LayerNormParams {  // rows of [rows, size]: layer norm, or its x gradient where grad is set
  const float *x;
  const void *weight;  // [size], of weightType (a weight may stay at half width)
  DType weightType;
  const void *bias;  // forward: [size], of biasType
  DType biasType;
  const float *grad;  // gradient: the output's gradient, like x
  float *out;
  int64_t rows, size;
  float eps;
};

struct WidenParams {
  const uint16_t *src;
  float *dst;
  int64_t n;
  DType type;  // F16 or BF16
};

/** A fault found by a kernel (an index out of range): code 0 means none. */
struct DeviceFault {
  int32_t code;
  int32_t step;
  int64_t value;
};

cudaError_t launchElementwise(const EwParams &p, cudaStream_t s);
/** Whether a program's element indices fit 32 bits (its kernels then index with int). */
bool ewSmallIndex(const EwParams &p);
/** A program by its own compiled kernel (ew_jit.h), with the interpreter's launch shape. */
cudaError_t launchCompiledElementwise(const EwParams &p, cudaKernel_t kernel, cudaStream_t s);
cudaError_t launchReduce(const ReduceParams &p, bool rowMode, cudaStream_t s);
cudaError_t launchSoftmax(const AxisParams &p, cudaStream_t s);
/** Rows of [rows, size]: `probs` the probabilities P (or the scores), `grad` their gradient dP (plus the share, if any), replaced by P ⊙ (dP − Σ P ⊙ dP). */
cudaError_t launchSoftmaxGrad(const SoftmaxGradParams &p, cudaStream_t s);
constexpr int64_t SOFTMAX_GRAD_FROM_SCORES_MAX = 1024;
/** Rows of up to SOFTMAX_HEAD_MEAN_MAX values. */
cudaError_t launchSoftmaxHeadMean(const HeadMeanParams &p, cudaStream_t s);
constexpr int64_t SOFTMAX_HEAD_MEAN_MAX = 1024;
/** mean = Σx / n and variance = Σ(x − mean)² / n of each output's run, from one read of the input. */
cudaError_t launchMoments(const MomentsParams &p, cudaStream_t s);
/** out = a · GELU(z) for each row's halves [a, z] of h + bias, or with grad set, the gradient with respect to h. */
cudaError_t launchGeglu(const GegluParams &p, cudaStream_t s);
/** out = ((x − μ) / √(σ² + ε)) · weight + bias per row, or with grad set, the gradient with respect to x. */
cudaError_t launchLayerNorm(const LayerNormParams &p, cudaStream_t s);
cudaError_t launchArgMax(const AxisParams &p, cudaStream_t s);
cudaError_t launchTopK(const AxisParams &p, cudaStream_t s);
cudaError_t launchGather(const GatherParams &p, DeviceFault *fault, cudaStream_t s);
cudaError_t launchScatterAdd(const GatherParams &p, DeviceFault *fault, cudaStream_t s);
cudaError_t launchIm2col(const ConvParams &p, cudaStream_t s);
cudaError_t launchCol2im(const ConvParams &p, cudaStream_t s);
cudaError_t launchWinogradFilter(const WinogradParams &p, cudaStream_t s);
cudaError_t launchWinogradInput(const WinogradParams &p, cudaStream_t s);
cudaError_t launchWinogradOutput(const WinogradParams &p, cudaStream_t s);
cudaError_t launchWiden(const WidenParams &p, cudaStream_t s);
/** Holds the stream for `ns` nanoseconds of GPU time (a profiled run's head start, device.cu). */
cudaError_t launchHold(uint64_t ns, cudaStream_t s);

}  // namespace skp
