// Device state shared by the addon: one stream, one cuBLAS handle, a table of device
// allocations, and compiled programs (flat instruction lists decoded from TypeScript).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cublas_api.h"
#include "ew_jit.h"
#include "kernels.h"

namespace skp {

/** An error with the instruction it happened at (-1 when none). */
struct Failure {
  std::string message;
  int step = -1;
  bool sticky = false;  // the CUDA context is lost; nothing more can run in this process
};

struct GemmCall {
  bool tf32;  // TF32 tensor cores (the fast precision's UNet GEMMs); else IEEE float32 products
  cublasOperation_t transA, transB;
  int m, n, k, lda, ldb, ldc, batch;
  long long strideA, strideB, strideC;
  float alpha, beta;
  const float *a;
  const float *b;
  float *c;
  // Pointer-array batches (irregular broadcasting): device arrays of per-batch pointers.
  const void **aPtrs = nullptr;
  const void **bPtrs = nullptr;
  void **cPtrs = nullptr;
};

struct Copy2D {
  void *dst;
  const void *src;
  size_t dpitch, spitch, width, height;
};

enum class Kind {
  Elementwise,
  Reduce,
  Softmax,
  ArgMax,
  TopK,
  Gather,
  ScatterAdd,
  Copy,
  Gemm,
  Im2col,
  Col2im,
  SoftmaxGrad,
  WinogradFilter,
  WinogradInput,
  WinogradOutput,
  Widen,
  SoftmaxHeadMean,
  LayerNorm,
  Moments,
  Geglu
};

struct Instr {
  Kind kind;
  cudaKernel_t compiled = nullptr;  // Elementwise: the program's own kernel, when one was compiled
  bool rowMode = false;
  EwParams ew;
  ReduceParams reduce;
  AxisParams axis;
  SoftmaxGradParams softmaxGrad;
  GatherParams gather;
  ConvParams conv;
  WinogradParams winograd;
  WidenParams widen;
  HeadMeanParams headMean;
  LayerNormParams layerNorm;
  MomentsParams moments;
  GegluParams geglu;
  GemmCall gemm;
  Copy2D copy;
};

struct Program {
  std::vector<Instr> instrs;
  void *pointerArrays = nullptr;  // device memory behind GemmCall's pointer arrays
  cudaGraphExec_t graph = nullptr;
  bool useGraph = false;
};

class Device {
 public:
  /**
   * Starts CUDA and cuBLAS; returns an empty string on success, else why it cannot. With
   * `compileElementwise`, loads NVRTC to compile elementwise programs (elementwise() says how they run),
   * keeping what it compiles in `kernelCacheDir` where that is not empty.
   */
  std::string init(const std::string &cublasPath, const std::string &nvrtcPath, bool compileElementwise,
                   const std::string &kernelCacheDir);
  /** The compiler of elementwise programs, for its counts. */
  const EwJit &jit() const { return jit_; }
  /** How elementwise programs run: compiled (by what), or interpreted and why. */
  const std::string &elementwise() const { return elementwise_; }
  bool ready() const { return stream_ != nullptr; }
  bool broken() const { return broken_; }

  /** `poison` fills the bytes with 0xff (NaN as float32), so a test sees any value a program never wrote. */
  Failure alloc(size_t bytes, bool poison, int32_t &id);
  void release(int32_t id);
  void *pointer(int32_t id, uint64_t offset, std::string &err) const;

  Failure upload(void *dst, const void *src, size_t bytes);

  /** `interpret`: elementwise programs by the interpreter even where they could be compiled (for checks). */
  Failure createProgram(const double *code, size_t length, bool useGraph, bool interpret, int32_t &id);
  void destroyProgram(int32_t id);

  struct Transfer {
    void *device;
    void *host;
    size_t bytes;
  };
  /**
   * Feeds in, one launch sequence, outputs out; called off the JS thread. With `stepMs`, each
   * instruction is timed with events (launches issued directly, not from a captured graph).
   */
  Failure run(int32_t program, const std::vector<Transfer> &feeds, const std::vector<Transfer> &outputs,
              bool syncEachStep, std::vector<float> *stepMs);

  std::string cublasVersion() const;

 private:
  Failure check(cudaError_t e, const char *what, int step = -1);
  Failure launchAll(Program &p, bool syncEachStep, std::vector<cudaEvent_t> *events);
  Failure gemm(const GemmCall &g, int step);

  cudaStream_t stream_ = nullptr;
  EwJit jit_;
  std::string elementwise_;
  cublasHandle_t blas_ = nullptr;
  blas::Api api_;
  void *workspace_ = nullptr;
  DeviceFault *fault_ = nullptr;
  bool broken_ = false;
  int32_t nextId_ = 1;
  std::unordered_map<int32_t, std::pair<void *, size_t>> allocs_;
  std::unordered_map<int32_t, std::unique_ptr<Program>> programs_;
};

}  // namespace skp
