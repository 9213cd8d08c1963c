#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTEESPLIT_TESTS=ON -DTEESPLIT_BENCH=OFF
# OpenMP threads spin between kernels; two test processes on two cores is the sweet spot.
ctest --test-dir build --output-on-failure -j2 --timeout 900
