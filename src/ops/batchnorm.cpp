// BatchNormalization in inference mode:
// Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1).
#include <cmath>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

std::vector<TensorInfo> infer_batch_norm(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const char* op = "BatchNormalization";
  TS_CHECK(attrs.get_int("training_mode", 0) == 0, op,
           ": training_mode = 1 is not supported (inference only)");
  const ValueInfo& x = ops::required(op, in, 0, "X");
  ops::expect_dtype(op, "X", x, {DType::F32});
  TS_CHECK(x.shape.size() >= 2, op, ": input X must have rank >= 2 (N, C, ...), got ",
           shape_str(x.shape));
  ops::expect_known(op, "X", x);
  const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) {
    const ValueInfo& v = ops::required(op, in, i, names[i]);
    ops::expect_dtype(op, names[i], v, {DType::F32});
    TS_CHECK(v.shape == Shape{x.shape[1]}, op, ": ", names[i], " must have shape [", x.shape[1],
             "] (the channels of X ", shape_str(x.shape), "), got ", shape_str(v.shape));
  }
  return {{DType::F32, x.shape}};
}

std::vector<Tensor> run_batch_norm(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_batch_norm(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  const float eps = attrs.get_float("epsilon", 1e-5f);
  const int64_t n = x.shape()[0], c = x.shape()[1];
  const int64_t inner = ops::dims_product(x.shape(), 2, x.shape().size());
  const float* scale = in[1]->data<float>();
  const float* bias = in[2]->data<float>();
  const float* mean = in[3]->data<float>();
  const float* var = in[4]->data<float>();
  Tensor out(DType::F32, x.shape());
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const double k = scale[ch] / std::sqrt(static_cast<double>(var[ch]) + eps);
      const double m = mean[ch], s = bias[ch];
      const float* xp = xd + (b * c + ch) * inner;
      float* yp = yd + (b * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) yp[i] = static_cast<float>((xp[i] - m) * k + s);
    }
  }
  return {out};
}

}  // namespace teesplit
