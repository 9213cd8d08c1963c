#!/usr/bin/env bash
# Configures and builds teesplit into build/ (extra arguments go to cmake).
set -euo pipefail
cd "$(dirname "$0")/.."
# The chart scripts that teesplit report builds into the binary, as web/package-lock.json
# pins them (cmake/web_assets.cmake reads web/node_modules); installed again only when
# the lock file changes. --ignore-scripts: no package runs code at install time.
if ! cmp -s web/package-lock.json web/node_modules/.teesplit-installed-lock; then
  command -v npm >/dev/null || { echo "build.sh: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
  (cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json web/node_modules/.teesplit-installed-lock
fi
# A first configure makes a unity build (each library's sources compiled a few at a time
# as one file): from nothing, the test build takes 7m24s instead of 10m21s and 30% less
# CPU (docs/testing.md, "What a build costs"). A tree configured before keeps its setting,
# and -DCMAKE_UNITY_BUILD=OFF (an argument, so it comes last) gives one file per compile,
# which rebuilds less after an edit.
unity=()
[ -f build/CMakeCache.txt ] || unity=(-DCMAKE_UNITY_BUILD=ON)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${unity[@]}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
