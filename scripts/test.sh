#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTEESPLIT_TESTS=ON -DTEESPLIT_BENCH=OFF
# ONNX Runtime for the test that runs back.onnx in another runtime (pinned in bench/package.json;
# --ignore-scripts: its postinstall would try to download CUDA libraries).
if [ ! -d bench/node_modules/onnxruntime-node ]; then
  (cd bench && npm install --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    echo "test: npm install of onnxruntime-node failed; the ONNX Runtime checks will skip"
fi
# OpenMP threads spin between kernels; two test processes on two cores is the sweet spot.
ctest --test-dir build --output-on-failure -j2 --timeout 900
