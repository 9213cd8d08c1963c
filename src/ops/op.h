// The operator interface: every operator has a shape-inference function and a
// plain C++ reference kernel. The reference kernels are the oracle that every
// other backend is tested against; they favour clarity over speed.
#pragma once

#include <string_view>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace teesplit {

// What shape inference knows about one input: absent optional inputs have
// present == false. `value` is set when the input is a constant (initializer or
// folded), which Reshape, Unsqueeze (opset 13) and friends need.
struct ValueInfo {
  bool present = false;
  DType dtype = DType::F32;
  Shape shape;
  const Tensor* value = nullptr;
};

struct TensorInfo {
  DType dtype = DType::F32;
  Shape shape;
};

// Shape inference: output dtypes and shapes from input infos; throws Error naming
// the mismatch. Inputs have known shapes (a session fixes every dimension first).
using InferFn = std::vector<TensorInfo> (*)(const Attrs&, const std::vector<ValueInfo>&);
// Reference kernel: absent optional inputs are nullptr. Returns at least the
// required outputs (optional extra outputs may be omitted).
using KernelFn = std::vector<Tensor> (*)(const Attrs&, const std::vector<const Tensor*>&);

struct OpSchema {
  std::string_view type;  // ONNX op_type
  int min_inputs;
  int max_inputs;
  int max_outputs;
  InferFn infer;
  KernelFn run;
};

// nullptr when the operator is not supported.
const OpSchema* find_op(std::string_view type);
// All supported operators, in the order of the registration table.
const std::vector<OpSchema>& all_ops();

}  // namespace teesplit
