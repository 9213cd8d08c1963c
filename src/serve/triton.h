// A Triton Inference Server model repository for a split's back partition:
// REPO/NAME/config.pbtxt for Triton's ONNX Runtime backend and
// REPO/NAME/1/model.onnx (the split's back.onnx, byte for byte). The layout
// and the fields: deploy/triton/README.md. `teesplit serve --back
// kserve://TRITON:8001/NAME` then runs the back partition on Triton.
#pragma once

#include <string>

#include "core/shape.h"

namespace teesplit::serve {

struct TritonRepoOptions {
  std::string split_dir;
  std::string model_name = "back";
  int64_t max_batch = 32;             // max_batch_size; the batch dimension is dims' first
  int64_t max_queue_delay_us = 1000;  // dynamic_batching; 0 leaves dynamic batching out
  std::string instance_kind = "gpu";  // "gpu" (KIND_GPU) or "cpu" (KIND_CPU)
  int instance_count = 1;
};

// The back partition's interface, as config.pbtxt states it (dims without the
// batch dimension).
struct TritonModelConfig {
  std::string input_name, output_name;
  Shape input_dims, output_dims;
  std::string text;  // config.pbtxt
};

// config.pbtxt for the split (its back.onnx checked against the manifest and
// run once at batch 1 for its output shape). Throws Error naming what is wrong.
TritonModelConfig triton_model_config(const TritonRepoOptions& opts);

// Writes REPO/NAME/config.pbtxt and REPO/NAME/1/model.onnx; returns the config.
TritonModelConfig write_triton_repository(const TritonRepoOptions& opts, const std::string& repo);

}  // namespace teesplit::serve
