// Binds cuBLAS: statically linked in release builds (the addon then needs only the NVIDIA
// driver), or opened at run time in builds made where cuBLAS is not installed.
#include <string>
#include "cublas_api.h"

#ifdef SKP_CUBLAS_STATIC
extern "C" {
cublasStatus_t cublasCreate_v2(cublasHandle_t *);
cublasStatus_t cublasDestroy_v2(cublasHandle_t);
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t);
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void *, size_t);
cublasStatus_t cublasGetVersion_v2(cublasHandle_t, int *);
const char *cublasGetStatusString(cublasStatus_t);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                          const void *, const void *, cudaDataType, int, long long, const void *,
                                          cudaDataType, int, long long, const void *, void *, cudaDataType, int,
                                          long long, int, cublasComputeType_t, cublasGemmAlgo_t);
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                                   const void *const[], cudaDataType, int, const void *const[], cudaDataType, int,
                                   const void *, void *const[], cudaDataType, int, int, cublasComputeType_t,
                                   cublasGemmAlgo_t);
}

namespace blas {
const char *linkMode() { return "static"; }

std::string load(Api &api, const std::string &) {
  api.create = cublasCreate_v2;
  api.destroy = cublasDestroy_v2;
  api.setStream = cublasSetStream_v2;
  api.setWorkspace = cublasSetWorkspace_v2;
  api.getVersion = cublasGetVersion_v2;
  api.statusString = cublasGetStatusString;
  api.gemmStridedBatchedEx = cublasGemmStridedBatchedEx;
  api.gemmBatchedEx = cublasGemmBatchedEx;
  return "";
}
}  // namespace blas

#else
#include "dl.h"

namespace blas {
const char *linkMode() { return "dlopen"; }

std::string load(Api &api, const std::string &path) {
  // cuBLAS 13 first (what this addon is built and tested with), then 12, whose ABI for
  // these calls is the same.
  std::string tried;
  void *lib = skp::openLibrary(path, {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}, tried);
  if (!lib) return "cuBLAS shared library not found (" + tried + "set SKP_CUBLAS_PATH or use a statically linked build)";
  std::string missing;
  skp::bindSymbol(lib, "cublasCreate_v2", api.create, missing);
  skp::bindSymbol(lib, "cublasDestroy_v2", api.destroy, missing);
  skp::bindSymbol(lib, "cublasSetStream_v2", api.setStream, missing);
  skp::bindSymbol(lib, "cublasSetWorkspace_v2", api.setWorkspace, missing);
  skp::bindSymbol(lib, "cublasGetVersion_v2", api.getVersion, missing);
  skp::bindSymbol(lib, "cublasGetStatusString", api.statusString, missing);
  skp::bindSymbol(lib, "cublasGemmStridedBatchedEx", api.gemmStridedBatchedEx, missing);
  skp::bindSymbol(lib, "cublasGemmBatchedEx", api.gemmBatchedEx, missing);
  if (!missing.empty()) return "cuBLAS library lacks " + missing;
  return "";
}
}  // namespace blas
#endif
