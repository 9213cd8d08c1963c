// Eltwise activations, binary arithmetic and the activation post-op matcher.
#include <cfloat>

#include "backends/activation.h"
#include "backends/onednn/compiler.h"

namespace teesplit::onednn {

using dnnl::algorithm;

EltwiseSpec eltwise_for(const Activation& a) {
  switch (a.kind) {
    case ActKind::Relu:
      return {algorithm::eltwise_relu, 0.f, 0.f};
    case ActKind::LeakyRelu:
      return {algorithm::eltwise_relu, a.alpha, 0.f};
    case ActKind::Sigmoid:
      return {algorithm::eltwise_logistic, 0.f, 0.f};
    case ActKind::Tanh:
      return {algorithm::eltwise_tanh, 0.f, 0.f};
    case ActKind::Exp:
      return {algorithm::eltwise_exp, 0.f, 0.f};
    case ActKind::Sqrt:
      return {algorithm::eltwise_sqrt, 0.f, 0.f};
    case ActKind::Neg:
      return {algorithm::eltwise_linear, -1.f, 0.f};
    case ActKind::HardSwish:
      return {algorithm::eltwise_hardswish, 0.f, 0.f};
    case ActKind::HardSigmoid:
      return {algorithm::eltwise_linear, a.alpha, a.beta, /*then_clip01=*/true};
    case ActKind::Clip:  // an absent bound is the largest finite float
      return {algorithm::eltwise_clip, a.min.value_or(-FLT_MAX), a.max.value_or(FLT_MAX)};
    case ActKind::SiLU:
      return {algorithm::eltwise_swish, 1.f, 0.f};
  }
  fail("onednn: unknown activation kind ", static_cast<int>(a.kind));
}

std::optional<EltwiseSpec> eltwise_spec(const Graph& g, const Node& n) {
  auto a = activation_of(g, n);
  if (!a) return std::nullopt;
  return eltwise_for(*a);
}

namespace {
void append(dnnl::post_ops& po, const EltwiseSpec& s) {
  po.append_eltwise(1.f, s.alg, s.alpha, s.beta);
  if (s.then_clip01) po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 1.f);
}
}  // namespace

int Compiler::match_activation(int v, dnnl::post_ops& po) {
  const Readers r{g, consumers, is_output, consumed};
  for (int round = 0; round < 3; ++round) {
    auto m = fusable_activation(r, v);
    if (!m) break;
    append(po, eltwise_for(m->act));
    consumed[static_cast<size_t>(m->node)] = 1;
    if (m->mul >= 0) consumed[static_cast<size_t>(m->mul)] = 1;
    v = m->out;
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
  // A standalone SiLU: Sigmoid(x) read only by Mul(x, sigmoid); x may have other readers.
  if (n.op == "Sigmoid") {
    const int mi = silu_mul(Readers{g, consumers, is_output, consumed}, ni);
    if (mi >= 0) {
      Activation silu;
      silu.kind = ActKind::SiLU;
      spec = eltwise_for(silu);
      consumed[static_cast<size_t>(mi)] = 1;
      out = node(mi).outputs[0];
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
  // (Not on bf16 activations: the generic binary below keeps them bf16.)
  if (n.op == "Mul" && tuning.se_depthwise && os.size() == 4 && os[0] == 1 && os[1] % 16 == 0 &&
      bs == Shape{1, os[1], 1, 1} && !val(b).constant &&
      !layout_is_bf16(slots[static_cast<size_t>(slot_of(a))].layout)) {
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
