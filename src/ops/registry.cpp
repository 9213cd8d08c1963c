// The explicit registration table of the reference operators.
#include <algorithm>
#include <string>

#include "ops/kernels.h"
#include "ops/op.h"

namespace teesplit {

const std::vector<OpSchema>& all_ops() {
  // {type, min_inputs, max_inputs, max_outputs, infer, run}
  static const std::vector<OpSchema> table = {
      {"Conv", 2, 3, 1, infer_conv, run_conv},
      {"Gemm", 2, 3, 1, infer_gemm, run_gemm},
      {"MatMul", 2, 2, 1, infer_matmul, run_matmul},
      {"Relu", 1, 1, 1, infer_unary_float, run_relu},
      {"Clip", 1, 3, 1, infer_clip, run_clip},
      {"Sigmoid", 1, 1, 1, infer_unary_float, run_sigmoid},
      {"HardSigmoid", 1, 1, 1, infer_unary_float, run_hard_sigmoid},
      {"HardSwish", 1, 1, 1, infer_unary_float, run_hard_swish},
      {"LeakyRelu", 1, 1, 1, infer_unary_float, run_leaky_relu},
      {"Tanh", 1, 1, 1, infer_unary_float, run_tanh},
      {"Exp", 1, 1, 1, infer_unary_float, run_exp},
      {"Sqrt", 1, 1, 1, infer_unary_float, run_sqrt},
      {"Neg", 1, 1, 1, infer_unary_float, run_neg},
      {"Add", 2, 2, 1, infer_binary_arith, run_add},
      {"Sub", 2, 2, 1, infer_binary_arith, run_sub},
      {"Mul", 2, 2, 1, infer_binary_arith, run_mul},
      {"Div", 2, 2, 1, infer_binary_arith, run_div},
      {"Max", 1, 1 << 16, 1, infer_min_max, run_max},
      {"Min", 1, 1 << 16, 1, infer_min_max, run_min},
      {"MaxPool", 1, 1, 1, infer_max_pool, run_max_pool},
      {"AveragePool", 1, 1, 1, infer_average_pool, run_average_pool},
      {"GlobalAveragePool", 1, 1, 1, infer_global_pool, run_global_average_pool},
      {"GlobalMaxPool", 1, 1, 1, infer_global_pool, run_global_max_pool},
      {"BatchNormalization", 5, 5, 1, infer_batch_norm, run_batch_norm},
      {"Flatten", 1, 1, 1, infer_flatten, run_flatten},
      {"Reshape", 2, 2, 1, infer_reshape, run_reshape},
      {"Squeeze", 1, 2, 1, infer_squeeze, run_squeeze},
      {"Unsqueeze", 1, 2, 1, infer_unsqueeze, run_unsqueeze},
      {"Transpose", 1, 1, 1, infer_transpose, run_transpose},
      {"Concat", 1, 1 << 16, 1, infer_concat, run_concat},
      {"Identity", 1, 1, 1, infer_identity, run_identity},
      {"Dropout", 1, 3, 2, infer_dropout, run_dropout},
      {"Shape", 1, 1, 1, infer_shape, run_shape},
      {"Size", 1, 1, 1, infer_size, run_size},
      {"Gather", 2, 2, 1, infer_gather, run_gather},
      {"Constant", 0, 0, 1, infer_constant, run_constant},
      {"Softmax", 1, 1, 1, infer_softmax, run_softmax},
      {"ReduceMean", 1, 2, 1, infer_reduce_mean, run_reduce_mean},
      {"Cast", 1, 1, 1, infer_cast, run_cast},
      {"Slice", 1, 5, 1, infer_slice, run_slice},
      {"Pad", 1, 4, 1, infer_pad, run_pad},
  };
  return table;
}

const OpSchema* find_op(std::string_view type) {
  const auto& t = all_ops();
  auto it = std::find_if(t.begin(), t.end(), [&](const OpSchema& s) { return s.type == type; });
  return it == t.end() ? nullptr : &*it;
}

namespace {
const OpSchema& checked_schema(std::string_view type, size_t num_inputs) {
  const OpSchema* op = find_op(type);
  TS_CHECK(op, "operator ", std::string(type), " is not supported");
  TS_CHECK(static_cast<int64_t>(num_inputs) >= op->min_inputs &&
               static_cast<int64_t>(num_inputs) <= op->max_inputs,
           std::string(type), ": takes ", op->min_inputs, " to ", op->max_inputs, " inputs, got ",
           num_inputs);
  return *op;
}
}  // namespace

std::vector<Tensor> run_op(std::string_view type, const Attrs& attrs,
                           const std::vector<const Tensor*>& inputs) {
  return checked_schema(type, inputs.size()).run(attrs, inputs);
}

std::vector<TensorInfo> infer_op(std::string_view type, const Attrs& attrs,
                                 const std::vector<ValueInfo>& inputs) {
  return checked_schema(type, inputs.size()).infer(attrs, inputs);
}

}  // namespace teesplit
