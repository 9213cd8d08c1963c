#!/usr/bin/env bash
# Trains the Fashion-MNIST target models of the privacy study (VGG-16, ResNet-50,
# EfficientNet-B0 at 32x32, 1 channel, reduced width) into a cache folder,
# skipping models that are already there. See docs/training.md.
#
# usage: scripts/train-fashion-models.sh [vgg16] [resnet50] [efficientnet_b0]
#        (no argument: all three)
# environment:
#   TEESPLIT_MODEL_CACHE   cache folder (default ~/.cache/teesplit/models)
#   TEESPLIT_BIN           the teesplit CLI built with LibTorch (default build/teesplit)
#   TEESPLIT_TRAIN_THREADS LibTorch threads (default 2; use 1 on a busy machine)
#   TEESPLIT_EPOCHS        override every model's epoch count (for a quick trial)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${TEESPLIT_BIN:-$root/build/teesplit}
cache=${TEESPLIT_MODEL_CACHE:-$HOME/.cache/teesplit/models}
threads=${TEESPLIT_TRAIN_THREADS:-2}
export OPENBLAS_NUM_THREADS=1  # OpenBLAS threads fight LibTorch's OpenMP threads

if ! "$bin" train --help >/dev/null 2>&1; then
  echo "train-fashion-models: '$bin' has no train command (build it with LibTorch: libtorch-dev)" >&2
  exit 2
fi
mkdir -p "$cache"

# Per architecture: width, optimizer, learning rate, batch, epochs. VGG-16 has no
# BatchNormalization and stays at chance level with SGD for a long time; Adam
# gets it going.
declare -A cfg=(
  [vgg16]="--width 0.125 --optimizer adam --lr 0.001 --batch 64 --epochs 15"
  [resnet50]="--width 0.125 --optimizer sgd --lr 0.05 --batch 128 --epochs 15"
  [efficientnet_b0]="--width 0.25 --optimizer sgd --lr 0.05 --batch 128 --epochs 20"
)

archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || archs=(vgg16 resnet50 efficientnet_b0)
for arch in "${archs[@]}"; do
  [[ -n ${cfg[$arch]:-} ]] || { echo "train-fashion-models: unknown architecture '$arch'" >&2; exit 2; }
  out=$cache/fashion-mnist-$arch.onnx
  if [[ -f $out ]]; then
    echo "$out exists; skipped"
    continue
  fi
  read -r -a opts <<<"${cfg[$arch]}"
  if [[ -n ${TEESPLIT_EPOCHS:-} ]]; then opts+=(--epochs "$TEESPLIT_EPOCHS"); fi
  echo "training $arch -> $out (log: $cache/fashion-mnist-$arch.log)"
  # Summary lines (stdout) go to the log; the progress bar (stderr) to the terminal.
  "$bin" train --arch "$arch" --dataset fashion-mnist --input-size 32 --seed 0 \
    --threads "$threads" "${opts[@]}" -o "$out" | tee "$cache/fashion-mnist-$arch.log"
done
