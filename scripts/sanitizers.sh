#!/usr/bin/env bash
# The server's tests under sanitizers, for CI (docs/testing.md, "Sanitizers"):
# for each KIND (default: address thread) it builds, in build-asan/ or
# build-tsan/, only what these tests need (the CLI, the worker and eight
# test binaries; LibTorch, CUDA and the benchmarks off; unity builds, -O0 for ASan
# and -O1 for TSan, -g1: docs/testing.md, "What a build costs"), then
# runs them:
#   test_channel test_crypto_channel test_worker_messages   the channel, its
#       crypto and the host<->worker messages;
#   test_enclave              the worker through the launcher;
#   test_serve test_serve_security   teesplit serve and the gRPC client as
#       separate processes (8 concurrent clients, a killed worker, --user);
#   test_batcher test_serve_load   the back partition's batching stage, and
#       serve with 64 clients: batching, a killed worker, a full queue,
#       deadlines, the drain on SIGTERM.
# address: AddressSanitizer + UndefinedBehaviorSanitizer (TEESPLIT_SANITIZE=ON);
# thread: ThreadSanitizer, with tests/tsan.supp (OpenMP and oneDNN, which are
# not instrumented; the reason is in that file). Every process the tests start
# is instrumented too; a report in any of them fails the run, including the
# workers, whose environment is empty (their log lines reach the servers' logs,
# which are searched afterwards).
# Left out: the tests that scan process memory through /proc/PID/mem (a
# sanitizer's shadow mappings are terabytes of address space) and the whole
# Fashion-MNIST test set (10,000 requests down the same code path as the others).
#   scripts/sanitizers.sh [--build-only | --tests-only] [--with-fuzzers] [address] [thread]
# --build-only builds and stops; --tests-only runs the tests of builds made before
# (.ci/run builds at low priority beside its other stages, and runs each kind's tests
# once that kind's build is done).
# --with-fuzzers: the address build uses clang-14 instead of GCC, in build-asan-clang/,
# and holds the libFuzzer targets too (-fsanitize=fuzzer-no-link), so that one build
# serves these tests and scripts/fuzz-smoke.sh (FUZZ_BUILD_DIR=build-asan-clang); .ci/run
# uses it. That tree is built at -O1, not -O0: at -O0 the ONNX importer's constant folding
# is so slow that fuzz_onnx_import spent 14 s on one seed of its corpus and explored
# nothing in a 10 s run (at -O1: 3 s, and 1,200 inputs/s). The long fuzzing runs keep
# fuzz-smoke.sh's own Release build (docs/testing.md, "Fuzzing").
# Environment: SANITIZER_JOBS (build jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
do_build=1
do_tests=1
with_fuzzers=0
kinds=()
for arg in "$@"; do
  case $arg in
    --build-only) do_tests=0 ;;
    --tests-only) do_build=0 ;;
    --with-fuzzers) with_fuzzers=1 ;;
    *) kinds+=("$arg") ;;
  esac
done
[ ${#kinds[@]} = 0 ] && kinds=(address thread)
targets=(teesplit teesplit-enclave test_channel test_crypto_channel test_worker_messages
         test_enclave test_serve test_serve_security test_batcher test_serve_load)
# Their test suites (each test in its own process, as ctest runs them).
suites='Frame|FrameReader|ChannelKeys|SecureChannel|ChannelSeeds|CryptoX25519|CryptoHkdf|CryptoAesGcm|CryptoAesGcmTamper|WorkerMessages|Enclave|Serve|ServeSecurity|Batcher|ServeLoad'
left_out='Serve\.PlaintextInputNeverReachesTheHost|ServeSecurity\.SessionKeysAndInputAreNotInTheWorkersReadableMemory|Serve\.WholeTestSetThroughTheEnclaveMatchesTheUnsplitModel'
status=0
for kind in "${kinds[@]}"; do
  extra=()
  kind_targets=("${targets[@]}")
  case $kind in
    address) dir=build-asan; flag=ON; opt=-O0 ;;
    thread) dir=build-tsan; flag=thread; opt=-O1 ;;
    *) echo "sanitizers.sh: unknown kind '$kind' (address, thread)" >&2; exit 2 ;;
  esac
  if [ "$kind" = address ] && ((with_fuzzers)); then
    command -v clang++-14 >/dev/null ||
      { echo "sanitizers.sh: --with-fuzzers needs clang-14 (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
    dir=build-asan-clang
    opt=-O1
    extra=(-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DTEESPLIT_FUZZ=ON)
    kind_targets+=(fuzzers)  # every fuzz_* target (fuzz/CMakeLists.txt)
  fi
  if ((do_build)); then
    t0=$SECONDS
    # Unity builds (each library's sources compiled as a few large files) take half the
    # compiler time of separate files, and -O0 another 40% less. Not for TSan: at -O0
    # the executable keeps out-of-line copies of libstdc++'s inline functions, which
    # gRPC's uninstrumented code then calls, and TSan reports their accesses against
    # ordering it cannot see (docs/testing.md). Line tables (-g1) keep file:line.
    cmake -S . -B "$dir" -DTEESPLIT_SANITIZE=$flag -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_FLAGS_DEBUG="$opt -g1" -DCMAKE_C_FLAGS_DEBUG="$opt -g1" \
      -DTEESPLIT_TESTS=ON -DTEESPLIT_BENCH=OFF -DTEESPLIT_CUDA=OFF -DTEESPLIT_TORCH=OFF \
      -DTEESPLIT_REPORT_CHARTS=OFF "${extra[@]}" >/dev/null
    cmake --build "$dir" -j"${SANITIZER_JOBS:-$(nproc)}" --target "${kind_targets[@]}"
    echo "sanitizers.sh: $kind: build in $dir took $((SECONDS - t0)) s"
  fi
  ((do_tests)) || continue
  [ -x "$dir/test_serve" ] || { echo "sanitizers.sh: $kind: no build in $dir (run without --tests-only)" >&2; status=1; continue; }
  t1=$SECONDS
  rm -rf "$dir/test-generated"
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  # intercept_send=0: TSan's send/sendmsg wrapper reads every buffer sent, and the buffers
  # that gRPC (uninstrumented) fills on one thread and sends on another look racy to it;
  # handling and suppressing those took 100 of the 64-client test's 170 s. What is lost:
  # the read of our own frames inside sendmsg (channel/frame.cpp); the code that fills
  # and frees them stays checked.
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1:intercept_send=0"
  failed=()
  log="$dir/sanitizers-ctest.log"
  if ctest --test-dir "$dir" -j2 --output-on-failure --timeout 600 -R "^($suites)\." \
      -E "^($left_out)\$" >"$log" 2>&1; then
    echo "sanitizers.sh: $kind: $(grep -E 'tests passed' "$log")"
  else
    failed+=(ctest)
    echo "sanitizers.sh: $kind: ctest FAILED; the end of $log:"
    tail -n 80 "$log"
  fi
  # Reports from the processes the tests started (servers, and their workers).
  reports=$(grep -rlE 'ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer' \
    "$dir/test-generated" "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
  if [ -n "$reports" ]; then
    failed+=(reports)
    echo "sanitizers.sh: $kind: sanitizer reports in:"
    echo "$reports"
    for f in $reports; do grep -m1 -A30 -E 'Sanitizer|runtime error' "$f"; done
  fi
  echo "sanitizers.sh: $kind: tests took $((SECONDS - t1)) s"
  if ((${#failed[@]})); then
    echo "sanitizers.sh: $kind: FAILED: ${failed[*]}" >&2
    status=1
  fi
done
exit $status
