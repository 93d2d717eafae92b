// Device state and program execution. Programs arrive as flat arrays of numbers built by
// native/cuda/plan.ts (encoding documented in native/cuda/program.ts); they are decoded
// once into launch parameters with resolved device pointers, then replayed per run.
#include <algorithm>
#include <cstring>
#include <string>

#include "device.h"

namespace skp {

namespace {

constexpr int FORMAT_VERSION = 8;
constexpr size_t CUBLAS_WORKSPACE = size_t{32} << 20;  // Hopper's recommended size; fixed so runs can be graph-captured
constexpr uint64_t PROFILE_HEAD_START_NS = 200'000'000;  // 0.2 s: the host queues a whole SDXL step's launches ahead

enum Opcode {
  OP_ELEMENTWISE = 1,
  OP_REDUCE = 2,
  OP_SOFTMAX = 3,
  OP_ARGMAX = 4,
  OP_TOPK = 5,
  OP_GATHER = 6,
  OP_SCATTER_ADD = 7,
  OP_COPY = 8,
  OP_GEMM = 9,
  OP_IM2COL = 10,
  OP_COL2IM = 11,
  OP_SOFTMAX_GRAD = 12,
  OP_WINOGRAD_FILTER = 13,
  OP_WINOGRAD_INPUT = 14,
  OP_WINOGRAD_OUTPUT = 15,
  OP_WIDEN = 16,
  OP_SOFTMAX_HEAD_MEAN = 17,
  OP_LAYER_NORM = 18,
  OP_LAYER_NORM_GRAD = 19,
  OP_MOMENTS = 20,
  OP_GEGLU = 21,
  OP_GEGLU_GRAD = 22,
};

bool isSticky(cudaError_t e) {
  return e == cudaErrorECCUncorrectable || (e >= cudaErrorIllegalAddress && e <= cudaErrorTensorMemoryLeak) ||
         e == cudaErrorUnknown || e == cudaErrorLaunchFailure || e == cudaErrorIllegalInstruction;
}

/** Reads the numbers of one program; every read is bounds-checked. */
class Reader {
 public:
  Reader(const double *code, size_t length) : code_(code), length_(length) {}
  bool ok() const { return error_.empty(); }
  const std::string &error() const { return error_; }
  bool done() const { return at_ >= length_; }

  int64_t i64() {
    if (at_ >= length_) {
      fail("program ends early");
      return 0;
    }
    return static_cast<int64_t>(code_[at_++]);
  }
  int32_t i32() { return static_cast<int32_t>(i64()); }
  double f64() {
    if (at_ >= length_) {
      fail("program ends early");
      return 0;
    }
    return code_[at_++];
  }
  void fail(const std::string &msg) {
    if (error_.empty()) error_ = msg + " at number " + std::to_string(at_);
  }

 private:
  const double *code_;
  size_t length_;
  size_t at_ = 0;
  std::string error_;
};

}  // namespace

Failure Device::check(cudaError_t e, const char *what, int step) {
  if (e == cudaSuccess) return {};
  Failure f;
  f.step = step;
  f.sticky = isSticky(e);
  if (f.sticky) broken_ = true;
  f.message = std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  return f;
}

std::string Device::init(const std::string &cublasPath, const std::string &nvrtcPath, bool compileElementwise,
                         const std::string &kernelCacheDir) {
  if (stream_) return "";
  std::string err = blas::load(api_, cublasPath);
  if (!err.empty()) return err;
  cudaError_t e = cudaSetDevice(0);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaMalloc(&workspace_, CUBLAS_WORKSPACE);
  if (e == cudaSuccess) e = cudaHostAlloc(reinterpret_cast<void **>(&fault_), sizeof(DeviceFault), cudaHostAllocMapped);
  if (e != cudaSuccess) {
    stream_ = nullptr;
    return std::string("CUDA start failed: ") + cudaGetErrorString(e);
  }
  std::memset(fault_, 0, sizeof(DeviceFault));
  const cublasStatus_t st = api_.create(&blas_);
  if (st != 0) {
    stream_ = nullptr;
    return std::string("cuBLAS start failed: ") + api_.statusString(st);
  }
  api_.setStream(blas_, stream_);
  api_.setWorkspace(blas_, workspace_, CUBLAS_WORKSPACE);
  if (compileElementwise) {
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
    const std::string why = jit_.init(nvrtcPath, major, minor, kernelCacheDir);
    elementwise_ = why.empty() ? "compiled for each program by " + jit_.describe() : "interpreted: " + why;
  } else {
    elementwise_ = "interpreted (SKP_CUDA_JIT=0)";
  }
  return "";
}

std::string Device::cublasVersion() const {
  int v = 0;
  if (blas_ && api_.getVersion(blas_, &v) == 0) return std::to_string(v);
  return "";
}

Failure Device::alloc(size_t bytes, bool poison, int32_t &id) {
  void *p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; clear it
    Failure f;
    size_t freeB = 0, totalB = 0;
    cudaMemGetInfo(&freeB, &totalB);
    f.message = "out of GPU memory: could not allocate " + std::to_string(bytes) + " bytes (" +
                std::to_string(freeB) + " of " + std::to_string(totalB) + " free)";
    return f;
  }
  if (poison) {
    Failure f = check(cudaMemset(p, 0xff, bytes), "poisoning new memory");
    if (!f.message.empty()) {
      cudaFree(p);
      return f;
    }
  }
  id = nextId_++;
  allocs_[id] = {p, bytes};
  return {};
}

void Device::release(int32_t id) {
  auto it = allocs_.find(id);
  if (it == allocs_.end()) return;
  cudaFree(it->second.first);
  allocs_.erase(it);
}

void *Device::pointer(int32_t id, uint64_t offset, std::string &err) const {
  auto it = allocs_.find(id);
  if (it == allocs_.end()) {
    err = "unknown device allocation " + std::to_string(id);
    return nullptr;
  }
  if (offset > it->second.second) {
    err = "offset " + std::to_string(offset) + " beyond allocation " + std::to_string(id) + " of " +
          std::to_string(it->second.second) + " bytes";
    return nullptr;
  }
  return static_cast<char *>(it->second.first) + offset;
}

Failure Device::upload(void *dst, const void *src, size_t bytes) {
  Failure f = check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  if (!f.message.empty()) return f;
  return check(cudaStreamSynchronize(stream_), "upload");
}

Failure Device::createProgram(const double *code, size_t length, bool useGraph, bool interpret, int32_t &id) {
  Reader r(code, length);
  auto prog = std::make_unique<Program>();
  prog->useGraph = useGraph;
  std::string err;
  auto loc = [&](void) -> void * {
    const int32_t alloc = r.i32();
    const int64_t offset = r.i64();
    if (!r.ok()) return nullptr;
    void *p = pointer(alloc, static_cast<uint64_t>(offset), err);
    if (!p) r.fail(err);
    return p;
  };
  auto dims = [&](int rank, int64_t *out) {
    if (rank < 0 || rank > MAX_RANK) {
      r.fail("rank " + std::to_string(rank) + " outside 0.." + std::to_string(MAX_RANK));
      return;
    }
    for (int d = 0; d < MAX_RANK; ++d) out[d] = d < rank ? r.i64() : 1;
  };
  // The element type of a parameter a kernel reads as the GPU holds it: float32, or a weight
  // kept at float16 or bfloat16.
  auto paramType = [&](const char *what) {
    const int32_t type = r.i32();
    if (type != F32 && type != F16 && type != BF16) r.fail(std::string(what) + ": bad element type");
    return static_cast<DType>(type);
  };
  if (r.i32() != FORMAT_VERSION) return {"program format version mismatch (rebuild the addon)", -1, false};
  const int64_t count = r.i64();
  std::vector<std::vector<int64_t>> ptrOffsets;  // per pointer-mode gemm: A, B, C offsets
  std::vector<size_t> ptrInstr;
  for (int64_t s = 0; s < count && r.ok(); ++s) {
    Instr in{};
    const int op = r.i32();
    switch (op) {
      case OP_ELEMENTWISE: {
        in.kind = Kind::Elementwise;
        EwParams &p = in.ew;
        p.out = loc();
        p.outAligned = reinterpret_cast<uintptr_t>(p.out) % 16 == 0;
        p.n = r.i64();
        p.rank = r.i32();
        dims(p.rank, p.dims);
        p.nin = r.i32();
        if (p.nin < 0 || p.nin > EW_MAX_IN) r.fail("too many elementwise inputs");
        p.needCoords = 0;
        for (int i = 0; i < p.nin && r.ok(); ++i) {
          p.in[i].ptr = loc();
          p.in[i].aligned = reinterpret_cast<uintptr_t>(p.in[i].ptr) % 16 == 0;
          p.in[i].dtype = r.i32();
          if (p.in[i].dtype < F32 || p.in[i].dtype > BF16) r.fail("bad elementwise input type");
          p.in[i].access = r.i32();
          dims(p.rank, p.in[i].strides);
          if (p.in[i].access == ACCESS_STRIDED) p.needCoords = 1;
        }
        p.ncode = r.i32();
        if (p.ncode < 0 || p.ncode > EW_MAX_CODE) r.fail("elementwise program too long");
        for (int i = 0; i < p.ncode && r.ok(); ++i) {
          EwInstr &c = p.code[i];
          c.op = static_cast<uint8_t>(r.i32());
          c.dst = static_cast<uint8_t>(r.i32());
          c.a = static_cast<uint8_t>(r.i32());
          c.b = static_cast<uint8_t>(r.i32());
          c.c = static_cast<uint8_t>(r.i32());
          if (c.op >= EW_OP_COUNT || c.dst >= EW_MAX_REG || c.b >= EW_MAX_REG || c.c >= EW_MAX_REG)
            r.fail("bad elementwise instruction");
          const bool load = c.op == LD_F || c.op == LD_I || c.op == LD_B;
          if ((load && c.a >= p.nin) || (c.op == IMM_F && c.a >= EW_MAX_IMM) || c.a >= EW_MAX_REG)
            r.fail("bad elementwise operand");
        }
        p.fregs = 0;
        p.qregs = 0;
        for (int i = 0; i < p.ncode; ++i) {
          const EwInstr &c = p.code[i];
          switch (c.op) {
            case ST_F:
            case ST_I:
            case ST_B: break;
            case LD_I:
            case LD_B:
            case EQ_F:
            case LT_F:
            case GT_F:
            case EQ_I:
            case WHERE_I:
            case F2I:
            case F2B:
            case I2B:
            case MOV_I: p.qregs = std::max(p.qregs, c.dst + 1); break;
            default: p.fregs = std::max(p.fregs, c.dst + 1);
          }
        }
        const int nimm = r.i32();
        if (nimm < 0 || nimm > EW_MAX_IMM) r.fail("too many elementwise immediates");
        for (int i = 0; i < nimm && r.ok(); ++i) p.imm[i] = static_cast<float>(r.f64());
        break;
      }
      case OP_REDUCE: {
        in.kind = Kind::Reduce;
        ReduceParams &p = in.reduce;
        p.in = static_cast<const float *>(loc());
        p.out = static_cast<float *>(loc());
        p.kind = r.i32();
        if (p.kind < REDUCE_SUM || p.kind > REDUCE_CENTRED_SQUARES) r.fail("bad reduction kind");
        p.center = p.kind == REDUCE_CENTRED_SQUARES ? static_cast<const float *>(loc()) : nullptr;
        in.rowMode = r.i32() != 0;
        p.splits = r.i32();
        p.chunk = r.i64();
        p.scale = static_cast<float>(r.f64());
        p.keepRank = r.i32();
        dims(p.keepRank, p.keepDims);
        dims(p.keepRank, p.keepStrides);
        p.redRank = r.i32();
        dims(p.redRank, p.redDims);
        dims(p.redRank, p.redStrides);
        p.nOut = 1;
        p.nRed = 1;
        for (int d = 0; d < p.keepRank; ++d) p.nOut *= p.keepDims[d];
        for (int d = 0; d < p.redRank; ++d) p.nRed *= p.redDims[d];
        if (p.splits < 1 || p.splits > 65535 || p.chunk < 1) r.fail("bad reduction split");
        break;
      }
      case OP_SOFTMAX:
      case OP_ARGMAX:
      case OP_TOPK: {
        in.kind = op == OP_SOFTMAX ? Kind::Softmax : op == OP_ARGMAX ? Kind::ArgMax : Kind::TopK;
        AxisParams &p = in.axis;
        p.in = static_cast<const float *>(loc());
        p.out = loc();
        p.outer = r.i64();
        p.size = r.i64();
        p.inner = r.i64();
        if (op == OP_TOPK) {
          p.k = r.i32();
          p.largest = r.i32();
        }
        break;
      }
      case OP_SOFTMAX_GRAD: {
        in.kind = Kind::SoftmaxGrad;
        SoftmaxGradParams &p = in.softmaxGrad;
        p.probs = static_cast<float *>(loc());
        p.grad = static_cast<float *>(loc());
        p.rows = r.i64();
        p.size = r.i64();
        const int32_t flags = r.i32();  // program.ts softmaxGrad: 1 a share, 2 the share alone, 4 from the scores
        const bool shared = (flags & 1) != 0;
        p.shareOnly = (flags & 2) != 0;
        p.fromScores = (flags & 4) != 0;
        p.share = shared ? static_cast<const float *>(loc()) : nullptr;
        p.heads = shared ? r.i64() : 1;
        p.rowsPerHead = shared ? r.i64() : 1;
        p.shareBatchStride = shared ? r.i64() : 0;
        if (shared && (p.heads < 1 || p.rowsPerHead < 1 || p.rows % (p.heads * p.rowsPerHead) != 0))
          r.fail("softmax gradient: rows are not whole (batch element, head) bands");
        if (p.shareOnly && !shared) r.fail("softmax gradient: the share alone, without a share");
        if (p.fromScores && p.size > SOFTMAX_GRAD_FROM_SCORES_MAX)
          r.fail("softmax gradient from the scores: rows of at most 1024 values");
        break;
      }
      case OP_GATHER:
      case OP_SCATTER_ADD: {
        in.kind = op == OP_GATHER ? Kind::Gather : Kind::ScatterAdd;
        GatherParams &p = in.gather;
        p.data = loc();
        p.idx = static_cast<const int64_t *>(loc());
        p.out = loc();
        p.elemSize = r.i32();
        p.axis = r.i32();
        p.axisSize = r.i64();
        p.rank = r.i32();
        dims(p.rank, p.idxDims);
        dims(p.rank, p.strides);
        p.step = static_cast<int32_t>(s);
        p.n = 1;
        for (int d = 0; d < p.rank; ++d) p.n *= p.idxDims[d];
        break;
      }
      case OP_COPY: {
        in.kind = Kind::Copy;
        in.copy.dst = loc();
        in.copy.src = loc();
        in.copy.dpitch = static_cast<size_t>(r.i64());
        in.copy.spitch = static_cast<size_t>(r.i64());
        in.copy.width = static_cast<size_t>(r.i64());
        in.copy.height = static_cast<size_t>(r.i64());
        break;
      }
      case OP_GEMM: {
        in.kind = Kind::Gemm;
        GemmCall &g = in.gemm;
        g.tf32 = r.i32() != 0;
        g.transA = r.i32();
        g.transB = r.i32();
        g.m = r.i32();
        g.n = r.i32();
        g.k = r.i32();
        g.lda = r.i32();
        g.ldb = r.i32();
        g.ldc = r.i32();
        g.a = static_cast<const float *>(loc());
        g.b = static_cast<const float *>(loc());
        g.c = static_cast<float *>(loc());
        g.batch = r.i32();
        g.strideA = r.i64();
        g.strideB = r.i64();
        g.strideC = r.i64();
        g.alpha = static_cast<float>(r.f64());
        g.beta = static_cast<float>(r.f64());
        if (r.i32() != 0) {
          std::vector<int64_t> offs(static_cast<size_t>(g.batch) * 3);
          for (auto &o : offs) o = r.i64();
          ptrOffsets.push_back(std::move(offs));
          ptrInstr.push_back(prog->instrs.size());
        }
        break;
      }
      case OP_IM2COL:
      case OP_COL2IM: {
        in.kind = op == OP_IM2COL ? Kind::Im2col : Kind::Col2im;
        ConvParams &p = in.conv;
        p.src = static_cast<const float *>(loc());
        p.dst = static_cast<float *>(loc());
        p.n = r.i64();
        p.c = r.i64();
        p.h = r.i64();
        p.w = r.i64();
        p.kh = r.i64();
        p.kw = r.i64();
        p.stride = r.i64();
        p.pad = r.i64();
        p.oh = r.i64();
        p.ow = r.i64();
        p.y0 = r.i64();
        break;
      }
      case OP_WINOGRAD_FILTER:
      case OP_WINOGRAD_INPUT:
      case OP_WINOGRAD_OUTPUT: {
        in.kind = op == OP_WINOGRAD_FILTER  ? Kind::WinogradFilter
                  : op == OP_WINOGRAD_INPUT ? Kind::WinogradInput
                                            : Kind::WinogradOutput;
        WinogradParams &p = in.winograd;
        p.src = static_cast<const float *>(loc());
        p.dst = static_cast<float *>(loc());
        p.n = r.i64();
        p.c = r.i64();
        p.k = r.i64();
        p.h = r.i64();
        p.w = r.i64();
        p.pad = r.i64();
        p.oh = r.i64();
        p.ow = r.i64();
        p.ty0 = r.i64();
        p.tr = r.i64();
        p.tile = r.i64();
        if (p.tile != 2 && p.tile != 4 && p.tile != 6) r.fail("winograd: tiles of 2, 4 or 6 output pixels");
        p.flip = r.i64();
        const int32_t adds = r.i32();  // program.ts winograd: 1 a bias, 2 a residual
        p.bias = adds & 1 ? static_cast<const float *>(loc()) : nullptr;
        p.residual = adds & 2 ? static_cast<const float *>(loc()) : nullptr;
        if (adds != 0 && op != OP_WINOGRAD_OUTPUT)
          r.fail("winograd: only the output transform adds a bias or a residual");
        break;
      }
      case OP_WIDEN: {
        in.kind = Kind::Widen;
        WidenParams &p = in.widen;
        p.src = static_cast<const uint16_t *>(loc());
        p.dst = static_cast<float *>(loc());
        p.n = r.i64();
        const int32_t type = r.i32();
        if (type != F16 && type != BF16) r.fail("widen: the source must be float16 or bfloat16");
        p.type = static_cast<DType>(type);
        break;
      }
      case OP_SOFTMAX_HEAD_MEAN: {
        in.kind = Kind::SoftmaxHeadMean;
        HeadMeanParams &p = in.headMean;
        p.probs = static_cast<float *>(loc());
        p.maps = static_cast<float *>(loc());
        p.nb = r.i64();
        p.heads = r.i64();
        p.rows = r.i64();
        p.size = r.i64();
        p.scale = static_cast<float>(r.f64());
        p.keepProbs = r.i32();
        if (p.size > SOFTMAX_HEAD_MEAN_MAX) r.fail("softmax head mean: rows of at most 1024 values");
        break;
      }
      case OP_LAYER_NORM:
      case OP_LAYER_NORM_GRAD: {
        in.kind = Kind::LayerNorm;  // the gradient where grad is set
        LayerNormParams &p = in.layerNorm;
        p.x = static_cast<const float *>(loc());
        p.weight = loc();
        p.weightType = paramType("layer norm's weight");
        const bool gradient = op == OP_LAYER_NORM_GRAD;
        p.bias = gradient ? nullptr : loc();
        p.biasType = gradient ? F32 : paramType("layer norm's bias");
        p.grad = gradient ? static_cast<const float *>(loc()) : nullptr;
        p.out = static_cast<float *>(loc());
        p.rows = r.i64();
        p.size = r.i64();
        p.eps = static_cast<float>(r.f64());
        if (p.rows < 1 || p.size < 1) r.fail("layer norm: no rows");
        if (p.rows > INT32_MAX) r.fail("layer norm: more rows than a grid holds");
        break;
      }
      case OP_GEGLU:
      case OP_GEGLU_GRAD: {
        in.kind = Kind::Geglu;  // the gradient where grad is set
        GegluParams &p = in.geglu;
        p.h = static_cast<const float *>(loc());
        p.bias = loc();
        p.biasType = paramType("geglu's bias");
        p.grad = op == OP_GEGLU_GRAD ? static_cast<const float *>(loc()) : nullptr;
        p.out = static_cast<float *>(loc());
        p.rows = r.i64();
        p.inner = r.i64();
        if (p.rows < 1 || p.inner < 1) r.fail("geglu: no rows");
        break;
      }
      case OP_MOMENTS: {
        in.kind = Kind::Moments;
        MomentsParams &p = in.moments;
        p.in = static_cast<const float *>(loc());
        p.mean = static_cast<float *>(loc());
        p.variance = static_cast<float *>(loc());
        p.nRed = r.i64();
        p.splits = r.i32();
        p.chunk = r.i64();
        p.keepRank = r.i32();
        dims(p.keepRank, p.keepDims);
        dims(p.keepRank, p.keepStrides);
        p.partial = p.splits > 1 ? static_cast<double *>(loc()) : nullptr;
        p.nOut = 1;
        for (int d = 0; d < p.keepRank; ++d) p.nOut *= p.keepDims[d];
        if (p.nRed < 1 || p.splits < 1 || p.splits > 65535 || p.chunk < 1 || p.chunk * p.splits < p.nRed)
          r.fail("moments: bad split of the runs");
        if (p.nOut < 1 || p.nOut > INT32_MAX) r.fail("moments: outputs must number 1 to 2^31 - 1");
        break;
      }
      default:
        r.fail("unknown opcode " + std::to_string(op));
    }
    prog->instrs.push_back(in);
  }
  if (r.ok() && !r.done()) r.fail("trailing numbers after the last instruction");
  if (!r.ok()) return {"bad program: " + r.error(), -1, false};

  if (!interpret && jit_.ready()) {
    std::vector<Instr *> ew;
    std::vector<const EwParams *> programs;
    for (Instr &in : prog->instrs)
      if (in.kind == Kind::Elementwise) ew.push_back(&in), programs.push_back(&in.ew);
    std::vector<cudaKernel_t> kernels;
    const std::string jitErr = jit_.kernelsFor(programs, kernels);
    if (!jitErr.empty()) return {jitErr + " (SKP_CUDA_JIT=0 runs elementwise programs interpreted)", -1, false};
    for (size_t i = 0; i < ew.size(); ++i) ew[i]->compiled = kernels[i];
  }

  // Pointer arrays for irregular batched GEMMs live in one device block per program.
  size_t total = 0;
  for (auto &o : ptrOffsets) total += o.size();
  if (total) {
    Failure f = check(cudaMalloc(&prog->pointerArrays, total * sizeof(void *)), "GEMM pointer arrays");
    if (!f.message.empty()) {
      cudaGetLastError();
      return f;
    }
    std::vector<const void *> host(total);
    size_t at = 0;
    for (size_t j = 0; j < ptrOffsets.size(); ++j) {
      GemmCall &g = prog->instrs[ptrInstr[j]].gemm;
      const auto &offs = ptrOffsets[j];
      const size_t b = static_cast<size_t>(g.batch);
      void **dev = static_cast<void **>(prog->pointerArrays) + at;
      for (size_t i = 0; i < b; ++i) {
        host[at + i] = g.a + offs[i];
        host[at + b + i] = g.b + offs[b + i];
        host[at + 2 * b + i] = g.c + offs[2 * b + i];
      }
      g.aPtrs = const_cast<const void **>(dev);
      g.bPtrs = const_cast<const void **>(dev + b);
      g.cPtrs = dev + 2 * b;
      at += 3 * b;
    }
    Failure up = upload(prog->pointerArrays, host.data(), total * sizeof(void *));
    if (!up.message.empty()) return up;
  }
  id = nextId_++;
  programs_[id] = std::move(prog);
  return {};
}

void Device::destroyProgram(int32_t id) {
  auto it = programs_.find(id);
  if (it == programs_.end()) return;
  if (it->second->graph) cudaGraphExecDestroy(it->second->graph);
  if (it->second->pointerArrays) cudaFree(it->second->pointerArrays);
  programs_.erase(it);
}

Failure Device::gemm(const GemmCall &g, int step) {
  const cublasComputeType_t compute = g.tf32 ? blas::COMPUTE_32F_FAST_TF32 : blas::COMPUTE_32F_PEDANTIC;
  cublasStatus_t st;
  if (g.aPtrs) {
    st = api_.gemmBatchedEx(blas_, g.transA, g.transB, g.m, g.n, g.k, &g.alpha, g.aPtrs, CUDA_R_32F, g.lda, g.bPtrs,
                            CUDA_R_32F, g.ldb, &g.beta, g.cPtrs, CUDA_R_32F, g.ldc, g.batch, compute,
                            blas::GEMM_DEFAULT);
  } else {
    st = api_.gemmStridedBatchedEx(blas_, g.transA, g.transB, g.m, g.n, g.k, &g.alpha, g.a, CUDA_R_32F, g.lda,
                                   g.strideA, g.b, CUDA_R_32F, g.ldb, g.strideB, &g.beta, g.c, CUDA_R_32F, g.ldc,
                                   g.strideC, g.batch, compute, blas::GEMM_DEFAULT);
  }
  if (st != 0) return {std::string("cuBLAS GEMM failed: ") + api_.statusString(st), step, false};
  return {};
}

Failure Device::launchAll(Program &p, bool syncEachStep, std::vector<cudaEvent_t> *events) {
  for (size_t s = 0; s < p.instrs.size(); ++s) {
    const Instr &in = p.instrs[s];
    const int step = static_cast<int>(s);
    cudaError_t e = cudaSuccess;
    if (events) cudaEventRecord((*events)[s], stream_);
    switch (in.kind) {
      case Kind::Elementwise:
        e = in.compiled ? launchCompiledElementwise(in.ew, in.compiled, stream_) : launchElementwise(in.ew, stream_);
        break;
      case Kind::Reduce: e = launchReduce(in.reduce, in.rowMode, stream_); break;
      case Kind::Softmax: e = launchSoftmax(in.axis, stream_); break;
      case Kind::SoftmaxGrad: e = launchSoftmaxGrad(in.softmaxGrad, stream_); break;
      case Kind::LayerNorm: e = launchLayerNorm(in.layerNorm, stream_); break;
      case Kind::Moments: e = launchMoments(in.moments, stream_); break;
      case Kind::Geglu: e = launchGeglu(in.geglu, stream_); break;
      case Kind::ArgMax: e = launchArgMax(in.axis, stream_); break;
      case Kind::TopK: e = launchTopK(in.axis, stream_); break;
      case Kind::Gather: e = launchGather(in.gather, fault_, stream_); break;
      case Kind::ScatterAdd: e = launchScatterAdd(in.gather, fault_, stream_); break;
      case Kind::Copy:
        if (in.copy.width && in.copy.height)
          e = cudaMemcpy2DAsync(in.copy.dst, in.copy.dpitch, in.copy.src, in.copy.spitch, in.copy.width,
                                in.copy.height, cudaMemcpyDeviceToDevice, stream_);
        break;
      case Kind::Gemm: {
        Failure f = gemm(in.gemm, step);
        if (!f.message.empty()) return f;
        break;
      }
      case Kind::Im2col: e = launchIm2col(in.conv, stream_); break;
      case Kind::Col2im: e = launchCol2im(in.conv, stream_); break;
      case Kind::WinogradFilter: e = launchWinogradFilter(in.winograd, stream_); break;
      case Kind::WinogradInput: e = launchWinogradInput(in.winograd, stream_); break;
      case Kind::WinogradOutput: e = launchWinogradOutput(in.winograd, stream_); break;
      case Kind::Widen: e = launchWiden(in.widen, stream_); break;
      case Kind::SoftmaxHeadMean: e = launchSoftmaxHeadMean(in.headMean, stream_); break;
    }
    if (e == cudaSuccess && syncEachStep) e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) return check(e, "kernel launch", step);
  }
  if (events) cudaEventRecord(events->back(), stream_);
  return {};
}

Failure Device::run(int32_t program, const std::vector<Transfer> &feeds, const std::vector<Transfer> &outputs,
                    bool syncEachStep, std::vector<float> *stepMs) {
  if (broken_) return {"the GPU hit an unrecoverable fault earlier in this process; restart to use it again", -1, true};
  auto it = programs_.find(program);
  if (it == programs_.end()) return {"unknown program " + std::to_string(program), -1, false};
  Program &p = *it->second;
  std::memset(fault_, 0, sizeof(DeviceFault));
  for (const Transfer &t : feeds) {
    Failure up = check(cudaMemcpyAsync(t.device, t.host, t.bytes, cudaMemcpyHostToDevice, stream_), "input upload");
    if (!up.message.empty()) return up;
  }
  Failure f;
  std::vector<cudaEvent_t> events;
  if (stepMs) {
    events.resize(p.instrs.size() + 1);
    for (auto &ev : events) cudaEventCreate(&ev);
    // The host issues a launch and an event in about the GPU time of a small kernel: without a
    // head start, the GPU would wait for it, and each short kernel's time would include that wait.
    if (!syncEachStep) launchHold(PROFILE_HEAD_START_NS, stream_);
    f = launchAll(p, syncEachStep, &events);
  } else if (p.useGraph && !syncEachStep) {
    if (!p.graph) {
      // Capture once; replays skip the per-launch overhead of thousands of small kernels.
      cudaGraph_t graph = nullptr;
      cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
      if (e == cudaSuccess) {
        f = launchAll(p, false, nullptr);
        e = cudaStreamEndCapture(stream_, &graph);
        if (f.message.empty() && e == cudaSuccess) e = cudaGraphInstantiate(&p.graph, graph, 0);
        if (graph) cudaGraphDestroy(graph);
      }
      if (e != cudaSuccess || !f.message.empty()) {
        // Capture is an optimisation: run the launches directly instead.
        cudaGetLastError();
        p.useGraph = false;
        p.graph = nullptr;
        f = launchAll(p, false, nullptr);
      } else {
        f = check(cudaGraphLaunch(p.graph, stream_), "graph launch");
      }
    } else {
      f = check(cudaGraphLaunch(p.graph, stream_), "graph launch");
    }
  } else {
    f = launchAll(p, syncEachStep, nullptr);
  }
  auto dropEvents = [&]() {
    for (auto &ev : events) cudaEventDestroy(ev);
  };
  if (!f.message.empty()) {
    cudaStreamSynchronize(stream_);
    dropEvents();
    return f;
  }
  for (const Transfer &t : outputs) {
    f = check(cudaMemcpyAsync(t.host, t.device, t.bytes, cudaMemcpyDeviceToHost, stream_), "output download");
    if (!f.message.empty()) return f;
  }
  f = check(cudaStreamSynchronize(stream_), "running the graph");
  if (f.message.empty() && stepMs) {
    stepMs->assign(p.instrs.size(), 0.f);
    for (size_t s = 0; s < p.instrs.size(); ++s) cudaEventElapsedTime(&(*stepMs)[s], events[s], events[s + 1]);
  }
  dropEvents();
  if (!f.message.empty()) return f;
  if (fault_->code != 0) {
    return {"index " + std::to_string(fault_->value) + " out of range", fault_->step, false};
  }
  return {};
}

}  // namespace skp
