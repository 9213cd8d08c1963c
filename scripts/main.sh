#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, run on the default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF
./build/teesplit "$@"
