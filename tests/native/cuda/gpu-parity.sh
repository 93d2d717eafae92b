#!/bin/bash
# On a GPU machine without Node, after tests/native/cuda/pack-device-carry.sh: unpacks Node, the runtime
# modules and our tsc build, builds the CUDA addon, makes reference cases with the reference code
# itself (shared case_a and case_c, plus case_d from more_cases.py), and runs `skp parity` on each
# (native CUDA float32 and TF32, ONNX Runtime CPU) as a user would. Results land in $OUT.
#   CASES='case_a case_c' PRECISIONS='float32 tf32' CPU=0 CHECK=0 tests/native/cuda/gpu-parity.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tests/native/cuda/device-setup.sh
CASES=${CASES:-case_a case_c case_d}
export PYTHONPATH=/tmp/refwork/reference/stubs:/tmp/refwork/reference/diffusers/src:/tmp/refwork/reference/ref:/tmp/refwork/reference PYTHONUNBUFFERED=1
t=$(date +%s); python3 tests/native/cuda/more_cases.py /tmp/cases $CASES > $OUT/gen.log 2>&1
echo "reference cases made in $(( $(date +%s) - t )) s (rc $?)"
for c in $CASES; do echo "== $c"; python3 /tmp/refwork/reference/tie_report.py /tmp/cases/$c; done > $OUT/tie-report.txt 2>&1
skp() { node bin/skp.mjs "$@"; }
for c in $CASES; do
  for prec in ${PRECISIONS:-float32 tf32}; do
    t=$(date +%s); SKP_CUDA_PRECISION=$prec skp parity /tmp/cases/$c --backend cuda > /tmp/p.txt 2>&1
    echo "$c cuda $prec: rc $? in $(( $(date +%s) - t )) s: $(tail -1 /tmp/p.txt)"; (echo "== $c cuda $prec"; cat /tmp/p.txt) >> $OUT/parity.txt
  done
  [ "${CPU:-1}" = 1 ] || continue
  t=$(date +%s); skp parity /tmp/cases/$c --backend cpu > /tmp/p.txt 2>&1
  echo "$c ort-cpu: rc $? in $(( $(date +%s) - t )) s: $(tail -1 /tmp/p.txt)"; (echo "== $c ort-cpu"; cat /tmp/p.txt) >> $OUT/parity.txt
done
# case_d whole (it is made here only), the others' metadata; a run without case_d carries only those.
tar cf - -C /tmp $(cd /tmp && ls -d cases/case_d 2>/dev/null) $(cd /tmp && ls cases/*/golden/meta.json) | xz -T16 -1 > $OUT/cases.tar.xz; ls -la $OUT
# Every IR op on the GPU against the float64 interpreter, in both precisions, and the bad-input checks.
[ "${CHECK:-1}" = 1 ] || exit 0
node .device-carry/tools/tests/native/cuda/gpuCheck.js > $OUT/gpu-check.txt 2>&1; echo "gpu-check: rc $?: $(tail -1 $OUT/gpu-check.txt)"
