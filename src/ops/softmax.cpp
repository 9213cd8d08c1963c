// Softmax. Opset >= 13: along one axis (default -1). With the importer's
// attribute "_legacy_flatten" = 1 (opset < 13 models): the input is seen as 2-D
// [prod(dims[:axis]), prod(dims[axis:])] (axis default 1) and each row is
// normalised.
#include <algorithm>
#include <cmath>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
struct SoftmaxDims {
  int64_t outer, n, inner;
};

SoftmaxDims softmax_dims(const Attrs& attrs, const Shape& s) {
  const bool legacy = attrs.get_int("_legacy_flatten", 0) != 0;
  const auto r = static_cast<int64_t>(s.size());
  TS_CHECK(r >= 1, "Softmax: input must have rank >= 1");
  const auto axis =
      static_cast<size_t>(ops::norm_axis("Softmax", attrs.get_int("axis", legacy ? 1 : -1), r));
  if (legacy) return {ops::dims_product(s, 0, axis), ops::dims_product(s, axis, s.size()), 1};
  return {ops::dims_product(s, 0, axis), s[axis], ops::dims_product(s, axis + 1, s.size())};
}
}  // namespace

std::vector<TensorInfo> infer_softmax(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Softmax", in, 0, "input");
  ops::expect_dtype("Softmax", "input", x, {DType::F32});
  ops::expect_known("Softmax", "input", x);
  softmax_dims(attrs, x.shape);
  return {{DType::F32, x.shape}};
}

std::vector<Tensor> run_softmax(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_softmax(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  const SoftmaxDims d = softmax_dims(attrs, x.shape());
  Tensor out(DType::F32, x.shape());
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  for (int64_t o = 0; o < d.outer; ++o) {
    for (int64_t i = 0; i < d.inner; ++i) {
      const float* xp = xd + o * d.n * d.inner + i;
      float* yp = yd + o * d.n * d.inner + i;
      float mx = -INFINITY;
      for (int64_t k = 0; k < d.n; ++k) mx = std::max(mx, xp[k * d.inner]);
      double sum = 0;
      for (int64_t k = 0; k < d.n; ++k) sum += std::exp(static_cast<double>(xp[k * d.inner]) - mx);
      for (int64_t k = 0; k < d.n; ++k)
        yp[k * d.inner] =
            static_cast<float>(std::exp(static_cast<double>(xp[k * d.inner]) - mx) / sum);
    }
  }
  return {out};
}

}  // namespace teesplit
