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
// Seeds: /usr/bin/python3 fuzz/make_onnx_seeds.py CORPUS_DIR
// Run (bounded): build-fuzz/fuzz_onnx_import -max_total_time=300 -rss_limit_mb=4096 CORPUS_DIR
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
    // Shapes as a session would pick them; then every pass a backend relies on.
    const std::vector<teesplit::Shape> shapes = teesplit::default_input_shapes(*g, 1);
    int64_t elems = 0;
    for (const auto& s : shapes) {
      int64_t n = 1;
      for (int64_t d : s) n *= d > 0 ? d : 1;
      elems += n;
    }
    if (elems > (int64_t{1} << 22)) return 0;  // keep runs fast: no huge inputs
    teesplit::specialize(*g, shapes);
  } catch (const teesplit::Error&) {
    // refused with a message: fine
  }
  return 0;
}
