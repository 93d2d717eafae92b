// N-API surface of the CUDA addon. Plain C N-API (no node-addon-api) so one binary loads in
// Node and in Electron. JS is trusted here: native/cuda/*.ts validates everything first;
// checks below only keep a bug there from corrupting memory.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "device.h"

#ifndef SKP_ARCHS
#define SKP_ARCHS "unknown"
#endif

namespace {

skp::Device device;
bool busy = false;

#define NAPI_OK(call)                                  \
  do {                                                 \
    if ((call) != napi_ok) return throwLastError(env); \
  } while (0)

napi_value throwLastError(napi_env env) {
  const napi_extended_error_info *info = nullptr;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "SKP_CUDA_NAPI", info && info->error_message ? info->error_message : "N-API call failed");
  return nullptr;
}

napi_value throwError(napi_env env, const std::string &msg) {
  napi_throw_error(env, "SKP_CUDA", msg.c_str());
  return nullptr;
}

napi_value makeError(napi_env env, const skp::Failure &f) {
  napi_value msg, err, step, sticky;
  napi_create_string_utf8(env, f.message.c_str(), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, nullptr, msg, &err);
  napi_create_int32(env, f.step, &step);
  napi_get_boolean(env, f.sticky, &sticky);
  napi_set_named_property(env, err, "step", step);
  napi_set_named_property(env, err, "sticky", sticky);
  return err;
}

napi_value throwFailure(napi_env env, const skp::Failure &f) {
  napi_throw(env, makeError(env, f));
  return nullptr;
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  std::vector<napi_value> argv(want);
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr);
  if (argc < want) argv.resize(argc);
  return argv;
}

bool getNumber(napi_env env, napi_value v, double &out) { return napi_get_value_double(env, v, &out) == napi_ok; }

bool getString(napi_env env, napi_value v, std::string &out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out.resize(len);
  return napi_get_value_string_utf8(env, v, out.data(), len + 1, &len) == napi_ok;
}

/** Bytes of any typed array or ArrayBuffer view. */
bool getBytes(napi_env env, napi_value v, void *&data, size_t &bytes) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t length;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return false;
    size_t width = 1;
    switch (type) {
      case napi_int16_array:
      case napi_uint16_array: width = 2; break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array: width = 4; break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array: width = 8; break;
      default: width = 1;
    }
    bytes = length * width;
    return true;
  }
  napi_is_dataview(env, v, &is);
  if (is) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, &bytes, &data, &ab, &offset) == napi_ok;
  }
  return false;
}

void setNumber(napi_env env, napi_value obj, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

void setString(napi_env env, napi_value obj, const char *name, const std::string &value) {
  napi_value v;
  napi_create_string_utf8(env, value.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, name, v);
}

std::string versionString(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// probe(): what the machine offers, without throwing. ------------------------------------------
napi_value Probe(napi_env env, napi_callback_info) {
  napi_value out;
  NAPI_OK(napi_create_object(env, &out));
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  setNumber(env, out, "driverVersion", driver);
  setNumber(env, out, "runtimeVersion", runtime);
  std::string problem;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (driver == 0) {
    problem = "no NVIDIA driver is installed (libcuda.so.1 not found)";
  } else if (e == cudaErrorInsufficientDriver || driver < runtime) {
    problem = "the NVIDIA driver supports CUDA " + versionString(driver) + " but this addon needs CUDA " +
              versionString(runtime) + "; update the driver (580 or newer for CUDA 13)";
  } else if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    problem = "no NVIDIA GPU found";
  } else if (e != cudaSuccess) {
    problem = std::string("CUDA cannot start: ") + cudaGetErrorString(e);
  }
  if (e != cudaSuccess) cudaGetLastError();
  setNumber(env, out, "deviceCount", count);
  if (problem.empty()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      setString(env, out, "name", prop.name);
      setNumber(env, out, "major", prop.major);
      setNumber(env, out, "minor", prop.minor);
      setNumber(env, out, "multiprocessors", prop.multiProcessorCount);
      setNumber(env, out, "totalMemory", static_cast<double>(prop.totalGlobalMem));
      size_t freeB = 0, totalB = 0;
      if (cudaMemGetInfo(&freeB, &totalB) == cudaSuccess) setNumber(env, out, "freeMemory", static_cast<double>(freeB));
      else cudaGetLastError();
    }
  }
  if (!problem.empty()) setString(env, out, "problem", problem);
  return out;
}

napi_value BuildInfo(napi_env env, napi_callback_info) {
  napi_value out;
  NAPI_OK(napi_create_object(env, &out));
  setString(env, out, "cublas", blas::linkMode());
  setString(env, out, "archs", SKP_ARCHS);
  setNumber(env, out, "cudaRuntime", CUDART_VERSION);
  return out;
}

napi_value Init(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 4);
  std::string cublasPath, nvrtcPath, kernelCacheDir;
  bool compileElementwise = true;
  if (argv.size() > 0) getString(env, argv[0], cublasPath);
  if (argv.size() > 1) getString(env, argv[1], nvrtcPath);
  if (argv.size() > 2) napi_get_value_bool(env, argv[2], &compileElementwise);
  if (argv.size() > 3) getString(env, argv[3], kernelCacheDir);
  const std::string err = device.init(cublasPath, nvrtcPath, compileElementwise, kernelCacheDir);
  if (!err.empty()) return throwError(env, err);
  napi_value out;
  NAPI_OK(napi_create_object(env, &out));
  setString(env, out, "cublasVersion", device.cublasVersion());
  setString(env, out, "elementwise", device.elementwise());
  return out;
}

napi_value ElementwiseKernels(napi_env env, napi_callback_info) {
  napi_value out;
  NAPI_OK(napi_create_object(env, &out));
  setNumber(env, out, "compiledBatches", static_cast<double>(device.jit().compiledBatches()));
  setNumber(env, out, "cachedBatches", static_cast<double>(device.jit().cachedBatches()));
  return out;
}

napi_value MemInfo(napi_env env, napi_callback_info) {
  size_t freeB = 0, totalB = 0;
  const cudaError_t e = cudaMemGetInfo(&freeB, &totalB);
  if (e != cudaSuccess) return throwError(env, std::string("cudaMemGetInfo: ") + cudaGetErrorString(e));
  napi_value out;
  NAPI_OK(napi_create_object(env, &out));
  setNumber(env, out, "free", static_cast<double>(freeB));
  setNumber(env, out, "total", static_cast<double>(totalB));
  return out;
}

// Allocations and programs are handed to JS as int32 ids. ------------------------------------
napi_value newHandle(napi_env env, const skp::Failure &f, int32_t id) {
  if (!f.message.empty()) return throwFailure(env, f);
  napi_value out;
  NAPI_OK(napi_create_int32(env, id, &out));
  return out;
}

/** free(id) and destroyProgram(id): never while a run is in flight, which may be using the handle. */
template <typename Release>
napi_value releaseHandle(napi_env env, napi_callback_info info, const std::string &name, Release release) {
  auto argv = args(env, info, 1);
  double id;
  if (argv.size() < 1 || !getNumber(env, argv[0], id)) return throwError(env, name + "(id)");
  if (busy) return throwError(env, name + "() while a run is in flight");
  release(static_cast<int32_t>(id));
  return nullptr;
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 2);
  double bytes;
  if (argv.size() < 1 || !getNumber(env, argv[0], bytes) || bytes < 0) return throwError(env, "alloc(bytes, poison)");
  bool poison = false;
  if (argv.size() > 1) napi_get_value_bool(env, argv[1], &poison);
  int32_t id = 0;
  const skp::Failure f = device.alloc(static_cast<size_t>(bytes), poison, id);
  return newHandle(env, f, id);
}

napi_value Free(napi_env env, napi_callback_info info) {
  return releaseHandle(env, info, "free", [](int32_t id) { device.release(id); });
}

void *resolve(napi_env env, napi_value idV, napi_value offV, size_t bytes, std::string &err) {
  double id, off;
  if (!getNumber(env, idV, id) || !getNumber(env, offV, off)) {
    err = "allocation id and offset must be numbers";
    return nullptr;
  }
  void *end = device.pointer(static_cast<int32_t>(id), static_cast<uint64_t>(off) + bytes, err);
  if (!end) return nullptr;
  return device.pointer(static_cast<int32_t>(id), static_cast<uint64_t>(off), err);
}

napi_value Upload(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 3);
  void *data;
  size_t bytes;
  if (argv.size() < 3 || !getBytes(env, argv[2], data, bytes)) return throwError(env, "upload(id, offset, typedArray)");
  std::string err;
  void *dst = resolve(env, argv[0], argv[1], bytes, err);
  if (!dst) return throwError(env, err);
  const skp::Failure f = device.upload(dst, data, bytes);
  if (!f.message.empty()) return throwFailure(env, f);
  return nullptr;
}

napi_value CreateProgram(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 3);
  void *data;
  size_t bytes;
  bool useGraph = false, interpret = false;
  if (argv.size() < 1 || !getBytes(env, argv[0], data, bytes))
    return throwError(env, "createProgram(Float64Array, useGraph, interpretElementwise)");
  if (argv.size() > 1) napi_get_value_bool(env, argv[1], &useGraph);
  if (argv.size() > 2) napi_get_value_bool(env, argv[2], &interpret);
  int32_t id = 0;
  const skp::Failure f = device.createProgram(static_cast<const double *>(data), bytes / 8, useGraph, interpret, id);
  return newHandle(env, f, id);
}

napi_value DestroyProgram(napi_env env, napi_callback_info info) {
  return releaseHandle(env, info, "destroyProgram", [](int32_t id) { device.destroyProgram(id); });
}

// run(): feeds in, launches, outputs out, off the JS thread. ----------------------------------
struct RunWork {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  int32_t program = 0;
  bool syncEachStep = false;
  bool profile = false;
  std::vector<float> stepMs;
  std::vector<skp::Device::Transfer> feeds, outputs;
  std::vector<napi_ref> keep;  // feed arrays and output buffers stay alive while the GPU uses them
  skp::Failure failure;
};

void RunExecute(napi_env, void *data) {
  auto *w = static_cast<RunWork *>(data);
  w->failure = device.run(w->program, w->feeds, w->outputs, w->syncEachStep, w->profile ? &w->stepMs : nullptr);
}

void RunComplete(napi_env env, napi_status status, void *data) {
  auto *w = static_cast<RunWork *>(data);
  busy = false;
  if (status != napi_ok && w->failure.message.empty()) w->failure.message = "run was cancelled";
  if (!w->failure.message.empty()) {
    napi_reject_deferred(env, w->deferred, makeError(env, w->failure));
  } else {
    napi_value arr;
    napi_create_array_with_length(env, w->outputs.size(), &arr);
    const size_t firstOut = w->keep.size() - w->outputs.size();
    for (size_t i = 0; i < w->outputs.size(); ++i) {
      napi_value buf;
      napi_get_reference_value(env, w->keep[firstOut + i], &buf);
      napi_set_element(env, arr, static_cast<uint32_t>(i), buf);
    }
    if (w->profile) {
      void *data;
      napi_value ab, times;
      napi_create_arraybuffer(env, w->stepMs.size() * sizeof(double), &data, &ab);
      for (size_t i = 0; i < w->stepMs.size(); ++i) static_cast<double *>(data)[i] = w->stepMs[i];
      napi_create_typedarray(env, napi_float64_array, w->stepMs.size(), ab, 0, &times);
      napi_set_named_property(env, arr, "stepMs", times);
    }
    napi_resolve_deferred(env, w->deferred, arr);
  }
  for (napi_ref r : w->keep) napi_delete_reference(env, r);
  napi_delete_async_work(env, w->work);
  delete w;
}

napi_value Run(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 5);
  if (argv.size() < 3) return throwError(env, "run(program, feeds, outputs, syncEachStep, profile)");
  if (busy) return throwError(env, "run() while another run is in flight");
  auto *w = new RunWork();
  double prog;
  getNumber(env, argv[0], prog);
  w->program = static_cast<int32_t>(prog);
  if (argv.size() > 3) napi_get_value_bool(env, argv[3], &w->syncEachStep);
  if (argv.size() > 4) napi_get_value_bool(env, argv[4], &w->profile);
  auto fail = [&](const std::string &msg) {
    for (napi_ref r : w->keep) napi_delete_reference(env, r);
    delete w;
    return throwError(env, msg);
  };
  // Feeds and outputs are [allocation id, offset, typed array or byte count].
  auto entry = [&](napi_value list, uint32_t i, napi_value &idV, napi_value &offV, napi_value &third) {
    napi_value item;
    napi_get_element(env, list, i, &item);
    napi_get_element(env, item, 0, &idV);
    napi_get_element(env, item, 1, &offV);
    napi_get_element(env, item, 2, &third);
  };
  auto keepAlive = [&](napi_value v) {
    napi_ref ref;
    napi_create_reference(env, v, 1, &ref);
    w->keep.push_back(ref);
  };
  uint32_t nFeeds = 0, nOut = 0;
  napi_get_array_length(env, argv[1], &nFeeds);
  napi_get_array_length(env, argv[2], &nOut);
  std::string err;
  for (uint32_t i = 0; i < nFeeds; ++i) {
    napi_value idV, offV, arr;
    entry(argv[1], i, idV, offV, arr);
    void *data;
    size_t bytes;
    if (!getBytes(env, arr, data, bytes)) return fail("feed " + std::to_string(i) + " is not a typed array");
    void *dst = resolve(env, idV, offV, bytes, err);
    if (!dst) return fail("feed " + std::to_string(i) + ": " + err);
    keepAlive(arr);
    w->feeds.push_back({dst, data, bytes});
  }
  for (uint32_t i = 0; i < nOut; ++i) {
    napi_value idV, offV, bytesV;
    entry(argv[2], i, idV, offV, bytesV);
    double bytes;
    if (!getNumber(env, bytesV, bytes)) return fail("output " + std::to_string(i) + " byte count");
    void *src = resolve(env, idV, offV, static_cast<size_t>(bytes), err);
    if (!src) return fail("output " + std::to_string(i) + ": " + err);
    napi_value buf;
    void *host;
    if (napi_create_arraybuffer(env, static_cast<size_t>(bytes), &host, &buf) != napi_ok)
      return fail("cannot allocate " + std::to_string(bytes) + " bytes for output " + std::to_string(i));
    keepAlive(buf);
    w->outputs.push_back({src, host, static_cast<size_t>(bytes)});
  }
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "skp-cuda-run", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, RunExecute, RunComplete, w, &w->work);
  busy = true;
  napi_queue_async_work(env, w->work);
  return promise;
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"probe", nullptr, Probe, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"buildInfo", nullptr, BuildInfo, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"memInfo", nullptr, MemInfo, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"elementwiseKernels", nullptr, ElementwiseKernels, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"alloc", nullptr, Alloc, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"free", nullptr, Free, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"upload", nullptr, Upload, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"createProgram", nullptr, CreateProgram, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"destroyProgram", nullptr, DestroyProgram, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(skp_cuda, ModuleInit)
