// Gemm and MatMul with a constant right-hand side as inner_product with bias
// and activation post-ops.
#include "backends/onednn/compiler.h"
#include "graph/precision.h"

namespace teesplit::onednn {

bool Compiler::lower_gemm(int ni) {
  const Node& n = node(ni);
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0 || n.outputs.empty()) return false;
  const int a = n.inputs[0], b = n.inputs[1];
  int cv = n.inputs.size() > 2 ? n.inputs[2] : -1;
  const bool is_gemm = n.op == "Gemm";
  if (val(a).constant || !val(b).constant) return false;
  const Shape& as = val(a).shape;
  const Shape& bs = val(b).shape;
  if (as.size() != 2 || bs.size() != 2) return false;
  const bool trans_a = is_gemm && n.attrs.get_int("transA", 0) != 0;
  const bool trans_b = is_gemm && n.attrs.get_int("transB", 0) != 0;
  const float alpha = is_gemm ? n.attrs.get_float("alpha", 1.f) : 1.f;
  const float beta = is_gemm ? n.attrs.get_float("beta", 1.f) : 1.f;
  if (trans_a) return false;
  const int64_t M = as[0], K = as[1];
  const int64_t N = trans_b ? bs[0] : bs[1];
  if ((trans_b ? bs[1] : bs[0]) != K) return false;
  int v = n.outputs[0];
  if (val(v).shape != Shape{M, N}) return false;
  // Bias: Gemm's C, or MatMul followed by Add of a constant [N] / [1, N].
  auto bias_ok = [&](int id) {
    if (id < 0 || !val(id).constant || val(id).constant->dtype() != DType::F32) return false;
    const Shape& s = val(id).shape;
    return val(id).constant->numel() == N && (s == Shape{N} || s == Shape{1, N});
  };
  if (cv >= 0 && !bias_ok(cv)) return false;
  std::vector<int> fused;
  if (!is_gemm) {
    int c = sole_consumer(v);
    if (c >= 0 && !consumed[c] && node(c).op == "Add" && node(c).inputs.size() == 2) {
      const Node& add = node(c);
      int other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
      if (bias_ok(other) && val(add.outputs[0]).shape == val(v).shape) {
        cv = other;
        consumed[c] = 1;
        v = add.outputs[0];
      }
    }
  }
  dnnl::post_ops po;
  v = match_activation(v, po);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(po);

  // bf16: bf16 source and weights, fp32 accumulation and fp32 destination.
  const bool in_bf16 = bf16 && computes_in_bf16(g, n);
  const Layout src_layout = in_bf16 ? Layout::PlainBf16 : Layout::Plain;
  const memory::desc src_md = make_md({M, K}, src_layout);
  const memory::desc dst_md = make_md({M, N}, Layout::Plain);
  const memory::desc w_any({N, K}, in_bf16 ? memory::data_type::bf16 : memory::data_type::f32,
                           Tag::any);
  const memory::desc b_md({N}, memory::data_type::f32, Tag::x);
  dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, src_md, w_any,
                                      cv >= 0 ? b_md : memory::desc(), dst_md);
  dnnl::inner_product_forward::primitive_desc pd(d, attr, eng);

  std::vector<std::pair<int, memory>> fixed;
  // Weights [N, K] ("oi"); B is [N, K] with transB, else [K, N] ("io").
  const memory::desc w_user({N, K}, memory::data_type::f32, trans_b ? Tag::oi : Tag::io);
  if (alpha == 1.f) {
    fixed.emplace_back(DNNL_ARG_WEIGHTS,
                       constant_memory(*val(b).constant, w_user, pd.weights_desc()));
  } else {
    Tensor scaled = val(b).constant->clone();
    float* d = scaled.data<float>();
    for (int64_t i = 0; i < scaled.numel(); ++i) d[i] *= alpha;
    fixed.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(scaled, w_user, pd.weights_desc()));
  }
  if (cv >= 0) {
    Tensor bias = val(cv).constant->reshaped({N});
    if (beta != 1.f) {
      bias = bias.clone();
      float* d = bias.data<float>();
      for (int64_t i = 0; i < N; ++i) d[i] *= beta;
    }
    fixed.emplace_back(DNNL_ARG_BIAS, constant_memory(bias, b_md, b_md));
  }
  const int sa = slot_in_layout(a, src_layout);
  const int dst = new_slot_md({M, N}, dst_md, Layout::Plain);
  add_prim(where(n) + ": inner_product " + (in_bf16 ? "bf16 " : "") + pd.impl_info_str(),
           dnnl::inner_product_forward(pd), {{DNNL_ARG_SRC, sa}, {DNNL_ARG_DST, dst}},
           std::move(fixed), pd.scratchpad_desc());
  bind_value(v, dst);
  return true;
}

}  // namespace teesplit::onednn
