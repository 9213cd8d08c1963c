#!/usr/bin/env bash
# Builds build/teesplit-enclave twice, in two build folders at different paths,
# and compares the binaries byte for byte: the same sources must give the same
# worker, hence the same measurement (docs/attestation.md). Prints both SHA-256
# and exits non-zero when they differ.
#   scripts/check-reproducible-enclave.sh [WORKDIR]   (default /var/tmp/teesplit-repro)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/teesplit-repro}
rm -rf "$work"
mkdir -p "$work"
git worktree add -q --detach "$work/src-a" HEAD
trap 'git worktree remove --force "$work/src-a" 2>/dev/null || true' EXIT
cp -r "$work/src-a" "$work/src-b-other-path"   # a second tree at another path
sums=()
for src in "$work/src-a" "$work/src-b-other-path"; do
  t0=$SECONDS
  cmake -S "$src" -B "$src/build-x" -DCMAKE_BUILD_TYPE=Release -DTEESPLIT_TESTS=OFF \
    -DTEESPLIT_BENCH=OFF -DTEESPLIT_CUDA=OFF -DTEESPLIT_REPORT_CHARTS=OFF >/dev/null
  cmake --build "$src/build-x" -j"$(nproc)" --target teesplit-enclave >/dev/null
  sum=$(sha256sum "$src/build-x/teesplit-enclave" | cut -d' ' -f1)
  echo "$src/build-x/teesplit-enclave: $sum ($((SECONDS - t0)) s)"
  sums+=("$sum")
done
if [ "${sums[0]}" = "${sums[1]}" ]; then
  echo "check-reproducible-enclave: PASS (identical workers)"
else
  echo "check-reproducible-enclave: FAIL (the two builds differ)"
  cmp "$work/src-a/build-x/teesplit-enclave" "$work/src-b-other-path/build-x/teesplit-enclave" | head -3 || true
  exit 1
fi
