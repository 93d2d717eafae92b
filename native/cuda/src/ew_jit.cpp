#include "ew_jit.h"

#include "dl.h"

#include <algorithm>
#include <sstream>
#include <thread>

namespace skp {

// ew_ops.h, ew_params.h and ew_kernel.cuh as one text, made by build.sh (ew_source.cpp).
extern const char *const EW_KERNEL_SOURCE;

namespace {

/** The integer types the headers use; NVRTC compiles without the C++ library. */
const char *const PRELUDE =
    "typedef signed char int8_t; typedef unsigned char uint8_t; typedef short int16_t;\n"
    "typedef unsigned short uint16_t; typedef int int32_t; typedef unsigned int uint32_t;\n"
    "typedef long long int64_t; typedef unsigned long long uint64_t;\n";

/** Programs per NVRTC run: small enough that batches compile in parallel, large enough to share the prelude. */
constexpr size_t BATCH = 24;

/** One program as a list of execOp calls (ew_kernel.cuh) with constant operands, and its kernel `name`. */
std::string programSource(const EwParams &p, const std::string &name) {
  std::ostringstream s;
  s << "struct " << name << "_prog {\n"
    << "  __device__ static bool needCoords(const skp::EwParams &) { return " << (p.needCoords ? "true" : "false") << "; }\n"
    << "  template <typename Idx, typename Regs>\n"
    << "  __device__ __forceinline__ static void run(const skp::EwParams &p, Regs &R, const skp::Lanes<Idx> &at) {\n";
  for (int i = 0; i < p.ncode; ++i) {
    const EwInstr &c = p.code[i];
    const bool load = c.op == LD_F || c.op == LD_I || c.op == LD_B;
    s << "    skp::execOp<" << int(c.op) << ">(p, R, skp::EwInstr{" << int(c.op) << ", " << int(c.dst) << ", " << int(c.a)
      << ", " << int(c.b) << ", " << int(c.c) << "}, " << (load ? p.in[c.a].dtype : int(F32)) << ", "
      << (load ? p.in[c.a].access : int(ACCESS_CONTIGUOUS)) << ", at);\n";
  }
  s << "  }\n};\n"
    << "extern \"C\" __global__ void __launch_bounds__(skp::EW_BLOCK) " << name
    << "(const __grid_constant__ skp::EwParams p) {\n  skp::elementwiseBody<" << (ewSmallIndex(p) ? "int32_t" : "int64_t")
    << ", skp::LocalRegs, " << name << "_prog>(p);\n}\n";
  return s.str();
}

std::string kernelName(size_t i) { return "skp_ew_" + std::to_string(i); }

}  // namespace

std::string ewProgramKey(const EwParams &p) {
  std::ostringstream k;
  k << (ewSmallIndex(p) ? 'i' : 'l') << (p.needCoords ? 'c' : '-') << '|';
  for (int i = 0; i < p.nin; ++i) k << p.in[i].dtype << p.in[i].access << ',';
  k << '|';
  for (int i = 0; i < p.ncode; ++i) {
    const EwInstr &c = p.code[i];
    k << int(c.op) << '.' << int(c.dst) << '.' << int(c.a) << '.' << int(c.b) << '.' << int(c.c) << ';';
  }
  return k.str();
}

std::string EwJit::init(const std::string &nvrtcPath, int major, int minor) {
  std::string tried;
  void *lib = openLibrary(nvrtcPath, {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}, tried);
  if (!lib) return "NVRTC not found (" + tried + "it comes with the CUDA toolkit; SKP_NVRTC_PATH names it)";
  std::string missing;
  int (*version)(int *, int *) = nullptr;
  bindSymbol(lib, "nvrtcVersion", version, missing);
  bindSymbol(lib, "nvrtcCreateProgram", create_, missing);
  bindSymbol(lib, "nvrtcGetCUBINSize", cubinSize_, missing);
  bindSymbol(lib, "nvrtcGetCUBIN", cubin_, missing);
  bindSymbol(lib, "nvrtcGetProgramLogSize", logSize_, missing);
  bindSymbol(lib, "nvrtcGetProgramLog", log_, missing);
  bindSymbol(lib, "nvrtcDestroyProgram", destroy_, missing);
  bindSymbol(lib, "nvrtcGetErrorString", error_, missing);
  CompileFn compile = nullptr;
  bindSymbol(lib, "nvrtcCompileProgram", compile, missing);
  if (!missing.empty()) return "NVRTC lacks " + missing;
  int vmajor = 0, vminor = 0;
  version(&vmajor, &vminor);
  const std::string named = "NVRTC " + std::to_string(vmajor) + "." + std::to_string(vminor);
  arch_ = "sm_" + std::to_string(major) + std::to_string(minor);
  // NVRTC writes machine code only for GPUs it knows: an older NVRTC than the GPU cannot serve it.
  int (*archCount)(int *) = nullptr;
  int (*archList)(int *) = nullptr;
  std::string unlisted;
  if (bindSymbol(lib, "nvrtcGetNumSupportedArchs", archCount, unlisted) &&
      bindSymbol(lib, "nvrtcGetSupportedArchs", archList, unlisted)) {
    int n = 0;
    std::vector<int> archs;
    if (archCount(&n) == 0 && n > 0) {
      archs.resize(static_cast<size_t>(n));
      if (archList(archs.data()) != 0) archs.clear();
    }
    const int wanted = major * 10 + minor;
    if (!archs.empty() && std::find(archs.begin(), archs.end(), wanted) == archs.end())
      return named + " cannot compile for " + arch_ + " (a newer CUDA toolkit can; SKP_NVRTC_PATH names its libnvrtc.so)";
  }
  compile_ = compile;
  described_ = named + " for " + arch_;
  return "";
}

std::string EwJit::compileBatch(const std::vector<const EwParams *> &programs, std::string &cubin) const {
  std::string src = std::string(PRELUDE) + EW_KERNEL_SOURCE;
  for (size_t i = 0; i < programs.size(); ++i) src += programSource(*programs[i], kernelName(i));
  void *prog = nullptr;
  int rc = create_(&prog, src.c_str(), "elementwise.cu", 0, nullptr, nullptr);
  if (rc != 0) return std::string("NVRTC: ") + error_(rc);
  const std::string archOpt = "--gpu-architecture=" + arch_;
  // No contraction of a product and a sum into one rounding: each op rounds as the interpreter's does.
  const char *opts[] = {archOpt.c_str(), "--std=c++17", "--fmad=false", "-default-device"};
  rc = compile_(prog, 4, opts);
  std::string err;
  if (rc != 0) {
    size_t n = 0;
    logSize_(prog, &n);
    std::string log(n, '\0');
    if (n) log_(prog, &log[0]);
    err = std::string("NVRTC could not compile an elementwise program (") + error_(rc) + "): " + log.substr(0, 2000);
  } else {
    size_t n = 0;
    cubinSize_(prog, &n);
    cubin.resize(n);
    cubin_(prog, &cubin[0]);
  }
  destroy_(&prog);
  return err;
}

std::string EwJit::kernelsFor(const std::vector<const EwParams *> &programs, std::vector<cudaKernel_t> &out) {
  if (!ready()) return "elementwise kernels cannot be compiled here";
  std::vector<std::string> keys;
  for (const EwParams *p : programs) keys.push_back(ewProgramKey(*p));
  // The programs this process has not compiled yet, once each.
  std::vector<std::string> newKeys;
  std::vector<const EwParams *> newPrograms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::unordered_map<std::string, bool> queued;
    for (size_t i = 0; i < programs.size(); ++i) {
      if (cache_.count(keys[i]) || queued.count(keys[i])) continue;
      queued[keys[i]] = true;
      newKeys.push_back(keys[i]);
      newPrograms.push_back(programs[i]);
    }
  }
  const size_t batches = (newPrograms.size() + BATCH - 1) / BATCH;
  std::vector<std::string> errors(batches), cubins(batches);
  std::vector<std::thread> workers;
  const size_t threads = std::max<size_t>(1, std::min<size_t>(batches, std::thread::hardware_concurrency()));
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t b = t; b < batches; b += threads) {
        const size_t lo = b * BATCH, hi = std::min(newPrograms.size(), lo + BATCH);
        errors[b] = compileBatch({newPrograms.begin() + lo, newPrograms.begin() + hi}, cubins[b]);
      }
    });
  }
  for (auto &w : workers) w.join();
  for (const auto &e : errors)
    if (!e.empty()) return e;
  // Loaded on the calling thread, the one that holds the CUDA context.
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t b = 0; b < batches; ++b) {
    cudaLibrary_t lib = nullptr;
    cudaError_t e = cudaLibraryLoadData(&lib, cubins[b].data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
    if (e != cudaSuccess) return std::string("loading compiled elementwise kernels: ") + cudaGetErrorString(e);
    libraries_.push_back(lib);
    for (size_t i = b * BATCH; i < std::min(newPrograms.size(), (b + 1) * BATCH); ++i) {
      cudaKernel_t k = nullptr;
      e = cudaLibraryGetKernel(&k, lib, kernelName(i - b * BATCH).c_str());
      if (e != cudaSuccess) return std::string("finding a compiled elementwise kernel: ") + cudaGetErrorString(e);
      cache_[newKeys[i]] = k;
    }
  }
  out.clear();
  for (const auto &k : keys) out.push_back(cache_.at(k));
  return "";
}

}  // namespace skp
