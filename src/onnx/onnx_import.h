// ONNX import (libonnx + protobuf): read a .onnx file (external data too),
// run the ONNX checker and shape inference, and build the graph IR.
#pragma once

#include <string>

#include "core/error.h"
#include "graph/ir.h"

namespace teesplit {

struct ImportOptions {
  bool run_checker = true;
  // ONNX's own shape inference, to fill value shapes before specialisation. Off: teesplit
  // infers every shape itself, and libonnx 1.12's crashes on some malformed models
  // (fuzz/fuzz_onnx_import) that teesplit refuses with an error.
  bool run_shape_inference = false;
};

// Opsets accepted for the default ("ai.onnx") domain. Opsets 18 to 22 changed,
// for the supported operators and float32 data, only ReduceMean (axes as an
// input, 18), Pad (an axes input, 18; mode wrap, 19, refused) and AveragePool
// (dilations, 19); the rest added types. PyTorch's torch.export-based exporter
// writes opset 18. For an opset newer than the ONNX library teesplit was built
// with knows, its checker and shape inference are skipped; teesplit's own
// structural checks and shape inference still run.
constexpr int64_t kMinOpset = 11;
constexpr int64_t kMaxOpset = 22;

// Errors name the file and, where one is at fault, the node: "model.onnx: node
// 'conv1' (Conv): input 'w' is not an initializer or graph input".
Result<Graph> load_onnx(const std::string& path, const ImportOptions& opts = {});
// Same, from serialized bytes; `base_dir` resolves external-data file names.
Result<Graph> parse_onnx(const std::string& bytes, const std::string& base_dir,
                         const std::string& origin, const ImportOptions& opts = {});

}  // namespace teesplit
