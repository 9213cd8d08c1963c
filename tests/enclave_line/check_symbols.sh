#!/usr/bin/env bash
# usage: check_symbols.sh BINARY expect-clean|expect-dirty
# Fails when BINARY links or contains protobuf, libonnx, gRPC, LibTorch or CUDA code
# (expect-clean), or, as the check's own control, when it does not
# (expect-dirty). A static link hides from ldd, so the defined symbols are
# searched too.
set -euo pipefail
bin=${1:?usage: check_symbols.sh BINARY expect-clean|expect-dirty}
mode=${2:?usage: check_symbols.sh BINARY expect-clean|expect-dirty}
pattern='google::protobuf|(^| )onnx::|(^| )torch::|(^| )at::|(^| )c10::|cudaMalloc|cudnn|cublas|(^| )grpc::'
# Names and paths only: the load address (0x00007f65849c1000) can spell "c10".
libs=$(ldd "$bin" | sed -E 's/ *\(0x[0-9a-f]+\)$//' |
  grep -E -i 'protobuf|libonnx|torch|c10|cuda|cudnn|cublas|grpc' || true)
syms=$(nm -C --defined-only "$bin" | grep -E "$pattern" | head -5 || true)
found="$libs$syms"
if [[ $mode == expect-clean ]]; then
  if [[ -n $found ]]; then
    echo "$bin links what the enclave must not:"
    echo "$libs"
    echo "$syms"
    exit 1
  fi
  echo "$bin: no protobuf, libonnx, gRPC, LibTorch or CUDA (ldd and nm)"
else
  if [[ -z $found ]]; then
    echo "control failed: $bin should contain protobuf/libonnx and the check found none"
    exit 1
  fi
  echo "control: the check finds protobuf/libonnx in $bin, as it should"
fi
