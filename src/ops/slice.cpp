// Slice (opset 10+: inputs starts, ends, optional axes and steps, which must be
// constants; opset 1: the attributes starts, ends, axes). Starts and ends are
// clamped as the ONNX specification says: to [0, dim] for positive steps and
// to [0, dim-1] / [-1, dim-1] for negative steps.
#include <algorithm>
#include <set>

#include "ops/copy_util.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
struct SliceGeom {
  Shape out;
  std::vector<int64_t> start, step;  // per data dim
};

SliceGeom slice_geom(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Slice", in, 0, "data");
  ops::expect_known("Slice", "data", x);
  std::vector<int64_t> starts, ends, axes, steps;
  if (ops::has_input(in, 1) || ops::has_input(in, 2)) {
    starts = ops::const_ints("Slice", "starts", ops::required("Slice", in, 1, "starts"));
    ends = ops::const_ints("Slice", "ends", ops::required("Slice", in, 2, "ends"));
    if (ops::has_input(in, 3)) axes = ops::const_ints("Slice", "axes", in[3]);
    if (ops::has_input(in, 4)) steps = ops::const_ints("Slice", "steps", in[4]);
  } else {
    TS_CHECK(attrs.has("starts") && attrs.has("ends"), "Slice: starts and ends are required");
    starts = attrs.get_ints("starts");
    ends = attrs.get_ints("ends");
    axes = attrs.get_ints("axes");
  }
  const auto r = static_cast<int64_t>(x.shape.size());
  TS_CHECK(starts.size() == ends.size(), "Slice: starts has ", starts.size(),
           " values but ends has ", ends.size());
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  TS_CHECK(axes.size() == starts.size() && steps.size() == starts.size(), "Slice: starts (",
           starts.size(), "), ends, axes (", axes.size(), ") and steps (", steps.size(),
           ") must have the same length");
  SliceGeom g;
  g.out = x.shape;
  g.start.assign(x.shape.size(), 0);
  g.step.assign(x.shape.size(), 1);
  std::set<int64_t> seen;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = ops::norm_axis("Slice", axes[i], r);
    TS_CHECK(seen.insert(a).second, "Slice: axis ", a, " is listed twice");
    const int64_t dim = x.shape[static_cast<size_t>(a)], step = steps[i];
    TS_CHECK(step != 0, "Slice: step must not be 0 (axis ", a, ")");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;  // no overflow: dim >= 0
    if (e < 0) e += dim;
    int64_t len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    g.out[static_cast<size_t>(a)] = len;
    g.start[static_cast<size_t>(a)] = len > 0 ? s : 0;
    g.step[static_cast<size_t>(a)] = len > 1 ? step : 1;  // |step| < dim when len > 1
  }
  return g;
}
}  // namespace

std::vector<TensorInfo> infer_slice(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  SliceGeom g = slice_geom(attrs, in);
  return {{in[0].dtype, g.out}};
}

std::vector<Tensor> run_slice(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  SliceGeom g = slice_geom(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  Tensor out(x.dtype(), g.out);
  auto st = ops::strides_of(x.shape());
  int64_t base = 0;
  std::vector<int64_t> src(st.size());
  for (size_t d = 0; d < st.size(); ++d) {
    base += g.start[d] * st[d];
    src[d] = g.step[d] * st[d];
  }
  ops::strided_copy(out.raw(), x.raw(), dtype_size(x.dtype()), out.shape(), src, base);
  return {out};
}

}  // namespace teesplit
