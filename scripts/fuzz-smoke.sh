#!/usr/bin/env bash
# A short, bounded libFuzzer run of every fuzzer, for CI (docs/testing.md, Fuzzing):
# builds fuzz_front_file, fuzz_onnx_import, fuzz_input_files, fuzz_quote, fuzz_channel and fuzz_worker_messages with clang-14 in
# build-fuzz/ (ASan + coverage; CUDA, LibTorch, tests and benchmarks off; only the
# fuzz targets), then runs each for SECONDS (default 60) from a copy of its
# committed corpus, fuzz/corpus/fuzz_NAME/, under the limits teesplit promises:
# one allocation at most 1 GiB, 2 GiB resident (ASan's own overhead included),
# 20 s per input. Any finding fails the script, which prints where the input was
# saved and how to replay it; add that input to fuzz/corpus/fuzz_NAME/ with the fix.
#   scripts/fuzz-smoke.sh [SECONDS]
# The long runs of docs/testing.md are the same script: scripts/fuzz-smoke.sh 1800.
# Environment: FUZZ_BUILD_DIR (default build-fuzz; a tree configured elsewhere with
# TEESPLIT_FUZZ=ON, such as build-asan-clang/ from scripts/sanitizers.sh --with-fuzzers,
# is used as it is configured), FUZZ_JOBS (build jobs, default nproc), FUZZERS (a
# subset, e.g. "onnx_import input_files").
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz-smoke.sh [SECONDS]" >&2; exit 2; }
build=${FUZZ_BUILD_DIR:-build-fuzz}
read -r -a fuzzers <<<"${FUZZERS:-front_file onnx_import input_files quote channel worker_messages}"

t0=$SECONDS
if grep -qs '^TEESPLIT_FUZZ:BOOL=ON$' "$build/CMakeCache.txt" &&
   ! grep -qs '^TEESPLIT_FUZZ_SMOKE_TREE:INTERNAL=1$' "$build/CMakeCache.txt"; then
  # A tree configured elsewhere with the fuzzers in it, e.g. scripts/sanitizers.sh
  # --with-fuzzers address (build-asan-clang/: ASan + UBSan, -O1): left as it is
  # configured, its fuzzers only brought up to date.
  echo "fuzz-smoke: using the fuzzers of $build as configured there"
else
  # A unity build (each library's sources compiled as a few large files; docs/testing.md,
  # "What a build costs").
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DTEESPLIT_FUZZ=ON \
    -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF -DTEESPLIT_CUDA=OFF -DTEESPLIT_TORCH=OFF \
    -DTEESPLIT_REPORT_CHARTS=OFF -DTEESPLIT_FUZZ_SMOKE_TREE:INTERNAL=1 --no-warn-unused-cli >/dev/null
fi
cmake --build "$build" -j"${FUZZ_JOBS:-$(nproc)}" --target "${fuzzers[@]/#/fuzz_}"
echo "fuzz-smoke: build took $((SECONDS - t0)) s"

findings="$build/findings"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$findings"
failed=()
for f in "${fuzzers[@]}"; do
  t1=$SECONDS
  cp -r "fuzz/corpus/fuzz_$f" "$work/$f"
  log="$build/fuzz_$f-smoke.log"
  # allocator_may_return_null: a request ASan cannot serve at all becomes a
  # bad_alloc that teesplit turns into an error; -malloc_limit_mb catches the rest.
  if ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 \
      "$build/fuzz_$f" -max_total_time="$secs" -malloc_limit_mb=1024 -rss_limit_mb=2048 \
      -timeout=20 -print_final_stats=1 -artifact_prefix="$findings/fuzz_$f-" \
      "$work/$f" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz-smoke: fuzz_$f: ${runs:-?} inputs in $((SECONDS - t1)) s, ${cov:-cov: ?}, no finding"
  else
    failed+=("$f")
    echo "fuzz-smoke: fuzz_$f FAILED; the end of its log ($log):"
    tail -n 40 "$log"
    saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [[ -n "$saved" ]]; then
      echo "fuzz-smoke: the failing input was saved to $saved"
      echo "fuzz-smoke: replay it with: $build/fuzz_$f $saved"
    fi
  fi
done
echo "fuzz-smoke: total $((SECONDS - t0)) s"
if ((${#failed[@]})); then
  echo "fuzz-smoke: findings in: ${failed[*]} (inputs under $findings/)" >&2
  exit 1
fi
