// ONNX export: writes a graph of the IR (typically a specialised back partition)
// as a standard ONNX ModelProto that any ONNX runtime can load. Constants become
// initializers (raw_data), every value keeps its known shape, and the result
// passes onnx::checker::check_model. Graph inputs and outputs may have a dynamic
// leading dimension (written as dim_param "batch"); intermediate values whose
// shape is not fully known get no value_info.
#pragma once

#include <string>

#include "graph/ir.h"

namespace teesplit {

struct ExportOptions {
  int64_t ir_version = 8;  // ONNX 1.12's IR version
  std::string producer = "teesplit";
};

// Serialized ModelProto; throws Error naming the node or value at fault (an
// unknown shape, a checker failure).
std::string export_onnx(const Graph& g, const ExportOptions& opts = {});
// Writes export_onnx(g) to path; throws Error naming the file.
void write_onnx(const std::string& path, const Graph& g, const ExportOptions& opts = {});

}  // namespace teesplit
