#!/usr/bin/env bash
# CI's cuda stage: the CUDA backend (src/backends/cuda) and the runtime that calls it
# compile and link as a library, where the CUDA toolkit is installed. Nothing runs: CI
# has no GPU (scripts/device-check.sh runs the CUDA tests on a device). The fresh-machine
# stage cannot cover this, since the toolkit is not a Debian package, and the whole suite
# there builds without it. One architecture (sm_90) is enough to check the code compiles.
# Usage: scripts/cuda-compile-check.sh   (env CUDA_CHECK_BUILD_DIR, default build-cuda-check)
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if [ ! -x "$nvcc" ]; then
  echo "cuda-compile-check: no CUDA toolkit ($nvcc is missing): nothing to check here"
  exit 0
fi
build=${CUDA_CHECK_BUILD_DIR:-build-cuda-check}
t0=$SECONDS
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DTEESPLIT_CUDA=ON -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF \
  -DTEESPLIT_TORCH=OFF -DTEESPLIT_REPORT_CHARTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target teesplit_cuda teesplit_runtime
echo "cuda-compile-check: the CUDA backend and the runtime compiled with $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/nvcc \1/p') in $((SECONDS - t0)) s"
