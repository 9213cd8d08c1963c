// Conv with fused post-ops (activation, residual sum, activation), in blocked
// layouts where oneDNN has a fast kernel, Winograd for large 3x3 layers.
#include "ops/conv.h"

#include <cmath>

#include "backends/onednn/compiler.h"
#include "graph/precision.h"

namespace teesplit::onednn {

using dnnl::algorithm;

bool Compiler::lower_conv(int ni) {
  const Node& n = node(ni);
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0 || n.outputs.empty()) return false;
  const int x = n.inputs[0], wv = n.inputs[1];
  const int bv = n.inputs.size() > 2 ? n.inputs[2] : -1;
  if (!val(wv).constant || (bv >= 0 && !val(bv).constant) || val(x).constant) return false;
  if (val(x).shape.size() != 4 || val(wv).shape.size() != 4) return false;
  const ConvParams p = conv_params(n.attrs, val(x).shape, val(wv).shape);
  if (bv >= 0)
    TS_CHECK(val(bv).constant->numel() == p.oc, "onednn: ", where(n), ": bias has ",
             val(bv).constant->numel(), " values for ", p.oc, " output channels");
  emit_conv(ni, x, p, *val(wv).constant, bv >= 0 ? &*val(bv).constant : nullptr,
            bf16 && computes_in_bf16(g, n));
  return true;
}

// BatchNormalization (inference) as a depthwise 1x1 convolution:
// y = x * s + t with s = scale / sqrt(var + eps), t = B - mean * s.
bool Compiler::lower_batchnorm(int ni) {
  const Node& n = node(ni);
  if (n.inputs.size() != 5 || n.outputs.empty() || n.attrs.get_int("training_mode", 0) != 0)
    return false;
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (n.outputs[k] >= 0 && (!consumers[static_cast<size_t>(n.outputs[k])].empty() ||
                              is_output[static_cast<size_t>(n.outputs[k])]))
      return false;
  const int x = n.inputs[0];
  if (x < 0 || val(x).constant || val(x).shape.size() != 4) return false;
  const int64_t C = val(x).shape[1];
  for (size_t k = 1; k < 5; ++k) {
    const int id = n.inputs[k];
    if (id < 0 || !val(id).constant || val(id).constant->dtype() != DType::F32 ||
        val(id).constant->numel() != C)
      return false;
  }
  const double eps = n.attrs.get_float("epsilon", 1e-5f);
  const float* scale = val(n.inputs[1]).constant->data<float>();
  const float* shift = val(n.inputs[2]).constant->data<float>();
  const float* mean = val(n.inputs[3]).constant->data<float>();
  const float* var = val(n.inputs[4]).constant->data<float>();
  Tensor w(DType::F32, {C, 1, 1, 1}), b(DType::F32, {C});
  for (int64_t c = 0; c < C; ++c) {
    const double s = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    w.data<float>()[c] = static_cast<float>(s);
    b.data<float>()[c] = static_cast<float>(shift[c] - mean[c] * s);
  }
  ConvParams p;
  p.n = val(x).shape[0];
  p.c = p.oc = p.group = C;
  p.h = p.oh = val(x).shape[2];
  p.w = p.ow = val(x).shape[3];
  p.kh = p.kw = 1;
  emit_conv(ni, x, p, w, &b);
  return true;
}

void Compiler::emit_conv(int ni, int x, const ConvParams& p, const Tensor& weights,
                         const Tensor* bias, bool in_bf16) {
  const Node& n = node(ni);
  const int out = n.outputs[0];
  const Shape os = p.out_shape();
  TS_CHECK(os == val(out).shape, "onednn: ", where(n), ": output shape ", shape_str(os),
           " differs from the graph's ", shape_str(val(out).shape));

  // Choose the implementation before fusing (fusion marks nodes consumed).
  struct Cand {
    algorithm alg;
    Layout src, dst;
  };
  std::vector<Cand> cands;
  const Layout cur = slots[static_cast<size_t>(slot_of(x))].layout;
  if (in_bf16) {
    // bf16 source, weights and destination, fp32 accumulation: brgemm kernels
    // (AMX or AVX512_BF16) want channels-last. No fp32 fallback: precision bf16
    // never turns into a silent fp32 run.
    cands.push_back({algorithm::convolution_direct, Layout::NhwcBf16, Layout::NhwcBf16});
  } else if (tuning.blocked) {
    const bool wino = tuning.winograd && p.kh == 3 && p.kw == 3 && p.stride_h == 1 &&
                      p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && p.group == 1 &&
                      p.c >= 64 && p.oc >= 64 && p.oh >= 14 && p.ow >= 14;
    if (wino)
      cands.push_back({algorithm::convolution_winograd, Layout::Blocked16, Layout::Blocked16});
    if (cur == Layout::Plain && p.c < 16 && p.group == 1)
      cands.push_back({algorithm::convolution_direct, Layout::Plain, Layout::Blocked16});
    cands.push_back({algorithm::convolution_direct, Layout::Blocked16, Layout::Blocked16});
  }
  if (!in_bf16) cands.push_back({algorithm::convolution_direct, Layout::Plain, Layout::Plain});

  memory::dims wdims = p.group == 1
                           ? memory::dims{p.oc, p.c, p.kh, p.kw}
                           : memory::dims{p.group, p.oc / p.group, p.c / p.group, p.kh, p.kw};
  const Tag wtag = p.group == 1 ? Tag::oihw : Tag::goihw;
  const memory::desc w_any(wdims, in_bf16 ? memory::data_type::bf16 : memory::data_type::f32,
                           Tag::any);
  const memory::desc b_md({p.oc}, memory::data_type::f32, Tag::x);
  const memory::dims strides{p.stride_h, p.stride_w}, dil{p.dil_h - 1, p.dil_w - 1},
      pad_l{p.pad_top, p.pad_left}, pad_r{p.pad_bottom, p.pad_right};

  // Post-ops from the consumer chain: activation, residual Add, activation.
  dnnl::post_ops po;
  int v = match_activation(out, po);
  int sum_other = -1;
  int c = sole_consumer(v);
  if (c >= 0 && !consumed[c] && node(c).op == "Add" && node(c).inputs.size() == 2 &&
      !node(c).outputs.empty()) {
    const Node& add = node(c);
    int other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
    if (other >= 0 && other != v && !val(other).constant &&
        value_slot[static_cast<size_t>(other)] >= 0 && val(other).shape == os &&
        val(add.outputs[0]).shape == os) {
      sum_other = other;
      po.append_sum(1.f);
      consumed[c] = 1;
      v = match_activation(add.outputs[0], po);
    }
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(po);

  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  Cand chosen{};
  for (size_t k = 0; k < cands.size(); ++k) {
    const Cand& cd = cands[k];
    try {
      dnnl::convolution_forward::desc d(
          dnnl::prop_kind::forward_inference, cd.alg, make_md(val(x).shape, cd.src), w_any,
          bias ? b_md : memory::desc(), make_md(os, cd.dst), strides, dil, pad_l, pad_r);
      dnnl::convolution_forward::primitive_desc cpd(d, attr, eng);
      if (is_ref(cpd.impl_info_str()) && k + 1 < cands.size()) continue;
      pd = cpd;
      chosen = cd;
      break;
    } catch (const dnnl::error&) {
      if (k + 1 == cands.size()) throw;
    }
  }
  TS_CHECK(pd, "onednn: ", where(n), ": no convolution implementation");

  const int sx = slot_in_layout(x, chosen.src);
  const memory::desc dst_md = make_md(os, chosen.dst);
  int dst = -1;
  if (sum_other >= 0) {
    int so = slot_of(sum_other);
    if (slots[static_cast<size_t>(so)].md == dst_md && storage_free_after(so, c)) {
      dst = view_slot(so, os, dst_md, chosen.dst);  // accumulate in place
    } else {
      dst = new_slot_md(os, dst_md, chosen.dst);
      int src = slot_with_md(sum_other, dst_md, chosen.dst);
      add_reorder(src, dst, where(n) + ": residual copy of '" + val(sum_other).name + "'");
    }
  } else {
    dst = new_slot_md(os, dst_md, chosen.dst);
  }

  std::vector<std::pair<int, memory>> fixed;
  const memory::desc w_plain(wdims, memory::data_type::f32, wtag);
  fixed.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(weights, w_plain, pd->weights_desc()));
  if (bias) fixed.emplace_back(DNNL_ARG_BIAS, constant_memory(*bias, b_md, b_md));
  std::string label = where(n) + ": convolution " + (in_bf16 ? "bf16 " : "") + pd->impl_info_str();
  if (po.len() > 0) label += " + " + std::to_string(po.len()) + " post-op(s)";
  std::vector<std::pair<int, int>> args{{DNNL_ARG_SRC, sx}, {DNNL_ARG_DST, dst}};
  add_prim(label, dnnl::convolution_forward(*pd), std::move(args), std::move(fixed),
           pd->scratchpad_desc());
  if (sum_other >= 0) steps.back().reads.push_back(dst);
  bind_value(v, dst);
}

}  // namespace teesplit::onednn
