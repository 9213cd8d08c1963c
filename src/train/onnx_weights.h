// Writing trained weights back into an ONNX ModelProto: initializers replaced by
// name (the topology stays as it is) and metadata set. No LibTorch here.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace teesplit {

// Replaces the data of each named initializer with the float32 tensor given
// (stored as raw_data, little-endian). Throws Error naming the initializer when
// it does not exist, is not float32, or its dims differ from the tensor's shape.
void replace_initializers(onnx::ModelProto& model,
                          const std::vector<std::pair<std::string, Tensor>>& values);

// Sets metadata_props[key] = value, replacing an existing entry.
void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value);

// Serialises model to path through a temporary file in the same folder and a
// rename, so that a reader never sees a partial file. Throws Error naming the file.
void write_model_file(const onnx::ModelProto& model, const std::string& path);

}  // namespace teesplit
