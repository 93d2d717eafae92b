#include "ew_jit.h"

#include "dl.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include <unistd.h>

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

/**
 * The shape a program that needs coordinates runs over, and its strided inputs' strides, as
 * constants: its kernel then computes coordinates and offsets by multiplications by constants
 * instead of integer divisions (ew_kernel.cuh, RuntimeGeometry). Other programs read no geometry.
 */
std::string geometrySource(const EwParams &p, const std::string &name) {
  std::ostringstream s;
  if (!p.needCoords) {
    s << "using " << name << "_geom = skp::RuntimeGeometry;\n";
    return s.str();
  }
  s << "struct " << name << "_geom {\n"
    << "  __device__ static constexpr int rank(const skp::EwParams &) { return " << p.rank << "; }\n"
    << "  __device__ static constexpr int64_t dim(const skp::EwParams &, int d) {\n    switch (d) {\n";
  for (int d = 0; d < p.rank; ++d) s << "      case " << d << ": return " << p.dims[d] << ";\n";
  s << "      default: return 1;\n    }\n  }\n"
    << "  __device__ static constexpr int64_t stride(const skp::EwParams &, int input, int d) {\n"
    << "    switch (input * skp::MAX_RANK + d) {\n";
  for (int i = 0; i < p.nin; ++i) {
    if (p.in[i].access != ACCESS_STRIDED) continue;
    for (int d = 0; d < p.rank; ++d)
      if (p.in[i].strides[d] != 0) s << "      case " << i * MAX_RANK + d << ": return " << p.in[i].strides[d] << ";\n";
  }
  s << "      default: return 0;\n    }\n  }\n};\n";
  return s.str();
}

/** One program as a list of execOp calls (ew_kernel.cuh) with constant operands, and its kernel `name`. */
std::string programSource(const EwParams &p, const std::string &name) {
  std::ostringstream s;
  s << geometrySource(p, name) << "struct " << name << "_prog {\n"
    << "  using Geom = " << name << "_geom;\n"
    << "  __device__ static bool needCoords(const skp::EwParams &) { return " << (p.needCoords ? "true" : "false") << "; }\n"
    << "  template <typename Idx, typename Regs>\n"
    << "  __device__ __forceinline__ static void run(const skp::EwParams &p, Regs &R, const skp::Lanes<Idx> &at) {\n";
  for (int i = 0; i < p.ncode; ++i) {
    const EwInstr &c = p.code[i];
    const bool load = c.op == LD_F || c.op == LD_I || c.op == LD_B;
    s << "    skp::execOp<" << int(c.op) << ", Geom>(p, R, skp::EwInstr{" << int(c.op) << ", " << int(c.dst) << ", " << int(c.a)
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

// The cache folder holds one file per compiled batch, named by a hash of everything that made it
// (compiler, architecture, options, source) and holding that text too: a file is used only when
// its text equals the batch's byte for byte, so a hash collision or a stale file costs a compile,
// never a wrong kernel.
const char CACHE_MAGIC[] = "SKP-EW-CUBIN-1\n";

uint64_t fnv1a64(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string cachePath(const std::string &dir, const std::string &identity) {
  char name[40];
  std::snprintf(name, sizeof name, "/ew-%016llx.bin", static_cast<unsigned long long>(fnv1a64(identity)));
  return dir + name;
}

bool readCached(const std::string &path, const std::string &identity, std::string &cubin) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t head = sizeof CACHE_MAGIC - 1;
  if (all.compare(0, head, CACHE_MAGIC) != 0 || all.size() < head + 8) return false;
  uint64_t n = 0;
  std::memcpy(&n, all.data() + head, 8);
  if (n != identity.size() || all.size() <= head + 8 + n || all.compare(head + 8, n, identity) != 0) return false;
  cubin = all.substr(head + 8 + n);
  return true;
}

/** Written under a temporary name and renamed: a reader never sees half a file. Failing to keep it is not an error. */
void writeCached(const std::string &path, const std::string &identity, const std::string &cubin) {
  // Named by process and thread: workers on other GPUs may write the same file at once.
  const std::string tmp = path + "." + std::to_string(getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())) + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return;
    const uint64_t n = identity.size();
    f.write(CACHE_MAGIC, sizeof CACHE_MAGIC - 1);
    f.write(reinterpret_cast<const char *>(&n), 8);
    f << identity << cubin;
    if (!f) {
      f.close();
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
}

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
  // A program that needs coordinates is compiled for its shape (geometrySource).
  if (p.needCoords) {
    k << '|';
    for (int d = 0; d < p.rank; ++d) k << p.dims[d] << 'x';
    for (int i = 0; i < p.nin; ++i) {
      if (p.in[i].access != ACCESS_STRIDED) continue;
      k << '|' << i << ':';
      for (int d = 0; d < p.rank; ++d) k << p.in[i].strides[d] << ',';
    }
  }
  return k.str();
}

std::string EwJit::init(const std::string &nvrtcPath, int major, int minor, const std::string &cacheDir) {
  cacheDir_ = cacheDir;
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

std::string EwJit::compileBatch(const std::vector<const EwParams *> &programs, std::string &cubin, bool useCache,
                                bool &fromCache) {
  std::string src = std::string(PRELUDE) + EW_KERNEL_SOURCE;
  for (size_t i = 0; i < programs.size(); ++i) src += programSource(*programs[i], kernelName(i));
  const std::string archOpt = "--gpu-architecture=" + arch_;
  // No contraction of a product and a sum into one rounding: each op rounds as the interpreter's does.
  const char *opts[] = {archOpt.c_str(), "--std=c++17", "--fmad=false", "-default-device"};
  std::string identity = described_;
  for (const char *o : opts) identity += std::string(" ") + o;
  identity += "\n" + src;
  const std::string file = cacheDir_.empty() ? "" : cachePath(cacheDir_, identity);
  fromCache = useCache && !file.empty() && readCached(file, identity, cubin);
  if (fromCache) {
    ++cached_;
    return "";
  }
  void *prog = nullptr;
  int rc = create_(&prog, src.c_str(), "elementwise.cu", 0, nullptr, nullptr);
  if (rc != 0) return std::string("NVRTC: ") + error_(rc);
  rc = compile_(prog, 4, opts);
  ++compiled_;
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
    if (!file.empty()) writeCached(file, identity, cubin);
  }
  destroy_(&prog);
  return err;
}

std::string EwJit::loadBatch(const std::string &cubin, size_t count, std::vector<cudaKernel_t> &kernels) {
  cudaLibrary_t lib = nullptr;
  cudaError_t e = cudaLibraryLoadData(&lib, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("loading compiled elementwise kernels: ") + cudaGetErrorString(e);
  }
  kernels.assign(count, nullptr);
  for (size_t i = 0; i < count && e == cudaSuccess; ++i) e = cudaLibraryGetKernel(&kernels[i], lib, kernelName(i).c_str());
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaLibraryUnload(lib);
    return std::string("finding a compiled elementwise kernel: ") + cudaGetErrorString(e);
  }
  libraries_.push_back(lib);
  return "";
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
  std::vector<char> fromCache(batches, 0);
  std::vector<std::thread> workers;
  const size_t threads = std::max<size_t>(1, std::min<size_t>(batches, std::thread::hardware_concurrency()));
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t b = t; b < batches; b += threads) {
        const size_t lo = b * BATCH, hi = std::min(newPrograms.size(), lo + BATCH);
        bool cached = false;
        errors[b] = compileBatch({newPrograms.begin() + lo, newPrograms.begin() + hi}, cubins[b], true, cached);
        fromCache[b] = cached;
      }
    });
  }
  for (auto &w : workers) w.join();
  for (const auto &e : errors)
    if (!e.empty()) return e;
  // Loaded on the calling thread, the one that holds the CUDA context.
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t b = 0; b < batches; ++b) {
    const size_t lo = b * BATCH, hi = std::min(newPrograms.size(), lo + BATCH);
    std::vector<cudaKernel_t> kernels;
    std::string err = loadBatch(cubins[b], hi - lo, kernels);
    if (!err.empty() && fromCache[b]) {
      // A damaged file in the cache folder: compiled again (and written over), as if it were not there.
      bool cached = false;
      err = compileBatch({newPrograms.begin() + lo, newPrograms.begin() + hi}, cubins[b], false, cached);
      if (err.empty()) err = loadBatch(cubins[b], hi - lo, kernels);
    }
    if (!err.empty()) return err;
    for (size_t i = lo; i < hi; ++i) cache_[newKeys[i]] = kernels[i - lo];
  }
  out.clear();
  for (const auto &k : keys) out.push_back(cache_.at(k));
  return "";
}

}  // namespace skp
