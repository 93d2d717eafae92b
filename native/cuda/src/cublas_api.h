// The few cuBLAS entry points we call, declared here so the addon compiles where cuBLAS's
// headers are absent (CI, this workplace's CPU machines). The values and signatures are
// cuBLAS's stable C ABI (cublas_api.h, cuBLAS 11 through 13).
#pragma once
#include <cuda_runtime.h>
#include <library_types.h>

#include <string>

extern "C" {
struct cublasContext;
typedef struct cublasContext *cublasHandle_t;
typedef int cublasStatus_t;  // 0 = CUBLAS_STATUS_SUCCESS
typedef int cublasOperation_t;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;
}

namespace blas {
constexpr cublasOperation_t OP_N = 0;
constexpr cublasOperation_t OP_T = 1;
constexpr cublasComputeType_t COMPUTE_32F_PEDANTIC = 69;
constexpr cublasComputeType_t COMPUTE_32F_FAST_TF32 = 77;
constexpr cublasGemmAlgo_t GEMM_DEFAULT = -1;

using CreateFn = cublasStatus_t (*)(cublasHandle_t *);
using DestroyFn = cublasStatus_t (*)(cublasHandle_t);
using SetStreamFn = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
using SetWorkspaceFn = cublasStatus_t (*)(cublasHandle_t, void *, size_t);
using GetVersionFn = cublasStatus_t (*)(cublasHandle_t, int *);
using StatusStringFn = const char *(*)(cublasStatus_t);
using GemmStridedBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                                  int, const void *, const void *, cudaDataType, int, long long,
                                                  const void *, cudaDataType, int, long long, const void *, void *,
                                                  cudaDataType, int, long long, int, cublasComputeType_t,
                                                  cublasGemmAlgo_t);
using GemmBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                           const void *, const void *const[], cudaDataType, int, const void *const[],
                                           cudaDataType, int, const void *, void *const[], cudaDataType, int, int,
                                           cublasComputeType_t, cublasGemmAlgo_t);

/** Entry points, bound either at link time (static cuBLAS) or by dlopen. */
struct Api {
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn setStream = nullptr;
  SetWorkspaceFn setWorkspace = nullptr;
  GetVersionFn getVersion = nullptr;
  StatusStringFn statusString = nullptr;
  GemmStridedBatchedExFn gemmStridedBatchedEx = nullptr;
  GemmBatchedExFn gemmBatchedEx = nullptr;
};

/** How this build reaches cuBLAS: "static" or "dlopen". */
const char *linkMode();

/**
 * Binds the entry points. `path` (may be empty) names the shared library to try first in
 * dlopen builds. Returns an empty string on success, else why cuBLAS is unusable.
 */
std::string load(Api &api, const std::string &path);
}  // namespace blas
