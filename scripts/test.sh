#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build, run ctest,
# then list the tests that did not run, grouped by reason. Under CI=true a skip
# for anything but missing hardware or a missing kernel feature fails the run
# (docs/testing.md, "Skips").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTEESPLIT_TESTS=ON -DTEESPLIT_BENCH=OFF
# ONNX Runtime for the test that runs back.onnx in another runtime, exactly as
# bench/package-lock.json pins it (--ignore-scripts: its postinstall would try to
# download CUDA libraries). A failed install fails the run.
(cd bench && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# OpenMP threads spin between kernels; two test processes on two cores is the sweet spot.
junit="$PWD/build/ctest-junit.xml"
rm -f "$junit"
status=0
ctest --test-dir build --output-on-failure -j2 --timeout 900 --output-junit "$junit" || status=$?
python3 scripts/ci-skip-report.py "$junit" || { rc=$?; [ "$status" != 0 ] || status=$rc; }
exit "$status"
