#!/bin/bash
# On a machine of 2 GPUs without Node, after tests/native/cuda/pack-device-carry.sh: keypoints of N full-size
# 512² images, and 4 training steps of batch 4, on 1 vs 2 GPUs, one `skp worker` per GPU on a local Redis
# (the README's three commands), and the same with `--gpus` (a worker process per GPU, no Redis).
# Logs land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tests/native/cuda/device-setup.sh
LD_LIBRARY_PATH=$PWD/redis/lib ./redis/redis-server --port 6390 --save '' --appendonly no --daemonize yes --requirepass pw --logfile /tmp/redis.log || exit 1
export SKP_REDIS_PASSWORD=pw R=redis://127.0.0.1:6390
W=/tmp/mg; mkdir -p $W; N=${N:-120}
skp() { node bin/skp.mjs "$@"; }
t=$(date +%s); node .device-carry/tools/tests/native/cuda/gpuWorkersSetup.js $W $N || exit 1; echo "setup $(( $(date +%s)-t )) s"
skp new $W/p.skp --images $W/images | tail -1
t=$(date +%s); CUDA_VISIBLE_DEVICES=0 skp train $W/p.skp --model $W/model --backend cuda --set steps=1 --set batchSize=1 --set indexImages=4 2>&1 | tail -3; echo "train $(( $(date +%s)-t )) s"
# --gpus: one `skp worker` process per GPU of this machine, no Redis (ONLY_GPUS=1 runs just this).
for g in 0 all; do
  cp $W/p.skp $W/g$g.skp; cp $W/p.skp $W/tg$g.skp
  t=$(date +%s); skp keypoints $W/g$g.skp --gpus $g --backend cuda --chunk 4 > $OUT/gpus-$g.log 2>&1
  echo "keypoints --gpus $g: rc $? $(( $(date +%s)-t )) s: $(grep -a 'images/s' $OUT/gpus-$g.log | tail -1)"
  t=$(date +%s); skp train $W/tg$g.skp --model $W/model --gpus $g --backend cuda --set steps=4 --set batchSize=4 > $OUT/train-gpus-$g.log 2>&1
  echo "train --gpus $g: rc $? $(( $(date +%s)-t )) s: $(grep -a 'trained to' $OUT/train-gpus-$g.log)"
done
[ -n "${ONLY_GPUS:-}" ] && exit 0
cp $W/p.skp $W/one.skp; cp $W/p.skp $W/two.skp
start_worker() { CUDA_VISIBLE_DEVICES=$1 skp worker --redis $R --model $W/model --backend cuda > $OUT/worker$1-$2.log 2>&1 & echo $!; }
wait_ready() { for i in $(seq 120); do grep -q "taking work" $1 && return 0; sleep 1; done; echo "not ready: $1"; cat $1; }
p0=$(start_worker 0 a); wait_ready $OUT/worker0-a.log
t=$(date +%s); CUDA_VISIBLE_DEVICES= skp keypoints $W/one.skp --workers $R --backend cpu --chunk 4 > $OUT/coord-1gpu.log 2>&1; echo "1 GPU: rc $? $(( $(date +%s)-t )) s: $(grep -a 'images/s' $OUT/coord-1gpu.log | tail -1)"
p1=$(start_worker 1 b); wait_ready $OUT/worker1-b.log
t=$(date +%s); CUDA_VISIBLE_DEVICES= skp keypoints $W/two.skp --workers $R --backend cpu --chunk 4 > $OUT/coord-2gpu.log 2>&1; echo "2 GPUs: rc $? $(( $(date +%s)-t )) s: $(grep -a 'images/s' $OUT/coord-2gpu.log | tail -1)"
kill $p0 $p1
# Training: 4 steps of batch 4 spread over the same workers, 1 GPU then 2.
cp $W/p.skp $W/t1.skp; cp $W/p.skp $W/t2.skp
p0=$(start_worker 0 c); wait_ready $OUT/worker0-c.log
t=$(date +%s); CUDA_VISIBLE_DEVICES= skp train $W/t1.skp --model $W/model --workers $R --backend cpu --set steps=4 --set batchSize=4 > $OUT/train-1gpu.log 2>&1; echo "train, 1 GPU: rc $? $(( $(date +%s)-t )) s: $(grep -a 'trained to' $OUT/train-1gpu.log)"
p1=$(start_worker 1 d); wait_ready $OUT/worker1-d.log
t=$(date +%s); CUDA_VISIBLE_DEVICES= skp train $W/t2.skp --model $W/model --workers $R --backend cpu --set steps=4 --set batchSize=4 > $OUT/train-2gpu.log 2>&1; echo "train, 2 GPUs: rc $? $(( $(date +%s)-t )) s: $(grep -a 'trained to' $OUT/train-2gpu.log)"
kill $p0 $p1
