// Public entry points of the reference kernels, one infer_* / run_* pair per
// operator (the functions the registration table in registry.cpp points at),
// plus helpers other code may reuse. Everything is also reachable through
// find_op() in ops/op.h.
#pragma once

#include <string_view>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace teesplit {

// Looks up `type`, checks the input count against its schema and runs the
// reference kernel. Throws Error("<type>: ...") on any problem.
std::vector<Tensor> run_op(std::string_view type, const Attrs& attrs,
                           const std::vector<const Tensor*>& inputs);
// Same for shape inference.
std::vector<TensorInfo> infer_op(std::string_view type, const Attrs& attrs,
                                 const std::vector<ValueInfo>& inputs);

// Y[m, n] = sum_k A[m, k] * Bt[n, k] (both row-major, Bt is B transposed), with
// float partial sums flushed into double every few hundred terms so that long
// reductions stay accurate. Parallel over (m, n) with OpenMP.
void gemm_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* bt, float* y);

#define TEESPLIT_OP_FUNCS(name)                                                               \
  std::vector<TensorInfo> infer_##name(const Attrs& attrs, const std::vector<ValueInfo>& in); \
  std::vector<Tensor> run_##name(const Attrs& attrs, const std::vector<const Tensor*>& in)

// conv.cpp
TEESPLIT_OP_FUNCS(conv);
// gemm.cpp, matmul.cpp
TEESPLIT_OP_FUNCS(gemm);
TEESPLIT_OP_FUNCS(matmul);
// elementwise.cpp: unary float ops share infer_unary_float.
std::vector<TensorInfo> infer_unary_float(const Attrs& attrs, const std::vector<ValueInfo>& in);
std::vector<Tensor> run_relu(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_sigmoid(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_hard_sigmoid(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_hard_swish(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_leaky_relu(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_tanh(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_exp(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_sqrt(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_neg(const Attrs& attrs, const std::vector<const Tensor*>& in);
TEESPLIT_OP_FUNCS(clip);
// Add, Sub, Mul, Div share infer_binary_arith (numpy broadcasting; F32, I64, I32).
std::vector<TensorInfo> infer_binary_arith(const Attrs& attrs, const std::vector<ValueInfo>& in);
std::vector<Tensor> run_add(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_sub(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_mul(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_div(const Attrs& attrs, const std::vector<const Tensor*>& in);
// Max, Min: variadic (one or more inputs), numpy broadcasting, NaN propagates.
std::vector<TensorInfo> infer_min_max(const Attrs& attrs, const std::vector<ValueInfo>& in);
std::vector<Tensor> run_max(const Attrs& attrs, const std::vector<const Tensor*>& in);
std::vector<Tensor> run_min(const Attrs& attrs, const std::vector<const Tensor*>& in);
// pool.cpp
TEESPLIT_OP_FUNCS(max_pool);
TEESPLIT_OP_FUNCS(average_pool);
std::vector<TensorInfo> infer_global_pool(const Attrs& attrs, const std::vector<ValueInfo>& in);
std::vector<Tensor> run_global_average_pool(const Attrs& attrs,
                                            const std::vector<const Tensor*>& in);
std::vector<Tensor> run_global_max_pool(const Attrs& attrs, const std::vector<const Tensor*>& in);
// batchnorm.cpp
TEESPLIT_OP_FUNCS(batch_norm);
// shape_ops.cpp
TEESPLIT_OP_FUNCS(flatten);
TEESPLIT_OP_FUNCS(reshape);
TEESPLIT_OP_FUNCS(squeeze);
TEESPLIT_OP_FUNCS(unsqueeze);
TEESPLIT_OP_FUNCS(identity);
TEESPLIT_OP_FUNCS(dropout);
TEESPLIT_OP_FUNCS(shape);
// The Shape operator's output for an input of shape dims (start/end applied),
// without the input's data: graph passes fold Shape nodes with it.
Tensor shape_of_dims(const Attrs& attrs, const Shape& dims);
TEESPLIT_OP_FUNCS(size);
// transpose.cpp, concat.cpp, gather.cpp, constant.cpp
TEESPLIT_OP_FUNCS(transpose);
TEESPLIT_OP_FUNCS(concat);
TEESPLIT_OP_FUNCS(gather);
TEESPLIT_OP_FUNCS(constant);
// softmax.cpp: "_legacy_flatten" = 1 selects the opset < 13 semantics.
TEESPLIT_OP_FUNCS(softmax);
// reduce.cpp, cast.cpp, slice.cpp, pad.cpp
TEESPLIT_OP_FUNCS(reduce_mean);
TEESPLIT_OP_FUNCS(cast);
TEESPLIT_OP_FUNCS(slice);
TEESPLIT_OP_FUNCS(pad);

#undef TEESPLIT_OP_FUNCS

}  // namespace teesplit
