// libFuzzer target for the ONNX importer (onnx/onnx_import.h) and the passes a
// loaded model goes through before any backend sees it (specialize: shape
// inference, constant folding, BatchNorm folding). A model is untrusted input:
// teesplit must refuse a malformed one with teesplit::Error, never crash.
// Opsets past the linked ONNX library's (18 and later with Debian's 1.12) skip
// ONNX's own checker and shape inference, so teesplit's checks stand alone there;
// the seeds (fuzz/make_onnx_seeds.py) cover both sides.
// Build: cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
//          -DTEESPLIT_FUZZ=ON -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF -DTEESPLIT_CUDA=OFF
//        cmake --build build-fuzz --target fuzz_onnx_import -j2
// Corpus: fuzz/corpus/onnx_import (seeds from fuzz/make_onnx_seeds.py, plus every
// input that once failed); scripts/fuzz-smoke.sh runs it, docs/testing.md has the
// long runs. Every input must finish within core/limits.h's bounds: run with
// -malloc_limit_mb=1024 -rss_limit_mb=2048.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "graph/passes.h"
#include "onnx/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto g = teesplit::parse_onnx(bytes, "/nonexistent-fuzz-dir", "fuzz.onnx");
  if (!g.ok()) return 0;
  try {
    // What `teesplit info` does: shapes as a session would pick them (batch 1),
    // then every pass a backend relies on. Nothing here allocates the inputs, so
    // no input size is excluded: core/limits.h bounds what folding may create.
    teesplit::specialize(*g, teesplit::default_input_shapes(*g, 1));
  } catch (const teesplit::Error&) {
    // refused with a message: fine
  }
  return 0;
}
