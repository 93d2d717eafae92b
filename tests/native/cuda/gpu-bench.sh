#!/bin/bash
# On a GPU machine without Node, after tests/native/cuda/pack-device-carry.sh: the kernels checked, then
# the method on SDXL's full architecture timed beside the PyTorch reference in the same call, and
# the memory claims proven by runs under SKP_CUDA_MEMORY_LIMIT. Results land in $OUT.
#   CAPS="12GiB 8GiB" SIZES=512 REFERENCE=1 PROFILE=float32,tf32 INTERPRETED=1 tests/native/cuda/gpu-bench.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tests/native/cuda/device-setup.sh
T=.device-carry/tools
node $T/tests/native/cuda/gpuCheck.js > $OUT/gpu-check.txt 2>&1; echo "gpu-check: rc $?: $(tail -1 $OUT/gpu-check.txt)"
grep -a "FAIL" $OUT/gpu-check.txt | head -20
SIZES=${SIZES:-512}
if [ -n "${PROFILE:-}" ]; then # where the time goes: every launch of both graphs, float32 (PROFILE=float32,tf32: both)
  [ "$PROFILE" = 1 ] && PROFILE=float32
  node $T/tests/bench/cuda.js --sdxl-only --sdxl ${SIZES%% *} --precisions $PROFILE --profile-json $OUT/profile.json > $OUT/profile.txt 2>&1
  echo "profile: rc $?"; grep -a "profile\|GPU .* ms in launches" $OUT/profile.txt
fi
if [ -n "${INTERPRETED:-}" ]; then # the same rows with elementwise programs interpreted (SKP_CUDA_JIT=0), to compare
  SKP_CUDA_JIT=0 node $T/tests/bench/cuda.js --sdxl-only --sdxl ${SIZES%% *} --precisions float32 > $OUT/bench-interpreted.txt 2>&1
  echo "interpreted elementwise: rc $?"; grep -a "²\|elementwise" $OUT/bench-interpreted.txt
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
