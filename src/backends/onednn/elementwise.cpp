// Eltwise activations, binary arithmetic and the activation post-op matcher.
#include <cfloat>

#include "backends/onednn/compiler.h"

namespace teesplit::onednn {

using dnnl::algorithm;

namespace {

// A constant scalar input of node n, or `def` when absent; nullopt when the
// input is present but not a constant.
std::optional<float> const_scalar(const Graph& g, const Node& n, size_t i, float def) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) return def;
  const Value& v = g.value(n.inputs[i]);
  if (!v.constant || v.constant->numel() != 1) return std::nullopt;
  return static_cast<float>(v.constant->as_double(0));
}

}  // namespace

std::optional<EltwiseSpec> eltwise_spec(const Graph& g, const Node& n) {
  const std::string& op = n.op;
  if (n.inputs.empty() || n.inputs[0] < 0) return std::nullopt;
  if (op == "Relu") return EltwiseSpec{algorithm::eltwise_relu, 0.f, 0.f};
  if (op == "LeakyRelu")
    return EltwiseSpec{algorithm::eltwise_relu, n.attrs.get_float("alpha", 0.01f), 0.f};
  if (op == "Sigmoid") return EltwiseSpec{algorithm::eltwise_logistic, 0.f, 0.f};
  if (op == "Tanh") return EltwiseSpec{algorithm::eltwise_tanh, 0.f, 0.f};
  if (op == "Exp") return EltwiseSpec{algorithm::eltwise_exp, 0.f, 0.f};
  if (op == "Sqrt") return EltwiseSpec{algorithm::eltwise_sqrt, 0.f, 0.f};
  if (op == "Abs") return EltwiseSpec{algorithm::eltwise_abs, 0.f, 0.f};
  if (op == "Neg") return EltwiseSpec{algorithm::eltwise_linear, -1.f, 0.f};
  if (op == "HardSwish") return EltwiseSpec{algorithm::eltwise_hardswish, 0.f, 0.f};
  if (op == "HardSigmoid") {
    EltwiseSpec s{algorithm::eltwise_linear, n.attrs.get_float("alpha", 0.2f),
                  n.attrs.get_float("beta", 0.5f)};
    s.then_clip01 = true;
    return s;
  }
  if (op == "Clip") {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (n.attrs.has("min") || n.attrs.has("max") || n.inputs.size() == 1) {
      lo = n.attrs.get_float("min", lo);
      hi = n.attrs.get_float("max", hi);
    }
    auto a = const_scalar(g, n, 1, lo), b = const_scalar(g, n, 2, hi);
    if (!a || !b) return std::nullopt;
    return EltwiseSpec{algorithm::eltwise_clip, *a, *b};
  }
  return std::nullopt;
}

namespace {
void append(dnnl::post_ops& po, const EltwiseSpec& s) {
  po.append_eltwise(1.f, s.alg, s.alpha, s.beta);
  if (s.then_clip01) po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 1.f);
}
}  // namespace

int Compiler::match_activation(int v, dnnl::post_ops& po) {
  for (int round = 0; round < 3; ++round) {
    // SiLU: Mul(v, Sigmoid(v)) with no other readers of v or of the sigmoid.
    const auto& cv = consumers[static_cast<size_t>(v)];
    if (!is_output[static_cast<size_t>(v)] && cv.size() == 2 && cv[0] != cv[1]) {
      int si = node(cv[0]).op == "Sigmoid" ? cv[0] : cv[1];
      int mi = si == cv[0] ? cv[1] : cv[0];
      const Node& s = node(si);
      const Node& m = node(mi);
      if (s.op == "Sigmoid" && m.op == "Mul" && !consumed[si] && !consumed[mi] &&
          s.outputs.size() == 1 && m.inputs.size() == 2 && sole_consumer(s.outputs[0]) == mi &&
          ((m.inputs[0] == v && m.inputs[1] == s.outputs[0]) ||
           (m.inputs[1] == v && m.inputs[0] == s.outputs[0])) &&
          val(m.outputs[0]).shape == val(v).shape) {
        po.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
        consumed[si] = consumed[mi] = 1;
        v = m.outputs[0];
        continue;
      }
    }
    int c = sole_consumer(v);
    if (c < 0 || consumed[c]) break;
    const Node& n = node(c);
    if (n.inputs[0] != v || n.outputs.empty() || n.outputs[0] < 0) break;
    auto spec = eltwise_spec(g, n);
    if (!spec) break;
    append(po, *spec);
    consumed[c] = 1;
    v = n.outputs[0];
  }
  return v;
}

bool Compiler::lower_eltwise(int ni) {
  const Node& n = node(ni);
  auto spec = eltwise_spec(g, n);
  if (!spec || n.outputs.empty() || n.outputs[0] < 0) return false;
  int x = n.inputs[0];
  if (val(x).shape.empty()) return false;
  int out = n.outputs[0];
  // A standalone SiLU: Sigmoid(x) read only by Mul(x, sigmoid).
  if (n.op == "Sigmoid") {
    int mi = sole_consumer(out);
    if (mi >= 0 && !consumed[mi]) {
      const Node& m = node(mi);
      if (m.op == "Mul" && m.inputs.size() == 2 && (m.inputs[0] == x || m.inputs[1] == x) &&
          val(m.outputs[0]).shape == val(x).shape) {
        spec = EltwiseSpec{algorithm::eltwise_swish, 1.f, 0.f};
        consumed[mi] = 1;
        out = m.outputs[0];
      }
    }
  }
  int sx = slot_of(x);
  if (slots[static_cast<size_t>(sx)].constant) return false;
  const memory::desc md = slots[static_cast<size_t>(sx)].md;
  const Layout l = slots[static_cast<size_t>(sx)].layout;
  int dst = new_slot_md(val(out).shape, md, l);
  auto make = [&](algorithm alg, float a, float b, int src_slot) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, md, a, b);
    dnnl::eltwise_forward::primitive_desc pd(d, attr, eng);
    add_prim(where(n) + ": eltwise " + pd.impl_info_str(), dnnl::eltwise_forward(pd),
             {{DNNL_ARG_SRC, src_slot}, {DNNL_ARG_DST, dst}}, {}, pd.scratchpad_desc());
  };
  make(spec->alg, spec->alpha, spec->beta, sx);
  if (spec->then_clip01) make(algorithm::eltwise_clip, 0.f, 1.f, dst);
  bind_value(out, dst);
  return true;
}

namespace {
std::optional<algorithm> binary_alg(const std::string& op) {
  if (op == "Add") return algorithm::binary_add;
  if (op == "Sub") return algorithm::binary_sub;
  if (op == "Mul") return algorithm::binary_mul;
  if (op == "Div") return algorithm::binary_div;
  if (op == "Max") return algorithm::binary_max;
  if (op == "Min") return algorithm::binary_min;
  return std::nullopt;
}
}  // namespace

bool Compiler::lower_binary(int ni) {
  const Node& n = node(ni);
  auto alg = binary_alg(n.op);
  if (!alg || n.inputs.size() != 2 || n.inputs[0] < 0 || n.inputs[1] < 0 || n.outputs.empty())
    return false;
  int a = n.inputs[0], b = n.inputs[1];
  const int out = n.outputs[0];
  const Shape& os = val(out).shape;
  const bool commutative = n.op == "Add" || n.op == "Mul" || n.op == "Max" || n.op == "Min";
  if (val(a).shape != os && commutative && val(b).shape == os) std::swap(a, b);
  if (val(a).shape != os || val(a).constant || os.empty() || os.size() > 6) return false;
  Shape bs = val(b).shape;
  if (bs.size() > os.size()) return false;
  while (bs.size() < os.size()) bs.insert(bs.begin(), 1);
  for (size_t i = 0; i < os.size(); ++i)
    if (bs[i] != os[i] && bs[i] != 1) return false;

  // Squeeze-excitation: x[1,C,H,W] * s[1,C,1,1] as a depthwise 1x1 convolution
  // whose weights are s itself (C % 16 == 0 makes Goihw16g the plain layout).
  if (n.op == "Mul" && tuning.se_depthwise && os.size() == 4 && os[0] == 1 && os[1] % 16 == 0 &&
      bs == Shape{1, os[1], 1, 1} && !val(b).constant) {
    const int64_t C = os[1];
    int sx = tuning.blocked ? slot_in_layout(a, Layout::Blocked16) : slot_of(a);
    int ss = slot_of(b);
    memory::desc wmd({C, 1, 1, 1, 1}, memory::data_type::f32, Tag::Goihw16g);
    if (slots[static_cast<size_t>(ss)].md.get_size() == static_cast<size_t>(C) * 4 &&
        wmd.get_size() == static_cast<size_t>(C) * 4) {
      const memory::desc xmd = slots[static_cast<size_t>(sx)].md;
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                        algorithm::convolution_direct, xmd, wmd, xmd, {1, 1},
                                        {0, 0}, {0, 0});
      dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
      if (!is_ref(pd.impl_info_str())) {
        int w = view_slot(ss, {C, 1, 1, 1, 1}, wmd, Layout::Plain);
        int dst = new_slot_md(os, xmd, slots[static_cast<size_t>(sx)].layout);
        add_prim(where(n) + ": channel scale as depthwise conv " + pd.impl_info_str(),
                 dnnl::convolution_forward(pd),
                 {{DNNL_ARG_SRC, sx}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}}, {},
                 pd.scratchpad_desc());
        bind_value(out, dst);
        return true;
      }
    }
  }

  dnnl::post_ops po;
  const int final_out = match_activation(out, po);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(po);

  auto build = [&](bool force_plain) {
    int sa = force_plain ? slot_in_layout(a, Layout::Plain) : slot_of(a);
    const memory::desc amd = slots[static_cast<size_t>(sa)].md;
    const Layout l = slots[static_cast<size_t>(sa)].layout;
    const bool full = bs == os;
    memory::desc bmd = full ? amd : make_md(bs, Layout::Plain);
    dnnl::binary::desc d(*alg, amd, bmd, amd);
    dnnl::binary::primitive_desc pd(d, attr, eng);
    if (!force_plain && l != Layout::Plain && is_ref(pd.impl_info_str())) return false;
    std::vector<std::pair<int, memory>> fixed;
    std::vector<std::pair<int, int>> args{{DNNL_ARG_SRC_0, sa}};
    if (val(b).constant) {
      memory::desc cmd = make_md(bs, Layout::Plain);
      fixed.emplace_back(DNNL_ARG_SRC_1, constant_memory(*val(b).constant, cmd, bmd));
    } else if (full) {
      args.emplace_back(DNNL_ARG_SRC_1, slot_with_md(b, bmd, l));
    } else {
      int sb = slot_in_layout(b, Layout::Plain);
      args.emplace_back(DNNL_ARG_SRC_1, view_slot(sb, bs, bmd, Layout::Plain));
    }
    int dst = new_slot_md(os, amd, l);
    args.emplace_back(DNNL_ARG_DST, dst);
    add_prim(where(n) + ": binary " + pd.impl_info_str(), dnnl::binary(pd), std::move(args),
             std::move(fixed), pd.scratchpad_desc());
    bind_value(final_out, dst);
    return true;
  };
  if (!build(false)) build(true);
  return true;
}

}  // namespace teesplit::onednn
