#include "graph/precision.h"

namespace teesplit {

int64_t reduction_length(const Graph& g, const Node& n) {
  const bool conv = n.op == "Conv", gemm = n.op == "Gemm", matmul = n.op == "MatMul";
  if (!conv && !gemm && !matmul) return 0;
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) return 0;
  const Value& w = g.value(n.inputs[1]);
  if (!w.constant || w.constant->dtype() != DType::F32) return 0;
  const Shape& s = w.constant->shape();
  if (conv) return s.size() == 4 ? s[1] * s[2] * s[3] : 0;
  if (s.size() != 2) return 0;
  if (gemm && n.attrs.get_int("transB", 0) != 0) return s[1];
  return s[0];
}

bool computes_in_bf16(const Graph& g, const Node& n) {
  return reduction_length(g, n) >= kBf16MinReduction;
}

int bf16_weight_value(const Graph& g, const Node& n) {
  return computes_in_bf16(g, n) ? n.inputs[1] : -1;
}

}  // namespace teesplit
