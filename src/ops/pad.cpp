// Pad (opset 11+: inputs pads and optional constant_value, which must be
// constants; opset 18+: optional axes, the dims pads refers to; opset 2:
// attributes pads and value). Modes constant (default), edge and reflect.
// Negative pads crop.
#include <cstring>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
struct PadGeom {
  std::string mode;
  std::vector<int64_t> begin;  // per dim
  Shape out;
};

PadGeom pad_geom(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Pad", in, 0, "data");
  ops::expect_known("Pad", "data", x);
  PadGeom g;
  g.mode = attrs.get_string("mode", "constant");
  TS_CHECK(g.mode == "constant" || g.mode == "edge" || g.mode == "reflect", "Pad: mode '", g.mode,
           "' is not supported (constant, edge, reflect)");
  std::vector<int64_t> pads =
      ops::has_input(in, 1) ? ops::const_ints("Pad", "pads", in[1]) : attrs.get_ints("pads");
  const size_t r = x.shape.size();
  if (ops::has_input(in, 3)) {  // opset 18: pads = [begins of axes..., ends of axes...]
    const std::vector<int64_t> axes = ops::const_ints("Pad", "axes", in[3]);
    TS_CHECK(pads.size() == 2 * axes.size(), "Pad: pads has ", pads.size(), " values, expected ",
             2 * axes.size(), " for ", axes.size(), " axes");
    std::vector<int64_t> full(2 * r, 0);
    std::vector<bool> seen(r, false);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t rank = static_cast<int64_t>(r);
      TS_CHECK(axes[i] >= -rank && axes[i] < rank, "Pad: axis ", axes[i],
               " is out of range for input ", shape_str(x.shape));
      const size_t a = static_cast<size_t>(axes[i] < 0 ? axes[i] + rank : axes[i]);
      TS_CHECK(!seen[a], "Pad: axis ", axes[i], " is given twice");
      seen[a] = true;
      full[a] = pads[i];
      full[a + r] = pads[i + axes.size()];
    }
    pads = std::move(full);
  }
  TS_CHECK(pads.size() == 2 * r, "Pad: pads has ", pads.size(), " values, expected ", 2 * r,
           " for input ", shape_str(x.shape));
  g.begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(r));
  g.out = x.shape;
  for (size_t d = 0; d < r; ++d) {
    const int64_t b = pads[d], e = pads[d + r];
    TS_CHECK(b > -(int64_t{1} << 40) && b < (int64_t{1} << 40) && e > -(int64_t{1} << 40) &&
                 e < (int64_t{1} << 40),
             "Pad: pads are implausibly large");
    g.out[d] = x.shape[d] + b + e;
    TS_CHECK(g.out[d] >= 0, "Pad: pads make dimension ", d, " of ", shape_str(x.shape),
             " negative");
    if (g.mode != "constant" && g.out[d] > 0) {
      TS_CHECK(x.shape[d] > 0, "Pad: mode ", g.mode, " cannot pad the empty dimension ", d);
      if (g.mode == "reflect")
        TS_CHECK(b < x.shape[d] && e < x.shape[d], "Pad: reflect pads of dimension ", d,
                 " must be smaller than its size ", x.shape[d]);
    }
  }
  if (ops::has_input(in, 2))
    TS_CHECK(in[2].dtype == x.dtype, "Pad: constant_value has type ", dtype_name(in[2].dtype),
             ", data has ", dtype_name(x.dtype));
  return g;
}

// Maps output coordinate o of a dim to an input coordinate, or -1 for padding.
int64_t source_coord(const std::string& mode, int64_t o, int64_t begin, int64_t dim) {
  int64_t i = o - begin;
  if (i >= 0 && i < dim) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : dim - 1;
  // reflect, without repeating the edge: -1 -> 1, dim -> dim - 2
  if (dim == 1) return 0;
  const int64_t period = 2 * (dim - 1);
  i %= period;
  if (i < 0) i += period;
  return i < dim ? i : period - i;
}
}  // namespace

std::vector<TensorInfo> infer_pad(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  PadGeom g = pad_geom(attrs, in);
  return {{in[0].dtype, g.out}};
}

std::vector<Tensor> run_pad(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  PadGeom g = pad_geom(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  const size_t elem = dtype_size(x.dtype());
  Tensor out(x.dtype(), g.out);
  // The fill value as the bytes of one element.
  Tensor fill(x.dtype(), {});
  if (in.size() > 2 && in[2]) {
    TS_CHECK(in[2]->numel() == 1, "Pad: constant_value must be a scalar, got shape ",
             shape_str(in[2]->shape()));
    std::memcpy(fill.raw(), in[2]->raw(), elem);
  } else if (x.dtype() == DType::F32) {
    fill.data<float>()[0] = attrs.get_float("value", 0.f);
  }
  const size_t r = g.out.size();
  const auto in_st = ops::strides_of(x.shape());
  // Source coordinate tables per dim (-1 = fill).
  std::vector<std::vector<int64_t>> src(r);
  for (size_t d = 0; d < r; ++d)
    for (int64_t o = 0; o < g.out[d]; ++o)
      src[d].push_back(source_coord(g.mode, o, g.begin[d], x.shape()[d]));
  auto* dst = static_cast<unsigned char*>(out.raw());
  const auto* sp = static_cast<const unsigned char*>(x.raw());
  std::vector<int64_t> idx(r, 0);
  for (int64_t k = 0; k < out.numel(); ++k) {
    int64_t off = 0;
    bool pad = false;
    for (size_t d = 0; d < r; ++d) {
      const int64_t s = src[d][static_cast<size_t>(idx[d])];
      if (s < 0) {
        pad = true;
        break;
      }
      off += s * in_st[d];
    }
    std::memcpy(
        dst + static_cast<size_t>(k) * elem,
        pad ? static_cast<const unsigned char*>(fill.raw()) : sp + static_cast<size_t>(off) * elem,
        elem);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < g.out[d]) break;
      idx[d] = 0;
    }
  }
  return {out};
}

}  // namespace teesplit
