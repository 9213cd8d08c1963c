#!/usr/bin/env bash
# Writes a seed corpus for fuzz_front_file: small front files made by the
# teesplit CLI, each prefixed with the fuzzer's mode byte (0 plain, 1 keyed,
# 2 hash recomputed, 3 content only). See docs/front-file-format.md, section 7.
#   fuzz/make_seeds.sh PATH/TO/teesplit OUTDIR
set -euo pipefail
exe=${1:?usage: make_seeds.sh TEESPLIT OUTDIR}
out=${2:?usage: make_seeds.sh TEESPLIT OUTDIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
"$exe" zoo vgg16 -o "$work/v.onnx" --input-size 32 --width 0.125 --classes 10 >/dev/null
"$exe" zoo efficientnet_b0 -o "$work/e.onnx" --input-size 32 --width 0.25 --classes 10 >/dev/null
# The fuzzer's fixed key: byte i = (13 i + 1) mod 256.
for i in $(seq 0 31); do printf "\\x$(printf %02x $(((13 * i + 1) % 256)))"; done > "$work/fixed.key"
"$exe" split "$work/v.onnx" --at features.1 -o "$work/v" >/dev/null
"$exe" split "$work/e.onnx" --at features.0.2 -o "$work/e0" >/dev/null
"$exe" split "$work/e.onnx" --at features.1 -o "$work/e1" >/dev/null
"$exe" split "$work/v.onnx" --at features.1 -o "$work/vk" --key "$work/fixed.key" >/dev/null
for s in v e0 e1; do
  f="$work/$s/front.tsf"
  { printf '\x00'; cat "$f"; } > "$out/${s}_plain"
  { printf '\x02'; cat "$f"; } > "$out/${s}_rehash"
  { printf '\x03'; tail -c +65 "$f"; } > "$out/${s}_content"
done
{ printf '\x01'; cat "$work/vk/front.tsf"; } > "$out/v_sealed"
echo "wrote $(ls "$out" | wc -l) seeds to $out"
