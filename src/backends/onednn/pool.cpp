// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool on the pooling
// primitive, in the input's layout.
#include "ops/pool.h"

#include "backends/onednn/compiler.h"

namespace teesplit::onednn {

using dnnl::algorithm;

bool Compiler::lower_pool(int ni) {
  const Node& n = node(ni);
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) return false;
  // MaxPool's optional Indices output has no mapping here.
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (n.outputs[k] >= 0 && (!consumers[static_cast<size_t>(n.outputs[k])].empty() ||
                              is_output[static_cast<size_t>(n.outputs[k])]))
      return false;
  const int x = n.inputs[0], out = n.outputs[0];
  const Shape& xs = val(x).shape;
  if (xs.size() != 4 || val(x).constant) return false;
  PoolParams p;
  algorithm alg;
  if (n.op == "GlobalAveragePool" || n.op == "GlobalMaxPool") {
    p.n = xs[0];
    p.c = xs[1];
    p.h = p.kh = xs[2];
    p.w = p.kw = xs[3];
    p.oh = p.ow = 1;
    alg = n.op == "GlobalMaxPool" ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
  } else {
    p = pool_params(n.attrs, xs);
    alg = n.op == "MaxPool"     ? algorithm::pooling_max
          : p.count_include_pad ? algorithm::pooling_avg_include_padding
                                : algorithm::pooling_avg_exclude_padding;
  }
  if (p.out_shape() != val(out).shape) return false;
  // ceil_mode: extend the end padding so that oneDNN produces oh x ow windows.
  const int64_t ekh = (p.kh - 1) * p.dil_h + 1, ekw = (p.kw - 1) * p.dil_w + 1;
  const int64_t pb = std::max(p.pad_bottom, (p.oh - 1) * p.stride_h + ekh - p.h - p.pad_top);
  const int64_t pr = std::max(p.pad_right, (p.ow - 1) * p.stride_w + ekw - p.w - p.pad_left);
  // oneDNN counts the whole window with include-padding; the reference counts
  // only taps inside the padded input, which differ when ceil_mode extends it.
  if (alg == algorithm::pooling_avg_include_padding && (pb != p.pad_bottom || pr != p.pad_right))
    return false;
  if ((p.h + p.pad_top + pb - ekh) / p.stride_h + 1 != p.oh ||
      (p.w + p.pad_left + pr - ekw) / p.stride_w + 1 != p.ow)
    return false;

  auto build = [&](Layout l, bool last) {
    const int sx = slot_in_layout(x, l);
    const memory::desc smd = slots[static_cast<size_t>(sx)].md;
    const memory::desc dmd = make_md(val(out).shape, l);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, smd, dmd,
                                     {p.stride_h, p.stride_w}, {p.kh, p.kw},
                                     {p.dil_h - 1, p.dil_w - 1}, {p.pad_top, p.pad_left}, {pb, pr});
    dnnl::pooling_v2_forward::primitive_desc pd(d, attr, eng);
    if (!last && is_ref(pd.impl_info_str())) return false;
    const int dst = new_slot_md(val(out).shape, dmd, l);
    add_prim(where(n) + ": pooling " + pd.impl_info_str(), dnnl::pooling_v2_forward(pd),
             {{DNNL_ARG_SRC, sx}, {DNNL_ARG_DST, dst}}, {}, pd.scratchpad_desc());
    bind_value(out, dst);
    return true;
  };
  const Layout cur = slots[static_cast<size_t>(slot_of(x))].layout;
  if (cur != Layout::Plain && build(cur, false)) return true;
  return build(Layout::Plain, true);
}

}  // namespace teesplit::onednn
