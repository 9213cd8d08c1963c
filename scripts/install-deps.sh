#!/usr/bin/env bash
# Installs everything teesplit needs to build and test on Debian 12 (run as root).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake git pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler   # ONNX import
  libdnnl-dev ocl-icd-opencl-dev                  # CPU kernels (oneDNN; its CMake config needs OpenCL, only a Recommends)
  libssl-dev                                      # crypto
  libseccomp-dev                                  # the enclave worker's seccomp allow-list
  libgrpc++-dev protobuf-compiler-grpc            # serving: teesplit serve, infer (gRPC)
  libcpp-httplib-dev                              # serve --metrics-listen: /metrics over HTTP
  nlohmann-json3-dev libcli11-dev                 # manifests and JSON; the command line
  libpng-dev libjpeg-dev zlib1g-dev               # images, gzip
  libgtest-dev libgmock-dev libbenchmark-dev      # tests, benchmarks
  libtorch-dev libopenblas0-pthread               # training, attacks, LibTorch peer (OpenBLAS: else LibTorch uses the reference BLAS)
  dataset-fashion-mnist                           # the offline data set
  python3 python3-numpy python3-pil python3-torch python3-torchvision python3-onnx python3-skimage  # test oracles and fixtures
  chromium                                        # renders the HTML report in its test (headless)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node.js runs ONNX Runtime (npm onnxruntime-node) for the back.onnx check and the benchmarks;
# npm installs the report's chart scripts (web/, scripts/build.sh).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing nodejs npm"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "install-deps: all build and test dependencies present"
