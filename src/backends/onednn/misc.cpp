// Softmax, Concat, and the zero-copy views Reshape / Flatten / Squeeze / Unsqueeze.
#include "backends/onednn/compiler.h"

namespace teesplit::onednn {

bool Compiler::lower_softmax(int ni) {
  const Node& n = node(ni);
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty()) return false;
  const int x = n.inputs[0], out = n.outputs[0];
  const Shape& xs = val(x).shape;
  if (xs.empty() || xs.size() > 6 || val(x).constant) return false;
  const int64_t r = static_cast<int64_t>(xs.size());
  // The importer marks opset < 13 Softmax with _legacy_flatten: the input is
  // coerced to 2-D at `axis` (default 1).
  const bool legacy = n.attrs.get_int("_legacy_flatten", 0) != 0;
  int64_t axis = normalize_axis(n.attrs.get_int("axis", legacy ? 1 : -1), r);
  Shape s = xs;
  if (legacy && axis != r - 1) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= xs[static_cast<size_t>(i)];
    s = {outer, inner};
    axis = 1;
  }
  const memory::desc md = make_md(s, Layout::Plain);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, static_cast<int>(axis));
  dnnl::softmax_forward::primitive_desc pd(d, attr, eng);
  int sx = slot_in_layout(x, Layout::Plain);
  if (s != xs) sx = view_slot(sx, s, md, Layout::Plain);
  int dst = new_slot_md(s, md, Layout::Plain);
  add_prim(where(n) + ": softmax " + pd.impl_info_str(), dnnl::softmax_forward(pd),
           {{DNNL_ARG_SRC, sx}, {DNNL_ARG_DST, dst}}, {}, pd.scratchpad_desc());
  if (s != xs) dst = view_slot(dst, xs, make_md(xs, Layout::Plain), Layout::Plain);
  bind_value(out, dst);
  return true;
}

bool Compiler::lower_concat(int ni) {
  const Node& n = node(ni);
  if (n.inputs.empty() || n.outputs.empty()) return false;
  const int out = n.outputs[0];
  const Shape& os = val(out).shape;
  if (os.empty() || os.size() > 6) return false;
  const int64_t axis = normalize_axis(n.attrs.get_int("axis", 1), static_cast<int64_t>(os.size()));
  std::vector<int> ins;
  for (int in : n.inputs) {
    if (in < 0) return false;
    if (val(in).shape.size() != os.size()) return false;
    if (val(in).shape[static_cast<size_t>(axis)] == 0) continue;  // contributes nothing
    ins.push_back(in);
  }
  if (ins.empty()) return false;
  // Channels concatenated in the inputs' layout when they all share nChw16c
  // (whole blocks only) or nhwc; plain otherwise.
  Layout l = Layout::Plain;
  if (tuning.blocked && os.size() == 4 && axis == 1 && !val(ins[0]).constant) {
    const Layout first = slots[static_cast<size_t>(slot_of(ins[0]))].layout;
    bool same = first == Layout::Blocked16 || first == Layout::Nhwc;
    for (int in : ins)
      if (val(in).constant || slots[static_cast<size_t>(slot_of(in))].layout != first ||
          (first == Layout::Blocked16 && val(in).shape[1] % 16 != 0))
        same = false;
    if (same) l = first;
  }
  std::vector<memory::desc> mds;
  for (int in : ins) mds.push_back(make_md(val(in).shape, l));
  const memory::desc dmd = make_md(os, l);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::concat::primitive_desc pd(dmd, static_cast<int>(axis), mds, eng, attr);
  std::vector<std::pair<int, int>> args;
  std::vector<std::pair<int, memory>> fixed;
  for (size_t k = 0; k < ins.size(); ++k) {
    const int arg = DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k);
    if (val(ins[k]).constant)
      fixed.emplace_back(arg, constant_memory(*val(ins[k]).constant, mds[k], mds[k]));
    else
      args.emplace_back(arg, slot_in_layout(ins[k], l));
  }
  const int dst = new_slot_md(os, dmd, l);
  args.emplace_back(DNNL_ARG_DST, dst);
  add_prim(where(n) + ": concat " + pd.impl_info_str(), dnnl::concat(pd), std::move(args),
           std::move(fixed), pd.scratchpad_desc());
  bind_value(out, dst);
  return true;
}

bool Compiler::lower_view(int ni) {
  const Node& n = node(ni);
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) return false;
  const int x = n.inputs[0], out = n.outputs[0];
  if (val(x).constant) return false;
  const Shape& os = val(out).shape;
  if (shape_numel(os) != shape_numel(val(x).shape) || val(out).dtype != val(x).dtype) return false;
  const int sx = slot_in_layout(x, Layout::Plain);
  const memory::desc md = val(x).dtype == DType::F32 ? make_md(os, Layout::Plain) : memory::desc();
  bind_value(out, view_slot(sx, os, md, Layout::Plain));
  return true;
}

}  // namespace teesplit::onednn
