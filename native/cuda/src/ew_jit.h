// Kernels compiled at run time for fused elementwise programs. The interpreter (kernels.cu)
// dispatches every instruction of a program for every group of elements and keeps its registers
// in memory; a program compiled on its own runs as straight-line code with registers in
// registers, the same arithmetic from the same source (ew_kernel.cuh), 2–5× faster on long
// programs. NVRTC, the CUDA toolkit's run-time compiler, is loaded where it is installed;
// elsewhere the interpreter runs every program.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels.h"

namespace skp {

class EwJit {
 public:
  /**
   * Loads NVRTC for a GPU of compute capability major.minor; returns why it cannot compile, or "".
   * `cacheDir`, where not empty, keeps compiled kernels across processes (an existing folder).
   */
  std::string init(const std::string &nvrtcPath, int major, int minor, const std::string &cacheDir);
  bool ready() const { return compile_ != nullptr; }
  /** What compiles the kernels, e.g. "NVRTC 13.0 for sm_90". */
  const std::string &describe() const { return described_; }

  /**
   * A kernel for each program, in order. Programs not seen before in this process are compiled
   * together (in parallel batches); returns an error message (NVRTC's log) or "".
   */
  std::string kernelsFor(const std::vector<const EwParams *> &programs, std::vector<cudaKernel_t> &out);

  /** NVRTC runs made and compiled batches read back from the cache folder, in this process. */
  size_t compiledBatches() const { return compiled_; }
  size_t cachedBatches() const { return cached_; }

 private:
  using CreateFn = int (*)(void **, const char *, const char *, int, const char *const *, const char *const *);
  using CompileFn = int (*)(void *, int, const char *const *);
  using SizeFn = int (*)(void *, size_t *);
  using GetFn = int (*)(void *, char *);
  using DestroyFn = int (*)(void **);
  using ErrorFn = const char *(*)(int);

  /**
   * The kernels of `programs` as machine code: read from the cache folder where an earlier
   * process compiled the same source (`fromCache`), else one NVRTC run. Returns NVRTC's complaint or "".
   */
  std::string compileBatch(const std::vector<const EwParams *> &programs, std::string &cubin, bool useCache,
                           bool &fromCache);

  /** Loads one batch's machine code and finds its `count` kernels, or says why it cannot. */
  std::string loadBatch(const std::string &cubin, size_t count, std::vector<cudaKernel_t> &kernels);

  CreateFn create_ = nullptr;
  CompileFn compile_ = nullptr;
  SizeFn cubinSize_ = nullptr;
  GetFn cubin_ = nullptr;
  SizeFn logSize_ = nullptr;
  GetFn log_ = nullptr;
  DestroyFn destroy_ = nullptr;
  ErrorFn error_ = nullptr;
  std::string arch_;
  std::string described_;
  std::string cacheDir_;
  std::atomic<size_t> compiled_{0}, cached_{0};
  std::mutex mu_;
  std::unordered_map<std::string, cudaKernel_t> cache_;
  std::vector<cudaLibrary_t> libraries_;  // kept loaded: their kernels serve every later program
};

/** What distinguishes one compiled program from another: its code, its inputs' types and access, its index width. */
std::string ewProgramKey(const EwParams &p);

}  // namespace skp
