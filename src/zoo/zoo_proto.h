// The zoo's ModelProto-level entry points, for code that already speaks
// protobuf (tests, a trainer that replaces initializers by name). Kept apart from
// zoo.h so that users of the byte-level API need no ONNX headers.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>

#include "zoo/zoo.h"

namespace teesplit {

// The model of zoo_model_bytes(opts), before serialization; checked.
onnx::ModelProto zoo_model_proto(const ZooOptions& opts);

// Sum of element counts of the initializers that are trainable parameters:
// every initializer except BN running statistics (names ending in
// ".running_mean" / ".running_var"). Counts from the dims, so it works on any model.
int64_t count_parameters(const onnx::ModelProto& model);

}  // namespace teesplit
