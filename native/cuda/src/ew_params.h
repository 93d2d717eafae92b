// The parameter block of a fused elementwise program, shared by the addon's host code, its
// interpreter kernel and the kernels compiled for each program at run time (ew_jit.cpp), which
// NVRTC builds from this text without the C++ library.
#pragma once
#ifndef __CUDACC_RTC__
#include <cstdint>
#endif

namespace skp {

constexpr int MAX_RANK = 8;

// F16 and BF16 are model weights kept on the GPU at their stored width; only LD_F reads them.
enum DType : int32_t { F32 = 0, I64 = 1, BOOL = 2, F16 = 3, BF16 = 4 };

// Elementwise programs: a fused chain of elementwise ops, run per output element by a kernel
// compiled for the program, or where none can be compiled by a small register machine, whose
// dispatch costs 2–5× the memory traffic on long programs.
constexpr int EW_MAX_IN = 8;
constexpr int EW_MAX_CODE = 64;
constexpr int EW_MAX_REG = 16;
constexpr int EW_MAX_IMM = 16;

enum EwAccess : int32_t { ACCESS_STRIDED = 0, ACCESS_CONTIGUOUS = 1, ACCESS_SCALAR = 2 };

struct EwInput {
  const void *ptr;
  int32_t dtype;
  int32_t access;
  int32_t aligned;  // ptr allows one vector load of 4 elements (set when decoding)
  int64_t strides[MAX_RANK];
};

struct EwInstr {
  uint8_t op, dst, a, b, c;
};

struct EwParams {
  int64_t n;
  int32_t outAligned;
  int32_t rank;
  int32_t nin;
  int32_t ncode;
  int32_t needCoords;
  // Registers the program writes (highest + 1), float and integer: the kernel's register file.
  int32_t fregs;
  int32_t qregs;
  int64_t dims[MAX_RANK];
  void *out;
  EwInput in[EW_MAX_IN];
  EwInstr code[EW_MAX_CODE];
  float imm[EW_MAX_IMM];
};

}  // namespace skp
