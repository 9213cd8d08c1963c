// ReduceMean over `axes` (attribute, or the optional second input of opset 18;
// all axes when absent), keepdims default 1. Sums in double.
#include <array>
#include <set>

#include "ops/broadcast.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
// Which input dims are reduced.
std::vector<bool> reduced_dims(const Attrs& attrs, const std::vector<ValueInfo>& in,
                               const Shape& s) {
  std::vector<int64_t> axes =
      ops::has_input(in, 1) ? ops::const_ints("ReduceMean", "axes", in[1]) : attrs.get_ints("axes");
  std::vector<bool> red(s.size(), axes.empty());
  if (axes.empty() && attrs.get_int("noop_with_empty_axes", 0) != 0)
    std::fill(red.begin(), red.end(), false);
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    a = ops::norm_axis("ReduceMean", a, static_cast<int64_t>(s.size()));
    TS_CHECK(seen.insert(a).second, "ReduceMean: axis ", a, " is listed twice");
    red[static_cast<size_t>(a)] = true;
  }
  return red;
}
}  // namespace

std::vector<TensorInfo> infer_reduce_mean(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("ReduceMean", in, 0, "data");
  ops::expect_dtype("ReduceMean", "data", x, {DType::F32});
  ops::expect_known("ReduceMean", "data", x);
  auto red = reduced_dims(attrs, in, x.shape);
  const bool keep = attrs.get_int("keepdims", 1) != 0;
  Shape out;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    if (!red[i]) {
      out.push_back(x.shape[i]);
    } else {
      TS_CHECK(x.shape[i] > 0, "ReduceMean: cannot reduce the empty axis ", i, " of ",
               shape_str(x.shape));
      if (keep) out.push_back(1);
    }
  }
  return {{DType::F32, out}};
}

std::vector<Tensor> run_reduce_mean(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto infos = ops::infos_of(in);
  auto info = infer_reduce_mean(attrs, infos);
  const Tensor& x = *in[0];
  auto red = reduced_dims(attrs, infos, x.shape());
  // Output in keepdims layout; stride 0 along reduced dims.
  Shape kept = x.shape();
  int64_t count = 1;
  for (size_t i = 0; i < kept.size(); ++i)
    if (red[i]) {
      count *= kept[i];
      kept[i] = 1;
    }
  std::vector<double> acc(static_cast<size_t>(shape_numel(kept)), 0.0);
  const float* xd = x.data<float>();
  std::array<std::vector<int64_t>, 1> st = {broadcast_strides(kept, x.shape(), "ReduceMean")};
  broadcast_loop<1>(x.shape(), st,
                    [&](int64_t o, const std::array<int64_t, 1>& off,
                        const std::array<int64_t, 1>& inner, int64_t len) {
                      for (int64_t i = 0; i < len; ++i)
                        acc[static_cast<size_t>(off[0] + i * inner[0])] += xd[o + i];
                    });
  Tensor out(DType::F32, info[0].shape);
  float* y = out.data<float>();
  for (size_t i = 0; i < acc.size(); ++i)
    y[i] = static_cast<float>(acc[i] / static_cast<double>(count));
  return {out};
}

}  // namespace teesplit
